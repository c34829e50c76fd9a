// What every store's audit SQL shares: the columns and how a row becomes the fields the chain covers
// (read through each backend's `Row`, see job_columns.hpp), the query check, turning a stored row back
// into an event, and the walk that re-checks the hash chain row by row, so that SQLite and PostgreSQL agree
// exactly. The chain is keyed (obs/audit_keys.hpp) from audit_head.keyed_from on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "obs/audit.hpp"
#include "obs/audit_keys.hpp"
#include "store/store.hpp"

namespace rampart::store {

// Columns 0..8 of an audit row as both stores select it: the id, then the strings the chain covers.
inline constexpr std::string_view kAuditColumns =
    "id, time, action, actor, client, request_id, target, outcome, details";

// The fields a row selected as kAuditColumns holds.
template <class Row>
obs::AuditFields auditFieldsOfRow(const Row& row) {
    return obs::AuditFields{
        .time = row.text(1),
        .action = row.text(2),
        .actor = row.text(3),
        .client = row.text(4),
        .requestId = row.text(5),
        .target = row.text(6),
        .outcome = row.text(7),
        .details = row.text(8),
    };
}

// The store's audit key; throws StoreUnavailable when the store was given none (Store::setAuditKey).
const obs::AuditChainKey& requireAuditKey(const std::shared_ptr<const obs::AuditChainKey>& key);

// Throws std::invalid_argument for a limit or cursor out of range.
void checkAuditQuery(const AuditQuery& query);

// The event a stored row holds. A time or details the row cannot give back are left empty with a
// warning (naming only the id): listing goes on, and `rampart audit verify` says what is wrong.
obs::AuditEvent auditEventOf(obs::AuditFields fields, std::int64_t id);

// Recomputes the chain from what each row stores: rows from `keyedFrom` on with the audit key (HMAC),
// rows before it with plain SHA-256 (written before the chain was keyed). Feed every row in ascending
// id order, then the head; the first failure ends the walk.
class AuditChainWalk {
  public:
    AuditChainWalk(const obs::AuditChainKey& key, std::int64_t keyedFrom, std::vector<std::int64_t> hashesAt)
        : key_(key), keyedFrom_(keyedFrom), wanted_(hashesAt.begin(), hashesAt.end()) {}

    // Checks one row against the one before it; the verdict when it breaks the chain.
    std::optional<AuditVerification> next(std::int64_t id, const obs::AuditFields& fields,
                                          std::span<const std::uint8_t> storedPrevious,
                                          std::span<const std::uint8_t> storedHash);
    // After the last row: the head must be the only one and record the last row, its hash and the
    // row count, or the newest rows were removed.
    [[nodiscard]] AuditVerification finish(int heads, std::int64_t headId, std::int64_t headRows,
                                           std::span<const std::uint8_t> headHash) const;

    [[nodiscard]] std::int64_t lastId() const { return previousId_; }

  private:
    const obs::AuditChainKey& key_;
    std::int64_t keyedFrom_;
    std::set<std::int64_t> wanted_;
    std::map<std::int64_t, obs::AuditHash> hashesAt_;
    std::int64_t rows_ = 0;
    std::int64_t previousId_ = 0;
    std::vector<std::uint8_t> previousHash_ = std::vector<std::uint8_t>(obs::AuditHash{}.size(), 0);
};

}  // namespace rampart::store
