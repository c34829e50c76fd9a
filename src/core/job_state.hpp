// The job state machine (docs/architecture.md, "The job lifecycle") in one place: the states, the events that
// move a job, the transitions they allow, and the retry back-off. The store enforces the same table
// (allowedTransitions) so that no caller, however buggy, can move a job along an edge that is not here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace rampart::jobs {

enum class JobState {
    scheduled,  // waiting for run_at
    queued,     // ready to be claimed
    running,    // claimed under a lease
    failed,     // an attempt failed and another is due (after its back-off): waits like `scheduled`
    succeeded,  // terminal
    dead,       // terminal: no attempts left; kept for inspection, and only a retry (a person's) moves it
    canceled,   // terminal
};

inline constexpr JobState kAllStates[] = {JobState::scheduled, JobState::queued,    JobState::running,
                                          JobState::failed,    JobState::succeeded, JobState::dead,
                                          JobState::canceled};

[[nodiscard]] std::string_view stateName(JobState state);
[[nodiscard]] std::optional<JobState> parseState(std::string_view name);  // exact, lower case
[[nodiscard]] bool isTerminal(JobState state);

enum class JobEvent {
    due,                // run_at reached (scheduled, failed -> queued)
    claim,              // a worker leases it (queued -> running)
    succeed,            // the handler returned a result
    fail,               // the handler failed, or its timeout passed
    failPermanently,    // the worker failed it and asked for no retry (an external worker's retry=false)
    cancel,             // a cancel request: at once unless running
    acknowledgeCancel,  // the running handler saw its cancel token
    leaseExpired,       // the worker stopped heart-beating (it died)
    release,            // the worker gives back a job it claimed ahead and never started (no attempt used)
    retry,  // a person asks for one more run now (failed, dead -> queued; a dead job gets an attempt)
};

[[nodiscard]] std::string_view eventName(JobEvent event);

// What the machine needs to know besides the state.
struct JobFacts {
    int attempts = 0;     // attempts started so far (a claim starts one)
    int maxAttempts = 1;  // >= 1
    bool cancelRequested = false;
};

// Where `event` takes a job in `from`. Nullopt: the event does not apply (a cancel of a finished job, a
// claim of a running one, ...), and the caller must refuse it. A cancel of a running job stays `running`
// with cancelRequested set by the caller; the result says so by returning `running`.
[[nodiscard]] std::optional<JobState> nextState(JobState from, JobEvent event, const JobFacts& facts);

// Every (from, to) pair that nextState can produce, for the store's guard.
[[nodiscard]] std::span<const std::pair<JobState, JobState>> allowedTransitions();
[[nodiscard]] bool transitionAllowed(JobState from, JobState to);

// Exponential back-off with full jitter (AWS's "full jitter"): a uniformly random delay between 0 and
// min(cap, base * 2^(attempt - 1)). `attempt` counts from 1 (the attempt that just failed); `random01`
// is in [0, 1).
struct RetryPolicy {
    std::chrono::milliseconds base{1000};
    std::chrono::milliseconds cap{std::chrono::minutes{10}};
};
[[nodiscard]] std::chrono::milliseconds retryDelay(int attempt, const RetryPolicy& policy, double random01);

}  // namespace rampart::jobs
