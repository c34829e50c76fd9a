// What the store keeps for jobs, and the calls that move them. Each call that changes a job's state
// is one transaction that applies jobs::nextState, so the state machine holds even with many API
// processes and workers on one database; the tables' triggers refuse any other edge besides.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/job_state.hpp"

namespace rampart::store {

using Millis = std::int64_t;  // Unix time in milliseconds

[[nodiscard]] inline Millis toMillis(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}
[[nodiscard]] inline std::chrono::system_clock::time_point fromMillis(Millis millis) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(millis));
}

struct JobRecord {
    std::string id{};
    std::string task{};
    std::string args{};  // JSON text, validated before it gets here
    std::string queue{};
    int priority = 0;  // higher first
    jobs::JobState state = jobs::JobState::queued;
    int attempts = 0;
    int maxAttempts = 1;
    Millis runAt = 0;
    Millis timeoutMs = 0;
    std::string ownerId{};
    std::optional<std::string> idempotencyKey{};
    std::optional<std::string>
        requestHash{};  // what the key was first used for, to tell a replay from a reuse
    int progress = 0;
    std::string progressMessage{};
    std::optional<std::string> result{};  // JSON text
    std::optional<std::string> error{};
    bool cancelRequested = false;
    std::optional<std::string> leaseHolder{};
    std::optional<Millis> leaseExpires{};
    Millis created = 0;
    Millis updated = 0;
    std::optional<Millis> finished{};
    // The W3C traceparent of the span that submitted the job (a request's, or a schedule tick's), when
    // tracing was on: the run span links to it.
    std::optional<std::string> traceParent{};
};

// A lease never outlives its attempt's timeout (timeout_ms from the claim) by more than this: claims and
// heartbeats cap it there. So a worker that hangs while it keeps beating still loses the job, which
// runs again (or is dead when its attempts are used up); the in-process workers end a timed-out attempt
// themselves first, and have this long to report it.
inline constexpr Millis kTimeoutGrace = 5'000;

// What a heartbeat left: the lease's new end, and whether the job's cancel was requested.
struct LeaseRenewal {
    bool cancelRequested = false;
    Millis leaseExpires = 0;
};

enum class SubmitOutcome {
    created,   // stored now
    existing,  // the owner used this idempotency key before, for the same request: that job
    conflict,  // the owner used this idempotency key before, for another request: that job, untouched
};

struct SubmitResult {
    SubmitOutcome outcome = SubmitOutcome::created;
    JobRecord job;
};

// Which jobs to list: every filter given must match; newest first, `before` is the cursor (the last
// position seen; 0 for the first page).
struct JobQuery {
    std::optional<std::string> ownerId{};
    std::optional<jobs::JobState> state{};
    std::optional<std::string> queue{};
    std::optional<std::string> task{};
    std::optional<Millis> createdSince{};  // inclusive
    std::optional<Millis> createdUntil{};  // exclusive
    std::int64_t before = 0;
    int limit = 100;  // 1..kMaxLimit

    static constexpr int kMaxLimit = 500;
};

// The longest progress message reportProgress takes, in bytes.
inline constexpr std::size_t kMaxProgressMessage = 200;

struct JobPage {
    std::vector<JobRecord> jobs;
    std::int64_t nextCursor = 0;  // 0: no more
};

// How a running job ended, reported by the lease holder.
struct JobOutcome {
    bool succeeded = false;
    std::optional<std::string> result{};  // JSON text, when succeeded
    std::optional<std::string> error{};   // when not
    Millis retryAt = 0;                   // when not and attempts remain: the back-off's end
    // When not succeeded: false ends the job now (dead; canceled when a cancel was requested) whatever
    // attempts remain (jobs::JobEvent::failPermanently).
    bool retry = true;
};

// One lease holder's report of how an attempt ended, for finishAttempts.
struct AttemptReport {
    std::string id{};
    std::string holder{};
    JobOutcome outcome{};
};

// Where an attempt's end took its job, by a report (finishAttempts) or by its lease running out
// (recoverExpiredLeases), with what the job metrics need from the row, read in the same transaction:
// they record an external worker's run time, dead jobs and end-to-end times from it without reading the
// job again.
struct FinishedAttempt {
    jobs::JobState state = jobs::JobState::running;
    std::string id{};
    int attempt = 0;  // the attempt that ended (1 for the first)
    std::string queue{};
    std::string task{};
    Millis created = 0;
    // The claim that started the attempt (attempt_deadline - timeout_ms); unset for a row claimed
    // before attempt_deadline existed.
    std::optional<Millis> attemptStarted{};
    std::optional<std::string> traceParent{};  // JobRecord::traceParent
};

