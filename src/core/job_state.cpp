// The transition table and back-off. nextState is the only place that says what an event does.
#include "core/job_state.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace rampart::jobs {
namespace {

using S = JobState;

constexpr std::array<std::pair<S, S>, 13> kTransitions{{
    {S::scheduled, S::queued},    // due
    {S::failed, S::queued},       // due (retry), or retried now
    {S::dead, S::queued},         // retried: one more attempt
    {S::queued, S::running},      // claim
    {S::running, S::succeeded},   // succeed
    {S::running, S::failed},      // fail, attempts left
    {S::running, S::dead},        // fail or lease expired, none left; fail permanently
    {S::running, S::queued},      // lease expired, attempts left
    {S::running, S::canceled},    // cancel acknowledged, or lease expired after a cancel
    {S::scheduled, S::canceled},  // cancel
    {S::queued, S::canceled},     // cancel
    {S::failed, S::canceled},     // cancel while waiting for a retry
    {S::running, S::running},     // cancel requested (the flag changes, the state does not)
}};

constexpr std::array kStates{S::scheduled, S::queued, S::running, S::failed,
                             S::succeeded, S::dead,   S::canceled};

}  // namespace

std::string_view stateName(JobState state) {
    switch (state) {
        case S::scheduled:
            return "scheduled";
        case S::queued:
            return "queued";
        case S::running:
            return "running";
        case S::failed:
            return "failed";
        case S::succeeded:
            return "succeeded";
        case S::dead:
            return "dead";
        case S::canceled:
            return "canceled";
    }
    return "queued";
}

std::optional<JobState> parseState(std::string_view name) {
    for (JobState state : kStates)
        if (stateName(state) == name) return state;
    return std::nullopt;
}

bool isTerminal(JobState state) {
    return state == S::succeeded || state == S::dead || state == S::canceled;
}

std::string_view eventName(JobEvent event) {
    switch (event) {
        case JobEvent::due:
            return "due";
        case JobEvent::claim:
            return "claim";
        case JobEvent::succeed:
            return "succeed";
        case JobEvent::fail:
            return "fail";
        case JobEvent::failPermanently:
            return "fail_permanently";
        case JobEvent::cancel:
            return "cancel";
        case JobEvent::acknowledgeCancel:
            return "acknowledge_cancel";
        case JobEvent::leaseExpired:
            return "lease_expired";
        case JobEvent::release:
            return "release";
        case JobEvent::retry:
            return "retry";
    }
    return "due";
}

std::optional<JobState> nextState(JobState from, JobEvent event, const JobFacts& facts) {
    const bool attemptsLeft = facts.attempts < facts.maxAttempts;
    switch (event) {
        case JobEvent::due:
            if (from == S::scheduled || from == S::failed) return S::queued;
            return std::nullopt;
        case JobEvent::claim:
            if (from == S::queued && attemptsLeft) return S::running;
            return std::nullopt;
        case JobEvent::succeed:
            if (from == S::running) return S::succeeded;
            return std::nullopt;
        case JobEvent::fail:
            if (from != S::running) return std::nullopt;
            if (facts.cancelRequested) return S::canceled;  // a canceled job is not retried
            return attemptsLeft ? S::failed : S::dead;
        case JobEvent::failPermanently:
            if (from != S::running) return std::nullopt;
            if (facts.cancelRequested) return S::canceled;  // the cancel was asked for first: say so
            return S::dead;
        case JobEvent::cancel:
            if (from == S::scheduled || from == S::queued || from == S::failed) return S::canceled;
            if (from == S::running) return S::running;  // requested; the handler acknowledges
            return std::nullopt;
        case JobEvent::acknowledgeCancel:
            if (from == S::running && facts.cancelRequested) return S::canceled;
            return std::nullopt;
        case JobEvent::leaseExpired:
            if (from != S::running) return std::nullopt;
            if (facts.cancelRequested) return S::canceled;
            return attemptsLeft ? S::queued : S::dead;
        case JobEvent::release:
            // The attempt never started, so it is not counted: the job waits for a claim again.
            if (from != S::running) return std::nullopt;
            if (facts.cancelRequested) return S::canceled;
            return S::queued;
        case JobEvent::retry:
            // Now, not after the back-off; a dead job is given one more attempt by the store (Sidekiq's
            // "retry now" from its dead set does the same). Succeeded and canceled jobs stay as they are.
            if (from == S::failed || from == S::dead) return S::queued;
            return std::nullopt;
    }
    return std::nullopt;
}

std::span<const std::pair<JobState, JobState>> allowedTransitions() {
    return kTransitions;
}

bool transitionAllowed(JobState from, JobState to) {
    return std::find(kTransitions.begin(), kTransitions.end(), std::pair{from, to}) != kTransitions.end();
}

std::chrono::milliseconds retryDelay(int attempt, const RetryPolicy& policy, double random01) {
    if (attempt < 1) attempt = 1;
    random01 = std::clamp(random01, 0.0, 1.0);
    // 2^62 ms is beyond any cap; stop doubling long before overflow.
    const int doublings = std::min(attempt - 1, 40);
    const double ceiling = std::min(static_cast<double>(policy.cap.count()),
                                    static_cast<double>(policy.base.count()) * std::ldexp(1.0, doublings));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::floor(ceiling * random01)));
}

}  // namespace rampart::jobs
