// JobService against a real SQLite store: what it tells the in-process workers after a submission.
#include "jobs/job_service.hpp"

#include <gtest/gtest.h>

#include "jobs/builtin_tasks.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using testing::runToCompletion;

class JobServiceTest : public ::testing::Test {
  protected:
    JobServiceTest() : store_(dir_.path() / "rampart.db") {
        store_.migrate();
        store::UserRecord owner;
        owner.id = "u1";
        owner.username = "alice";
        owner.role = "user";
        runToCompletion(store_.createUser(owner));
        addBuiltinTasks(registry_);
        service_.onSubmitted([this] { ++wakeUps_; });
    }
    ~JobServiceTest() override { store_.close(); }

    static Submission noop(std::optional<std::string> key = std::nullopt) {
        Submission submission;
        submission.task = "noop";
        submission.args = boost::json::object{};
        submission.idempotencyKey = std::move(key);
        return submission;
    }

    testing::TempDirectory dir_;
    store::SqliteStore store_;
    TaskRegistry registry_;
    JobService service_{store_, registry_, JobsSettings{}};
    identity::Principal alice_{.userId = "u1", .role = identity::Role::user};
    int wakeUps_ = 0;
};

// Without the wake-up a single submit would wait for the workers' next poll (200 ms by default).
TEST_F(JobServiceTest, ASingleSubmitWakesTheWorkersButAReplayDoesNot) {
    runToCompletion(service_.submit(alice_, noop()));
    EXPECT_EQ(wakeUps_, 1);
    auto first = runToCompletion(service_.submit(alice_, noop("key-1")));
    EXPECT_TRUE(first.created);
    EXPECT_EQ(wakeUps_, 2);
    auto replay = runToCompletion(service_.submit(alice_, noop("key-1")));
    EXPECT_FALSE(replay.created);
    EXPECT_EQ(wakeUps_, 2);
}

TEST_F(JobServiceTest, ABatchWakesTheWorkersOnce) {
    std::vector<Submission> batch;
    batch.push_back(noop());
    batch.push_back(noop());
    runToCompletion(service_.submitBatch(alice_, std::move(batch)));
    EXPECT_EQ(wakeUps_, 1);
}

}  // namespace
}  // namespace rampart::jobs
