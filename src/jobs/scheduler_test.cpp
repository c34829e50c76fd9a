// The scheduler on SQLite with a clock moved by hand: ticks on time, each misfire policy after a restart
// that followed downtime, skip_if_running, owners who may no longer submit, leader failover, and two
// schedulers racing on one database file.
#include "jobs/scheduler.hpp"

#include <gtest/gtest.h>

#include "testing/audit_key.hpp"
#include "testing/scheduler_fixture.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using rampart::testing::kSchedulerT0;
using rampart::testing::runToCompletion;

constexpr store::Millis kSecond = 1000;
constexpr store::Millis kMinute = 60 * kSecond;

class SchedulerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "rampart.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
        store_->migrate();
        rampart::testing::createUser(*store_, "alice");
        addBuiltinTasks(tasks_);
        jobs_ = std::make_unique<JobService>(*store_, *store_, tasks_, JobsSettings{}, clock_.clock());
        schedules_ = std::make_unique<ScheduleService>(
            *store_, *store_, *store_, *jobs_, ScheduleSettings{.allowUsers = true, .minIntervalSeconds = 1},
            clock_.clock());
    }
    void TearDown() override { store_->close(); }

    std::unique_ptr<Scheduler> scheduler(std::string holder) {
        SchedulerSettings settings{.holder = std::move(holder)};
        return std::make_unique<Scheduler>(*store_, *store_, *store_, *jobs_, settings, clock_.clock());
    }
    // An every-minute schedule of alice's, created 10 s into the first minute.
    store::ScheduleRecord everyMinute(std::optional<std::string> policy = std::nullopt,
                                      std::optional<int> catchUpMax = std::nullopt,
                                      bool skipIfRunning = false) {
        clock_.set(kSchedulerT0 + 10 * kSecond);
        auto draft = rampart::testing::cronDraft("* * * * *");
        draft.misfirePolicy = std::move(policy);
        draft.catchUpMax = catchUpMax;
        draft.skipIfRunning = skipIfRunning;
        return runToCompletion(schedules_->create(rampart::testing::userPrincipal("alice"), draft, {}));
    }
    SchedulerRound round(Scheduler& scheduler, store::Millis at) {
        clock_.set(at);
        return runToCompletion(scheduler.runOnce());
    }
    std::vector<store::Millis> tickTimes(const std::string& id) {
        std::vector<store::Millis> times;
        for (const auto& tick : runToCompletion(store_->scheduleTicks(id, 1000)))
            times.push_back(tick.fireTime);
        return times;  // newest first
    }
    std::vector<store::JobRecord> allJobs() {
        store::JobQuery query;
        query.limit = 500;
        return runToCompletion(store_->listJobs(query)).jobs;
    }
    // The first tick (T0 + 1 min) fires on time; then the process dies without giving up its lease, and
    // another one starts (the caller says when, by the time of its first round).
    std::unique_ptr<Scheduler> crashAndRestart(const store::ScheduleRecord& schedule) {
        auto first = scheduler("before-crash");
        EXPECT_EQ(round(*first, kSchedulerT0 + kMinute + 200).fired, 1);
        EXPECT_EQ(tickTimes(schedule.id), std::vector<store::Millis>{kSchedulerT0 + kMinute});
        return scheduler("after-restart");
    }

    rampart::testing::TempDirectory dir_;
    std::unique_ptr<store::Store> store_;
    TaskRegistry tasks_;
    rampart::testing::ManualClock clock_;
    std::unique_ptr<JobService> jobs_;
    std::unique_ptr<ScheduleService> schedules_;
};

