// The job state machine: each edge of the diagram in docs/architecture.md, each refusal, the table the store
// enforces against what nextState can actually produce, and the back-off's bounds.
#include "core/job_state.hpp"

#include <set>

#include <gtest/gtest.h>

namespace rampart::jobs {
namespace {

using S = JobState;
using E = JobEvent;
using namespace std::chrono_literals;

constexpr S kStates[] = {S::scheduled, S::queued, S::running, S::failed, S::succeeded, S::dead, S::canceled};
constexpr E kEvents[] = {
    E::due,          E::claim,   E::succeed, E::fail, E::failPermanently, E::cancel, E::acknowledgeCancel,
    E::leaseExpired, E::release, E::retry};

JobFacts facts(int attempts, int maxAttempts, bool cancelRequested = false) {
    return JobFacts{.attempts = attempts, .maxAttempts = maxAttempts, .cancelRequested = cancelRequested};
}

TEST(JobState, NamesRoundTripAndUnknownNamesAreRefused) {
    for (S state : kStates) EXPECT_EQ(parseState(stateName(state)), state);
    EXPECT_FALSE(parseState("Queued"));
    EXPECT_FALSE(parseState(""));
    EXPECT_FALSE(parseState("done"));
}

TEST(JobState, TheHappyPath) {
    EXPECT_EQ(nextState(S::scheduled, E::due, facts(0, 3)), S::queued);
    EXPECT_EQ(nextState(S::queued, E::claim, facts(0, 3)), S::running);
    EXPECT_EQ(nextState(S::running, E::succeed, facts(1, 3)), S::succeeded);
}

TEST(JobState, FailuresRetryWhileAttemptsRemainThenTheJobIsDead) {
    EXPECT_EQ(nextState(S::running, E::fail, facts(1, 3)), S::failed);
    EXPECT_EQ(nextState(S::failed, E::due, facts(1, 3)), S::queued);
    EXPECT_EQ(nextState(S::running, E::fail, facts(3, 3)), S::dead);
    EXPECT_EQ(nextState(S::running, E::fail, facts(1, 1)), S::dead) << "max_attempts 1: no retry";
}

TEST(JobState, AFailureWithoutRetryIsDeadWhateverAttemptsRemain) {
    EXPECT_EQ(nextState(S::running, E::failPermanently, facts(1, 3)), S::dead);
    EXPECT_EQ(nextState(S::running, E::failPermanently, facts(3, 3)), S::dead);
    EXPECT_EQ(nextState(S::running, E::failPermanently, facts(1, 3, true)), S::canceled)
        << "a cancel requested before the failure still ends the job canceled";
    for (S other : {S::scheduled, S::queued, S::failed})
        EXPECT_FALSE(nextState(other, E::failPermanently, facts(1, 3))) << stateName(other);
}

TEST(JobState, AReleasedJobIsQueuedAgainWhateverItsAttempts) {
    // The attempt was never started (the store uncounts it), so even the last one queues the job again.
    EXPECT_EQ(nextState(S::running, E::release, facts(1, 1)), S::queued);
    EXPECT_EQ(nextState(S::running, E::release, facts(1, 3, true)), S::canceled);
    for (S other : {S::scheduled, S::queued, S::failed, S::succeeded, S::dead, S::canceled})
        EXPECT_FALSE(nextState(other, E::release, facts(1, 3))) << stateName(other);
}

TEST(JobState, ALostLeaseRequeuesOrKills) {
    EXPECT_EQ(nextState(S::running, E::leaseExpired, facts(1, 3)), S::queued);
    EXPECT_EQ(nextState(S::running, E::leaseExpired, facts(3, 3)), S::dead);
    EXPECT_EQ(nextState(S::running, E::leaseExpired, facts(1, 3, true)), S::canceled)
        << "a canceled job whose worker died is not run again";
}

TEST(JobState, CancelIsImmediateUnlessRunningThenCooperative) {
    for (S waiting : {S::scheduled, S::queued, S::failed})
        EXPECT_EQ(nextState(waiting, E::cancel, facts(0, 3)), S::canceled);
    EXPECT_EQ(nextState(S::running, E::cancel, facts(1, 3)), S::running);
    EXPECT_EQ(nextState(S::running, E::acknowledgeCancel, facts(1, 3, true)), S::canceled);
    EXPECT_FALSE(nextState(S::running, E::acknowledgeCancel, facts(1, 3, false))) << "nothing was requested";
    EXPECT_EQ(nextState(S::running, E::fail, facts(1, 3, true)), S::canceled) << "no retry after a cancel";
}

TEST(JobState, FinishedJobsNeverMoveButADeadOneCanBeRetried) {
    for (S done : {S::succeeded, S::dead, S::canceled}) {
        EXPECT_TRUE(isTerminal(done));
        for (E event : kEvents) {
            if (done == S::dead && event == E::retry) continue;
            EXPECT_FALSE(nextState(done, event, facts(1, 3, true)))
                << stateName(done) << ' ' << eventName(event);
        }
    }
    EXPECT_EQ(nextState(S::dead, E::retry, facts(3, 3)), S::queued)
        << "with no attempt left: the store adds one";
}

TEST(JobState, ARetryRunsAFailedOrDeadJobNowAndNothingElse) {
    EXPECT_EQ(nextState(S::failed, E::retry, facts(1, 3)), S::queued) << "not after the back-off";
    EXPECT_EQ(nextState(S::dead, E::retry, facts(1, 3)), S::queued) << "failed permanently";
    for (S other : {S::scheduled, S::queued, S::running, S::succeeded, S::canceled})
        EXPECT_FALSE(nextState(other, E::retry, facts(1, 3))) << stateName(other);
}

TEST(JobState, EventsOutOfPlaceAreRefused) {
    EXPECT_FALSE(nextState(S::running, E::claim, facts(1, 3))) << "claimed twice";
    EXPECT_FALSE(nextState(S::queued, E::succeed, facts(0, 3))) << "completed without a claim";
    EXPECT_FALSE(nextState(S::queued, E::fail, facts(0, 3)));
    EXPECT_FALSE(nextState(S::scheduled, E::claim, facts(0, 3))) << "claimed before run_at";
    EXPECT_FALSE(nextState(S::queued, E::leaseExpired, facts(0, 3)));
    EXPECT_FALSE(nextState(S::running, E::due, facts(1, 3)));
    EXPECT_FALSE(nextState(S::queued, E::claim, facts(3, 3))) << "no attempt left to start";
}

// The store's guard is the table: everything nextState produces must be in it, and nothing else.
TEST(JobState, TheTableIsExactlyWhatTheMachineProduces) {
    std::set<std::pair<S, S>> produced;
    for (S from : kStates)
        for (E event : kEvents)
            for (int attempts = 0; attempts <= 3; ++attempts)
                for (bool cancel : {false, true})
                    if (auto to = nextState(from, event, facts(attempts, 3, cancel)))
                        produced.emplace(from, *to);
    const auto table = allowedTransitions();
    const std::set<std::pair<S, S>> inTable(table.begin(), table.end());
    EXPECT_EQ(produced, inTable);
    for (S from : kStates)
        for (S to : kStates) EXPECT_EQ(transitionAllowed(from, to), produced.contains({from, to}));
    EXPECT_FALSE(transitionAllowed(S::succeeded, S::queued));
    EXPECT_FALSE(transitionAllowed(S::dead, S::running));
}

TEST(JobRetry, FullJitterStaysWithinTheDoublingCeilingAndTheCap) {
    const RetryPolicy policy{.base = 1000ms, .cap = 60'000ms};
    EXPECT_EQ(retryDelay(1, policy, 0.0), 0ms);
    EXPECT_EQ(retryDelay(1, policy, 0.999999), 999ms);
    EXPECT_EQ(retryDelay(2, policy, 0.5), 1000ms);
    EXPECT_EQ(retryDelay(4, policy, 0.5), 4000ms);
    EXPECT_EQ(retryDelay(30, policy, 0.5), 30'000ms) << "capped at 60 s, then jittered";
    EXPECT_LT(retryDelay(1000, policy, 0.999999), 60'000ms) << "no overflow for absurd attempt counts";
    EXPECT_EQ(retryDelay(0, policy, 0.5), 500ms) << "attempt counts from 1";
}

}  // namespace
}  // namespace rampart::jobs
