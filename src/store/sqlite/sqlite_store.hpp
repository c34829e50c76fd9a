// SqliteStore: the embedded Store. One writer thread with group commit, a small pool of reader
// threads, and awaitable write()/read() that never run database work on the caller's thread (readHere(),
// for one-row reads on the request path, does: see there).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store/sqlite/connection.hpp"
#include "store/store.hpp"

namespace rampart::store {

namespace sqlite::detail {

// What fn(Connection&) returns; void results travel as std::monostate.
template <class Fn>
using WorkResult = std::invoke_result_t<Fn&, sqlite::Connection&>;
template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// A unit of work for a store thread: run it, possibly overrule its outcome, then complete it once.
class StoreJob {
  public:
    explicit StoreJob(bool exclusive) : exclusive_(exclusive) {}
    virtual ~StoreJob() = default;
    StoreJob(const StoreJob&) = delete;
    StoreJob& operator=(const StoreJob&) = delete;

    // Calls the work; false when it threw (the exception is kept for the caller).
    virtual bool run(sqlite::Connection& connection) noexcept = 0;
    // Replaces the outcome with an error, e.g. when the batch it ran in failed to commit.
    virtual void fail(std::exception_ptr error) noexcept = 0;
    // Hands the outcome to whoever waits. Called exactly once, after any commit.
    virtual void complete() noexcept = 0;

    // Exclusive work runs alone on the writer, outside any batch transaction (migrations).
    [[nodiscard]] bool exclusive() const { return exclusive_; }

  private:
    bool exclusive_;
};

template <class R, class Fn, class Deliver>
class TypedJob final : public StoreJob {
  public:
    TypedJob(Fn fn, Deliver deliver, bool exclusive)
        : StoreJob(exclusive), fn_(std::move(fn)), deliver_(std::move(deliver)) {}

    bool run(sqlite::Connection& connection) noexcept override {
        try {
            if constexpr (std::is_void_v<R>) {
                fn_(connection);
                result_.emplace();
            } else {
                result_.emplace(fn_(connection));
            }
            return true;
        } catch (...) {
            error_ = std::current_exception();
            return false;
        }
    }

    void fail(std::exception_ptr error) noexcept override {
        result_.reset();
        error_ = std::move(error);
    }

    // Moves the error out too, so its last reference is dropped on the receiving thread.
    void complete() noexcept override { deliver_(std::move(error_), std::move(result_)); }

  private:
    Fn fn_;
    Deliver deliver_;
    std::exception_ptr error_;
    std::optional<Stored<R>> result_;
};

// A closable multi-producer queue of jobs; consumers drain it after close.
class JobQueue {
  public:
    // Takes the job, or leaves it with the caller and returns false once the queue is closed.
    bool tryPush(std::unique_ptr<StoreJob>& job);
    // Waits for work and takes up to maxJobs; empty only once closed and drained.
    std::vector<std::unique_ptr<StoreJob>> popBatch(std::size_t maxJobs);
    void close();

  private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<std::unique_ptr<StoreJob>> jobs_;
    bool closed_ = false;
};

}  // namespace sqlite::detail

class SqliteStore final : public Store {
  public:
    struct Options {
        int readThreads = 2;
        // Most requests one COMMIT may carry; bounds the latency a huge burst adds to its first request.
        std::size_t maxBatch = 256;
    };

    // Creates the parent directory (0700) and the database file (0600) when missing, opens the write
    // connection and the read connections, and starts their threads. Throws StoreUnavailable.
    explicit SqliteStore(const std::filesystem::path& path) : SqliteStore(path, Options{}) {}
    SqliteStore(const std::filesystem::path& path, Options options);
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;
    ~SqliteStore() override;

    int migrate() override;
    int schemaVersion() override;
    [[nodiscard]] int latestSchemaVersion() const override;
    boost::asio::awaitable<bool> ping() override;
    boost::asio::awaitable<void> appendAudit(obs::AuditEvent event) override;
    boost::asio::awaitable<std::vector<obs::AuditRecord>> listAudit(AuditQuery query) override;
    AuditVerification verifyAudit(const std::vector<std::int64_t>& hashesAt) override;
    void close() override;

