// The retention sweep on a real SQLite store: it deletes every due job however many (no cap of rounds),
// nothing else, ends on its budget or a stop, and the sweeper's stop ends a sweep under way.
#include "app/retention.hpp"

#include <gtest/gtest.h>

#include "core/run_blocking.hpp"
#include "testing/audit_key.hpp"
#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using namespace std::chrono_literals;

constexpr store::Millis kLongAgo = 1'000'000'000'000;  // 2001

class RetentionTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "rampart.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
        store_->migrate();
        runBlocking(store_->createUser(
            store::UserRecord{.id = "u1", .username = "u1", .role = "user", .passwordHash = "x"}));
    }
    void TearDown() override { store_->close(); }

    static store::JobRecord job(std::string id, std::string queue = "default") {
        return store::JobRecord{.id = std::move(id),
                                .task = "noop",
                                .args = "{}",
                                .queue = std::move(queue),
                                .maxAttempts = 2,
                                .timeoutMs = 60'000,
                                .ownerId = "u1"};
    }

    // `count` jobs of `queue` run and ended at `at` (succeeded; every third dead), with their history.
    void finishedJobs(const std::string& prefix, int count, store::Millis at, const std::string& queue) {
        std::vector<store::JobRecord> jobs;
        for (int i = 0; i < count; ++i) jobs.push_back(job(prefix + std::to_string(i), queue));
        runBlocking(store_->submitJobs(std::move(jobs), at));
        const auto claimed = runBlocking(store_->claimJobs({queue}, count, "w1", 30'000, at));
        ASSERT_EQ(static_cast<int>(claimed.size()), count);
        std::vector<store::AttemptReport> reports;
        for (int i = 0; i < count; ++i) {
            reports.push_back({.id = claimed[i].id,
                               .holder = "w1",
                               .outcome = i % 3 == 2 ? store::JobOutcome{.error = "boom", .retry = false}
                                                     : store::JobOutcome{.succeeded = true, .result = "{}"}});
        }
        runBlocking(store_->finishAttempts(std::move(reports), at + 1));
    }

    bool exists(const std::string& id) { return runBlocking(store_->findJob(id)).has_value(); }

    rampart::testing::TempDirectory dir_;
    std::unique_ptr<store::Store> store_;
    std::atomic<bool> stopping_ = false;
};

TEST_F(RetentionTest, ASweepDeletesEveryDueJobWithItsHistoryAndNothingElse) {
    finishedJobs("old-", 450, kLongAgo, "old");
    finishedJobs("recent-", 5, kLongAgo + 10'000, "recent");
    runBlocking(store_->submitJob(job("waiting"), kLongAgo));
    runBlocking(store_->submitJob(job("running", "busy"), kLongAgo));
    ASSERT_EQ(runBlocking(store_->claimJobs({"busy"}, 1, "w1", 30'000, kLongAgo)).size(), 1u);

    // 450 due in writes of 100: five writes, the last one short, and the sweep knows it is done.
    const SweepResult sweep = sweepFinishedJobs(*store_, kLongAgo + 5'000, stopping_, {.perWrite = 100});
    EXPECT_EQ(sweep.deleted, 450);
    EXPECT_TRUE(sweep.complete);
    EXPECT_FALSE(exists("old-0"));
    EXPECT_FALSE(exists("old-449"));
    EXPECT_TRUE(runBlocking(store_->jobEvents("old-2")).empty()) << "a dead job's history goes with it";
    for (const char* kept : {"recent-0", "recent-4", "waiting", "running"}) EXPECT_TRUE(exists(kept)) << kept;
    EXPECT_FALSE(runBlocking(store_->jobEvents("recent-0")).empty());

    const SweepResult again = sweepFinishedJobs(*store_, kLongAgo + 5'000, stopping_);
    EXPECT_EQ(again.deleted, 0);
    EXPECT_TRUE(again.complete);
}

TEST_F(RetentionTest, ASpentBudgetOrAStopEndsASweepWithJobsStillDue) {
    finishedJobs("old-", 30, kLongAgo, "old");
    const SweepResult noTime = sweepFinishedJobs(*store_, kLongAgo + 5'000, stopping_, {.budget = 0ms});
    EXPECT_EQ(noTime.deleted, 0);
    EXPECT_FALSE(noTime.complete) << "jobs are still due";

    stopping_ = true;
    const SweepResult stopped = sweepFinishedJobs(*store_, kLongAgo + 5'000, stopping_, {.perWrite = 10});
    EXPECT_EQ(stopped.deleted, 0);
    EXPECT_FALSE(stopped.complete);
    EXPECT_TRUE(exists("old-0"));
}

// The sweeper's stop ends a sweep under way after its current write (a shutdown does not wait for
// millions of deletes) and gives the lease up, so another node takes the task at once.
TEST_F(RetentionTest, StoppingTheSweeperEndsASweepUnderWayAndGivesUpItsLease) {
    finishedJobs("old-", 600, kLongAgo, "old");
    obs::Metrics metrics;
    RetentionSweeper sweeper(metrics, *store_, "node-a",
                             {.retention = std::chrono::hours(1), .first = 0ms, .limits = {.perWrite = 1}});
    // Oldest first, then in rowid order: old-0 goes first. A write of one job each, with a pause as long.
    while (exists("old-0")) std::this_thread::sleep_for(1ms);
    sweeper.stop();
    sweeper.stop();  // once is enough; again changes nothing
    EXPECT_TRUE(exists("old-599")) << "the sweep ended at the stop, not at its end";
    const auto now = store::toMillis(std::chrono::system_clock::now());
    EXPECT_TRUE(
        runBlocking(store_->acquireLease(Housekeeping::leaseName("retention"), "node-b", 60'000, now)));
    EXPECT_FALSE(
        runBlocking(store_->acquireLease(Housekeeping::leaseName("retention"), "node-a", 60'000, now)))
        << "node-b holds it now";
}

// The sweeper's first sweep comes `first` after its start, and deletes every due job, in the background.
TEST_F(RetentionTest, TheSweeperDeletesTheDueJobsInTheBackground) {
    finishedJobs("old-", 250, kLongAgo, "old");
    obs::Metrics metrics;
    RetentionSweeper sweeper(metrics, *store_, "node-a",
                             {.retention = std::chrono::hours(1), .first = 0ms, .limits = {.perWrite = 100}});
    while (exists("old-249")) std::this_thread::sleep_for(1ms);
    sweeper.stop();
    EXPECT_FALSE(exists("old-0"));
    EXPECT_TRUE(runBlocking(store_->listJobs({})).jobs.empty());
    EXPECT_NE(
        metrics.render().find(R"(rampart_housekeeping_runs_total{outcome="success",task="retention"} 1)"),
        std::string::npos);
}

}  // namespace
}  // namespace rampart
