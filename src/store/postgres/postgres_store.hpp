// PostgresStore: the Store on PostgreSQL for many API and worker processes. Queries run on the
// store's own event loop (one thread) over a bounded pool of pipelined libpq connections; callers
// await them and resume on their own executor. Start-up and command-line calls use a blocking
// connection of their own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/secret_string.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_pool.hpp"
#include "store/store.hpp"

namespace rampart::store {

namespace pg {
// The NOTIFY channel of job wake-ups; the payload is the queue's name.
inline constexpr std::string_view kJobsChannel = "rampart_jobs";
}  // namespace pg

namespace pg::detail {
// What fn(Connection&) produces: fn returns boost::asio::awaitable<R>.
template <class Fn>
using WorkResult = typename std::invoke_result_t<Fn&, pg::Connection&>::value_type;
}  // namespace pg::detail

class PostgresStore final : public Store {
  public:
    using Options = pg::ConnectionPool::Options;

    // Starts the store's thread; connects lazily (the first call, or migrate()). Never throws for an
    // unreachable database: calls throw StoreUnavailable until it answers.
    explicit PostgresStore(SecretString conninfo) : PostgresStore(std::move(conninfo), Options{}) {}
    PostgresStore(SecretString conninfo, Options options);
    PostgresStore(const PostgresStore&) = delete;
    PostgresStore& operator=(const PostgresStore&) = delete;
    ~PostgresStore() override;

    // Applies pending migrations under an advisory lock, so nodes starting together migrate once. A role
    // that may not create tables (the app role) gets a StoreUnavailable saying to run `rampart migrate`
    // as the owner.
    int migrate() override;
    [[nodiscard]] std::string_view databaseSystem() const override { return "postgresql"; }
    int schemaVersion() override;
    // Gives `role` exactly the privileges the server needs (postgres::grantDataPrivileges), in one
    // transaction; run by the schema's owner after migrate(). Throws std::invalid_argument for a role
    // name outside [a-z_][a-z0-9_]*.
    void grantDataPrivileges(std::string_view role);
    [[nodiscard]] int latestSchemaVersion() const override;
    boost::asio::awaitable<bool> ping() override;
    // LISTENs on the rampart_jobs channel over a connection of its own (not from the pool), and
    // reconnects with back-off when it drops, waking every queue afterwards for what it missed.
    bool watchQueuedJobs(std::function<void(const std::string& queue)> wake) override;
    void close() override;

    // Audit (pg_audit.cpp).
    boost::asio::awaitable<void> appendAudit(obs::AuditEvent event) override;
    boost::asio::awaitable<std::vector<obs::AuditRecord>> listAudit(AuditQuery query) override;
    AuditVerification verifyAudit(const std::vector<std::int64_t>& hashesAt) override;

    // Identity (pg_identity.cpp).
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
    void insertSigningKeyBlocking(SigningKeyRecord key) override;
    void deleteSigningKeysBlocking(std::vector<std::string> kids) override;

    // Jobs (pg_jobs.cpp).
    boost::asio::awaitable<SubmitResult> submitJob(JobRecord job, Millis now) override;
    boost::asio::awaitable<std::vector<JobRecord>> submitJobs(std::vector<JobRecord> jobs,
                                                              Millis now) override;
    boost::asio::awaitable<std::optional<JobRecord>> findJob(std::string id) override;
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

    // Schedules (pg_schedules.cpp).
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

    // Runs fn(pg::Connection&), a coroutine, on the store's event loop with a pooled connection, and
    // resumes on the caller's executor with its result or exception. fn must leave the connection
    // outside any transaction (inTransaction does that); a connection left inside one is dropped.
    template <class Fn>
    boost::asio::awaitable<pg::detail::WorkResult<Fn>> withConnection(Fn fn);
    // withConnection inside BEGIN ... COMMIT: rolled back when fn throws, and run again (at most three
    // times in all) when PostgreSQL reports a serialization failure or a deadlock.
    template <class Fn>
    boost::asio::awaitable<pg::detail::WorkResult<Fn>> inTransaction(Fn fn);
    // Runs fn(pg::BlockingConnection&) on a connection of its own, on the calling thread.
    template <class Fn>
    auto blocking(Fn fn) {
        pg::BlockingConnection connection(conninfo_);
        return fn(connection);
    }

  private:
    // Counts a call in flight from before it is handed to the loop until it ends, so that close()
    // can wait for them; false (nothing counted) once the store is closed.
    bool enter();
    void leave() { inFlight_.fetch_sub(1, std::memory_order_acq_rel); }
    // Ends what enter() counted when the coroutine holding it ends.
    struct Entered {
        explicit Entered(PostgresStore* counted) : store(counted) {}
        PostgresStore* store;
        Entered(const Entered&) = delete;
        Entered& operator=(const Entered&) = delete;
        ~Entered() { store->leave(); }
    };

