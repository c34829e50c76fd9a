// The audit code both stores share: query limits, stored rows back into events, the chain walk.
#include "store/audit_log.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>

namespace rampart::store {
namespace {

bool sameBytes(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

AuditVerification tampered(std::int64_t rows, std::int64_t id, std::string problem) {
    return AuditVerification{.ok = false, .rows = rows, .firstBadId = id, .problem = std::move(problem)};
}

}  // namespace

const obs::AuditChainKey& requireAuditKey(const std::shared_ptr<const obs::AuditChainKey>& key) {
    if (!key) throw StoreUnavailable("the audit log needs its key (derived from the secret key)");
    return *key;
}

void checkAuditQuery(const AuditQuery& query) {
    if (query.limit < 1 || query.limit > AuditQuery::kMaxAuditPage) {
        throw std::invalid_argument(fmt::format("audit limit must be 1..{}", AuditQuery::kMaxAuditPage));
    }
    if (query.afterId < 0) throw std::invalid_argument("audit cursor must not be negative");
}

obs::AuditEvent auditEventOf(obs::AuditFields fields, std::int64_t id) {
    obs::AuditEvent event;
    if (auto time = obs::parseAuditTime(fields.time)) {
        event.time = *time;
    } else {
        spdlog::warn("audit row {} has an unreadable time; `rampart audit verify` checks the log", id);
    }
    boost::system::error_code ec;
    auto details = boost::json::parse(fields.details, ec);
    if (!ec && details.is_object()) {
        event.details = std::move(details.get_object());
    } else {
        spdlog::warn("audit row {} has unreadable details; `rampart audit verify` checks the log", id);
    }
    event.action = std::move(fields.action);
    event.actor = std::move(fields.actor);
    event.client = std::move(fields.client);
    event.requestId = std::move(fields.requestId);
    event.target = std::move(fields.target);
    event.outcome = std::move(fields.outcome);
    return event;
}

std::optional<AuditVerification> AuditChainWalk::next(std::int64_t id, const obs::AuditFields& fields,
                                                      std::span<const std::uint8_t> storedPrevious,
                                                      std::span<const std::uint8_t> storedHash) {
    if (id != previousId_ + 1) {
        return tampered(rows_, id, fmt::format("rows {}..{} are missing", previousId_ + 1, id - 1));
    }
    if (!sameBytes(storedPrevious, previousHash_)) {
        return tampered(rows_, id, "its previous-hash link does not match the row before it");
    }
    const std::string content = obs::canonicalAuditContent(fields);
    const bool keyed = id >= keyedFrom_;
    const obs::AuditHash computed =
        keyed ? key_.rowHash(storedPrevious, content) : obs::auditRowHash(storedPrevious, content);
    if (!sameBytes(storedHash, computed)) {
        return tampered(rows_, id,
                        keyed ? "its hash is not the keyed chain's (the row was changed, or written without "
                                "the audit key: forged)"
                              : "its content does not match its hash (the row was changed)");
    }
    ++rows_;
    previousId_ = id;
    previousHash_.assign(storedHash.begin(), storedHash.end());
    if (wanted_.contains(id)) hashesAt_[id] = computed;
    return std::nullopt;
}

AuditVerification AuditChainWalk::finish(int heads, std::int64_t headId, std::int64_t headRows,
                                         std::span<const std::uint8_t> headHash) const {
    if (heads != 1) {
        return tampered(rows_, previousId_ + 1, "the log's head record is missing or duplicated");
    }
    if (headId != previousId_ || headRows != rows_ || !sameBytes(headHash, previousHash_)) {
        return tampered(rows_, previousId_ + 1,
                        fmt::format("the log ends at row {} but its head records row {} ({} rows): the "
                                    "newest rows were removed",
                                    previousId_, headId, headRows));
    }
    AuditVerification intact{.ok = true, .rows = rows_, .firstBadId = std::nullopt, .problem = {}};
    intact.keyedFrom = keyedFrom_;
    intact.lastId = previousId_;
    std::copy(previousHash_.begin(), previousHash_.end(), intact.lastHash.begin());
    intact.hashesAt = hashesAt_;
    return intact;
}

}  // namespace rampart::store
