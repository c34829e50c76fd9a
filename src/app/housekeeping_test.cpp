// The periodic-task runner on a real SQLite store: runs repeat, a throw is counted and the task runs
// again, stop ends every timer, and a cluster-wide task runs only on the node that holds its lease.
#include "app/housekeeping.hpp"

#include <map>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/run_blocking.hpp"
#include "store/store.hpp"
#include "testing/audit_key.hpp"
#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

class HousekeepingTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "rampart.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
        store_->migrate();
    }
    void TearDown() override { store_->close(); }

    [[nodiscard]] store::Millis now() const { return store::toMillis(std::chrono::system_clock::now()); }

    rampart::testing::TempDirectory dir_;
    std::unique_ptr<store::Store> store_;
    boost::asio::io_context context_;
    obs::Metrics metrics_;
};

TEST_F(HousekeepingTest, RunsATaskAgainEveryIntervalUntilStopped) {
    Housekeeping housekeeping(context_, metrics_, *store_, "node-a");
    int runs = 0;
    housekeeping.add({.name = "tick", .first = 0ms, .interval = 1ms, .run = [&] {
                          if (++runs == 3) housekeeping.stop();
                      }});
    housekeeping.start();
    context_.run();  // returns once stop() has canceled the last timer

    EXPECT_EQ(runs, 3);
    const std::string text = metrics_.render();
    EXPECT_THAT(text, HasSubstr(R"(rampart_housekeeping_runs_total{outcome="success",task="tick"} 3)"));
    EXPECT_THAT(text, HasSubstr(R"(rampart_housekeeping_last_success_timestamp_seconds{task="tick"})"));
    // A task that is not cluster-wide never takes a lease.
    EXPECT_THAT(text, Not(HasSubstr(R"(outcome="skipped")")));
    EXPECT_TRUE(runBlocking(store_->acquireLease(Housekeeping::leaseName("tick"), "other", 60'000, now())));
}

TEST_F(HousekeepingTest, ATaskThatThrowsIsCountedAndRunsAgainAtItsNextTime) {
    Housekeeping housekeeping(context_, metrics_, *store_, "node-a");
    int runs = 0;
    housekeeping.add({.name = "flaky", .first = 0ms, .interval = 1ms, .run = [&] {
                          if (++runs < 3) throw std::runtime_error("the database went away");
                          housekeeping.stop();
                      }});
    int others = 0;  // a second task is not disturbed by the first one's failures
    housekeeping.add({.name = "steady", .first = 0ms, .interval = 1ms, .run = [&] { ++others; }});
    housekeeping.start();
    context_.run();

    EXPECT_EQ(runs, 3);
    const std::string text = metrics_.render();
    EXPECT_THAT(text, HasSubstr(R"(rampart_housekeeping_runs_total{outcome="failure",task="flaky"} 2)"));
    EXPECT_THAT(text, HasSubstr(R"(rampart_housekeeping_runs_total{outcome="success",task="flaky"} 1)"));
    EXPECT_GE(others, 1);
}

TEST_F(HousekeepingTest, AClusterWideTaskIsSkippedWhileAnotherNodeHoldsItsLease) {
    ASSERT_TRUE(runBlocking(store_->acquireLease(Housekeeping::leaseName("sweep"), "node-b", 60'000, now())));
    Housekeeping housekeeping(context_, metrics_, *store_, "node-a");
    int runs = 0;
    int skipped = 0;
    housekeeping.add({.name = "sweep",
                      .first = 0ms,
                      .interval = 1ms,
                      .clusterWide = true,
                      .run =
                          [&] {
                              ++runs;
                              housekeeping.stop();
                          },
                      .whileAnotherNodeRuns =
                          [&] {
                              // node-b gives the lease up after three of node-a's turns: node-a takes it.
                              if (++skipped == 3)
                                  runBlocking(
                                      store_->releaseLease(Housekeeping::leaseName("sweep"), "node-b"));
                          }});
    housekeeping.start();
    context_.run();

    EXPECT_EQ(skipped, 3);
    EXPECT_EQ(runs, 1);
    EXPECT_THAT(metrics_.render(),
                HasSubstr(R"(rampart_housekeeping_runs_total{outcome="skipped",task="sweep"} 3)"));
    // node-a holds the lease now, for two intervals at least; releaseLeases hands it back at once.
    EXPECT_FALSE(
        runBlocking(store_->acquireLease(Housekeeping::leaseName("sweep"), "node-b", 60'000, now())));
    housekeeping.releaseLeases();
    EXPECT_TRUE(runBlocking(store_->acquireLease(Housekeeping::leaseName("sweep"), "node-b", 60'000, now())));
}

TEST_F(HousekeepingTest, OfTwoNodesOnOneStoreOnlyOneRunsAClusterWideTask) {
    Housekeeping nodeA(context_, metrics_, *store_, "node-a");
    obs::Metrics otherMetrics;
    Housekeeping nodeB(context_, otherMetrics, *store_, "node-b");
    int turns = 0;
    std::map<std::string, int> runs;
    std::map<std::string, int> skips;
    const auto stopAfterTwenty = [&] {
        if (++turns < 20) return;
        nodeA.stop();
        nodeB.stop();
    };
    for (auto* node : {&nodeA, &nodeB}) {
        const std::string name = node == &nodeA ? "a" : "b";
        node->add({.name = "gauges",
                   .first = 0ms,
                   .interval = 1ms,
                   .clusterWide = true,
                   .run =
                       [&, name] {
                           ++runs[name];
                           stopAfterTwenty();
                       },
                   .whileAnotherNodeRuns =
                       [&, name] {
                           ++skips[name];
                           stopAfterTwenty();
                       }});
    }
    nodeA.start();
    nodeB.start();
    context_.run();

    // Whoever took the lease first keeps it (it renews it at every run); the other only skips.
    EXPECT_EQ(runs["a"] + runs["b"] + skips["a"] + skips["b"], turns);
    EXPECT_TRUE((runs["a"] > 0 && runs["b"] == 0) || (runs["b"] > 0 && runs["a"] == 0))
        << "a ran " << runs["a"] << ", b ran " << runs["b"];
}

}  // namespace
}  // namespace rampart
