// The rules of the job calls that do not depend on the database, written once for both stores: a new
// job's first state, what jobs::nextState is told of a job, how a lease holder's report ends an attempt
// and the history texts each change leaves, the idempotency-key rule. Only the SQL differs by backend.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>

#include "core/job_state.hpp"
#include "store/job_store.hpp"

namespace rampart::store {

// The detail of each history row the stores write (job_events.detail; clients read it in a job's events).
inline constexpr std::string_view kSubmittedDetail = "submitted";
inline constexpr std::string_view kDueDetail = "due";
inline constexpr std::string_view kClaimedDetail = "claimed";
inline constexpr std::string_view kCanceledDetail = "canceled";
inline constexpr std::string_view kCancelRequestedDetail = "cancel requested";
inline constexpr std::string_view kLeaseExpiredDetail = "lease expired";
inline constexpr std::string_view kReleasedDetail = "released unstarted";
inline constexpr std::string_view kRetriedDetail = "retried";

// What jobs::nextState is told of a job.
[[nodiscard]] jobs::JobFacts factsOf(const JobRecord& job);

// A new job's first state: scheduled when it runs after `now`, else queued.
[[nodiscard]] jobs::JobState initialState(const JobRecord& job, Millis now);
// A new job as it is stored at `now`: its first state, no attempts, created and updated now.
[[nodiscard]] JobRecord newJobAt(JobRecord job, Millis now);

// The finish time of a job that moves to `state` at `now`: now when the state is terminal, else none.
[[nodiscard]] std::optional<Millis> finishedAt(jobs::JobState state, Millis now);

// When a lease taken or renewed at `now` for leaseMs ends, for an attempt that must end by `deadline`:
// at most kTimeoutGrace after it.
[[nodiscard]] constexpr Millis leaseEnd(Millis now, Millis leaseMs, Millis deadline) {
    return std::min(now + leaseMs, deadline + kTimeoutGrace);
}

// Whether `holder` holds a live lease on the job: it runs, leased to holder, until after `now`.
[[nodiscard]] bool holdsLiveLease(const JobRecord& job, std::string_view holder, Millis now);

// How a lease holder's report ends its attempt: the state machine's event, and the history row's text.
struct AttemptEnd {
    jobs::JobEvent event = jobs::JobEvent::succeed;
    std::string_view detail{};
};
[[nodiscard]] AttemptEnd attemptEndOf(const JobOutcome& outcome);
// The job's run_at once the attempt ended in `next`: the back-off's end when it waits to be retried
// (failed), else unchanged.
[[nodiscard]] Millis runAtAfter(const JobRecord& job, jobs::JobState next, const JobOutcome& outcome);

// What a report that ended the job's attempt (moving it to `next`) tells the services: the attempt's start
// is the claim's, attemptDeadline - timeout (unknown for a row claimed before attempt_deadline existed).
[[nodiscard]] FinishedAttempt finishedAttemptOf(const JobRecord& job, jobs::JobState next,
                                                std::optional<Millis> attemptDeadline);

// The idempotency-key rule, for a submit whose owner used its key before: the earlier job, as a replay
// (existing) when it was submitted with the same request hash, else as a conflict, the job untouched.
[[nodiscard]] SubmitResult earlierSubmit(JobRecord earlier, const JobRecord& submitted);
// A batch with an idempotency key used already (before, or earlier in the batch) is refused whole:
// throws Conflict.
[[noreturn]] void refuseBatchWithUsedKey();

// Throws std::invalid_argument for a percentage outside 0..100 or a message longer than
// kMaxProgressMessage bytes.
void checkProgress(int percent, std::string_view message);
// Throws std::invalid_argument for a limit outside 1..JobQuery::kMaxLimit.
void checkJobPageLimit(const JobQuery& query);

}  // namespace rampart::store
