// SealedJobStore: seals on the way in, opens on the way out; every other call goes straight through.
// The calls that only pass through return the inner store's awaitable; the others are coroutines that
// take their arguments by value and await into locals (docs/development.md's g++ 12 rules).
#include "store/sealed_job_store.hpp"

#include <stdexcept>
#include <string>

#include "store/job_rules.hpp"

namespace rampart::store {
namespace {

std::int64_t steadyNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

SealedJobStore::SealedJobStore(JobStore& jobs, ScheduleStore& schedules, const SecretString& secretKey)
    : jobs_(jobs), schedules_(schedules), keys_(secretKey) {}

JobPayload SealedJobStore::sealPayload(const JobPayload& payload, std::int64_t generation) const {
    JobPayload sealed{.id = payload.id};
    sealed.args = keys_.seal(generation, payload.id, kArgsColumn, payload.args);
    // An empty message (no progress reported) says nothing: it stays empty.
    if (!payload.progressMessage.empty())
        sealed.progressMessage =
            keys_.seal(generation, payload.id, kProgressMessageColumn, payload.progressMessage);
    if (payload.result) sealed.result = keys_.seal(generation, payload.id, kResultColumn, *payload.result);
    if (payload.error) sealed.error = keys_.seal(generation, payload.id, kErrorColumn, *payload.error);
    return sealed;
}

JobPayload SealedJobStore::openPayload(const JobPayload& payload) const {
    JobPayload opened{.id = payload.id};
    opened.args = openColumn(payload.id, kArgsColumn, payload.args);
    opened.progressMessage = openColumn(payload.id, kProgressMessageColumn, payload.progressMessage);
    if (payload.result) opened.result = openColumn(payload.id, kResultColumn, *payload.result);
    if (payload.error) opened.error = openColumn(payload.id, kErrorColumn, *payload.error);
    return opened;
}

std::string SealedJobStore::keyedRequestHash(std::string_view requestHash) const {
    return keys_.keyedHash(requestHash);
}

boost::asio::awaitable<std::int64_t> SealedJobStore::currentGeneration() {
    const std::int64_t readAt = generationReadAt_.load(std::memory_order_acquire);
    const std::int64_t now = steadyNanos();
    if (readAt == 0 || now - readAt >= std::chrono::nanoseconds(kGenerationRecheck).count()) {
        const std::int64_t generation = co_await jobs_.payloadKeyGeneration();
        generation_.store(generation, std::memory_order_relaxed);
        generationReadAt_.store(now, std::memory_order_release);
        co_return generation;
    }
    co_return generation_.load(std::memory_order_relaxed);
}

JobRecord SealedJobStore::sealedNewJob(JobRecord job, std::int64_t generation) const {
    job.args = keys_.seal(generation, job.id, kArgsColumn, job.args);
    if (job.requestHash) job.requestHash = keys_.keyedHash(*job.requestHash);
    return job;
}

void SealedJobStore::sealOutcome(const std::string& id, JobOutcome& outcome, std::int64_t generation) const {
    if (outcome.result) outcome.result = keys_.seal(generation, id, kResultColumn, *outcome.result);
    if (outcome.error) outcome.error = keys_.seal(generation, id, kErrorColumn, *outcome.error);
}

std::string SealedJobStore::openColumn(const std::string& id, std::string_view column,
                                       const std::string& stored) const {
    auto opened = keys_.open(id, column, stored);
    if (!opened) throw SealedPayloadUnreadable();
    return std::move(*opened);
}

void SealedJobStore::openJob(JobRecord& job) const {
    job.args = openColumn(job.id, kArgsColumn, job.args);
    job.progressMessage = openColumn(job.id, kProgressMessageColumn, job.progressMessage);
    if (job.result) job.result = openColumn(job.id, kResultColumn, *job.result);
    if (job.error) job.error = openColumn(job.id, kErrorColumn, *job.error);
}

namespace {

// Whether sealPayload would write anything else than what is stored: a value it seals that is plaintext
// or sealed under another generation (an empty progress message stays empty).
bool stale(const JobPayload& payload, std::int64_t generation) {
    auto other = [generation](std::string_view stored) { return sealedGeneration(stored) != generation; };
    return other(payload.args) || (!payload.progressMessage.empty() && other(payload.progressMessage)) ||
           (payload.result && other(*payload.result)) || (payload.error && other(*payload.error));
}

}  // namespace

boost::asio::awaitable<ReencryptCounts> SealedJobStore::reencryptPayloads(int batch) {
    if (batch < 1 || batch > 10'000) throw std::invalid_argument("the batch size must be 1..10000");
    ReencryptCounts counts;
    counts.generation = co_await jobs_.payloadKeyGeneration();
    std::string afterId;
    for (;;) {
        std::vector<JobPayload> page = co_await jobs_.jobPayloads(afterId, batch);
        if (page.empty()) break;
        afterId = page.back().id;
        counts.jobs += static_cast<std::int64_t>(page.size());
        std::vector<PayloadRewrite> rewrites;
        for (JobPayload& stored : page) {
            if (!stale(stored, counts.generation)) continue;
            std::optional<JobPayload> opened;
            try {
                opened = openPayload(stored);
            } catch (const SealedPayloadUnreadable&) {
                ++counts.unreadable;
            }
            if (!opened) continue;
            PayloadRewrite rewrite{.before = std::move(stored),
                                   .after = sealPayload(*opened, counts.generation)};
            rewrites.push_back(std::move(rewrite));
        }
        const auto attempted = static_cast<std::int64_t>(rewrites.size());
        if (attempted == 0) continue;
        const int rewritten = co_await jobs_.rewriteJobPayloads(std::move(rewrites));
        counts.resealed += rewritten;
        counts.changed += attempted - rewritten;
    }
    co_return counts;
}

boost::asio::awaitable<SubmitResult> SealedJobStore::submitJob(JobRecord job, Millis now) {
    const std::int64_t generation = co_await currentGeneration();
    JobRecord sealed = sealedNewJob(std::move(job), generation);
    SubmitResult result = co_await jobs_.submitJob(std::move(sealed), now);
    openJob(result.job);
    co_return result;
}

boost::asio::awaitable<std::vector<JobRecord>> SealedJobStore::submitJobs(std::vector<JobRecord> jobs,
                                                                          Millis now) {
    const std::int64_t generation = co_await currentGeneration();
    for (JobRecord& job : jobs) job = sealedNewJob(std::move(job), generation);
    std::vector<JobRecord> stored = co_await jobs_.submitJobs(std::move(jobs), now);
    for (JobRecord& job : stored) openJob(job);
    co_return stored;
}

boost::asio::awaitable<std::optional<JobRecord>> SealedJobStore::findJob(std::string id) {
    std::optional<JobRecord> job = co_await jobs_.findJob(std::move(id));
    if (job) openJob(*job);
    co_return job;
}

boost::asio::awaitable<JobPage> SealedJobStore::listJobs(JobQuery query) {
    JobPage page = co_await jobs_.listJobs(std::move(query));
    for (JobRecord& job : page.jobs) openJob(job);
    co_return page;
}

boost::asio::awaitable<std::optional<JobRecord>> SealedJobStore::cancelJob(std::string id, Millis now) {
    std::optional<JobRecord> job = co_await jobs_.cancelJob(std::move(id), now);
    if (job) openJob(*job);
    co_return job;
}

boost::asio::awaitable<std::optional<JobRecord>> SealedJobStore::retryJob(std::string id, Millis now) {
    std::optional<JobRecord> job = co_await jobs_.retryJob(std::move(id), now);
    if (job) openJob(*job);
    co_return job;
}

boost::asio::awaitable<std::vector<JobRecord>> SealedJobStore::claimJobs(std::vector<std::string> queues,
                                                                         std::vector<std::string> tasks,
                                                                         int max, std::string holder,
                                                                         Millis leaseMs, Millis now) {
    std::vector<JobRecord> claimed =
        co_await jobs_.claimJobs(std::move(queues), std::move(tasks), max, std::move(holder), leaseMs, now);
    for (JobRecord& job : claimed) openJob(job);
    co_return claimed;
}

boost::asio::awaitable<std::optional<LeaseRenewal>> SealedJobStore::heartbeatJob(std::string id,
                                                                                 std::string holder,
                                                                                 Millis leaseMs, Millis now) {
    return jobs_.heartbeatJob(std::move(id), std::move(holder), leaseMs, now);
}

boost::asio::awaitable<bool> SealedJobStore::reportProgress(std::string id, std::string holder, int percent,
                                                            std::string message, Millis now) {
    checkProgress(percent, message);  // the limit is on what the worker sent, not on the sealed text
    if (!message.empty()) {
        const std::int64_t generation = co_await currentGeneration();
        message = keys_.seal(generation, id, kProgressMessageColumn, message);
    }
    const bool reported =
        co_await jobs_.reportProgress(std::move(id), std::move(holder), percent, std::move(message), now);
    co_return reported;
}

boost::asio::awaitable<std::optional<jobs::JobState>> SealedJobStore::finishAttempt(std::string id,
                                                                                    std::string holder,
                                                                                    JobOutcome outcome,
                                                                                    Millis now) {
    const std::int64_t generation = co_await currentGeneration();
    sealOutcome(id, outcome, generation);
    const auto state =
        co_await jobs_.finishAttempt(std::move(id), std::move(holder), std::move(outcome), now);
    co_return state;
}

boost::asio::awaitable<std::vector<std::string>> SealedJobStore::leaseHolders(std::string id) {
    return jobs_.leaseHolders(std::move(id));
}

boost::asio::awaitable<std::vector<std::optional<FinishedAttempt>>> SealedJobStore::finishAttempts(
    std::vector<AttemptReport> reports, Millis now) {
    const std::int64_t generation = co_await currentGeneration();
    for (AttemptReport& report : reports) sealOutcome(report.id, report.outcome, generation);
    auto finished = co_await jobs_.finishAttempts(std::move(reports), now);
    co_return finished;
}

boost::asio::awaitable<std::vector<std::string>> SealedJobStore::releaseJobs(std::vector<std::string> ids,
                                                                             std::string holder, Millis now) {
    return jobs_.releaseJobs(std::move(ids), std::move(holder), now);
}

boost::asio::awaitable<std::vector<FinishedAttempt>> SealedJobStore::recoverExpiredLeases(Millis now) {
    return jobs_.recoverExpiredLeases(now);
}

boost::asio::awaitable<std::vector<JobEventRecord>> SealedJobStore::jobEvents(std::string id) {
    return jobs_.jobEvents(std::move(id));  // history details are the store's own texts, never payloads
}

boost::asio::awaitable<void> SealedJobStore::setQueuePaused(std::string queue, bool paused, Millis now) {
    return jobs_.setQueuePaused(std::move(queue), paused, now);
}

boost::asio::awaitable<std::vector<QueueStats>> SealedJobStore::queueStats() {
    return jobs_.queueStats();
}

boost::asio::awaitable<DeletedJobs> SealedJobStore::deleteFinishedJobs(Millis finishedFrom,
                                                                       Millis finishedBefore, int limit) {
    return jobs_.deleteFinishedJobs(finishedFrom, finishedBefore, limit);
}

boost::asio::awaitable<std::int64_t> SealedJobStore::payloadKeyGeneration() {
    return jobs_.payloadKeyGeneration();
}

boost::asio::awaitable<std::int64_t> SealedJobStore::startPayloadKeyGeneration(Millis now) {
    return jobs_.startPayloadKeyGeneration(now);
}

boost::asio::awaitable<std::vector<JobPayload>> SealedJobStore::jobPayloads(std::string afterId, int limit) {
    return jobs_.jobPayloads(std::move(afterId), limit);  // as stored: reencrypt needs the sealed text
}

boost::asio::awaitable<int> SealedJobStore::rewriteJobPayloads(std::vector<PayloadRewrite> rewrites) {
    return jobs_.rewriteJobPayloads(std::move(rewrites));
}

boost::asio::awaitable<CreateScheduleOutcome> SealedJobStore::createSchedule(ScheduleRecord schedule,
                                                                             int maxPerOwner, int maxTotal) {
    return schedules_.createSchedule(std::move(schedule), maxPerOwner, maxTotal);
}

boost::asio::awaitable<std::optional<ScheduleRecord>> SealedJobStore::findSchedule(std::string id) {
    return schedules_.findSchedule(std::move(id));
}

boost::asio::awaitable<SchedulePage> SealedJobStore::listSchedules(ScheduleQuery query) {
    return schedules_.listSchedules(std::move(query));
}

boost::asio::awaitable<std::optional<ScheduleRecord>> SealedJobStore::updateSchedule(
    ScheduleRecord schedule) {
    return schedules_.updateSchedule(std::move(schedule));
}

boost::asio::awaitable<bool> SealedJobStore::deleteSchedule(std::string id) {
    return schedules_.deleteSchedule(std::move(id));
}

boost::asio::awaitable<std::vector<ScheduleRecord>> SealedJobStore::dueSchedules(Millis now, int limit) {
    return schedules_.dueSchedules(now, limit);
}

boost::asio::awaitable<TickOutcome> SealedJobStore::recordTick(TickWrite write, Millis now) {
    if (write.job) {
        const std::int64_t generation = co_await currentGeneration();
        write.job = sealedNewJob(std::move(*write.job), generation);
    }
    const TickOutcome outcome = co_await schedules_.recordTick(std::move(write), now);
    co_return outcome;
}

boost::asio::awaitable<std::vector<TickRecord>> SealedJobStore::scheduleTicks(std::string scheduleId,
                                                                              int limit) {
    return schedules_.scheduleTicks(std::move(scheduleId), limit);
}

boost::asio::awaitable<bool> SealedJobStore::acquireLease(std::string name, std::string holder, Millis ttlMs,
                                                          Millis now) {
    return schedules_.acquireLease(std::move(name), std::move(holder), ttlMs, now);
}

boost::asio::awaitable<void> SealedJobStore::releaseLease(std::string name, std::string holder) {
    return schedules_.releaseLease(std::move(name), std::move(holder));
}

}  // namespace rampart::store
