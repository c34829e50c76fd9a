// The in-process workers against a real SQLite store: jobs run to success, failures retry then die,
// a cancel reaches a running handler, a timeout stops one, and a job whose worker died runs again.
#include "jobs/worker_pool.hpp"

#include <array>
#include <thread>

#include <gtest/gtest.h>

#include "jobs/builtin_tasks.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/metric_values.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using testing::runToCompletion;
namespace json = boost::json;

store::Millis nowMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class WorkerPoolTest : public ::testing::Test {
  protected:
    WorkerPoolTest() : store_(dir_.path() / "rampart.db") {
        store_.migrate();
        store::UserRecord owner;
        owner.id = "u1";
        owner.username = "alice";
        owner.role = "user";
        runToCompletion(store_.createUser(owner));
        addBuiltinTasks(registry_);
        registry_.add(TaskType{.name = "always.fails",
                               .argsSchema = json::object{{"type", "object"}},
                               .maxAttempts = 2,
                               .retry = RetryPolicy{.base = 1ms, .cap = 5ms},
                               .handler = [this](TaskContext&) -> boost::asio::awaitable<json::value> {
                                   ++failures_;
                                   throw TaskFailed("it broke");
                                   co_return nullptr;
                               }});
        registry_.add(
            TaskType{.name = "count",
                     .argsSchema = json::object{{"type", "object"}},
                     .maxAttempts = 3,
                     .handler = [this](TaskContext& context) -> boost::asio::awaitable<json::value> {
                         ++runs_[static_cast<std::size_t>(context.args.at("n").as_int64())];
                         co_return nullptr;
                     }});
        // The builtin sleep, counting the attempts its handler has begun.
        TaskType sleeper = *registry_.find("sleep");
        sleeper.name = "counted.sleep";
        sleeper.handler =
            [this, sleep = sleeper.handler](TaskContext& context) -> boost::asio::awaitable<json::value> {
            ++sleepsBegun_;
            co_return co_await sleep(context);
        };
        registry_.add(std::move(sleeper));
    }
    ~WorkerPoolTest() override {
        if (pool_) pool_->stop();
        store_.close();
    }

    void startPool(std::string holder = {}, obs::JobMetrics* jobMetrics = nullptr) {
        pool_ = std::make_unique<WorkerPool>(store_, registry_,
                                             WorkerSettings{.concurrency = 4,
                                                            .lease = 3000ms,
                                                            .pollInterval = 20ms,
                                                            .recoveryInterval = 200ms,
                                                            .holder = std::move(holder),
                                                            .jobMetrics = jobMetrics},
                                             nullptr);
        pool_->start();
    }

    std::string submit(const std::string& task, const std::string& args, int maxAttempts = 3,
                       store::Millis timeoutMs = 10'000) {
        store::JobRecord job;
        job.id = "job-" + std::to_string(++counter_);
        job.task = task;
        job.args = args;
        job.queue = "default";
        job.maxAttempts = maxAttempts;
        job.runAt = nowMillis();
        job.timeoutMs = timeoutMs;
        job.ownerId = "u1";
        runToCompletion(store_.submitJob(job, nowMillis()));
        if (pool_) pool_->notify();
        return job.id;
    }

    store::JobRecord job(const std::string& id) { return *runToCompletion(store_.findJob(id)); }

    // Waits (up to 10 s, for a loaded machine) until the job has finished; returns it as it is then.
    store::JobRecord waitFinished(const std::string& id) {
        for (int i = 0; i < 500; ++i) {
            auto current = job(id);
            if (isTerminal(current.state)) return current;
            std::this_thread::sleep_for(20ms);
        }
        return job(id);
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    TaskRegistry registry_;
    std::unique_ptr<WorkerPool> pool_;
    std::atomic<int> failures_{0};
    std::atomic<int> sleepsBegun_{0};
    std::array<std::atomic<int>, 1000> runs_{};  // runs of "count" by its argument n
    int counter_ = 0;
};

TEST_F(WorkerPoolTest, JobsRunToSuccessWithTheirResults) {
    startPool();
    auto echo = submit("echo", R"({"hello":"world"})");
    auto hash = submit("hash.sha256", R"({"payload":"abc","iterations":1})");
    auto done = waitFinished(echo);
    EXPECT_EQ(done.state, JobState::succeeded);
    EXPECT_EQ(done.result, R"({"hello":"world"})");
    EXPECT_EQ(done.attempts, 1);
    EXPECT_EQ(waitFinished(hash).state, JobState::succeeded);
}

TEST_F(WorkerPoolTest, FailuresRetryWithBackOffThenTheJobIsDead) {
    startPool();
    auto id = submit("always.fails", "{}", 2);
    auto dead = waitFinished(id);
    EXPECT_EQ(dead.state, JobState::dead);
    EXPECT_EQ(dead.attempts, 2);
    EXPECT_EQ(dead.error, "it broke");
    EXPECT_EQ(failures_.load(), 2);
}

TEST_F(WorkerPoolTest, ACancelReachesARunningHandler) {
    startPool();
    auto id = submit("sleep", R"({"seconds":60})");
    for (int i = 0; i < 250 && job(id).state != JobState::running; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(job(id).state, JobState::running);
    runToCompletion(store_.cancelJob(id, nowMillis()));
    EXPECT_EQ(waitFinished(id).state, JobState::canceled);
}

TEST_F(WorkerPoolTest, ATimeoutStopsTheHandlerAndFailsTheAttempt) {
    startPool();
    auto id = submit("sleep", R"({"seconds":60})", 1, 1000);
    auto dead = waitFinished(id);
    EXPECT_EQ(dead.state, JobState::dead);
    EXPECT_EQ(dead.error, "timed out after 1 s");
}

TEST_F(WorkerPoolTest, AJobWhoseWorkerDiedRunsAgainAfterItsLease) {
    auto id = submit("echo", R"({"n":1})");
    // A worker that claims the job and dies: its lease (1 ms) runs out at once.
    auto claimed = runToCompletion(store_.claimJobs({"default"}, 1, "dead-worker", 1, nowMillis()));
    ASSERT_EQ(claimed.size(), 1u);
    std::this_thread::sleep_for(5ms);
    startPool();
    auto done = waitFinished(id);
    EXPECT_EQ(done.state, JobState::succeeded);
    EXPECT_EQ(done.attempts, 2) << "the lost attempt counts";
}

TEST_F(WorkerPoolTest, AJobWhoseWorkerDiesWhileThePoolRunsIsTakenBackWithinAboutALease) {
    // A recovery interval far longer than the lease: the pool looks for expired leases once per lease
    // anyway, so the job is not left `running` for a minute after its worker died.
    pool_ = std::make_unique<WorkerPool>(
        store_, registry_,
        WorkerSettings{.concurrency = 4, .lease = 1000ms, .pollInterval = 20ms, .recoveryInterval = 60s},
        nullptr);
    pool_->start();
    std::this_thread::sleep_for(200ms);  // past the recovery at start-up
    store::JobRecord job;
    job.id = "orphan";
    job.task = "echo";
    job.args = "{}";
    job.queue = "other";  // not the pool's: only the dead worker claims it
    job.maxAttempts = 3;
    job.runAt = nowMillis();
    job.timeoutMs = 10'000;
    job.ownerId = "u1";
    runToCompletion(store_.submitJob(job, nowMillis()));
    auto claimed = runToCompletion(store_.claimJobs({"other"}, 1, "dead-worker", 1000, nowMillis()));
    ASSERT_EQ(claimed.size(), 1u);
    for (int i = 0; i < 500 && this->job("orphan").state == JobState::running; ++i)
        std::this_thread::sleep_for(20ms);
    EXPECT_EQ(this->job("orphan").state, JobState::queued) << "taken back well before the 60 s interval";
}

TEST_F(WorkerPoolTest, StoppingLeavesRunningJobsToBeTakenBack) {
    startPool();
    auto id = submit("counted.sleep", R"({"seconds":60})");
    // Running in its handler, not only claimed: a job claimed ahead and not begun is given back by stop().
    for (int i = 0; i < 250 && sleepsBegun_ == 0; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(sleepsBegun_, 1);
    pool_->stop();
    auto after = job(id);
    EXPECT_EQ(after.state, JobState::running) << "not reported: the lease will expire and the job run again";
    pool_.reset();
}

// Each attempt is recorded once, where it ends: the outcome and run time as the handler returns, the
// retry, the dead job and the end-to-end time from what the store says the report did; the wait from
// the job's creation or its run_at, whichever is later; a lease taken back is counted lost.
TEST_F(WorkerPoolTest, AttemptsAreRecordedOnceWithTheirWaitRunAndEndToEndTimes) {
    obs::Metrics metrics;
    std::vector<std::string> tasks;
    for (const TaskType* type : registry_.all()) tasks.push_back(type->name);
    obs::JobMetrics jobMetrics(metrics, {"default"}, tasks);
    // Waiting since 5 s ago (created then, due then), and one created 5 s ago but due only now.
    const store::Millis start = nowMillis();
    store::JobRecord late;
    late.id = "late";
    late.task = "echo";
    late.args = "{}";
    late.queue = "default";
    late.maxAttempts = 3;
    late.runAt = start - 5000;
    late.timeoutMs = 10'000;
    late.ownerId = "u1";
    runToCompletion(store_.submitJob(late, start - 5000));
    // Claimed by a worker that dies: its lease runs out at once, and the pool takes it back.
    ASSERT_EQ(runToCompletion(store_.claimJobs({"default"}, 1, "dead-worker", 1, start)).size(), 1u);
    std::this_thread::sleep_for(5ms);
    store::JobRecord due = late;
    due.id = "due";
    due.runAt = start;
    runToCompletion(store_.submitJob(due, start - 5000));
    startPool({}, &jobMetrics);
    const auto fails = submit("always.fails", "{}", 2);
    EXPECT_EQ(waitFinished(fails).state, JobState::dead);
    EXPECT_EQ(waitFinished("late").state, JobState::succeeded);
    EXPECT_EQ(waitFinished("due").state, JobState::succeeded);

    const prometheus::Labels failsLabels{{"queue", "default"}, {"task", "always.fails"}};
    const prometheus::Labels echoLabels{{"queue", "default"}, {"task", "echo"}};
    auto histogram = [&](const char* name, const prometheus::Labels& labels) {
        return rampart::testing::histogramValue(metrics, name, labels)
            .value_or(rampart::testing::HistogramValue{});
    };
    // The store has the jobs' final states before the pool hears it and records them.
    for (int i = 0; i < 500 && (histogram("rampart_job_end_to_end_seconds", failsLabels).count < 1 ||
                                histogram("rampart_job_end_to_end_seconds", echoLabels).count < 2);
         ++i)
        std::this_thread::sleep_for(20ms);
    pool_->stop();

    auto attempts = [&](const prometheus::Labels& labels, const char* outcome) {
        prometheus::Labels all = labels;
        all.emplace("outcome", outcome);
        return rampart::testing::counterValue(metrics, "rampart_worker_attempts_total", all).value_or(-1);
    };
    EXPECT_EQ(attempts(failsLabels, "failed"), 2.0);
    EXPECT_EQ(attempts(failsLabels, "succeeded"), 0.0);
    EXPECT_EQ(attempts(echoLabels, "succeeded"), 2.0);
    EXPECT_EQ(rampart::testing::counterValue(metrics, "rampart_job_retries_total", failsLabels), 1.0);
    EXPECT_EQ(rampart::testing::counterValue(metrics, "rampart_job_dead_total", failsLabels), 1.0);
    EXPECT_EQ(rampart::testing::counterValue(metrics, "rampart_job_retries_total", echoLabels), 0.0);
    EXPECT_EQ(histogram("rampart_job_run_seconds", failsLabels).count, 2u);
    EXPECT_EQ(histogram("rampart_job_wait_seconds", failsLabels).count, 2u);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds", failsLabels).count, 1u);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds", echoLabels).count, 2u);
    EXPECT_GE(histogram("rampart_job_end_to_end_seconds", echoLabels).sum, 10.0) << "both created 5 s ago";
    // Only the in-process attempts are timed: "late" waited 5 s at least (due since its creation), "due"
    // became due as the test started; the dead worker's claim was no attempt of this pool's.
    const auto wait = histogram("rampart_job_wait_seconds", echoLabels);
    EXPECT_EQ(wait.count, 2u);
    EXPECT_GE(wait.sum, 5.0);
    // From the creation, "due" would add 5 s more (10 s and up in all).
    EXPECT_LT(wait.sum, 9.5) << "the second job waited from its run_at, not its creation";
    EXPECT_EQ(rampart::testing::counterValue(metrics, "rampart_job_leases_lost_total", echoLabels), 1.0);
}

// Claim-ahead (WorkerSettings::prefetch): with two pools claiming far more than they run at once, every
// job runs exactly once, and its one attempt is the only one counted.
TEST_F(WorkerPoolTest, WithClaimAheadEveryJobRunsExactlyOnce) {
    constexpr int kJobs = 600;
    for (int n = 0; n < kJobs; ++n) submit("count", R"({"n":)" + std::to_string(n) + "}");
    auto settings = [](std::string holder) {
        return WorkerSettings{.concurrency = 2,
                              .prefetch = 64,
                              .prefetchWait = 200ms,
                              .lease = 3000ms,
                              .pollInterval = 20ms,
                              .holder = std::move(holder)};
    };
    pool_ = std::make_unique<WorkerPool>(store_, registry_, settings("a"), nullptr);
    WorkerPool second(store_, registry_, settings("b"), nullptr);
    pool_->start();
    second.start();
    for (int n = 0; n < kJobs; ++n) {
        auto done = waitFinished("job-" + std::to_string(n + 1));
        ASSERT_EQ(done.state, JobState::succeeded) << done.id;
        EXPECT_EQ(done.attempts, 1) << done.id;
    }
    second.stop();
    for (int n = 0; n < kJobs; ++n) EXPECT_EQ(runs_[static_cast<std::size_t>(n)].load(), 1) << "n = " << n;
}

// A pool whose one slot holds a long job, with jobs it claimed ahead behind it.
class ClaimAheadBehindALongJob : public WorkerPoolTest {
  protected:
    void startBehindALongJob(std::chrono::milliseconds prefetchWait) {
        pool_ = std::make_unique<WorkerPool>(store_, registry_,
                                             WorkerSettings{.concurrency = 1,
                                                            .prefetch = 8,
                                                            .prefetchWait = prefetchWait,
                                                            .lease = 9000ms,
                                                            .pollInterval = 20ms,
                                                            .holder = "long"},
                                             nullptr);
        pool_->start();
        // A fast job first: the pool claims ahead only once it has seen how long jobs run.
        ASSERT_EQ(waitFinished(submit("count", R"({"n":999})")).state, JobState::succeeded);
        // Then, in one commit, a long job and five short ones behind it (claimed in this order).
        std::vector<store::JobRecord> batch;
        for (int n = -1; n < 5; ++n) {
            store::JobRecord job;
            job.id = n < 0 ? "sleeper" : "short-" + std::to_string(n);
            job.task = n < 0 ? "counted.sleep" : "count";
            job.args = n < 0 ? R"({"seconds":60})" : R"({"n":)" + std::to_string(n) + "}";
            job.queue = "default";
            job.maxAttempts = 1;  // a given-back job must not have used its only attempt
            job.runAt = nowMillis();
            job.timeoutMs = 120'000;
            job.ownerId = "u1";
            if (n >= 0) waiting_.push_back(job.id);
            batch.push_back(std::move(job));
        }
        sleeper_ = "sleeper";
        runToCompletion(store_.submitJobs(std::move(batch), nowMillis()));
        pool_->notify();
        // Running in its handler, not only claimed: a job claimed and not begun is given back by stop().
        for (int i = 0; i < 250 && sleepsBegun_ == 0; ++i) std::this_thread::sleep_for(5ms);
        ASSERT_EQ(sleepsBegun_, 1);
        ASSERT_EQ(job(sleeper_).state, JobState::running);
    }
    std::string sleeper_;
    std::vector<std::string> waiting_;
};

TEST_F(ClaimAheadBehindALongJob, JobsClaimedAheadAreGivenBackAfterTheirWaitForAnotherWorker) {
    startBehindALongJob(300ms);
    // Another worker that claims one job at a time runs every one of them while the long job goes on.
    WorkerPool other(
        store_, registry_,
        WorkerSettings{.concurrency = 1, .lease = 9000ms, .pollInterval = 20ms, .holder = "other"}, nullptr);
    other.start();
    const auto started = std::chrono::steady_clock::now();
    for (const auto& id : waiting_) {
        auto done = waitFinished(id);
        EXPECT_EQ(done.state, JobState::succeeded) << id;
        EXPECT_EQ(done.attempts, 1) << "the attempt given back is not counted: " << id;
        auto events = runToCompletion(store_.jobEvents(id));
        const bool released = std::any_of(events.begin(), events.end(), [](const auto& event) {
            return event.detail == "released unstarted";
        });
        EXPECT_TRUE(released) << id << " was claimed ahead by the busy pool, then given back";
    }
    // Well before their lease (9 s) would have run out: the bound is the wait (300 ms) plus a claim.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(job(sleeper_).state, JobState::running) << "the long job goes on";
    other.stop();
    for (int n = 0; n < 5; ++n) EXPECT_EQ(runs_[static_cast<std::size_t>(n)].load(), 1);
}

TEST_F(ClaimAheadBehindALongJob, StoppingGivesBackTheJobsClaimedAhead) {
    startBehindALongJob(2000ms);
    for (const auto& id : waiting_) ASSERT_EQ(job(id).state, JobState::running) << id << " claimed ahead";
    pool_->stop();
    for (const auto& id : waiting_) {
        auto after = job(id);
        EXPECT_EQ(after.state, JobState::queued) << id << " given back at once, not at its lease's end";
        EXPECT_EQ(after.attempts, 0) << id;
    }
    EXPECT_EQ(job(sleeper_).state, JobState::running) << "the started job is left to its lease, as before";
    pool_.reset();
    for (int n = 0; n < 5; ++n) EXPECT_EQ(runs_[static_cast<std::size_t>(n)].load(), 0);
}

}  // namespace
}  // namespace rampart::jobs