    // Identity (sqlite_identity.cpp).
    boost::asio::awaitable<void> createUser(UserRecord user) override;
    boost::asio::awaitable<std::optional<UserRecord>> findUserById(std::string id) override;
    boost::asio::awaitable<std::optional<UserRecord>> findUserByUsername(std::string username) override;
    boost::asio::awaitable<std::vector<UserRecord>> listUsers(std::string afterUsername, int limit) override;
    boost::asio::awaitable<std::optional<UserRecord>> updateUser(std::string id, UserPatch patch) override;
    boost::asio::awaitable<std::optional<UserRecord>> recordLoginFailure(
        std::string userId, Seconds now, std::function<std::chrono::seconds(int failures)> lockout) override;
    boost::asio::awaitable<bool> consumeTotpStep(std::string userId, std::int64_t step) override;
    boost::asio::awaitable<LoginNameFailures> recordLoginNameFailure(
        std::string nameKey, Seconds now, std::chrono::seconds forgetAfter,
        std::function<std::chrono::seconds(int failures)> lockout) override;
    boost::asio::awaitable<std::optional<LoginNameFailures>> findLoginNameFailures(
        std::string nameKey) override;
    boost::asio::awaitable<void> clearLoginNameFailures(std::string nameKey) override;
    boost::asio::awaitable<std::int64_t> pruneLoginNameFailures(Seconds quietBefore, Seconds now,
                                                                std::int64_t keep) override;
    std::int64_t countUsersBlocking() override;
    boost::asio::awaitable<void> createApiToken(ApiTokenRecord token) override;
    boost::asio::awaitable<std::optional<ApiTokenRecord>> findApiTokenByHash(std::string tokenHash) override;
    boost::asio::awaitable<std::optional<ApiTokenRecord>> findApiTokenById(std::string tokenId) override;
    boost::asio::awaitable<std::vector<ApiTokenRecord>> listApiTokens(std::string userId) override;
    boost::asio::awaitable<bool> revokeApiToken(std::string userId, std::string tokenId,
                                                Seconds now) override;
    boost::asio::awaitable<void> touchApiToken(std::string tokenId, Seconds now) override;
    boost::asio::awaitable<void> createRefreshFamily(RefreshTokenRecord first) override;
    boost::asio::awaitable<RotateResult> rotateRefreshToken(std::string presentedTokenId,
                                                            RefreshTokenRecord next, Seconds now) override;
    boost::asio::awaitable<bool> revokeRefreshFamily(std::string familyId, Seconds now) override;
    boost::asio::awaitable<bool> refreshFamilyLive(std::string familyId) override;
    boost::asio::awaitable<void> createSession(SessionRecord session) override;
    boost::asio::awaitable<std::optional<SessionRecord>> findSession(std::string idHash) override;
    boost::asio::awaitable<bool> revokeSession(std::string idHash, Seconds now) override;
    boost::asio::awaitable<bool> revokeAllCredentials(std::string userId, Seconds now,
                                                      bool deactivate) override;
    boost::asio::awaitable<std::optional<UserRecord>> changePassword(
        std::string userId, std::string passwordHash, Seconds now,
        std::optional<KeptCredential> keep) override;
    std::vector<SigningKeyRecord> loadSigningKeysBlocking() override;