TEST_F(SchedulerTest, OnTimeTicksFireOnceEachAsTheOwnersJobs) {
    const auto schedule = everyMinute();
    auto scheduler = this->scheduler("s");
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + 30 * kSecond).fired, 0) << "nothing is due yet";
    auto first = round(*scheduler, kSchedulerT0 + kMinute + 300);
    EXPECT_TRUE(first.leader);
    EXPECT_EQ(first.fired, 1);
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + kMinute + 900).fired, 0) << "the same tick again";
    EXPECT_EQ(round(*scheduler, 2 * kMinute + kSchedulerT0 + 100).fired, 1);
    EXPECT_EQ(tickTimes(schedule.id),
              (std::vector<store::Millis>{kSchedulerT0 + 2 * kMinute, kSchedulerT0 + kMinute}));
    const auto jobs = allJobs();
    ASSERT_EQ(jobs.size(), 2u);
    for (const auto& job : jobs) {
        EXPECT_EQ(job.ownerId, "alice");
        EXPECT_EQ(job.task, "noop");
        EXPECT_EQ(job.queue, "default");
        EXPECT_EQ(job.state, JobState::queued);
    }
    const auto stored = *runToCompletion(store_->findSchedule(schedule.id));
    EXPECT_EQ(stored.lastTick, std::optional<store::Millis>(kSchedulerT0 + 2 * kMinute));
    EXPECT_EQ(stored.nextDue, std::optional<store::Millis>(kSchedulerT0 + 3 * kMinute));
    EXPECT_EQ(stored.lastJobId, std::optional<std::string>(jobs.front().id));
}

TEST_F(SchedulerTest, ATickWithinTheGraceIsNotAMisfire) {
    const auto schedule = everyMinute("skip");
    auto scheduler = this->scheduler("s");
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + kMinute + 4 * kSecond).fired, 1) << "4 s late, grace 5 s";
    auto late = round(*scheduler, kSchedulerT0 + 2 * kMinute + 6 * kSecond);
    EXPECT_EQ(late.fired, 0) << "6 s late: missed, and skip fires nothing for it";
    EXPECT_EQ(late.missed, 1);
    EXPECT_EQ(tickTimes(schedule.id), std::vector<store::Millis>{kSchedulerT0 + kMinute});
}

TEST_F(SchedulerTest, SkipFiresNoMissedTickAfterDowntime) {
    const auto schedule = everyMinute("skip");
    // Down from just after the first tick until 30 s after the eleventh: ticks 2..11 (ten) were missed.
    auto restarted = crashAndRestart(schedule);
    auto after = round(*restarted, kSchedulerT0 + 11 * kMinute + 30 * kSecond);
    EXPECT_TRUE(after.leader) << "the dead process's lease has expired";
    EXPECT_EQ(after.fired, 0);
    EXPECT_EQ(after.missed, 10);
    EXPECT_EQ(allJobs().size(), 1u);
    EXPECT_EQ(runToCompletion(store_->findSchedule(schedule.id))->nextDue,
              std::optional<store::Millis>(kSchedulerT0 + 12 * kMinute));
    EXPECT_EQ(round(*restarted, kSchedulerT0 + 12 * kMinute + 100).fired, 1)
        << "the next tick fires as usual";
    EXPECT_EQ(tickTimes(schedule.id),
              (std::vector<store::Millis>{kSchedulerT0 + 12 * kMinute, kSchedulerT0 + kMinute}));
}

TEST_F(SchedulerTest, RunOnceFiresTheNewestMissedTickOnce) {
    const auto schedule = everyMinute();  // run_once is the default
    EXPECT_EQ(schedule.misfirePolicy, "run_once");
    auto restarted = crashAndRestart(schedule);
    auto after = round(*restarted, kSchedulerT0 + 11 * kMinute + 30 * kSecond);
    EXPECT_EQ(after.fired, 1);
    EXPECT_EQ(after.missed, 9);
    EXPECT_EQ(tickTimes(schedule.id),
              (std::vector<store::Millis>{kSchedulerT0 + 11 * kMinute, kSchedulerT0 + kMinute}));
    EXPECT_EQ(allJobs().size(), 2u);
    EXPECT_EQ(round(*restarted, kSchedulerT0 + 11 * kMinute + 40 * kSecond).fired, 0) << "not again";
}

TEST_F(SchedulerTest, CatchUpFiresTheNewestMissedTicksUpToItsMaximumOldestFirst) {
    const auto schedule = everyMinute("catch_up", 3);
    auto restarted = crashAndRestart(schedule);
    auto after = round(*restarted, kSchedulerT0 + 11 * kMinute + 30 * kSecond);
    EXPECT_EQ(after.fired, 3);
    EXPECT_EQ(after.missed, 7);
    EXPECT_EQ(tickTimes(schedule.id),
              (std::vector<store::Millis>{kSchedulerT0 + 11 * kMinute, kSchedulerT0 + 10 * kMinute,
                                          kSchedulerT0 + 9 * kMinute, kSchedulerT0 + kMinute}));
    // Oldest first: the jobs were created in tick order (ids sort by creation, and the store numbers them).
    const auto ticks = runToCompletion(store_->scheduleTicks(schedule.id, 10));
    const auto jobs = allJobs();  // newest first
    ASSERT_EQ(jobs.size(), 4u);
    EXPECT_EQ(ticks[0].jobId, std::optional<std::string>(jobs[0].id));
    EXPECT_EQ(ticks[1].jobId, std::optional<std::string>(jobs[1].id));
    EXPECT_EQ(ticks[2].jobId, std::optional<std::string>(jobs[2].id));
}