// What JobStore::deleteFinishedJobs deleted.
struct DeletedJobs {
    int count = 0;
    Millis lastFinished = 0;  // the latest `finished` among them (0 when none)
};

// One row of a job's history: a state change (from is unset for the first), or a cancel request.
struct JobEventRecord {
    Millis time = 0;
    std::optional<jobs::JobState> from{};
    jobs::JobState to = jobs::JobState::queued;
    std::string detail{};
};

// A queue as the store sees it: whether it is paused, and how many jobs it holds in each state.
struct QueueStats {
    std::string name{};
    bool paused = false;
    std::vector<std::pair<jobs::JobState, std::int64_t>> counts{};  // only states with jobs
};

// A job's sealed columns as stored (store/payload_sealing.hpp), for re-sealing them under the current
// key generation (`rampart admin reencrypt`).
struct JobPayload {
    std::string id{};
    std::string args{};
    std::string progressMessage{};
    std::optional<std::string> result{};
    std::optional<std::string> error{};
};

// One job's payload columns replaced by `after`, only while the row still holds `before` (a job that
// changed meanwhile, a progress report or a finish, is left for the next pass).
struct PayloadRewrite {
    JobPayload before{};
    JobPayload after{};
};

class JobStore {
  public:
    virtual ~JobStore() = default;

    // Stores a new job (state scheduled when runAt > now, else queued) with its first history event,
    // durable when the awaitable completes. With an idempotency key, an earlier job of the same owner
    // and key is returned instead, atomically (concurrent submits with one key store one job).
    virtual boost::asio::awaitable<SubmitResult> submitJob(JobRecord job, Millis now) = 0;
    // All or none, in one transaction. Throws store::Conflict when an idempotency key is already used.
    virtual boost::asio::awaitable<std::vector<JobRecord>> submitJobs(std::vector<JobRecord> jobs,
                                                                      Millis now) = 0;

    virtual boost::asio::awaitable<std::optional<JobRecord>> findJob(std::string id) = 0;
    // A number that changes once any write this process makes to the store has committed, before the
    // writer hears it did; for keeping what was read (jobs::RecentJobs). nullopt: the store cannot tell,
    // so nothing read may be kept.
    [[nodiscard]] virtual std::optional<std::uint64_t> localWriteStamp() const { return std::nullopt; }
    // OpenTelemetry's db.system of the database underneath: "sqlite" or "postgresql".
    [[nodiscard]] virtual std::string_view databaseSystem() const = 0;
    // Throws std::invalid_argument for a limit outside 1..JobQuery::kMaxLimit.
    virtual boost::asio::awaitable<JobPage> listJobs(JobQuery query) = 0;

    // Applies a cancel: waiting jobs end at once; a running job gets cancelRequested. Returns the job
    // as it is now (unchanged when it had finished already), nullopt when there is no such job.
    virtual boost::asio::awaitable<std::optional<JobRecord>> cancelJob(std::string id, Millis now) = 0;
    // Applies a retry (jobs::JobEvent::retry): a failed or dead job is queued now (run_at = now), a dead
    // one with no attempt left given one more (max_attempts = attempts + 1). Returns the job as it is now
    // (unchanged when it was in another state), nullopt when there is no such job.
    virtual boost::asio::awaitable<std::optional<JobRecord>> retryJob(std::string id, Millis now) = 0;

