// Rate limits through the real binary: exactly the quota gets through when 200 connections arrive at
// once, the real login route is limited by address and by username (before any password is hashed),
// X-Forwarded-For counts only from a trusted proxy, and the headers and metrics are there.
#include <latch>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_client.hpp"
#include "harness.hpp"

namespace rampart::testing {
namespace {

using ::testing::HasSubstr;

class RateLimitTest : public ::testing::Test {
  protected:
    void start(Environment extra = {}) {
        Environment env = apiServerEnvironment(dir_);
        for (auto& [name, value] : extra) env[name] = value;
        server_.start({}, env);
    }

    std::string loginBody(std::string_view username, std::string_view password) {
        return boost::json::serialize(boost::json::object{{"username", username}, {"password", password}});
    }

    TempDir dir_;
    ServerProcess server_;
};

// 200 connections at once against a quota of 100 (the default anonymous limit is 100/hour): exactly
// 100 answers are 200 and 100 are 429. DRF's cache-based throttle lets bursts like this through.
TEST_F(RateLimitTest, TwoHundredConcurrentConnectionsAgainstAQuotaOf100Let100Through) {
    start();
    constexpr int kClients = 200;
    std::vector<Response> responses(kClients);
    std::latch ready(kClients);
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            ready.arrive_and_wait();
            responses[i] = request(server_.port(), "GET", "/openapi.json", {}, {}, {.timeout = 30s});
        });
    }
    for (auto& client : clients) client.join();
    int allowed = 0;
    int limited = 0;
    for (const auto& response : responses) {
        ASSERT_TRUE(response.error.empty()) << response.error;
        if (response.status == 200) ++allowed;
        if (response.status == 429) {
            ++limited;
            EXPECT_EQ(response.header("Content-Type"), "application/problem+json");
            EXPECT_TRUE(response.hasHeader("Retry-After"));
        }
    }
    EXPECT_EQ(allowed, 100);
    EXPECT_EQ(limited, 100);

    const auto metrics = request(server_.port(), "GET", "/metrics");
    EXPECT_THAT(metrics.body,
                HasSubstr("rampart_rate_limit_decisions_total{decision=\"allowed\",policy=\"anon\"} 100"));
    EXPECT_THAT(metrics.body,
                HasSubstr("rampart_rate_limit_decisions_total{decision=\"limited\",policy=\"anon\"} 100"));
    // Probes are never limited.
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

TEST_F(RateLimitTest, TheLoginRouteIsLimitedByUsernameAcrossAddressesBeforeAnyPasswordIsChecked) {
    // 127.0.0.1 plays the trusted proxy, so each request can come from another client address.
    start({{"RAMPART_TRUSTED_PROXIES", "127.0.0.1"}, {"RAMPART_RATE_LIMITS__SCOPES__LOGIN", "3/minute"}});
    auto attempt = [&](std::string_view username, std::string client, std::string_view password) {
        return apiCall(server_.port(), "POST", "/api/v1/auth/login", {}, loginBody(username, password),
                       {{"X-Forwarded-For", std::move(client)}});
    };
    EXPECT_EQ(attempt("admin", "198.51.100.1", "wrong password 1").status, 401);
    EXPECT_EQ(attempt("ADMIN", "198.51.100.2", "wrong password 2").status, 401);
    EXPECT_EQ(attempt("admin", "198.51.100.3", "wrong password 3").status, 401);
    // The fourth attempt on the account, from a fourth address, is refused, even with the right
    // password: the limit is checked before the password is.
    const auto refused = attempt("admin", "198.51.100.4", kAdminPassword);
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(refused.header("Content-Type"), "application/problem+json");
    EXPECT_THAT(refused.header("RateLimit").value_or(""), HasSubstr("\"login\";r=0"));
    const auto retryAfter = std::stoi(refused.header("Retry-After").value_or("0"));
    EXPECT_GE(retryAfter, 1);
    EXPECT_LE(retryAfter, 20);
    // Another account from that address is not affected.
    EXPECT_EQ(attempt("nobody-here", "198.51.100.4", "whatever it is").status, 401);
}

TEST_F(RateLimitTest, TheLoginRouteIsLimitedByAddressAcrossUsernamesAndXffFromAnUntrustedPeerIsIgnored) {
    start({{"RAMPART_RATE_LIMITS__SCOPES__LOGIN", "3/minute"}});
    // No trusted proxies: rotating X-Forwarded-For changes nothing, the peer is the key.
    for (int i = 0; i < 3; ++i) {
        const auto r = apiCall(server_.port(), "POST", "/api/v1/auth/login", {},
                               loginBody("user" + std::to_string(i), "not the password"),
                               {{"X-Forwarded-For", "203.0.113." + std::to_string(i)}});
        EXPECT_EQ(r.status, 401) << i;
    }
    const auto refused = apiCall(server_.port(), "POST", "/api/v1/auth/login", {},
                                 loginBody("admin", kAdminPassword), {{"X-Forwarded-For", "203.0.113.99"}});
    EXPECT_EQ(refused.status, 429);
}

TEST_F(RateLimitTest, AuthenticatedCallersAreCountedByUserAndSeeTheHeaders) {
    start({{"RAMPART_RATE_LIMITS__USER", "3/minute"}});
    const std::string token = adminAccessToken(server_.port());
    const auto first = apiCall(server_.port(), "GET", "/api/v1/me", token);
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.header("RateLimit-Policy"), "\"user\";q=3;w=60");
    EXPECT_EQ(first.header("RateLimit"), "\"user\";r=2;t=20");
    EXPECT_EQ(apiCall(server_.port(), "GET", "/api/v1/me", token).status, 200);
    EXPECT_EQ(apiCall(server_.port(), "GET", "/api/v1/me", token).status, 200);
    const auto refused = apiCall(server_.port(), "GET", "/api/v1/me", token);
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(refused.header("RateLimit-Policy"), "\"user\";q=3;w=60");
    // Anonymous requests from the same address have their own budget.
    EXPECT_EQ(request(server_.port(), "GET", "/openapi.json").status, 200);
}

TEST_F(RateLimitTest, ABadRateStopsTheStartWithAClearMessage) {
    Environment env = apiServerEnvironment(dir_);
    env["RAMPART_RATE_LIMITS__ANON"] = "100 per hour";
    EXPECT_THROW(server_.start({}, env, 5s), HarnessError);
    EXPECT_THAT(server_.stderrText(), HasSubstr("rate_limits.anon"));
    EXPECT_THAT(server_.stderrText(), HasSubstr("100/hour"));
}

}  // namespace
}  // namespace rampart::testing