TEST_F(SchedulerTest, CatchUpWithRoomForAllFiresEveryMissedTick) {
    const auto schedule = everyMinute("catch_up", 50);
    auto restarted = crashAndRestart(schedule);
    auto after = round(*restarted, kSchedulerT0 + 11 * kMinute + 30 * kSecond);
    EXPECT_EQ(after.fired, 10);
    EXPECT_EQ(after.missed, 0);
    EXPECT_EQ(tickTimes(schedule.id).size(), 11u);
}

TEST_F(SchedulerTest, ALongDowntimeOfAnEverySecondScheduleCostsOnlyWhatThePolicyFires) {
    clock_.set(kSchedulerT0);
    auto draft = rampart::testing::cronDraft("* * * * * *");
    draft.misfirePolicy = "catch_up";
    draft.catchUpMax = 2;
    const auto schedule =
        runToCompletion(schedules_->create(rampart::testing::userPrincipal("alice"), draft, {}));
    auto scheduler = this->scheduler("s");
    // Thirty days later: 2.6 million missed ticks, of which the newest two fire, then the five on time
    // (within the 5 s grace).
    constexpr store::Millis kLater = kSchedulerT0 + 30LL * 24 * 3600 * kSecond;
    auto after = round(*scheduler, kLater + 30 * kSecond + 500);
    EXPECT_EQ(after.fired, 7);
    const auto times = tickTimes(schedule.id);
    ASSERT_EQ(times.size(), 7u);
    EXPECT_EQ(times.front(), kLater + 30 * kSecond);
    EXPECT_EQ(times.back(), kLater + 24 * kSecond);
}

// Issue 18, item 4: many every-second schedules of one owner submit no more jobs than the owner's budget
// in any minute; the ticks beyond are recorded without a job, with why, and counted as over budget.
// Another owner's schedules have a budget of their own, and the window slides.
TEST_F(SchedulerTest, AnOwnersSchedulesSubmitNoMoreJobsThanTheBudgetInAnyMinute) {
    rampart::testing::createUser(*store_, "bob");
    clock_.set(kSchedulerT0);
    std::vector<std::string> alices;
    for (int i = 0; i < 10; ++i) {
        alices.push_back(runToCompletion(schedules_->create(rampart::testing::userPrincipal("alice"),
                                                            rampart::testing::cronDraft("* * * * * *"), {}))
                             .id);
    }
    runToCompletion(schedules_->create(rampart::testing::userPrincipal("bob"),
                                       rampart::testing::cronDraft("*/3 * * * * *"), {}));
    SchedulerSettings settings{.holder = "s", .maxJobsPerOwnerPerMinute = 25};
    Scheduler scheduler(*store_, *store_, *store_, *jobs_, settings, clock_.clock());

    const auto jobsOf = [&](const std::string& owner) {
        store::JobQuery query;
        query.limit = 500;
        query.ownerId = owner;
        return runToCompletion(store_->listJobs(query)).jobs.size();
    };
    int fired = 0;
    int overBudget = 0;
    for (int second = 1; second <= 59; ++second) {
        const auto r = round(scheduler, kSchedulerT0 + second * kSecond + 100);
        fired += r.fired;
        overBudget += r.overBudget;
        EXPECT_EQ(r.skipped, 0) << "over-budget ticks are counted apart";
    }
    EXPECT_EQ(jobsOf("alice"), 25u) << "ten schedules a second for a minute, one budget";
    EXPECT_EQ(jobsOf("bob"), 19u) << "bob's schedule (every 3 s) has his own budget";
    EXPECT_EQ(fired, 25 + 19);
    EXPECT_EQ(overBudget, 10 * 59 - 25);
    // Every tick is recorded; those without a job say why.
    for (const auto& id : alices) {
        for (const auto& tick : runToCompletion(store_->scheduleTicks(id, 1000))) {
            if (!tick.jobId) {
                EXPECT_NE(tick.skipReason.find("max_jobs_per_owner_per_minute"), std::string::npos)
                    << tick.skipReason;
            }
        }
    }
    // A minute after the first jobs, the window has moved on: the budget is there again.
    const auto later = round(scheduler, kSchedulerT0 + 62 * kSecond + 100);
    EXPECT_GT(later.fired, 1);
    EXPECT_LE(jobsOf("alice"), 50u);
}

