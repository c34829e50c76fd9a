// The Redis GCRA limiter against a real redis-server: the same semantics as the in-memory limiter, exact
// when 200 decisions race, keys that expire once idle, and LimiterUnavailable when Redis is gone.
#include "ratelimit/redis_limiter.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "redis/client_host.hpp"
#include "testing/race.hpp"
#include "testing/redis_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::ratelimit {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;
using testing::runToCompletion;

redis::ClientOptions fastOptions() {
    redis::ClientOptions options;
    options.connectTimeout = 2s;
    options.commandTimeout = 2s;
    options.firstBackoff = 50ms;
    options.maxBackoff = 200ms;
    return options;
}

class RedisLimiterTest : public ::testing::Test {
  protected:
    RedisServer server_;
    redis::ClientHost host_{redis::parseRedisUrl(server_.url()), fastOptions()};
    redis::Client& client_ = host_.client();
    RedisLimiter limiter_{client_, "rampart:rl:test:"};  // under the documented ACL
};

TEST_F(RedisLimiterTest, BurstIsTheQuotaThenRefusedWithRetryAfter) {
    const Policy policy{"user", Rate{5, std::chrono::minutes(1)}};
    EXPECT_FALSE(limiter_.tryDecide(policy, "alice").has_value());
    for (std::uint64_t i = 0; i < 5; ++i) {
        const Decision decision = runToCompletion(limiter_.decide(policy, "alice"));
        ASSERT_TRUE(decision.allowed) << i;
        EXPECT_EQ(decision.remaining, 4 - i);
    }
    const Decision refused = runToCompletion(limiter_.decide(policy, "alice"));
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0u);
    // 12 s per request; a few milliseconds have passed since the first.
    EXPECT_GT(refused.retryAfter, 11s);
    EXPECT_LE(refused.retryAfter, 12s);
    EXPECT_GT(refused.resetAfter, 59s);
    EXPECT_LE(refused.resetAfter, 60s);
    // Another key and another policy are apart.
    EXPECT_TRUE(runToCompletion(limiter_.decide(policy, "bob")).allowed);
    EXPECT_TRUE(runToCompletion(limiter_.decide(Policy{"login", policy.rate}, "alice")).allowed);
}

// After the burst, one more request every interval (here 100 ms), as in memory.
TEST_F(RedisLimiterTest, RefillsAtTheSteadyRate) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k")).allowed) << i;
    const Decision refused = runToCompletion(limiter_.decide(policy, "k"));
    ASSERT_FALSE(refused.allowed);
    EXPECT_LE(refused.retryAfter, 100ms);
    std::this_thread::sleep_for(refused.retryAfter + 5ms);
    const Decision again = runToCompletion(limiter_.decide(policy, "k"));
    EXPECT_TRUE(again.allowed);
    EXPECT_EQ(again.remaining, 0u);
    EXPECT_FALSE(runToCompletion(limiter_.decide(policy, "k")).allowed);
}

// A rate faster than Redis's microsecond clock (the "raised out of reach" limits of benchmarks and tests)
// neither divides by zero in the script nor refuses.
TEST_F(RedisLimiterTest, ARateBeyondOnePerMicrosecondStillDecides) {
    const Policy policy{"anon", Rate{1'000'000'000, std::chrono::seconds(1)}};
    for (int i = 0; i < 100; ++i) {
        const Decision decision = runToCompletion(limiter_.decide(policy, "fast"));
        ASSERT_TRUE(decision.allowed) << i;
        EXPECT_GT(decision.remaining, 999'000u);
    }
}

TEST_F(RedisLimiterTest, IdleKeysExpire) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k")).allowed);
    redis::ClientHost inspector{redis::parseRedisUrl(server_.testUrl()), fastOptions()};
    std::vector<std::string> pttl{"PTTL", "rampart:rl:test:anon:k"};
    const auto ttl = runToCompletion(inspector.client().command(std::move(pttl)));
    ASSERT_EQ(ttl.type, redis::ReplyType::kInteger);
    EXPECT_GT(ttl.integer, 0);
    EXPECT_LE(ttl.integer, 100);  // one interval: 100 ms
}

// The limiter runs as the ACL user docs/deployment-cluster.md documents (RedisServer::kUserRules), and
// that user can do nothing else: no other key, no administration, no reading what else Redis holds.
TEST_F(RedisLimiterTest, TheDocumentedAclUserCanRunTheLimiterAndNothingElse) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k")).allowed);
    const std::vector<std::vector<std::string>> refused{
        {"FLUSHALL"},
        {"CONFIG", "GET", "requirepass"},
        {"KEYS", "*"},
        {"GET", "session:1"},
        {"SET", "x", "1"},
        {"OBJECT", "FREQ", "x"},
        {"ACL", "LIST"},
        {"SCRIPT", "FLUSH"},
        {"SCAN", "0"},
        {"SUBSCRIBE", "events"},
        {"MONITOR"},
        {"SHUTDOWN"},
        {"EVAL", "return redis.call('GET', KEYS[1])", "1", "session:1"}};
    for (auto command : refused) {
        const std::string name = command.front();
        const auto reply = runToCompletion(client_.command(std::move(command)));
        EXPECT_TRUE(reply.isError()) << name << " was allowed";
        EXPECT_NE(reply.text.find("NOPERM"), std::string::npos) << name << ": " << reply.text;
    }
}

// 200 decisions racing on four threads against a quota of 100: exactly 100 allowed.
TEST_F(RedisLimiterTest, ExactUnderConcurrency) {
    const auto seed = testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    const Policy policy{"anon", Rate{100, std::chrono::hours(1)}};
    testing::Race race(seed);
    std::vector<std::future<Decision>> outcomes(200);
    for (auto& outcome : outcomes)
        race.add<Decision>(outcome, [&] { return limiter_.decide(policy, "shared"); });
    race.run(4);
    int allowed = 0;
    for (auto& outcome : outcomes)
        if (outcome.get().allowed) ++allowed;
    EXPECT_EQ(allowed, 100);
}

TEST_F(RedisLimiterTest, AGoneRedisIsLimiterUnavailable) {
    const Policy policy{"user", Rate{5, std::chrono::minutes(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "alice")).allowed);
    server_.kill();
    EXPECT_THROW(runToCompletion(limiter_.decide(policy, "alice")), LimiterUnavailable);
}

}  // namespace
}  // namespace rampart::ratelimit