    // Jobs (sqlite_jobs.cpp).
    boost::asio::awaitable<SubmitResult> submitJob(JobRecord job, Millis now) override;
    boost::asio::awaitable<std::vector<JobRecord>> submitJobs(std::vector<JobRecord> jobs,
                                                              Millis now) override;
    boost::asio::awaitable<std::optional<JobRecord>> findJob(std::string id) override;
    // Bumped after every batch and every exclusive write, committed or not.
    [[nodiscard]] std::string_view databaseSystem() const override { return "sqlite"; }
    [[nodiscard]] std::optional<std::uint64_t> localWriteStamp() const override {
        return writeStamp_.load(std::memory_order_acquire);
    }
    boost::asio::awaitable<JobPage> listJobs(JobQuery query) override;
    boost::asio::awaitable<std::optional<JobRecord>> cancelJob(std::string id, Millis now) override;
    boost::asio::awaitable<std::optional<JobRecord>> retryJob(std::string id, Millis now) override;
    using JobStore::claimJobs;
    boost::asio::awaitable<std::vector<JobRecord>> claimJobs(std::vector<std::string> queues,
                                                             std::vector<std::string> tasks, int max,
                                                             std::string holder, Millis leaseMs,
                                                             Millis now) override;
    boost::asio::awaitable<std::optional<LeaseRenewal>> heartbeatJob(std::string id, std::string holder,
                                                                     Millis leaseMs, Millis now) override;
    boost::asio::awaitable<bool> reportProgress(std::string id, std::string holder, int percent,
                                                std::string message, Millis now) override;
    boost::asio::awaitable<std::optional<jobs::JobState>> finishAttempt(std::string id, std::string holder,
                                                                        JobOutcome outcome,
                                                                        Millis now) override;
    boost::asio::awaitable<std::vector<std::string>> leaseHolders(std::string id) override;
    boost::asio::awaitable<std::vector<std::optional<FinishedAttempt>>> finishAttempts(
        std::vector<AttemptReport> reports, Millis now) override;
    boost::asio::awaitable<std::vector<std::string>> releaseJobs(std::vector<std::string> ids,
                                                                 std::string holder, Millis now) override;
    boost::asio::awaitable<std::vector<FinishedAttempt>> recoverExpiredLeases(Millis now) override;
    boost::asio::awaitable<std::vector<JobEventRecord>> jobEvents(std::string id) override;
    boost::asio::awaitable<void> setQueuePaused(std::string queue, bool paused, Millis now) override;
    boost::asio::awaitable<std::vector<QueueStats>> queueStats() override;
    boost::asio::awaitable<DeletedJobs> deleteFinishedJobs(Millis finishedFrom, Millis finishedBefore,
                                                           int limit) override;
    boost::asio::awaitable<std::int64_t> payloadKeyGeneration() override;
    boost::asio::awaitable<std::int64_t> startPayloadKeyGeneration(Millis now) override;
    boost::asio::awaitable<std::vector<JobPayload>> jobPayloads(std::string afterId, int limit) override;
    boost::asio::awaitable<int> rewriteJobPayloads(std::vector<PayloadRewrite> rewrites) override;

    // Schedules (sqlite_schedules.cpp).
    boost::asio::awaitable<CreateScheduleOutcome> createSchedule(ScheduleRecord schedule, int maxPerOwner,
                                                                 int maxTotal) override;
    boost::asio::awaitable<std::optional<ScheduleRecord>> findSchedule(std::string id) override;
    boost::asio::awaitable<SchedulePage> listSchedules(ScheduleQuery query) override;
    boost::asio::awaitable<std::optional<ScheduleRecord>> updateSchedule(ScheduleRecord schedule) override;
    boost::asio::awaitable<bool> deleteSchedule(std::string id) override;
    boost::asio::awaitable<std::vector<ScheduleRecord>> dueSchedules(Millis now, int limit) override;
    boost::asio::awaitable<TickOutcome> recordTick(TickWrite write, Millis now) override;
    boost::asio::awaitable<std::vector<TickRecord>> scheduleTicks(std::string scheduleId, int limit) override;
    boost::asio::awaitable<bool> acquireLease(std::string name, std::string holder, Millis ttlMs,
                                              Millis now) override;
    boost::asio::awaitable<void> releaseLease(std::string name, std::string holder) override;
    void insertSigningKeyBlocking(SigningKeyRecord key) override;
    void deleteSigningKeysBlocking(std::vector<std::string> kids) override;

    // Runs fn(Connection&) on the writer thread inside its own savepoint of a group-committed
    // transaction, and resumes on the caller's executor once that transaction is durable. If fn
    // throws, only its own changes are rolled back and the exception is rethrown here; if the
    // COMMIT fails, every request of the batch gets StoreUnavailable. fn must not block for long:
    // its batch-mates wait for it. The awaiting io_context must outlive the wait: close() the store
    // before destroying it.
    template <class Fn>
    boost::asio::awaitable<sqlite::detail::WorkResult<Fn>> write(Fn fn) {
        return submit(writes_, std::move(fn));
    }