TEST_F(SchedulerTest, ARestartWithinTheLeaseNeitherRepeatsNorLosesATick) {
    const auto schedule = everyMinute();
    auto restarted = crashAndRestart(schedule);
    // The dead process's lease (10 s) still runs: the new process waits.
    auto early = round(*restarted, kSchedulerT0 + kMinute + 5 * kSecond);
    EXPECT_FALSE(early.leader);
    auto later = round(*restarted, kSchedulerT0 + kMinute + 20 * kSecond);
    EXPECT_TRUE(later.leader);
    EXPECT_EQ(later.fired, 0) << "tick 1 is not repeated";
    EXPECT_EQ(round(*restarted, kSchedulerT0 + 2 * kMinute + 100).fired, 1) << "nor is tick 2 lost";
    EXPECT_EQ(allJobs().size(), 2u);
}

TEST_F(SchedulerTest, AResigningLeaderHandsOverAtOnce) {
    const auto schedule = everyMinute();
    auto first = scheduler("first");
    auto second = scheduler("second");
    EXPECT_TRUE(round(*first, kSchedulerT0 + 20 * kSecond).leader);
    EXPECT_FALSE(round(*second, kSchedulerT0 + 21 * kSecond).leader);
    runToCompletion(first->resign());
    auto takeover = round(*second, kSchedulerT0 + kMinute + 100);
    EXPECT_TRUE(takeover.leader);
    EXPECT_EQ(takeover.fired, 1);
    EXPECT_FALSE(round(*first, kSchedulerT0 + kMinute + 200).leader);
}

TEST_F(SchedulerTest, SkipIfRunningRecordsTheTickAsSkippedWhileThePreviousJobWaits) {
    const auto schedule = everyMinute(std::nullopt, std::nullopt, true);
    auto scheduler = this->scheduler("s");
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + kMinute + 100).fired, 1);
    auto second = round(*scheduler, kSchedulerT0 + 2 * kMinute + 100);
    EXPECT_EQ(second.fired, 0);
    EXPECT_EQ(second.skipped, 1);
    auto ticks = runToCompletion(store_->scheduleTicks(schedule.id, 10));
    ASSERT_EQ(ticks.size(), 2u);
    EXPECT_FALSE(ticks[0].jobId);
    EXPECT_NE(ticks[0].skipReason.find("is still queued"), std::string::npos) << ticks[0].skipReason;
    // A skipped tick is not tried again later.
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + 2 * kMinute + 900).skipped, 0);
    // Running counts too; once the job has ended, the next tick fires. (Claimed shortly before the tick:
    // a noop's lease lasts no longer than its 10 s timeout and store::kTimeoutGrace.)
    const auto claimed = runToCompletion(
        store_->claimJobs({"default"}, 1, "worker", 5 * kMinute, kSchedulerT0 + 3 * kMinute - 5000));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + 3 * kMinute + 100).skipped, 1);
    store::JobOutcome done{.succeeded = true, .result = "{}"};
    ASSERT_TRUE(runToCompletion(
        store_->finishAttempt(claimed[0].id, "worker", done, kSchedulerT0 + 3 * kMinute + 2000)));
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + 4 * kMinute + 100).fired, 1);
    EXPECT_EQ(allJobs().size(), 2u);
}