    // migrate()'s work; migrate() rewords a missing privilege.
    int applyMigrations();
    boost::asio::awaitable<void> listenForQueuedJobs(std::function<void(const std::string& queue)> wake);
    // The transactions of submitJob and submitJobs (pg_jobs.cpp), which announce what they queued after.
    boost::asio::awaitable<SubmitResult> storeJob(JobRecord job, Millis now);
    boost::asio::awaitable<std::vector<JobRecord>> storeJobs(std::vector<JobRecord> batch, Millis now);
    // Single submits without an idempotency key, stored in groups (pg_jobs.cpp). The job comes ready
    // to store (state, attempts and times set).
    struct PendingSubmit;
    static constexpr int kSubmitGroups = 2;         // group statements on their way at once
    static constexpr std::size_t kMaxGroup = 1000;  // jobs in one
    boost::asio::awaitable<SubmitResult> storeWithOthers(JobRecord job);
    boost::asio::awaitable<SubmitResult> joinGroup(JobRecord job);
    boost::asio::awaitable<void> storeGroups();
    boost::asio::awaitable<void> storeGroup(std::span<const std::shared_ptr<PendingSubmit>> group);
    boost::asio::awaitable<void> insertJobs(std::vector<JobRecord> jobs);
    // recoverExpiredLeases' transaction: the leases it took back, and the queues of the jobs it queued
    // again (announced after, as a submit's are).
    struct LeasesTakenBack {
        std::vector<FinishedAttempt> jobs;
        std::vector<std::string> requeued;
    };
    boost::asio::awaitable<LeasesTakenBack> takeBackExpiredLeases(Millis now);
    // Tells every node's workers (NOTIFY rampart_jobs) that jobs were committed to these queues. Not
    // inside the submit's transaction: PostgreSQL serialises the commits of notifying transactions,
    // durable flush included, which held single submits to a few hundred a second. Instead one
    // notifying transaction at a time, with synchronous_commit off (a wake-up is a hint: workers poll
    // too), carries every queue announced while the previous one was on its way.
    void announceQueuedJobs(std::vector<std::string> queues);
    boost::asio::awaitable<void> sendWakeups();
    // Sleeps up to `duration` on the store's loop, in short steps that notice close().
    boost::asio::awaitable<void> pause(std::chrono::milliseconds duration);

    template <class Fn>
    boost::asio::awaitable<pg::detail::WorkResult<Fn>> runPooled(Fn fn, bool transaction);
    template <class Fn>
    static boost::asio::awaitable<pg::detail::WorkResult<Fn>> runTransaction(pg::Connection& connection,
                                                                             Fn& fn);

    SecretString conninfo_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    pg::ConnectionPool pool_;
    std::thread thread_;
    std::atomic<bool> closed_{false};
    std::atomic<int> inFlight_{0};
    // Touched only on the loop's thread.
    std::set<std::string> pendingWakeups_;
    bool sendingWakeups_ = false;
    std::vector<std::shared_ptr<PendingSubmit>> pendingSubmits_;
    int submitGroups_ = 0;
};

template <class Fn>
boost::asio::awaitable<pg::detail::WorkResult<Fn>> PostgresStore::withConnection(Fn fn) {
    if (!enter()) throw StoreUnavailable("database store is closed");
    auto work = runPooled(std::move(fn), false);
    co_return co_await boost::asio::co_spawn(io_, std::move(work), boost::asio::use_awaitable);
}

template <class Fn>
boost::asio::awaitable<pg::detail::WorkResult<Fn>> PostgresStore::inTransaction(Fn fn) {
    if (!enter()) throw StoreUnavailable("database store is closed");
    // A named local, not a temporary inside the co_await (docs/development.md: g++ 12 coroutines).
    auto work = runPooled(std::move(fn), true);
    co_return co_await boost::asio::co_spawn(io_, std::move(work), boost::asio::use_awaitable);
}

template <class Fn>
boost::asio::awaitable<pg::detail::WorkResult<Fn>> PostgresStore::runPooled(Fn fn, bool transaction) {
    const Entered counted{this};
    auto connection = co_await pool_.acquire();
    if (transaction) co_return co_await runTransaction(*connection, fn);
    co_return co_await fn(*connection);
}

template <class Fn>
boost::asio::awaitable<pg::detail::WorkResult<Fn>> PostgresStore::runTransaction(pg::Connection& connection,
                                                                                 Fn& fn) {
    using R = pg::detail::WorkResult<Fn>;
    constexpr int kAttempts = 3;
    for (int attempt = 1;; ++attempt) {
        co_await connection.query("BEGIN");
        std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
        std::exception_ptr error;
        bool retry = false;
        try {
            if constexpr (std::is_void_v<R>) {
                co_await fn(connection);
                result.emplace(true);
            } else {
                result.emplace(co_await fn(connection));
            }
            co_await connection.query("COMMIT");
        } catch (const pg::QueryError& failure) {
            retry = failure.retryable();
            error = std::current_exception();
        } catch (...) {
            error = std::current_exception();
        }
        if (!error) {
            if constexpr (std::is_void_v<R>) {
                co_return;
            } else {
                co_return std::move(*result);
            }
        }
        if (connection.healthy()) {
            // A failed ROLLBACK leaves the connection inside the transaction: the pool drops it.
            try {
                co_await connection.query("ROLLBACK");
            } catch (const StoreUnavailable&) {
            }
        }
        if (!retry || attempt == kAttempts) std::rethrow_exception(error);
    }
}

}  // namespace rampart::store
