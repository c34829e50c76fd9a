// The job rules both stores share (see job_rules.hpp).
#include "store/job_rules.hpp"

#include <stdexcept>

#include "store/payload_sealing.hpp"
#include "store/store_errors.hpp"

namespace rampart::store {

using jobs::JobEvent;
using jobs::JobState;

jobs::JobFacts factsOf(const JobRecord& job) {
    return jobs::JobFacts{
        .attempts = job.attempts, .maxAttempts = job.maxAttempts, .cancelRequested = job.cancelRequested};
}

JobState initialState(const JobRecord& job, Millis now) {
    return job.runAt > now ? JobState::scheduled : JobState::queued;
}

JobRecord newJobAt(JobRecord job, Millis now) {
    job.state = initialState(job, now);
    job.attempts = 0;
    job.created = job.updated = now;
    return job;
}

std::optional<Millis> finishedAt(JobState state, Millis now) {
    return jobs::isTerminal(state) ? std::optional<Millis>(now) : std::nullopt;
}

bool holdsLiveLease(const JobRecord& job, std::string_view holder, Millis now) {
    return job.state == JobState::running && job.leaseHolder == holder && job.leaseExpires &&
           *job.leaseExpires > now;
}

AttemptEnd attemptEndOf(const JobOutcome& outcome) {
    if (outcome.succeeded) return AttemptEnd{.event = JobEvent::succeed, .detail = "succeeded"};
    if (outcome.retry) return AttemptEnd{.event = JobEvent::fail, .detail = "attempt failed"};
    return AttemptEnd{.event = JobEvent::failPermanently, .detail = "failed, no retry"};
}

Millis runAtAfter(const JobRecord& job, JobState next, const JobOutcome& outcome) {
    return next == JobState::failed ? outcome.retryAt : job.runAt;
}

FinishedAttempt finishedAttemptOf(const JobRecord& job, jobs::JobState next,
                                  std::optional<Millis> attemptDeadline) {
    FinishedAttempt finished{.state = next,
                             .id = job.id,
                             .attempt = job.attempts,
                             .queue = job.queue,
                             .task = job.task,
                             .created = job.created,
                             .traceParent = job.traceParent};
    if (attemptDeadline) finished.attemptStarted = *attemptDeadline - job.timeoutMs;
    return finished;
}

SubmitResult earlierSubmit(JobRecord earlier, const JobRecord& submitted) {
    const bool same = earlier.requestHash == submitted.requestHash;
    return SubmitResult{.outcome = same ? SubmitOutcome::existing : SubmitOutcome::conflict,
                        .job = std::move(earlier)};
}

void refuseBatchWithUsedKey() {
    throw Conflict("an idempotency key of the batch is already used");
}

void checkProgress(int percent, std::string_view message) {
    // A sealed message (SealedJobStore checked its plaintext) may be as long as the longest one sealed.
    const std::size_t limit =
        sealedGeneration(message) ? sealedSize(kMaxProgressMessage) : kMaxProgressMessage;
    if (percent < 0 || percent > 100 || message.size() > limit) {
        throw std::invalid_argument("progress must be 0..100 with a message of at most 200 bytes");
    }
}

void checkJobPageLimit(const JobQuery& query) {
    if (query.limit < 1 || query.limit > JobQuery::kMaxLimit)
        throw std::invalid_argument("job page limit must be 1..500");
}

}  // namespace rampart::store
