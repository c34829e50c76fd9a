// PostgresStore's own machinery against a real PostgreSQL: the job wake-up listener (NOTIFY from any
// connection reaches it; a dropped listener reconnects and wakes every queue), and close() with the
// listener running.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/postgres/postgres_store.hpp"
#include "testing/postgres_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::store {
namespace {

using namespace std::chrono_literals;

// What the listener reported, for the test thread to wait on.
class Wakes {
  public:
    void add(const std::string& queue) {
        const std::lock_guard lock(mutex_);
        queues_.push_back(queue);
        changed_.notify_all();
    }
    // Waits until `queue` has been reported (again, after `seen` reports of it); false after `timeout`.
    bool waitFor(const std::string& queue, std::size_t seen, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return countLocked(queue) > seen; });
    }
    std::size_t count(const std::string& queue) {
        const std::lock_guard lock(mutex_);
        return countLocked(queue);
    }

  private:
    std::size_t countLocked(const std::string& queue) const {
        return static_cast<std::size_t>(std::count(queues_.begin(), queues_.end(), queue));
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> queues_;
};

TEST(PostgresStoreTest, NotificationsFromAnyConnectionWakeTheWatcherAndADroppedListenerReconnects) {
    const std::string url = rampart::testing::freshDatabaseUrl();
    PostgresStore store{SecretString(url)};
    Wakes wakes;
    ASSERT_TRUE(store.watchQueuedJobs([&wakes](const std::string& queue) { wakes.add(queue); }));
    ASSERT_TRUE(wakes.waitFor("", 0, 10s)) << "connecting wakes every queue once";

    // Another process (here: another connection) queues jobs and notifies on commit.
    pg::BlockingConnection other{SecretString(url)};
    other.exec("SELECT pg_notify('rampart_jobs', 'reports')");
    EXPECT_TRUE(wakes.waitFor("reports", 0, 10s));
    other.execScript("BEGIN; SELECT pg_notify('rampart_jobs', 'rolled-back'); ROLLBACK;");
    other.exec("SELECT pg_notify('rampart_jobs', 'default')");
    EXPECT_TRUE(wakes.waitFor("default", 0, 10s));
    EXPECT_EQ(wakes.count("rolled-back"), 0u) << "a rolled-back transaction notifies nobody";

    // The database drops the listener (a restart, a failover): it comes back and wakes everything.
    const std::size_t before = wakes.count("");
    other.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> "
        "pg_backend_pid()");
    EXPECT_TRUE(wakes.waitFor("", before, 15s)) << "reconnected";
    other.exec("SELECT pg_notify('rampart_jobs', 'reports')");
    EXPECT_TRUE(wakes.waitFor("reports", 1, 10s)) << "and listening again";

    const auto closing = std::chrono::steady_clock::now();
    store.close();
    EXPECT_LT(std::chrono::steady_clock::now() - closing, 5s)
        << "close() does not wait long for the listener";
}

TEST(PostgresStoreTest, WatchingAClosedStoreIsRefused) {
    PostgresStore store{SecretString(rampart::testing::freshDatabaseUrl())};
    store.close();
    EXPECT_FALSE(store.watchQueuedJobs([](const std::string&) {}));
}

}  // namespace
}  // namespace rampart::store
