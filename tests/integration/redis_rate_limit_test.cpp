// Rate limits shared through a real Redis by two Rampart processes, and what happens when Redis dies
// mid-test: the default falls back to each process's memory (metric and warning), fail_closed answers 503.
#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_client.hpp"
#include "harness.hpp"
#include "testing/redis_server.hpp"

namespace rampart::testing {
namespace {

using ::testing::HasSubstr;

int countStatus(std::uint16_t port, int requests, int status) {
    int count = 0;
    for (int i = 0; i < requests; ++i)
        if (request(port, "GET", "/openapi.json").status == status) ++count;
    return count;
}

TEST(SharedRateLimitTest, TwoProcessesShareOneLimitThroughRedisAndFallBackWhenItDies) {
    RedisServer redis;
    Environment env = {{"RAMPART_REDIS_URL", redis.url()}, {"RAMPART_RATE_LIMITS__ANON", "10/hour"}};
    ServerProcess a;
    ServerProcess b;
    a.start({}, env);
    b.start({}, env);

    // One budget of 10 for 127.0.0.1, whichever process answers.
    const int allowedA = countStatus(a.port(), 6, 200);
    const int allowedB = countStatus(b.port(), 6, 200);
    EXPECT_EQ(allowedA, 6);
    EXPECT_EQ(allowedB, 4);
    EXPECT_EQ(request(a.port(), "GET", "/openapi.json").status, 429);

    // Redis dies: each process limits in memory on its own (a fresh budget of 10 each), says so in a
    // metric and a warning, and goes on serving.
    redis.kill();
    EXPECT_EQ(countStatus(a.port(), 12, 200), 10);
    const auto metrics = request(a.port(), "GET", "/metrics");
    EXPECT_THAT(metrics.body, HasSubstr("rampart_rate_limit_fallback_active 1"));
    EXPECT_THAT(metrics.body, HasSubstr("rampart_rate_limit_backend_failures_total{outcome=\"fallback\"}"));
    EXPECT_THAT(a.stderrText(), HasSubstr("the shared limiter (Redis) is unreachable"));
    EXPECT_EQ(a.stderrText().find(redis.userPassword()), std::string::npos);
}

// The same sharing over rediss:// with the test CA, as a cluster across machines is deployed.
TEST(SharedRateLimitTest, TwoProcessesShareOneLimitOverTls) {
    RedisServerOptions options;
    options.tls = true;
    RedisServer redis(options);
    ASSERT_TRUE(redis.url().starts_with("rediss://")) << redis.url();
    Environment env = {{"RAMPART_REDIS_URL", redis.url()},
                       {"RAMPART_REDIS_CA_FILE", redis.caPath().string()},
                       {"RAMPART_RATE_LIMITS__ANON", "10/hour"}};
    ServerProcess a;
    ServerProcess b;
    a.start({}, env);
    b.start({}, env);
    EXPECT_EQ(countStatus(a.port(), 6, 200), 6);
    EXPECT_EQ(countStatus(b.port(), 6, 200), 4);
    const auto metrics = request(a.port(), "GET", "/metrics");
    EXPECT_THAT(metrics.body, HasSubstr("rampart_rate_limit_fallback_active 0"));
}

TEST(SharedRateLimitTest, FailClosedAnswers503WhileRedisIsDown) {
    RedisServer redis;
    ServerProcess server;
    server.start({}, {{"RAMPART_REDIS_URL", redis.url()}, {"RAMPART_RATE_LIMITS__FAIL_CLOSED", "true"}});
    EXPECT_EQ(request(server.port(), "GET", "/openapi.json").status, 200);
    redis.kill();
    const auto refused = request(server.port(), "GET", "/openapi.json");
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(refused.header("Content-Type"), "application/problem+json");
    EXPECT_EQ(refused.header("Retry-After"), "1");
    // Probes are not limited, so they still answer.
    EXPECT_EQ(request(server.port(), "GET", "/healthz").status, 200);
    // Redis back: served again.
    redis.start();
    // The client's back-off (up to 5 s) and the limiter's own (1 s) pass first.
    bool served = false;
    for (int i = 0; i < 200 && !served; ++i) {
        served = request(server.port(), "GET", "/openapi.json").status == 200;
        if (!served) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(served);
}

}  // namespace
}  // namespace rampart::testing
