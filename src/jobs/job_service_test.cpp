// JobService against a real SQLite store: what it tells the in-process workers after a submission,
// and the ids it gives jobs.
#include "jobs/job_service.hpp"

#include <set>

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

// Ids sort by submit time (so new rows land together in the store's indexes) and stay unguessable.
TEST_F(JobServiceTest, JobIdsSortBySubmitTimeAndCarry128RandomBits) {
    auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
    JobService service(store_, registry_, JobsSettings{}, [&time] { return time; });
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        if (i % 10 == 0) time += std::chrono::milliseconds(1);
        auto submitted = runToCompletion(service.submit(alice_, noop()));
        const std::string& id = submitted.job.id;
        ASSERT_EQ(id.size(), 30u) << id;  // 48 time bits and 128 random bits in 6-bit characters
        EXPECT_EQ(id.find_first_not_of("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"),
                  std::string::npos)
            << id;
        EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id;
        ids.push_back(id);
    }
    for (std::size_t i = 10; i < ids.size(); ++i)
        EXPECT_LT(ids[i - 10], ids[i]) << "a later millisecond sorts later";
    EXPECT_EQ(ids[0].substr(0, 8), ids[9].substr(0, 8)) << "one millisecond, one time prefix";
    auto found = runToCompletion(store_.findJob(ids.back()));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->created, 1'700'000'000'005);
}

}  // namespace
}  // namespace rampart::jobs