    // Moves due scheduled and failed jobs to queued, then leases up to `max` queued jobs of `queues`
    // whose task type is one of `tasks` (empty: any) (highest priority, then earliest runAt) to
    // `holder` until now + leaseMs, counting an attempt.
    virtual boost::asio::awaitable<std::vector<JobRecord>> claimJobs(std::vector<std::string> queues,
                                                                     std::vector<std::string> tasks, int max,
                                                                     std::string holder, Millis leaseMs,
                                                                     Millis now) = 0;
    // The same for jobs of any task type.
    boost::asio::awaitable<std::vector<JobRecord>> claimJobs(std::vector<std::string> queues, int max,
                                                             std::string holder, Millis leaseMs, Millis now) {
        return claimJobs(std::move(queues), {}, max, std::move(holder), leaseMs, now);
    }
    // Extends the lease to now + leaseMs (no further than kTimeoutGrace past the attempt's timeout) and
    // says until when, and whether a cancel was requested (the worker's one store call per beat);
    // nullopt when `holder` does not hold a live lease on the job (any more).
    virtual boost::asio::awaitable<std::optional<LeaseRenewal>> heartbeatJob(std::string id,
                                                                             std::string holder,
                                                                             Millis leaseMs, Millis now) = 0;
    // Records progress (0..100, message at most kMaxProgressMessage bytes); false like heartbeatJob.
    virtual boost::asio::awaitable<bool> reportProgress(std::string id, std::string holder, int percent,
                                                        std::string message, Millis now) = 0;
    // Ends the holder's attempt with the state jobs::nextState gives; nullopt when `holder` holds no
    // live lease on the job (a late report after the lease was lost is refused).
    virtual boost::asio::awaitable<std::optional<jobs::JobState>> finishAttempt(std::string id,
                                                                                std::string holder,
                                                                                JobOutcome outcome,
                                                                                Millis now) = 0;
    // Every holder that ever leased the job, oldest claim first (empty for an unknown job). For the
    // worker API's answer to a refused report: a lost lease (it held the job once) or no such job.
    virtual boost::asio::awaitable<std::vector<std::string>> leaseHolders(std::string id) = 0;
    // finishAttempt for each report, all in one write (one transaction): element i holds the state
    // finishAttempt would return for reports[i] (nullopt: refused, and a refused report changes
    // nothing), with the job's times for the metrics. For workers whose jobs end in bursts; one store
    // call instead of one per job.
    virtual boost::asio::awaitable<std::vector<std::optional<FinishedAttempt>>> finishAttempts(
        std::vector<AttemptReport> reports, Millis now) = 0;
    // Gives back jobs `holder` claimed but never started (a worker's claim-ahead): each one it holds a
    // live lease on goes back to queued with its attempt uncounted (canceled when a cancel was
    // requested), all in one transaction. Returns the ids given back; the others are left as they are.
    virtual boost::asio::awaitable<std::vector<std::string>> releaseJobs(std::vector<std::string> ids,
                                                                         std::string holder, Millis now) = 0;
    // Takes back every lease that expired before `now` (queued again with the attempt counted, dead,
    // or canceled); returns each job taken back, with the state it went to.
    virtual boost::asio::awaitable<std::vector<FinishedAttempt>> recoverExpiredLeases(Millis now) = 0;

    // The job's history, oldest first (empty when there is no such job).
    virtual boost::asio::awaitable<std::vector<JobEventRecord>> jobEvents(std::string id) = 0;

    // A paused queue keeps its jobs and takes submissions, but claimJobs leases none of its jobs until
    // it is resumed. Jobs already running go on.
    virtual boost::asio::awaitable<void> setQueuePaused(std::string queue, bool paused, Millis now) = 0;
    // Every queue that holds jobs or was ever paused, by name, with its counts by state.
    virtual boost::asio::awaitable<std::vector<QueueStats>> queueStats() = 0;

    // Deletes up to `limit` jobs that ended (succeeded, dead, canceled) from `finishedFrom` (inclusive)
    // to before `finishedBefore`, oldest first, with their history. A sweep passes the previous call's
    // `lastFinished` as `finishedFrom`: on PostgreSQL the index entries of deleted rows stay until a
    // VACUUM, and a pick from the index's start stepped over every one of them (13 ms a pick after
    // 1,000,000 deleted, against 0.1 ms).
    virtual boost::asio::awaitable<DeletedJobs> deleteFinishedJobs(Millis finishedFrom, Millis finishedBefore,
                                                                   int limit) = 0;

    // The key generation new job payloads are sealed with: the highest started, 1 before any.
    virtual boost::asio::awaitable<std::int64_t> payloadKeyGeneration() = 0;
    // Starts the next key generation at `now` and returns it (`rampart admin keys rotate`).
    virtual boost::asio::awaitable<std::int64_t> startPayloadKeyGeneration(Millis now) = 0;
    // Up to `limit` jobs' payload columns, by id, with ids after `afterId` (empty: from the first).
    virtual boost::asio::awaitable<std::vector<JobPayload>> jobPayloads(std::string afterId, int limit) = 0;
    // Applies each rewrite whose row still holds its `before`, all in one transaction; returns how many
    // rows changed.
    virtual boost::asio::awaitable<int> rewriteJobPayloads(std::vector<PayloadRewrite> rewrites) = 0;
};

}  // namespace rampart::store