    // Runs fn(Connection&) on a read-only connection of the reader pool (a consistent snapshot for
    // the call) and resumes on the caller's executor. Exceptions are rethrown here.
    template <class Fn>
    boost::asio::awaitable<sqlite::detail::WorkResult<Fn>> read(Fn fn) {
        return submit(reads_, std::move(fn));
    }

    // Runs fn(Connection&) at once on the calling thread, with that thread's own read-only connection
    // (opened on its first call; at most kMaxCallerConnections threads get one, the others go through
    // read()). For short reads by primary key on the request path: no hand-off to a reader thread and
    // back (two thread wake-ups that cost more than the read). WAL readers never wait for the writer,
    // so the calling thread blocks only for the read itself. Exceptions propagate as from read().
    template <class Fn>
    boost::asio::awaitable<sqlite::detail::WorkResult<Fn>> readHere(Fn fn) {
        if (!threadConnectionTried()) openThreadConnection();
        {
            std::shared_lock lock(callerMutex_);
            if (callerClosed_) throw StoreUnavailable("store is closed");
            if (sqlite::Connection* connection = threadConnection()) co_return fn(*connection);
        }
        co_return co_await read(std::move(fn));
    }
    static constexpr std::size_t kMaxCallerConnections = 16;

    // Successful batch COMMITs so far: with group commit, far fewer than the writes.
    [[nodiscard]] std::uint64_t commitCount() const { return commits_.load(std::memory_order_relaxed); }
    // WAL checkpoints run by the checkpointer thread so far.
    [[nodiscard]] std::uint64_t checkpointCount() const {
        return checkpoints_.load(std::memory_order_relaxed);
    }

    // The WAL size (pages) at which a commit wakes the checkpointer (SQLite's own default threshold),
    // and the size at which the writer checkpoints itself because the checkpointer fell behind.
    static constexpr int kCheckpointPages = 1000;
    static constexpr int kWriterCheckpointPages = 8000;

  private:
    // Hands fn to a queue's thread and awaits its outcome on the caller's executor.
    template <class Fn>
    boost::asio::awaitable<sqlite::detail::WorkResult<Fn>> submit(sqlite::detail::JobQueue& queue, Fn fn);

    // Queues the job, or completes it at once with StoreUnavailable when the store is closed.
    void enqueue(sqlite::detail::JobQueue& queue, std::unique_ptr<sqlite::detail::StoreJob> job);
    template <class R, class Fn>
    R runBlocking(sqlite::detail::JobQueue& queue, Fn fn, bool exclusive);

    // This thread's connection to this store, or null (a thread-local lookup, no lock).
    [[nodiscard]] sqlite::Connection* threadConnection() const;
    // Whether this thread has tried to open one (a thread past the cap tries once, not on every read).
    [[nodiscard]] bool threadConnectionTried() const;
    // Opens this thread's connection under callerMutex_ alone (no lock nested in another: ThreadSanitizer
    // sees a cycle when two orders meet at the reused addresses of an earlier store's mutexes); nothing when
    // the store is closed or kMaxCallerConnections threads have one.
    void openThreadConnection();

    void writerLoop();
    void readerLoop(sqlite::Connection& connection);
    void commitBatch(std::span<const std::unique_ptr<sqlite::detail::StoreJob>> jobs);
    void runExclusive(sqlite::detail::StoreJob& job);
    // Copies the WAL into the database file off the writer's thread (a PASSIVE checkpoint, which never
    // waits for readers or the writer), woken by the writer's WAL hook, so commits do not wait for it.
    void checkpointLoop();
    static int onWalCommit(void* store, sqlite3* db, const char* name, int pages);
    static int applyMigrations(sqlite::Connection& connection);
    static int applyMigrationsWithoutForeignKeys(sqlite::Connection& connection);

