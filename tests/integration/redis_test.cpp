// The binary with RAMPART_REDIS_URL pointing at a real Redis (src/testing/redis_server.hpp): with
// rate_limits.fail_closed /readyz follows Redis down and back up; without it a node stays ready (it limits
// in memory meanwhile) and says Redis is unreachable; the server's log never holds Redis's password. Every
// test here runs as the ACL user docs/deployment-cluster.md gives operators, and the first checks that
// the document and the tests say the same.
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "api_client.hpp"
#include "testing/redis_server.hpp"

namespace rampart::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    for (const auto deadline = Clock::now() + limit; Clock::now() < deadline;) {
        if (done()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

TEST(RedisAcl, TheDocumentedRedisSettingsAreTheOnesTheTestsRunUnder) {
    std::ifstream file(std::string(RAMPART_SOURCE_DIR) + "/docs/deployment-cluster.md");
    ASSERT_TRUE(file) << "docs/deployment-cluster.md";
    std::stringstream text;
    text << file.rdbuf();
    const std::string doc = text.str();
    const std::string userLine = "user rampart on >REPLACE-WITH-A-LONG-RANDOM-PASSWORD ";
    const auto at = doc.find(userLine);
    ASSERT_NE(at, std::string::npos) << "the documented ACL user line is gone";
    const auto rules = doc.substr(at + userLine.size(), doc.find('\n', at) - at - userLine.size());
    EXPECT_EQ(rules, RedisServer::kUserRules) << "the documented rules differ from the tested ones";
    for (const char* line : {"\n  protected-mode yes\n", "\n  user default off\n", "\n  bind "})
        EXPECT_NE(doc.find(line), std::string::npos) << line;
}

TEST(RedisReadiness, FailClosedReadyzFollowsRedisDownAndBackUp) {
    RedisServer redis;
    ServerProcess server;
    server.start({}, {{"RAMPART_REDIS_URL", redis.url()},
                      {"RAMPART_RATE_LIMITS__FAIL_CLOSED", "true"},
                      {"RAMPART_LOG_LEVEL", "debug"}});

    const auto ready = request(server.port(), "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_NE(ready.body.find(R"("redis":"ok")"), std::string::npos) << ready.body;

    redis.kill();
    const auto down = request(server.port(), "GET", "/readyz");
    EXPECT_EQ(down.status, 503) << down.body;
    EXPECT_NE(down.body.find("redis is down"), std::string::npos) << down.body;
    EXPECT_EQ(request(server.port(), "GET", "/healthz").status, 200) << "liveness does not depend on Redis";

    redis.start();
    // The client retries after its back-off (5 s at most).
    EXPECT_TRUE(waitFor([&] { return request(server.port(), "GET", "/readyz").status == 200; }, 20s))
        << "/readyz did not recover after Redis came back";

    server.stop();
    const std::string log = server.stdoutText() + server.stderrText();
    EXPECT_NE(log.find("rampart:***@127.0.0.1"), std::string::npos) << "the redacted URL is logged";
    expectNoSecretsIn(server, {redis.userPassword(), redis.defaultPassword()});
}

// The default (fall back to memory): Redis down does not take the node out of a load balancer.
TEST(RedisReadiness, WithTheFallbackANodeStaysReadyAndSaysRedisIsUnreachable) {
    RedisServer redis;
    ServerProcess server;
    server.start({}, {{"RAMPART_REDIS_URL", redis.url()}});
    redis.kill();
    const auto degraded = request(server.port(), "GET", "/readyz");
    EXPECT_EQ(degraded.status, 200) << degraded.body;
    EXPECT_NE(degraded.body.find(R"("redis":"unreachable")"), std::string::npos) << degraded.body;
    redis.start();
    EXPECT_TRUE(waitFor(
        [&] {
            return request(server.port(), "GET", "/readyz").body.find(R"("redis":"ok")") != std::string::npos;
        },
        20s))
        << "/readyz did not report Redis again after it came back";
}

TEST(RedisReadiness, AWrongPasswordIsNotReadyAndNeverLogged) {
    RedisServer redis;
    const std::string wrongPassword = "WrongRedisPassword-0123456789";
    ServerProcess server;
    server.start({}, {{"RAMPART_REDIS_URL",
                       "redis://rampart:" + wrongPassword + "@127.0.0.1:" + std::to_string(redis.port())},
                      {"RAMPART_RATE_LIMITS__FAIL_CLOSED", "true"},
                      {"RAMPART_LOG_LEVEL", "debug"}});
    const auto refused = request(server.port(), "GET", "/readyz");
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.body.find(wrongPassword), std::string::npos);
    server.stop();
    const std::string log = server.stdoutText() + server.stderrText();
    EXPECT_NE(log.find("WRONGPASS"), std::string::npos) << "the refusal is logged";
    expectNoSecretsIn(server, {wrongPassword, redis.userPassword(), redis.defaultPassword()});
}

}  // namespace
}  // namespace rampart::testing
