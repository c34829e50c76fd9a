// The job rules and the row mapping both stores share: a new job's first state, how a report ends an
// attempt, the idempotency-key rule, the limits, and reading a row by column index.
#include "store/job_rules.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "store/job_columns.hpp"
#include "store/store_errors.hpp"
#include "testing/text_row.hpp"

namespace rampart::store {
namespace {

using jobs::JobEvent;
using jobs::JobState;
using rampart::testing::TextRow;

TEST(JobRules, ANewJobIsQueuedUnlessItRunsLater) {
    JobRecord job{.id = "j", .attempts = 3, .runAt = 1000, .created = 1, .updated = 2};
    EXPECT_EQ(initialState(job, 1000), JobState::queued);
    EXPECT_EQ(initialState(job, 999), JobState::scheduled);
    const JobRecord stored = newJobAt(job, 500);
    EXPECT_EQ(stored.state, JobState::scheduled);
    EXPECT_EQ(stored.attempts, 0);
    EXPECT_EQ(stored.created, 500);
    EXPECT_EQ(stored.updated, 500);
    EXPECT_EQ(newJobAt(job, 2000).state, JobState::queued);
}

TEST(JobRules, FactsAreWhatTheStateMachineAsks) {
    const JobRecord job{.attempts = 2, .maxAttempts = 5, .cancelRequested = true};
    const jobs::JobFacts facts = factsOf(job);
    EXPECT_EQ(facts.attempts, 2);
    EXPECT_EQ(facts.maxAttempts, 5);
    EXPECT_TRUE(facts.cancelRequested);
}

TEST(JobRules, AFinishedAttemptStartedAtItsClaimAndKeepsTheJobsTraceContext) {
    JobRecord job;
    job.id = "j1";
    job.attempts = 2;
    job.queue = "default";
    job.task = "echo";
    job.created = 1'000;
    job.timeoutMs = 30'000;
    job.traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const auto finished = finishedAttemptOf(job, jobs::JobState::succeeded, Millis{95'000});
    EXPECT_EQ(finished.state, jobs::JobState::succeeded);
    EXPECT_EQ(finished.id, "j1");
    EXPECT_EQ(finished.attempt, 2);
    EXPECT_EQ(finished.queue, "default");
    EXPECT_EQ(finished.task, "echo");
    EXPECT_EQ(finished.created, 1'000);
    EXPECT_EQ(finished.attemptStarted, Millis{65'000});
    EXPECT_EQ(finished.traceParent, job.traceParent);
    // A row claimed before attempt_deadline existed: nobody knows when its attempt began.
    EXPECT_FALSE(finishedAttemptOf(job, jobs::JobState::failed, std::nullopt).attemptStarted);
}

TEST(JobRules, OnlyATerminalStateHasAFinishTime) {
    EXPECT_EQ(finishedAt(JobState::succeeded, 7), std::optional<Millis>(7));
    EXPECT_EQ(finishedAt(JobState::dead, 7), std::optional<Millis>(7));
    EXPECT_EQ(finishedAt(JobState::canceled, 7), std::optional<Millis>(7));
    EXPECT_EQ(finishedAt(JobState::queued, 7), std::nullopt);
    EXPECT_EQ(finishedAt(JobState::failed, 7), std::nullopt);
}

TEST(JobRules, ALiveLeaseIsARunningJobsUnexpiredLeaseOfThatHolder) {
    const JobRecord job{.state = JobState::running, .leaseHolder = "w1", .leaseExpires = 100};
    EXPECT_TRUE(holdsLiveLease(job, "w1", 99));
    EXPECT_FALSE(holdsLiveLease(job, "w1", 100)) << "expired at its end";
    EXPECT_FALSE(holdsLiveLease(job, "w2", 50));
    JobRecord queued = job;
    queued.state = JobState::queued;
    EXPECT_FALSE(holdsLiveLease(queued, "w1", 50));
    JobRecord unleased = job;
    unleased.leaseExpires.reset();
    EXPECT_FALSE(holdsLiveLease(unleased, "w1", 50));
}

TEST(JobRules, AReportEndsTheAttemptWithItsEventAndHistoryText) {
    const AttemptEnd succeeded = attemptEndOf(JobOutcome{.succeeded = true});
    EXPECT_EQ(succeeded.event, JobEvent::succeed);
    EXPECT_EQ(succeeded.detail, "succeeded");
    const AttemptEnd failed = attemptEndOf(JobOutcome{.succeeded = false, .retry = true});
    EXPECT_EQ(failed.event, JobEvent::fail);
    EXPECT_EQ(failed.detail, "attempt failed");
    const AttemptEnd dead = attemptEndOf(JobOutcome{.succeeded = false, .retry = false});
    EXPECT_EQ(dead.event, JobEvent::failPermanently);
    EXPECT_EQ(dead.detail, "failed, no retry");
    EXPECT_EQ(attemptEndOf(JobOutcome{.succeeded = true, .retry = false}).event, JobEvent::succeed)
        << "retry matters only for a failure";
}

TEST(JobRules, OnlyAFailedJobWaitsForTheBackOff) {
    const JobRecord job{.runAt = 10};
    const JobOutcome outcome{.succeeded = false, .retryAt = 99};
    EXPECT_EQ(runAtAfter(job, JobState::failed, outcome), 99);
    EXPECT_EQ(runAtAfter(job, JobState::dead, outcome), 10);
    EXPECT_EQ(runAtAfter(job, JobState::succeeded, outcome), 10);
}

TEST(JobRules, AnUsedKeyReplaysTheSameRequestAndRefusesAnother) {
    const JobRecord earlier{.id = "first", .requestHash = "h1"};
    const SubmitResult replay = earlierSubmit(earlier, JobRecord{.id = "second", .requestHash = "h1"});
    EXPECT_EQ(replay.outcome, SubmitOutcome::existing);
    EXPECT_EQ(replay.job.id, "first");
    const SubmitResult conflict = earlierSubmit(earlier, JobRecord{.id = "second", .requestHash = "h2"});
    EXPECT_EQ(conflict.outcome, SubmitOutcome::conflict);
    EXPECT_EQ(conflict.job.id, "first");
    EXPECT_EQ(earlierSubmit(earlier, JobRecord{.id = "second"}).outcome, SubmitOutcome::conflict);
    EXPECT_THROW(refuseBatchWithUsedKey(), Conflict);
}

TEST(JobRules, LimitsOfProgressAndPages) {
    EXPECT_NO_THROW(checkProgress(0, ""));
    EXPECT_NO_THROW(checkProgress(100, std::string(kMaxProgressMessage, 'x')));
    EXPECT_THROW(checkProgress(-1, ""), std::invalid_argument);
    EXPECT_THROW(checkProgress(101, ""), std::invalid_argument);
    EXPECT_THROW(checkProgress(50, std::string(kMaxProgressMessage + 1, 'x')), std::invalid_argument);
    EXPECT_NO_THROW(checkJobPageLimit(JobQuery{.limit = 1}));
    EXPECT_NO_THROW(checkJobPageLimit(JobQuery{.limit = JobQuery::kMaxLimit}));
    EXPECT_THROW(checkJobPageLimit(JobQuery{.limit = 0}), std::invalid_argument);
    EXPECT_THROW(checkJobPageLimit(JobQuery{.limit = JobQuery::kMaxLimit + 1}), std::invalid_argument);
}

TEST(JobColumns, ARowBecomesAJobInTheListsOrder) {
    const TextRow row{
        {"id",         "task",    "{}",         "queue",
         "7",          "running", "2",          "3",
         "1000",       "5000",    "owner",      "key",
         std::nullopt, "40",      "msg",        std::nullopt,
         "err",        "1",       "holder",     "2000",
         "10",         "20",      std::nullopt, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    const JobRecord job = jobOfRow(row);
    EXPECT_EQ(job.id, "id");
    EXPECT_EQ(job.task, "task");
    EXPECT_EQ(job.args, "{}");
    EXPECT_EQ(job.queue, "queue");
    EXPECT_EQ(job.priority, 7);
    EXPECT_EQ(job.state, JobState::running);
    EXPECT_EQ(job.attempts, 2);
    EXPECT_EQ(job.maxAttempts, 3);
    EXPECT_EQ(job.runAt, 1000);
    EXPECT_EQ(job.timeoutMs, 5000);
    EXPECT_EQ(job.ownerId, "owner");
    EXPECT_EQ(job.idempotencyKey, "key");
    EXPECT_EQ(job.requestHash, std::nullopt);
    EXPECT_EQ(job.progress, 40);
    EXPECT_EQ(job.progressMessage, "msg");
    EXPECT_EQ(job.result, std::nullopt);
    EXPECT_EQ(job.error, "err");
    EXPECT_TRUE(job.cancelRequested);
    EXPECT_EQ(job.leaseHolder, "holder");
    EXPECT_EQ(job.leaseExpires, 2000);
    EXPECT_EQ(job.created, 10);
    EXPECT_EQ(job.updated, 20);
    EXPECT_EQ(job.finished, std::nullopt);
    EXPECT_EQ(job.traceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST(JobColumns, AnUnknownStateIsAnUnavailableStore) {
    EXPECT_EQ(jobStateOf("queued"), JobState::queued);
    EXPECT_THROW((void)jobStateOf("paused"), StoreUnavailable);
    TextRow event{{"5", std::nullopt, "queued", "submitted"}};
    const JobEventRecord first = jobEventOfRow(event);
    EXPECT_EQ(first.time, 5);
    EXPECT_EQ(first.from, std::nullopt);
    EXPECT_EQ(first.to, JobState::queued);
    EXPECT_EQ(first.detail, "submitted");
    event.cells[1] = "bogus";
    EXPECT_THROW((void)jobEventOfRow(event), StoreUnavailable);
}

}  // namespace
}  // namespace rampart::store