TEST_F(SchedulerTest, ADisabledOwnersScheduleStopsSubmitting) {
    const auto schedule = everyMinute();
    auto scheduler = this->scheduler("s");
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + kMinute + 100).fired, 1);
    store::UserPatch disable;
    disable.active = false;
    ASSERT_TRUE(runToCompletion(store_->updateUser("alice", disable)));
    auto after = round(*scheduler, kSchedulerT0 + 2 * kMinute + 100);
    EXPECT_EQ(after.fired, 0);
    EXPECT_EQ(after.skipped, 1);
    EXPECT_EQ(runToCompletion(store_->scheduleTicks(schedule.id, 1))[0].skipReason,
              "the schedule's owner is disabled");
    EXPECT_EQ(allJobs().size(), 1u);
}

TEST_F(SchedulerTest, AnOwnerDemotedBelowTheQueueGetsNoJob) {
    // Admins may submit to "reports"; alice, made admin, schedules there and is then made a user again.
    JobsSettings settings{
        .queues = {QueueSettings{.name = "default"},
                   QueueSettings{.name = "reports", .submitRoles = {identity::Role::admin}}}};
    jobs_ = std::make_unique<JobService>(*store_, *store_, tasks_, settings, clock_.clock());
    schedules_ = std::make_unique<ScheduleService>(
        *store_, *store_, *store_, *jobs_, ScheduleSettings{.allowUsers = true, .minIntervalSeconds = 1},
        clock_.clock());
    clock_.set(kSchedulerT0 + 10 * kSecond);
    auto draft = rampart::testing::cronDraft("* * * * *");
    draft.queue = "reports";
    EXPECT_THROW(runToCompletion(schedules_->create(rampart::testing::userPrincipal("alice"), draft, {})),
                 JobError);
    store::UserPatch promote;
    promote.role = "admin";
    ASSERT_TRUE(runToCompletion(store_->updateUser("alice", promote)));
    const auto schedule = runToCompletion(
        schedules_->create(rampart::testing::userPrincipal("alice", identity::Role::admin), draft, {}));
    store::UserPatch demote;
    demote.role = "user";
    ASSERT_TRUE(runToCompletion(store_->updateUser("alice", demote)));
    auto scheduler = this->scheduler("s");
    auto after = round(*scheduler, kSchedulerT0 + kMinute + 100);
    EXPECT_EQ(after.fired, 0);
    EXPECT_EQ(after.skipped, 1);
    EXPECT_NE(runToCompletion(store_->scheduleTicks(schedule.id, 1))[0].skipReason.find("queue"),
              std::string::npos);
    EXPECT_TRUE(allJobs().empty());
}

TEST_F(SchedulerTest, DisabledSchedulesDoNotFireAndReEnablingCountsFromNow) {
    const auto schedule = everyMinute();
    auto alice = rampart::testing::userPrincipal("alice");
    ScheduleDraft off;
    off.enabled = false;
    runToCompletion(schedules_->update(alice, schedule.id, off, {}));
    auto scheduler = this->scheduler("s");
    EXPECT_EQ(round(*scheduler, kSchedulerT0 + 5 * kMinute + 100).fired, 0);
    clock_.set(kSchedulerT0 + 5 * kMinute + 30 * kSecond);
    ScheduleDraft on;
    on.enabled = true;
    const auto enabled = runToCompletion(schedules_->update(alice, schedule.id, on, {}));
    EXPECT_EQ(enabled.nextDue, std::optional<store::Millis>(kSchedulerT0 + 6 * kMinute));
    auto next = round(*scheduler, kSchedulerT0 + 6 * kMinute + 100);
    EXPECT_EQ(next.fired, 1);
    EXPECT_EQ(next.missed, 0) << "the disabled minutes are not misfires";
}

TEST_F(SchedulerTest, TwoSchedulersOnOneSqliteFileMakeOneJobPerTick) {
    const auto path = dir_.path() / "race.db";
    rampart::testing::raceTwoSchedulers(
        [&path] {
            return store::openStore(SecretString("sqlite://" + path.string()),
                                    {.auditKey = rampart::testing::testAuditKey()});
        },
        false);
}

TEST_F(SchedulerTest, TwoSchedulersThatBothBelieveTheyLeadStillMakeOneJobPerTick) {
    const auto path = dir_.path() / "split.db";
    rampart::testing::raceTwoSchedulers(
        [&path] {
            return store::openStore(SecretString("sqlite://" + path.string()),
                                    {.auditKey = rampart::testing::testAuditKey()});
        },
        true);
}

}  // namespace
}  // namespace rampart::jobs
