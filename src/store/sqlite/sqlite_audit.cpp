// The SQLite audit log: chained appends, filtered pages by id cursor, and the chain walk.
#include "store/sqlite/sqlite_audit.hpp"

#include <string>

#include <fmt/format.h>

#include "store/audit_log.hpp"
#include "store/sqlite/row_helpers.hpp"

namespace rampart::store::sqlite {
namespace {

constexpr obs::AuditHash kZeroHash{};

obs::AuditFields fieldsOf(const Statement& row) {
    return auditFieldsOfRow(Columns(row));
}

}  // namespace

void appendAuditRow(Connection& db, const obs::AuditChainKey& key, const obs::AuditEvent& event) {
    const obs::AuditFields fields = obs::auditFields(event);
    std::vector<std::uint8_t> previous(kZeroHash.begin(), kZeroHash.end());
    {
        auto last = db.prepare("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1");
        if (last.step()) previous = last.columnBlob(0);
    }
    const obs::AuditHash hash = key.rowHash(previous, obs::canonicalAuditContent(fields));
    auto insert = db.prepare(
        "INSERT INTO audit_log (time, action, actor, client, request_id, target, outcome, details, "
        "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    insert.bindText(1, fields.time)
        .bindText(2, fields.action)
        .bindText(3, fields.actor)
        .bindText(4, fields.client)
        .bindText(5, fields.requestId)
        .bindText(6, fields.target)
        .bindText(7, fields.outcome)
        .bindText(8, fields.details)
        .bindBlob(9, previous)
        .bindBlob(10, hash);
    insert.step();
    auto head = db.prepare("UPDATE audit_head SET id = ?1, hash = ?2, rows = rows + 1");
    head.bindInt64(1, db.lastInsertRowId()).bindBlob(2, hash);
    head.step();
    if (db.changes() != 1) throw StoreUnavailable("audit log head is missing");
}

std::vector<obs::AuditRecord> listAuditRows(Connection& db, const AuditQuery& query) {
    // Only fixed fragments go into the text; every value is bound.
    std::string sql = fmt::format("SELECT {} FROM audit_log WHERE id > ?1", kAuditColumns);
    if (query.action) sql += " AND action = ?2";
    if (query.actor) sql += " AND actor = ?3";
    if (query.outcome) sql += " AND outcome = ?4";
    if (query.since) sql += " AND time >= ?5";
    if (query.until) sql += " AND time < ?6";
    sql += " ORDER BY id LIMIT ?7";
    auto select = db.prepare(sql);
    select.bindInt64(1, query.afterId);
    if (query.action) select.bindText(2, *query.action);
    if (query.actor) select.bindText(3, *query.actor);
    if (query.outcome) select.bindText(4, *query.outcome);
    if (query.since) select.bindText(5, obs::formatAuditTime(*query.since));
    if (query.until) select.bindText(6, obs::formatAuditTime(*query.until));
    select.bindInt64(7, query.limit);
    std::vector<obs::AuditRecord> records;
    while (select.step()) {
        const std::int64_t id = select.columnInt64(0);
        records.push_back(obs::AuditRecord{.id = id, .event = auditEventOf(fieldsOf(select), id)});
    }
    return records;
}

AuditVerification verifyAuditChain(Connection& db, const obs::AuditChainKey& key,
                                   const std::vector<std::int64_t>& hashesAt) {
    // One statement reads the head and the rows, so both come from the same snapshot. The head comes
    // first: its keyed_from says which rows the walk checks with the key.
    auto select = db.prepare(fmt::format(
        "SELECT {}, prev_hash, hash, 0 AS is_head, 0 FROM audit_log "
        "UNION ALL SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, rows, hash, 1, keyed_from "
        "FROM audit_head ORDER BY is_head DESC, id",
        kAuditColumns));
    std::optional<AuditChainWalk> walk;
    int heads = 0;
    std::int64_t headId = 0, headRows = 0, keyedFrom = 1;
    std::vector<std::uint8_t> headHash;
    while (select.step()) {
        const std::int64_t id = select.columnInt64(0);
        if (select.columnInt64(11) == 1) {
            ++heads;
            headId = id;
            headRows = select.columnInt64(9);
            headHash = select.columnBlob(10);
            keyedFrom = select.columnInt64(12);
            continue;
        }
        if (!walk) walk.emplace(key, keyedFrom, hashesAt);
        if (auto broken = walk->next(id, fieldsOf(select), select.columnBlob(9), select.columnBlob(10))) {
            return std::move(*broken);
        }
    }
    if (!walk) walk.emplace(key, keyedFrom, hashesAt);
    return walk->finish(heads, headId, headRows, headHash);
}

}  // namespace rampart::store::sqlite
