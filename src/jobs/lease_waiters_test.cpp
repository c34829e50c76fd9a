// The waiting list of long-poll leases: which waiter a hint wakes (the longest-waiting one that can take
// the job, one per hint), the recheck that wakes one waiter of each kind, bounds, and shutdown.
#include "jobs/lease_waiters.hpp"

#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using Queues = std::vector<std::string>;

class LeaseWaitersTest : public ::testing::Test {
  protected:
    std::unique_ptr<LeaseWaiters::Ticket> enter(std::string account, Queues queues, Queues tasks = {}) {
        return waiters_.enter(account, queues, tasks, io_.get_executor());
    }

    boost::asio::io_context io_;
    LeaseWaiters waiters_{LeaseWaitSettings{.maxTotal = 4, .maxPerAccount = 3, .recheck = 0ms}};
};

TEST_F(LeaseWaitersTest, AHintWakesTheLongestWaitingWaiterThatCanTakeTheJob) {
    auto any = enter("a", {"default"});
    auto emails = enter("a", {"emails"});
    auto reports = enter("b", {"default"}, {"reports.generate"});
    waiters_.wake("emails", "");
    EXPECT_TRUE(emails->woken());
    EXPECT_FALSE(any->woken());
    EXPECT_FALSE(reports->woken());
    waiters_.wake("default", "reports.generate");  // the longest-waiting one that takes it: `any`
    EXPECT_TRUE(any->woken());
    EXPECT_FALSE(reports->woken());
    waiters_.wake("default", "other.task");  // `reports` runs only reports.generate
    EXPECT_FALSE(reports->woken());
    waiters_.wake("default", "reports.generate");
    EXPECT_TRUE(reports->woken());
    EXPECT_EQ(waiters_.waiting(), 0u);
}

TEST_F(LeaseWaitersTest, OneHintWakesOneWaiterNotAll) {
    std::vector<std::unique_ptr<LeaseWaiters::Ticket>> tickets;
    for (int i = 0; i < 3; ++i) tickets.push_back(enter("a", {"default"}));
    waiters_.wake("default", "");
    EXPECT_TRUE(tickets[0]->woken());
    EXPECT_FALSE(tickets[1]->woken());
    EXPECT_FALSE(tickets[2]->woken());
    EXPECT_EQ(waiters_.waiting(), 2u);
    waiters_.wake("nobody-waits-here", "");
    EXPECT_EQ(waiters_.waiting(), 2u);
}

TEST_F(LeaseWaitersTest, AHintForAnyQueueWakesOneWaiterOfEachKind) {
    auto a1 = enter("a", {"default", "emails"});
    auto a2 = enter("b", {"emails", "default"});  // the same kind: the order of names does not matter
    auto b1 = enter("a", {"default"}, {"x"});
    auto b2 = enter("b", {"default"}, {"x"});
    waiters_.wake("", "");
    EXPECT_TRUE(a1->woken());
    EXPECT_FALSE(a2->woken());
    EXPECT_TRUE(b1->woken());
    EXPECT_FALSE(b2->woken());
}

TEST_F(LeaseWaitersTest, BoundsPerAccountAndInTotalFreeUpWhenAWaiterLeaves) {
    auto a1 = enter("a", {"default"});
    auto a2 = enter("a", {"default"});
    auto a3 = enter("a", {"default"});
    EXPECT_EQ(enter("a", {"default"}), nullptr) << "the account's bound (3)";
    auto b1 = enter("b", {"default"});
    EXPECT_EQ(enter("c", {"default"}), nullptr) << "the node's bound (4)";
    a3.reset();  // a call that ends (answered, or its client gone) leaves the list
    EXPECT_NE(enter("a", {"default"}), nullptr);
    waiters_.wake("default", "");  // a woken waiter no longer counts either
    EXPECT_NE(enter("c", {"default"}), nullptr);
}

TEST_F(LeaseWaitersTest, AWakeBeforeTheWaitIsNotLostAndAWakeDuringItEndsIt) {
    auto early = enter("a", {"default"});
    waiters_.wake("default", "");  // while its caller was claiming
    bool earlyWoken = false;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
            earlyWoken = co_await early->wait(std::chrono::steady_clock::now() + 30s);
        },
        boost::asio::detached);
    io_.run();
    EXPECT_TRUE(earlyWoken);

    // A wake from another thread cancels a wait in progress.
    io_.restart();
    auto late = enter("a", {"default"});
    bool lateWoken = false;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
            lateWoken = co_await late->wait(std::chrono::steady_clock::now() + 30s);
        },
        boost::asio::detached);
    std::thread waker([this] {
        std::this_thread::sleep_for(20ms);
        waiters_.wake("default", "");
    });
    const auto start = std::chrono::steady_clock::now();
    io_.run();
    waker.join();
    EXPECT_TRUE(lateWoken);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20s) << "not held until the deadline";
}

TEST_F(LeaseWaitersTest, AWaitWithNoWakeEndsAtItsDeadlineUnwoken) {
    auto ticket = enter("a", {"default"});
    bool woken = true;
    boost::asio::co_spawn(
        io_,
        [&]() -> boost::asio::awaitable<void> {
            woken = co_await ticket->wait(std::chrono::steady_clock::now() + 50ms);
        },
        boost::asio::detached);
    io_.run();
    EXPECT_FALSE(woken);
}

TEST_F(LeaseWaitersTest, ShutdownWakesEveryWaiterAndEveryLaterOneAtOnce) {
    auto a = enter("a", {"default"});
    auto b = enter("b", {"emails"});
    waiters_.shutdown();
    EXPECT_TRUE(a->woken());
    EXPECT_TRUE(b->woken());
    EXPECT_TRUE(a->shuttingDown());
    auto later = enter("a", {"default"});
    ASSERT_NE(later, nullptr);
    EXPECT_TRUE(later->woken());
    EXPECT_EQ(waiters_.waiting(), 0u);
}

// Jobs that become ready with no hint (a back-off ending, a run_at reached) are found by the recheck.
TEST(LeaseWaitersRecheck, TheTickWakesAWaiterWithNoHint) {
    boost::asio::io_context io;
    LeaseWaiters waiters(LeaseWaitSettings{.recheck = 20ms});
    auto ticket = waiters.enter("a", {"default"}, {}, io.get_executor());
    bool woken = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            woken = co_await ticket->wait(std::chrono::steady_clock::now() + 30s);
        },
        boost::asio::detached);
    io.run();
    EXPECT_TRUE(woken);
}

}  // namespace
}  // namespace rampart::jobs