    Options options_;
    std::unique_ptr<sqlite::Connection> writeConnection_;
    std::vector<std::unique_ptr<sqlite::Connection>> readConnections_;
    sqlite::detail::JobQueue writes_;
    sqlite::detail::JobQueue reads_;
    std::thread writer_;
    std::vector<std::thread> readers_;
    std::atomic<std::uint64_t> commits_{0};
    std::unique_ptr<sqlite::Connection> checkpointConnection_;
    std::thread checkpointer_;
    std::mutex checkpointMutex_;
    std::condition_variable checkpointWanted_;
    bool checkpointDue_ = false;   // under checkpointMutex_
    bool checkpointStop_ = false;  // under checkpointMutex_
    std::atomic<std::uint64_t> checkpoints_{0};
    std::atomic<std::uint64_t> writeStamp_{0};
    // readHere()'s connections, one per calling thread; close() takes callerMutex_ exclusively, so none
    // is in use when they are closed. serial_ tells a thread's cached pointer from one of another store.
    const std::uint64_t serial_;
    std::filesystem::path path_;
    std::shared_mutex callerMutex_;
    bool callerClosed_ = false;  // under callerMutex_
    // Under callerMutex_ exclusive.
    std::vector<std::unique_ptr<sqlite::Connection>> callerConnections_;
    std::mutex closeMutex_;
    bool closed_ = false;
};

template <class Fn>
boost::asio::awaitable<sqlite::detail::WorkResult<Fn>> SqliteStore::submit(sqlite::detail::JobQueue& queue,
                                                                           Fn fn) {
    using R = sqlite::detail::WorkResult<Fn>;
    using Outcome = std::optional<sqlite::detail::Stored<R>>;
    static_assert(!std::is_reference_v<R>, "store work must return a value, not a reference");

    auto initiation = [this, &queue](auto handler, Fn work) {
        // The outcome is posted to the awaiting coroutine's executor, so it resumes on its own thread;
        // the tracked executor keeps that io_context from running out of work while we wait.
        auto tracked = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                           boost::asio::execution::outstanding_work.tracked);
        auto deliver = [handler = std::move(handler), tracked](std::exception_ptr error,
                                                               Outcome outcome) mutable {
            boost::asio::post(tracked, [handler = std::move(handler), error = std::move(error),
                                        outcome = std::move(outcome)]() mutable {
                std::move(handler)(std::move(error), std::move(outcome));
            });
        };
        enqueue(queue, std::make_unique<sqlite::detail::TypedJob<R, Fn, decltype(deliver)>>(
                           std::move(work), std::move(deliver), false));
    };
    Outcome outcome = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                           void(std::exception_ptr, Outcome)>(
        std::move(initiation), boost::asio::use_awaitable, std::move(fn));
    if constexpr (!std::is_void_v<R>) co_return std::move(*outcome);
}

// In the header because sqlite_identity.cpp runs blocking work too.
template <class R, class Fn>
R SqliteStore::runBlocking(sqlite::detail::JobQueue& queue, Fn fn, bool exclusive) {
    // The outcome lives on this stack. The store thread fills it and signals while holding the lock,
    // so this frame cannot be left (and the slot destroyed) until the store thread is done with it.
    struct Slot {
        std::mutex mutex;
        std::condition_variable done;
        bool ready = false;
        std::exception_ptr error;
        std::optional<R> value;
    } slot;
    auto deliver = [&slot](std::exception_ptr error, std::optional<R> value) {
        const std::lock_guard lock(slot.mutex);
        slot.error = std::move(error);
        slot.value = std::move(value);
        slot.ready = true;
        slot.done.notify_one();
    };
    enqueue(queue, std::make_unique<sqlite::detail::TypedJob<R, Fn, decltype(deliver)>>(
                       std::move(fn), std::move(deliver), exclusive));
    std::unique_lock lock(slot.mutex);
    slot.done.wait(lock, [&slot] { return slot.ready; });
    if (slot.error) std::rethrow_exception(slot.error);
    return std::move(*slot.value);
}

}  // namespace rampart::store
