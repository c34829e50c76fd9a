// The Store interface: everything Rampart keeps durably goes through it, on SQLite or PostgreSQL with
// no caller changed. Async methods never block the calling (I/O) thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/secret_string.hpp"
#include "obs/audit.hpp"
#include "obs/audit_keys.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"
#include "store/job_store.hpp"
#include "store/schedule_store.hpp"
#include "store/store_errors.hpp"

namespace rampart::store {

// Which audit records to list: every filter given must match. Results are ordered by id, ascending;
// pass the last id seen as afterId for the next page.
struct AuditQuery {
    std::optional<std::string> action{};
    std::optional<std::string> actor{};
    std::optional<std::string> outcome{};
    std::optional<std::chrono::system_clock::time_point> since{};  // inclusive, to the microsecond
    std::optional<std::chrono::system_clock::time_point> until{};  // exclusive, to the microsecond
    std::int64_t afterId = 0;                                      // cursor: only ids above this
    int limit = 100;                                               // 1..kMaxAuditPage

    static constexpr int kMaxAuditPage = 500;
};

// The outcome of re-checking the audit hash chain. When not ok, firstBadId is the first row that
// fails (for removed rows: the row after the gap, or one past the last row when the tail is gone).
struct AuditVerification {
    bool ok = true;
    std::int64_t rows = 0;  // rows walked
    std::optional<std::int64_t> firstBadId;
    std::string problem;  // says what failed; never quotes row contents
    // When ok: where the keyed chain starts (rows below it are plain SHA-256, from before the upgrade
    // that keyed the chain), the head, and the hashes of the rows asked for (checkpoints to compare).
    std::int64_t keyedFrom = 1;
    std::int64_t lastId = 0;
    obs::AuditHash lastHash{};
    std::map<std::int64_t, obs::AuditHash> hashesAt{};
};

class Store : public IdentityStore, public JobStore, public ScheduleStore, public AuditSink {
  public:
    ~Store() override = default;

    // Applies every pending numbered migration in order, each in its own transaction; returns how
    // many were applied. Blocking: for start-up and `rampart migrate` only.
    virtual int migrate() = 0;
    // Highest migration applied (0 for an empty database). Blocking.
    virtual int schemaVersion() = 0;
    // Highest migration this binary knows.
    [[nodiscard]] virtual int latestSchemaVersion() const = 0;

    // True when the database answers a trivial query. Runs on the store's own threads and resumes
    // on the caller's executor; for /readyz.
    virtual boost::asio::awaitable<bool> ping() = 0;

    // One page of audit records matching the query. Throws std::invalid_argument for a limit outside
    // 1..AuditQuery::kMaxAuditPage or a negative afterId, StoreUnavailable when the database fails.
    virtual boost::asio::awaitable<std::vector<obs::AuditRecord>> listAudit(AuditQuery query) = 0;
    // Walks the whole audit log in id order and recomputes the chain from what each row stores, with
    // the audit key from the row where the keyed chain starts: catches changed rows, rows forged
    // without the key, removed rows (gaps in ids), broken links and a truncated tail (against the head;
    // a tail removed together with the head's record needs the checkpoints, app/audit_checkpoints.hpp).
    // Records the hashes of the rows in `hashesAt` that exist. Blocking: for `rampart audit verify`.
    // Throws StoreUnavailable (also when no audit key was set).
    virtual AuditVerification verifyAudit(const std::vector<std::int64_t>& hashesAt) = 0;

    // Calls wake(queue) soon after any process commits new queued jobs to `queue` (an empty name: any
    // queue, e.g. after a reconnect, when notices may have been missed). Returns false when this backend
    // cannot tell (workers then rely on polling alone). wake runs on the store's thread: keep it cheap
    // and thread-safe. Call at most once.
    virtual bool watchQueuedJobs(std::function<void(const std::string& queue)> wake) { return false; }

    // Finishes queued work and closes connections. Idempotent.
    virtual void close() = 0;

    // The key of the audit chain (obs::AuditChainKey::derive of the secret key): appendAudit and
    // verifyAudit throw StoreUnavailable without it. Set once, before the store is used.
    void setAuditKey(std::shared_ptr<const obs::AuditChainKey> key) { auditKey_ = std::move(key); }

  protected:
    // The key set by setAuditKey, null when there is none (requireAuditKey in audit_log.hpp throws then).
    [[nodiscard]] const std::shared_ptr<const obs::AuditChainKey>& auditKey() const { return auditKey_; }

  private:
    std::shared_ptr<const obs::AuditChainKey> auditKey_;
};

struct StoreOptions {
    unsigned poolSize = 16;                                // PostgreSQL connections (database_pool_size)
    std::shared_ptr<const obs::AuditChainKey> auditKey{};  // see Store::setAuditKey
};

// Opens the store named by a database URL: sqlite://PATH (relative or absolute; parent directory
// created), or postgres:// / postgresql:// (libpq's URI syntax; connections open on first use). Throws
// StoreUnavailable (message without the URL) when it cannot be opened, and std::invalid_argument for an
// unknown scheme.
std::unique_ptr<Store> openStore(const SecretString& databaseUrl, StoreOptions options = {});

// The database file of a sqlite:// URL; nullopt for any other scheme. Throws std::invalid_argument for
// a sqlite URL without a file path.
[[nodiscard]] std::optional<std::filesystem::path> sqliteDatabasePath(const SecretString& databaseUrl);

}  // namespace rampart::store
