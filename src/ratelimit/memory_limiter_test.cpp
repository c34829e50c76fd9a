// The in-memory GCRA limiter against a fake clock (burst, steady rate, Retry-After, idle keys, the key
// bound) and against real threads (exactly the quota is let through, never more).
#include "ratelimit/memory_limiter.hpp"

#include <latch>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/race.hpp"

namespace rampart::ratelimit {
namespace {

using namespace std::chrono_literals;

class FakeClock {
  public:
    NanoClock clock() {
        return [this] { return now_.load(); };
    }
    void advance(std::chrono::nanoseconds by) { now_ += by.count(); }

  private:
    std::atomic<std::int64_t> now_{1'000'000'000'000};
};

const Policy kHundredPerHour{"user", Rate{100, std::chrono::hours(1)}};

TEST(MemoryLimiter, BurstIsTheQuotaThenOnePerInterval) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 1000, .clock = clock.clock()});
    for (std::uint64_t i = 0; i < 100; ++i) {
        const Decision decision = limiter.decideNow(kHundredPerHour, "alice");
        ASSERT_TRUE(decision.allowed) << i;
        EXPECT_EQ(decision.remaining, 99 - i);
        EXPECT_EQ(decision.resetAfter, 36s * static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(decision.retryAfter, 0s);
    }
    const Decision refused = limiter.decideNow(kHundredPerHour, "alice");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0u);
    EXPECT_EQ(refused.retryAfter, 36s);
    EXPECT_EQ(refused.resetAfter, 3600s);

    // One more every 36 s: not a nanosecond before.
    clock.advance(36s - 1ns);
    EXPECT_FALSE(limiter.decideNow(kHundredPerHour, "alice").allowed);
    EXPECT_EQ(limiter.decideNow(kHundredPerHour, "alice").retryAfter, 1ns);
    clock.advance(1ns);
    EXPECT_TRUE(limiter.decideNow(kHundredPerHour, "alice").allowed);
    EXPECT_FALSE(limiter.decideNow(kHundredPerHour, "alice").allowed);
}

TEST(MemoryLimiter, SteadyRateOverAnHourIsTheQuotaPlusTheRefills) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 1000, .clock = clock.clock()});
    int allowed = 0;
    // A request every second for an hour: the burst of 100, then one per 36 s (100 more).
    for (int second = 0; second < 3600; ++second) {
        if (limiter.decideNow(kHundredPerHour, "bob").allowed) ++allowed;
        clock.advance(1s);
    }
    EXPECT_EQ(allowed, 100 + 3600 / 36 - 1);
}

TEST(MemoryLimiter, RefusedRequestsCostNothing) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 1000, .clock = clock.clock()});
    const Policy fivePerMinute{"login", Rate{5, std::chrono::minutes(1)}};
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(limiter.decideNow(fivePerMinute, "k").allowed);
    for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.decideNow(fivePerMinute, "k").allowed);
    clock.advance(12s);
    EXPECT_TRUE(limiter.decideNow(fivePerMinute, "k").allowed);
}

TEST(MemoryLimiter, KeysAndPoliciesAreIndependent) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 1000, .clock = clock.clock()});
    const Policy one{"user", Rate{1, std::chrono::hours(1)}};
    const Policy sameNameOther{"jobs.submit", Rate{1, std::chrono::hours(1)}};
    EXPECT_TRUE(limiter.decideNow(one, "alice").allowed);
    EXPECT_FALSE(limiter.decideNow(one, "alice").allowed);
    EXPECT_TRUE(limiter.decideNow(one, "bob").allowed);
    EXPECT_TRUE(limiter.decideNow(sameNameOther, "alice").allowed);
    // A key that ends where another policy's name begins does not collide with it.
    EXPECT_TRUE(limiter
                    .decideNow(Policy{"use", one.rate},
                               "r\x1f"
                               "alice")
                    .allowed);
}

TEST(MemoryLimiter, AnIdleKeyIsTheSameAsANewOne) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 1000, .clock = clock.clock()});
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiter.decideNow(kHundredPerHour, "carol").allowed);
    clock.advance(1h);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiter.decideNow(kHundredPerHour, "carol").allowed) << i;
    EXPECT_FALSE(limiter.decideNow(kHundredPerHour, "carol").allowed);
}

TEST(MemoryLimiter, HoldsNoMoreKeysThanItsBound) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 128, .clock = clock.clock()});
    for (int i = 0; i < 10'000; ++i)
        ASSERT_TRUE(limiter.decideNow(kHundredPerHour, std::to_string(i)).allowed);
    EXPECT_LE(limiter.size(), 128u);
    EXPECT_GT(limiter.liveEvictions(), 0u);
}

TEST(MemoryLimiter, IdleKeysAreEvictedBeforeLiveOnes) {
    FakeClock clock;
    MemoryLimiter limiter({.maxKeys = 128, .clock = clock.clock()});
    const Policy onePerMinute{"anon", Rate{1, std::chrono::minutes(1)}};
    for (int i = 0; i < 2'000; ++i) {
        ASSERT_TRUE(limiter.decideNow(onePerMinute, "key" + std::to_string(i)).allowed);
        clock.advance(1min);  // every earlier key is idle by the next one
    }
    EXPECT_LE(limiter.size(), 128u);
    EXPECT_EQ(limiter.liveEvictions(), 0u);
    // A live key is kept while idle ones come and go around it.
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(limiter.decideNow(kHundredPerHour, "live").allowed);
    const Policy thousandPerSecond{"anon", Rate{1000, std::chrono::seconds(1)}};
    for (int i = 0; i < 2'000; ++i) {
        ASSERT_TRUE(limiter.decideNow(thousandPerSecond, "other" + std::to_string(i)).allowed);
        clock.advance(2ms);  // past the 1 ms this key's single request reserved
    }
    EXPECT_FALSE(limiter.decideNow(kHundredPerHour, "live").allowed);
    EXPECT_EQ(limiter.liveEvictions(), 0u);
}

TEST(MemoryLimiter, RefusesATinyBound) {
    EXPECT_THROW(MemoryLimiter({.maxKeys = 10}), std::invalid_argument);
}

// 200 threads released at once against a quota of 100: exactly 100 get through.
TEST(MemoryLimiter, ExactUnderConcurrencyWithThreads) {
    for (int round = 0; round < 5; ++round) {
        MemoryLimiter limiter;
        const Policy policy{"user", Rate{100, std::chrono::hours(1)}};
        std::atomic<int> allowed{0};
        std::latch start(200);
        std::vector<std::thread> threads;
        for (int i = 0; i < 200; ++i) {
            threads.emplace_back([&] {
                start.arrive_and_wait();
                if (limiter.decideNow(policy, "shared").allowed) ++allowed;
            });
        }
        for (auto& thread : threads) thread.join();
        EXPECT_EQ(allowed.load(), 100) << "round " << round;
    }
}

// The same through the coroutine interface, 200 contenders on four threads in a shuffled order.
TEST(MemoryLimiter, ExactUnderConcurrencyWithCoroutines) {
    const auto seed = testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    MemoryLimiter limiter;
    const Policy policy{"anon", Rate{100, std::chrono::hours(1)}};
    testing::Race race(seed);
    std::vector<std::future<Decision>> outcomes(200);
    for (auto& outcome : outcomes)
        race.add<Decision>(outcome, [&] { return limiter.decide(policy, "a4:shared", obs::Span::off()); });
    race.run(4);
    int allowed = 0;
    for (auto& outcome : outcomes)
        if (outcome.get().allowed) ++allowed;
    EXPECT_EQ(allowed, 100);
}

}  // namespace
}  // namespace rampart::ratelimit
