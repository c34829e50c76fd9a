// BoundedPool: the work runs on the pool's threads, the caller resumes on its own thread, exceptions come
// back to it, and a full queue refuses at once with the owner's error.
#include "core/bounded_pool.hpp"

#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace rampart {
namespace {

class PoolFull : public std::runtime_error {
  public:
    PoolFull() : std::runtime_error("full") {}
};

BoundedPool::Options options(std::size_t threads, std::size_t queue) {
    return BoundedPool::Options{.threads = threads, .queueCapacity = queue, .refusal = [] {
                                    return std::make_exception_ptr(PoolFull());
                                }};
}

TEST(BoundedPool, RunsTheWorkOnItsThreadAndResumesTheCallerOnItsOwn) {
    BoundedPool pool(options(1, 1));
    boost::asio::io_context io;
    std::thread::id workedOn;
    std::thread::id resumedOn;
    auto done = boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<int> {
            const int value = co_await pool.run([&workedOn] {
                workedOn = std::this_thread::get_id();
                return 7;
            });
            resumedOn = std::this_thread::get_id();
            co_return value;
        },
        boost::asio::use_future);
    io.run();
    EXPECT_EQ(done.get(), 7);
    EXPECT_NE(workedOn, std::this_thread::get_id());
    EXPECT_EQ(resumedOn, std::this_thread::get_id());
}

// PasswordHasher gives back a pool thread's Argon2 memory this way once logins stop.
TEST(BoundedPool, AThreadIdleSinceItsLastJobRunsOnIdleOnceOnItsOwnThread) {
    using namespace std::chrono_literals;
    std::mutex mutex;
    int idles = 0;
    std::thread::id idleOn;
    auto settings = options(1, 1);
    settings.idleAfter = 50ms;
    settings.onIdle = [&] {
        const std::lock_guard lock(mutex);
        ++idles;
        idleOn = std::this_thread::get_id();
    };
    const auto idleCount = [&] {
        const std::lock_guard lock(mutex);
        return idles;
    };
    BoundedPool pool(settings);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(idleCount(), 0) << "no job yet, so nothing to give back";

    boost::asio::io_context io;
    auto done = boost::asio::co_spawn(io, pool.run([] { return std::this_thread::get_id(); }),
                                      boost::asio::use_future);
    io.run();
    const std::thread::id workedOn = done.get();
    for (int i = 0; i < 500 && idleCount() == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(idleCount(), 1);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(idleCount(), 1) << "not again until the thread has run another job";
    const std::lock_guard lock(mutex);
    EXPECT_EQ(idleOn, workedOn);
}

TEST(BoundedPool, TheWorksExceptionReachesTheCaller) {
    BoundedPool pool(options(1, 1));
    boost::asio::io_context io;
    auto done = boost::asio::co_spawn(io, pool.run([]() -> int { throw std::logic_error("broken"); }),
                                      boost::asio::use_future);
    io.run();
    EXPECT_THROW(done.get(), std::logic_error);
}

TEST(BoundedPool, AFullQueueRefusesAtOnceWithTheOwnersError) {
    BoundedPool pool(options(1, 1));
    boost::asio::io_context io;
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> started;
    auto running = boost::asio::co_spawn(io, pool.run([&started, released] {
        started.set_value();
        released.wait();
        return 1;
    }),
                                         boost::asio::use_future);
    std::thread network([&io] { io.run(); });
    started.get_future().wait();
    auto queued = boost::asio::co_spawn(io, pool.run([] { return 2; }), boost::asio::use_future);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pool.queued() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(pool.queued(), 1u);
    EXPECT_TRUE(pool.full());

    auto refused = boost::asio::co_spawn(io, pool.run([] { return 3; }), boost::asio::use_future);
    EXPECT_THROW(refused.get(), PoolFull);  // while the first job still holds the only thread

    release.set_value();
    EXPECT_EQ(running.get(), 1);
    EXPECT_EQ(queued.get(), 2);
    network.join();
    EXPECT_FALSE(pool.full());
}

TEST(BoundedPool, AfterShutdownEveryCallIsRefused) {
    BoundedPool pool(options(2, 4));
    pool.shutdown();
    boost::asio::io_context io;
    auto refused = boost::asio::co_spawn(io, pool.run([] { return 1; }), boost::asio::use_future);
    io.run();
    EXPECT_THROW(refused.get(), PoolFull);
}

}  // namespace
}  // namespace rampart
