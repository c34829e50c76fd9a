// The in-process workers against a real SQLite store: jobs run to success, failures retry then die,
// a cancel reaches a running handler, a timeout stops one, and a job whose worker died runs again.
#include "jobs/worker_pool.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "jobs/builtin_tasks.hpp"
#include "store/sqlite/sqlite_store.hpp"
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
    }
    ~WorkerPoolTest() override {
        if (pool_) pool_->stop();
        store_.close();
    }

    void startPool(std::string holder = {}) {
        pool_ = std::make_unique<WorkerPool>(store_, registry_,
                                             WorkerSettings{.concurrency = 4,
                                                            .lease = 3000ms,
                                                            .pollInterval = 20ms,
                                                            .recoveryInterval = 200ms,
                                                            .holder = std::move(holder)},
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
    auto id = submit("sleep", R"({"seconds":60})");
    for (int i = 0; i < 250 && job(id).state != JobState::running; ++i) std::this_thread::sleep_for(20ms);
    pool_->stop();
    auto after = job(id);
    EXPECT_EQ(after.state, JobState::running) << "not reported: the lease will expire and the job run again";
    pool_.reset();
}

}  // namespace
}  // namespace rampart::jobs
