// SealedJobStore: the job and schedule calls of a store with job payloads sealed at rest, for both
// backends alike. Args, result, error and the progress message are sealed on the way in and opened on
// the way out (store/payload_sealing.hpp), so the services above see plaintext and the database holds
// none; the request hash kept with an idempotency key is keyed, so it cannot confirm a guess of args.
// Schedules' own args (the template each tick's job copies) are passed through as they are.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "store/job_store.hpp"
#include "store/payload_sealing.hpp"
#include "store/schedule_store.hpp"
#include "store/store_errors.hpp"

namespace rampart::store {

// A sealed payload that does not open: another secret key than the one it was sealed under, or a
// value changed or moved in the database. Not transient: no retry cures it.
class SealedPayloadUnreadable : public StoreUnavailable {
  public:
    SealedPayloadUnreadable()
        : StoreUnavailable("a sealed job payload does not open under this secret key") {}
    [[nodiscard]] bool transient() const noexcept override { return false; }
};

// Column names, the associated data of each sealed value.
inline constexpr std::string_view kArgsColumn = "args";
inline constexpr std::string_view kResultColumn = "result";
inline constexpr std::string_view kErrorColumn = "error";
inline constexpr std::string_view kProgressMessageColumn = "progress_message";

// What one pass of reencryptPayloads did.
struct ReencryptCounts {
    std::int64_t generation = 0;  // the generation rows were sealed under
    std::int64_t jobs = 0;        // rows looked at
    std::int64_t resealed = 0;    // rows rewritten
    std::int64_t changed = 0;     // rows that changed between read and rewrite (left for another pass)
    std::int64_t unreadable = 0;  // rows sealed under another secret key (left as they are)
};

class SealedJobStore final : public JobStore, public ScheduleStore {
  public:
    // How long a generation read from the database is used before it is read again: a rotation reaches
    // every running server within this.
    static constexpr std::chrono::seconds kGenerationRecheck{60};

    SealedJobStore(JobStore& jobs, ScheduleStore& schedules, const SecretString& secretKey);

    // The payload and request-hash keys, for `rampart admin reencrypt` and tests.
    [[nodiscard]] const PayloadKeys& keys() const { return keys_; }
    // Seals, opens, or keys what JobRecord holds (for tests and reencrypt).
    [[nodiscard]] JobPayload sealPayload(const JobPayload& payload, std::int64_t generation) const;
    [[nodiscard]] JobPayload openPayload(const JobPayload& payload) const;
    [[nodiscard]] std::string keyedRequestHash(std::string_view requestHash) const;

    // Re-seals, `batch` jobs per write (one short transaction each, so servers go on serving), every
    // payload that is plaintext or sealed under an older generation than the current one.
    boost::asio::awaitable<ReencryptCounts> reencryptPayloads(int batch);

    boost::asio::awaitable<SubmitResult> submitJob(JobRecord job, Millis now) override;
    boost::asio::awaitable<std::vector<JobRecord>> submitJobs(std::vector<JobRecord> jobs,
                                                              Millis now) override;
    boost::asio::awaitable<std::optional<JobRecord>> findJob(std::string id) override;
    [[nodiscard]] std::string_view databaseSystem() const override { return jobs_.databaseSystem(); }
    [[nodiscard]] std::optional<std::uint64_t> localWriteStamp() const override {
        return jobs_.localWriteStamp();
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

  private:
    // The generation to seal with: the database's, read again after kGenerationRecheck.
    boost::asio::awaitable<std::int64_t> currentGeneration();
    // A new job as the inner store gets it: args sealed, the request hash keyed.
    [[nodiscard]] JobRecord sealedNewJob(JobRecord job, std::int64_t generation) const;
    void sealOutcome(const std::string& id, JobOutcome& outcome, std::int64_t generation) const;
    // Throws SealedPayloadUnreadable for a value that does not open.
    [[nodiscard]] std::string openColumn(const std::string& id, std::string_view column,
                                         const std::string& stored) const;
    void openJob(JobRecord& job) const;

    JobStore& jobs_;
    ScheduleStore& schedules_;
    PayloadKeys keys_;
    std::atomic<std::int64_t> generation_{0};
    std::atomic<std::int64_t> generationReadAt_{0};  // steady clock, nanoseconds; 0: never
};

}  // namespace rampart::store
