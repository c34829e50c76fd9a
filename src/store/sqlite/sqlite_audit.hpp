// The audit log's SQL for SQLite: append a chained row, list a page, verify the chain. Each runs on
// a connection the store hands it (the writer for appends, a reader for the rest).
#pragma once

#include <vector>

#include "obs/audit.hpp"
#include "obs/audit_keys.hpp"
#include "store/sqlite/connection.hpp"
#include "store/store.hpp"

namespace rampart::store::sqlite {

// Inserts the row and moves the head. Must run inside the writer's transaction: the previous hash
// is read and the new one written without anyone else writing in between.
// The row's hash is keyed (HMAC under `key`).
void appendAuditRow(Connection& db, const obs::AuditChainKey& key, const obs::AuditEvent& event);

// Expects a query already checked by checkAuditQuery (store/audit_log.hpp).
std::vector<obs::AuditRecord> listAuditRows(Connection& db, const AuditQuery& query);

// Needs a consistent snapshot for the whole walk (a reader connection gives one per statement).
AuditVerification verifyAuditChain(Connection& db, const obs::AuditChainKey& key,
                                   const std::vector<std::int64_t>& hashesAt);

}  // namespace rampart::store::sqlite
