// Signed checkpoints of the audit log, kept outside the database: `rampart audit checkpoint` (and the
// periodic audit-checkpoint task) appends the verified head as one signed JSON line to a file that is
// only ever appended to; `rampart audit verify --checkpoints DIR` checks the log against every line,
// which catches what the chain alone cannot: a tail removed together with the head's record, a log
// rewritten from some row on, a switch point of the keyed chain moved (docs/security.md, "Audit log").
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/secret_string.hpp"
#include "obs/audit.hpp"
#include "store/store.hpp"

namespace rampart {

// The file in a checkpoint directory that holds the lines.
inline constexpr std::string_view kAuditCheckpointFile = "audit-checkpoints.jsonl";

struct AuditCheckpoint {
    std::int64_t seq = 0;        // the last row's id (0: the log was empty)
    std::int64_t keyedFrom = 1;  // where the keyed chain starts (audit_head.keyed_from)
    obs::AuditHash hash{};       // the last row's hash (32 zero bytes for an empty log)
    std::string time;            // when the checkpoint was taken, RFC 3339 UTC
};

// Verifies the whole chain (a checkpoint never vouches for a broken log), then appends its head, signed
// with the checkpoint key derived from `secretKey`, as one line to DIR/audit-checkpoints.jsonl: the
// directory is created 0700 and the file 0600 when missing, opened O_APPEND (never rewritten), and
// synced. Throws std::runtime_error when the chain is broken or the file cannot be written.
AuditCheckpoint writeAuditCheckpoint(store::Store& store, const SecretString& secretKey,
                                     const std::filesystem::path& dir);

struct AuditCheckResult {
    bool ok = false;
    std::string message;  // one line: what holds, or what failed and where
};

// Verifies the chain and, given a directory, every checkpoint line in it: its signature under the key
// derived from `secretKey` (the line's own public key must be that one), and that the log still holds
// the row it names with the same hash and the same start of the keyed chain.
AuditCheckResult checkAuditLog(store::Store& store, const SecretString& secretKey,
                               const std::optional<std::filesystem::path>& checkpointDir);

}  // namespace rampart
