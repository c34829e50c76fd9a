// The rate-limit stage in the real pipeline: which key is counted (user, service token, client address
// as only trusted proxies may report it), the login scope by address and by username, the headers of
// the ratelimit-headers draft, the 429 and its Retry-After, exempt routes, metrics and fail-closed.
#include "http/middleware/rate_limit.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "ratelimit/memory_limiter.hpp"
#include "testing/auth_pipeline.hpp"

namespace rampart::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::Headers;

class RateLimitTest : public testing::AuthPipelineTest {
  protected:
    RateLimitTest() {
        auto route = [this](Verb method, std::string pattern, std::string scope = {}) {
            router_.add({.method = method,
                         .pattern = std::move(pattern),
                         .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                             ex.response.result(Status::ok);
                             co_return;
                         },
                         .rateLimitScope = std::move(scope)});
        };
        route(Verb::get, "/api/v1/me");
        route(Verb::get, "/openapi.json");
        route(Verb::post, "/api/v1/jobs", std::string(kJobsSubmitScope));
        router_.add({.method = Verb::get,
                     .pattern = "/healthz",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         ex.response.result(Status::ok);
                         co_return;
                     },
                     .rateLimited = false});
        // As the real login route does: the address budget is spent by the stage, the username's here.
        router_.add({.method = Verb::post,
                     .pattern = "/api/v1/auth/login",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         std::string key = "n:" + ex.request.body();
                         co_await limitScope(ex, kLoginScope, key);
                         ex.response.result(Status::ok);
                     },
                     .jsonBody = true,
                     .rateLimitScope = std::string(kLoginScope)});
        config_.rateLimits.anon = ratelimit::parseRate("1000/hour");
        config_.rateLimits.user = ratelimit::parseRate("1000/hour");
        config_.rateLimits.login = std::nullopt;
        config_.rateLimits.jobsSubmit = std::nullopt;
    }

    // Builds the pipeline on first use, with the fake clock, and the metrics counted.
    void build(std::shared_ptr<ratelimit::RateLimiter> limiter = nullptr) {
        if (pipeline_) return;
        PipelineDeps deps;
        deps.authenticator = &authenticator_;
        deps.rateLimiter = limiter ? std::move(limiter)
                                   : std::make_shared<ratelimit::MemoryLimiter>(
                                         ratelimit::MemoryLimiterOptions{.clock = [this] { return now_; }});
        deps.rateLimitMetrics = &rateLimitMetrics_;
        deps.policies = api::policyFor;
        pipeline_ = buildPipeline(pipelineSettings(config_), router_, httpMetrics_, nullptr, std::move(deps));
    }

    Response call(Verb method, std::string target, Headers headers = {}, std::string peer = "192.0.2.10",
                  std::string body = {}) {
        build();
        Exchange ex;
        ex.request.method(method);
        ex.request.target(target);
        ex.request.version(11);
        ex.request.set("Host", "api.example.com");
        for (auto& [name, value] : headers) ex.request.insert(name, value);
        ex.request.body() = std::move(body);
        ex.request.prepare_payload();
        ex.peer = boost::asio::ip::make_address(peer);
        testing::runThroughPipeline(*pipeline_, ex);
        return std::move(ex.response);
    }

    Response anonymous(std::string peer, Headers headers = {}) {
        return call(Verb::get, "/openapi.json", std::move(headers), std::move(peer));
    }

    Response login(std::string username, std::string peer) {
        return call(Verb::post, "/api/v1/auth/login", {{"Content-Type", "application/json"}}, std::move(peer),
                    std::move(username));
    }

    static std::string field(const Response& response, std::string_view name) {
        return std::string(response[name]);
    }

    std::int64_t now_ = 1'000'000'000'000;
    obs::RateLimitMetrics rateLimitMetrics_{metrics_};
};

TEST_F(RateLimitTest, HeadersFollowTheDraftOnEveryLimitedResponse) {
    config_.rateLimits.user = ratelimit::parseRate("3/minute");
    auto first = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(first.result(), Status::ok);
    EXPECT_EQ(field(first, "RateLimit-Policy"), "\"user\";q=3;w=60");
    EXPECT_EQ(field(first, "RateLimit"), "\"user\";r=2;t=20");
    auto second = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(field(second, "RateLimit"), "\"user\";r=1;t=40");
    now_ += 1'000'000'000;  // a second later: t is rounded up to whole seconds
    auto third = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(field(third, "RateLimit"), "\"user\";r=0;t=59");
}

TEST_F(RateLimitTest, RefusedIs429ProblemWithRetryAfter) {
    config_.rateLimits.user = ratelimit::parseRate("3/minute");
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    now_ += 4'500'000'000;  // 4.5 s into the 20 s interval
    auto refused = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(refused.result(), Status::too_many_requests);
    EXPECT_EQ(field(refused, "Content-Type"), "application/problem+json");
    EXPECT_EQ(field(refused, "Retry-After"), "16");  // 15.5 s, rounded up
    EXPECT_EQ(field(refused, "RateLimit-Policy"), "\"user\";q=3;w=60");
    EXPECT_EQ(field(refused, "RateLimit"), "\"user\";r=0;t=56");
    const auto body = boost::json::parse(refused.body()).as_object();
    EXPECT_EQ(body.at("type").as_string(), "urn:rampart:problem:rate-limited");
    EXPECT_EQ(body.at("status").as_int64(), 429);
    EXPECT_THAT(std::string(body.at("detail").as_string()), HasSubstr("3/minute"));
    // Waiting what Retry-After said is enough.
    now_ += 16'000'000'000;
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
}

TEST_F(RateLimitTest, UsersAreCountedApartFromEachOtherAndFromTheirAddress) {
    config_.rateLimits.user = ratelimit::parseRate("2/minute");
    config_.rateLimits.anon = ratelimit::parseRate("2/minute");
    for (int i = 0; i < 2; ++i)
        ASSERT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::too_many_requests);
    // The same user with another credential (a session, an API token) is the same user.
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("rmp_jobs_only")).result(), Status::too_many_requests);
    // Another user from the same address has a budget of their own, and so does the address itself.
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("auditor-token")).result(), Status::ok);
    EXPECT_EQ(anonymous("192.0.2.10").result(), Status::ok);
}

TEST_F(RateLimitTest, SpoofedForwardedForFromAnUntrustedPeerDoesNotChangeTheKey) {
    config_.rateLimits.anon = ratelimit::parseRate("2/minute");
    EXPECT_EQ(anonymous("192.0.2.10", {{"X-Forwarded-For", "198.51.100.1"}}).result(), Status::ok);
    EXPECT_EQ(anonymous("192.0.2.10", {{"X-Forwarded-For", "198.51.100.2"}}).result(), Status::ok);
    // Rotating X-Forwarded-For (or Forwarded) gives no fresh budget: the peer is the key.
    for (const auto& spoof : std::vector<Headers>{{{"X-Forwarded-For", "198.51.100.3"}},
                                                  {{"Forwarded", "for=198.51.100.4"}},
                                                  {{"X-Forwarded-For", "10.0.0.5, 198.51.100.5"}},
                                                  {{"X-Real-IP", "198.51.100.6"}},
                                                  {}}) {
        auto refused = anonymous("192.0.2.10", spoof);
        EXPECT_EQ(refused.result(), Status::too_many_requests);
        EXPECT_EQ(field(refused, "RateLimit-Policy"), "\"anon\";q=2;w=60");
    }
    // Another peer is another client.
    EXPECT_EQ(anonymous("192.0.2.11").result(), Status::ok);
}

TEST_F(RateLimitTest, TrustedProxyForwardedForIsTheKey) {
    config_.rateLimits.anon = ratelimit::parseRate("1/minute");
    // 10.0.0.5 is the trusted proxy: the client it reports is counted, not the proxy.
    EXPECT_EQ(anonymous("10.0.0.5", {{"X-Forwarded-For", "198.51.100.1"}}).result(), Status::ok);
    EXPECT_EQ(anonymous("10.0.0.5", {{"X-Forwarded-For", "198.51.100.2"}}).result(), Status::ok);
    EXPECT_EQ(anonymous("10.0.0.5", {{"X-Forwarded-For", "198.51.100.1"}}).result(),
              Status::too_many_requests);
    // A client that prepends its own guess still ends up as the address the proxy saw.
    EXPECT_EQ(anonymous("10.0.0.5", {{"X-Forwarded-For", "203.0.113.9, 198.51.100.2"}}).result(),
              Status::too_many_requests);
    // The same client reaching us directly is the same address.
    EXPECT_EQ(anonymous("198.51.100.1").result(), Status::too_many_requests);
}

TEST_F(RateLimitTest, AnIpv6ClientCannotRotateThroughItsOwnSlash64) {
    config_.rateLimits.anon = ratelimit::parseRate("2/minute");
    EXPECT_EQ(anonymous("2001:db8:1:2::1").result(), Status::ok);
    EXPECT_EQ(anonymous("2001:db8:1:2::ffff").result(), Status::ok);
    EXPECT_EQ(anonymous("2001:db8:1:2:abcd:1234:5678:9abc").result(), Status::too_many_requests);
    EXPECT_EQ(anonymous("2001:db8:1:3::1").result(), Status::ok);
    // An IPv4 client seen as a v4-mapped address is the same IPv4 client.
    EXPECT_EQ(anonymous("192.0.2.50").result(), Status::ok);
    EXPECT_EQ(anonymous("192.0.2.50").result(), Status::ok);
    EXPECT_EQ(anonymous("::ffff:192.0.2.50").result(), Status::too_many_requests);
}

TEST_F(RateLimitTest, ApiTokenOverrideReplacesTheUserLimitForThatTokenOnly) {
    config_.rateLimits.user = ratelimit::parseRate("1/minute");
    config_.rateLimits.tokens = {{"cred-u-user", ratelimit::parseRate("5/minute")}};
    for (int i = 0; i < 5; ++i) {
        auto allowed = call(Verb::get, "/api/v1/me", bearer("rmp_jobs_only"));
        ASSERT_EQ(allowed.result(), Status::ok) << i;
        EXPECT_EQ(field(allowed, "RateLimit-Policy"), "\"token\";q=5;w=60");
    }
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("rmp_jobs_only")).result(), Status::too_many_requests);
    // The user's other credentials keep the user limit: an access token whose credential id happens to
    // match gets nothing (overrides name API tokens only).
    auto user = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(field(user, "RateLimit-Policy"), "\"user\";q=1;w=60");
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::too_many_requests);
    // Another user's API token is not the overridden one.
    auto other = call(Verb::get, "/api/v1/me", bearer("rmp_admin_users"));
    EXPECT_EQ(field(other, "RateLimit-Policy"), "\"user\";q=1;w=60");
}

TEST_F(RateLimitTest, WorkerAccountsAreCountedUnderTheWorkerPolicyNotTheUserOne) {
    config_.rateLimits.user = ratelimit::parseRate("1/minute");
    config_.rateLimits.worker = ratelimit::parseRate("3/second");
    // A worker spends its own policy: the user limit (used up here by a person) does not throttle it.
    ASSERT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::too_many_requests);
    for (int i = 0; i < 3; ++i) {
        auto allowed = call(Verb::get, "/api/v1/me", bearer("worker-token"));
        ASSERT_EQ(allowed.result(), Status::ok) << i;
        EXPECT_EQ(field(allowed, "RateLimit-Policy"), "\"worker\";q=3;w=1");
    }
    // ... and it is a limit: the fourth request within the second is refused, under its own name.
    auto refused = call(Verb::get, "/api/v1/me", bearer("worker-token"));
    EXPECT_EQ(refused.result(), Status::too_many_requests);
    EXPECT_EQ(field(refused, "RateLimit-Policy"), "\"worker\";q=3;w=1");
    now_ += 1'000'000'000;
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("worker-token")).result(), Status::ok);
    // Off: a worker account has no limit of its own (the user limit does not come back either).
    config_.rateLimits.worker = std::nullopt;
    pipeline_.reset();
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(call(Verb::get, "/api/v1/me", bearer("worker-token")).result(), Status::ok);
}

TEST_F(RateLimitTest, LoginScopeCountsTheUsernameAcrossAddresses) {
    config_.rateLimits.login = ratelimit::parseRate("3/minute");
    EXPECT_EQ(login("alice", "192.0.2.1").result(), Status::ok);
    EXPECT_EQ(login("alice", "192.0.2.2").result(), Status::ok);
    EXPECT_EQ(login("alice", "192.0.2.3").result(), Status::ok);
    auto refused = login("alice", "192.0.2.4");
    EXPECT_EQ(refused.result(), Status::too_many_requests);
    // One item per policy name: the tighter of the address's and the username's login budgets.
    EXPECT_EQ(field(refused, "RateLimit-Policy"), "\"anon\";q=1000;w=3600, \"login\";q=3;w=60");
    EXPECT_THAT(field(refused, "RateLimit"), HasSubstr("\"login\";r=0;t=60"));
    // Other accounts from those addresses are unaffected.
    EXPECT_EQ(login("bob", "192.0.2.4").result(), Status::ok);
}

TEST_F(RateLimitTest, LoginScopeCountsTheAddressAcrossUsernames) {
    config_.rateLimits.login = ratelimit::parseRate("3/minute");
    EXPECT_EQ(login("u1", "192.0.2.9").result(), Status::ok);
    EXPECT_EQ(login("u2", "192.0.2.9").result(), Status::ok);
    EXPECT_EQ(login("u3", "192.0.2.9").result(), Status::ok);
    EXPECT_EQ(login("u4", "192.0.2.9").result(), Status::too_many_requests);
    EXPECT_EQ(login("u4", "192.0.2.8").result(), Status::ok);
}

TEST_F(RateLimitTest, JobsSubmitScopeIsPerUserAndOnlyOnItsRoutes) {
    config_.rateLimits.jobsSubmit = ratelimit::parseRate("2/minute");
    for (int i = 0; i < 2; ++i)
        ASSERT_EQ(call(Verb::post, "/api/v1/jobs", bearer("user-token")).result(), Status::ok);
    auto refused = call(Verb::post, "/api/v1/jobs", bearer("user-token"));
    EXPECT_EQ(refused.result(), Status::too_many_requests);
    EXPECT_EQ(field(refused, "RateLimit-Policy"), "\"user\";q=1000;w=3600, \"jobs.submit\";q=2;w=60");
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::post, "/api/v1/jobs", bearer("admin-token")).result(), Status::ok);
}

TEST_F(RateLimitTest, GlobalLimitCoversEveryCaller) {
    config_.rateLimits.global = ratelimit::parseRate("3/minute");
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("auditor-token")).result(), Status::ok);
    EXPECT_EQ(anonymous("192.0.2.77").result(), Status::ok);
    auto refused = anonymous("192.0.2.78");
    EXPECT_EQ(refused.result(), Status::too_many_requests);
    EXPECT_THAT(field(refused, "RateLimit-Policy"), HasSubstr("\"global\";q=3;w=60"));
}

TEST_F(RateLimitTest, ACallerRefusedByItsOwnLimitDoesNotSpendTheGlobalOne) {
    config_.rateLimits.user = ratelimit::parseRate("1/minute");
    config_.rateLimits.global = ratelimit::parseRate("3/minute");
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    for (int i = 0; i < 50; ++i)
        ASSERT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::too_many_requests);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("auditor-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("worker-token")).result(), Status::ok);
}

TEST_F(RateLimitTest, ExemptRoutesAreNeitherLimitedNorLabelled) {
    config_.rateLimits.anon = ratelimit::parseRate("1/minute");
    for (int i = 0; i < 10; ++i) {
        auto probe = call(Verb::get, "/healthz");
        ASSERT_EQ(probe.result(), Status::ok);
        EXPECT_EQ(field(probe, "RateLimit"), "");
    }
}

TEST_F(RateLimitTest, ErrorResponsesBelowCarryTheHeadersToo) {
    auto missing = call(Verb::get, "/api/v1/nothing-here");
    EXPECT_EQ(missing.result(), Status::not_found);  // no route: not limited
    EXPECT_EQ(field(missing, "RateLimit"), "");
    auto forbidden = call(Verb::post, "/api/v1/jobs", bearer("auditor-token"));
    EXPECT_EQ(forbidden.result(), Status::forbidden);
    EXPECT_EQ(field(forbidden, "RateLimit-Policy"), "\"user\";q=1000;w=3600");
    auto unauthenticated = call(Verb::get, "/api/v1/me");
    EXPECT_EQ(unauthenticated.result(), Status::unauthorized);
    EXPECT_EQ(field(unauthenticated, "RateLimit"), "\"anon\";r=999;t=4");
}

TEST_F(RateLimitTest, DisabledMeansNoStage) {
    config_.rateLimits.enabled = false;
    config_.rateLimits.anon = ratelimit::parseRate("1/minute");
    for (int i = 0; i < 5; ++i) {
        auto response = anonymous("192.0.2.10");
        ASSERT_EQ(response.result(), Status::ok);
        EXPECT_EQ(field(response, "RateLimit"), "");
    }
}

TEST_F(RateLimitTest, DecisionsAreCountedPerPolicy) {
    config_.rateLimits.anon = ratelimit::parseRate("2/minute");
    for (int i = 0; i < 5; ++i) anonymous("192.0.2.10");
    const std::string text = metrics_.render();
    EXPECT_THAT(text,
                HasSubstr("rampart_rate_limit_decisions_total{decision=\"allowed\",policy=\"anon\"} 2"));
    EXPECT_THAT(text,
                HasSubstr("rampart_rate_limit_decisions_total{decision=\"limited\",policy=\"anon\"} 3"));
}

// Guessing tokens: a refused Authorization header is counted against the address before its 401, on
// every route (a 401 from a probe answers "is this token good?" as well as any other route does), in
// every form (unknown token, malformed header, two headers), and a good token is not affected.
TEST_F(RateLimitTest, RefusedCredentialsSpendTheAddressBudgetBeforeThe401) {
    config_.rateLimits.anon = ratelimit::parseRate("3/hour");
    const std::vector<std::pair<Verb, std::string>> targets = {
        {Verb::get, "/healthz"}, {Verb::get, "/api/v1/me"}, {Verb::get, "/openapi.json"}};
    EXPECT_EQ(call(Verb::get, "/healthz", bearer("guess-1")).result(), Status::unauthorized);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", {{"Authorization", "Basic Z3Vlc3M="}}).result(),
              Status::unauthorized);
    auto third =
        call(Verb::get, "/openapi.json", {{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}});
    EXPECT_EQ(third.result(), Status::unauthorized);
    EXPECT_EQ(field(third, "RateLimit"), "\"anon\";r=0;t=3600");
    for (const auto& [method, target] : targets) {
        auto refused = call(method, target, bearer("guess-n"));
        EXPECT_EQ(refused.result(), Status::too_many_requests) << target;
        EXPECT_NE(field(refused, "Retry-After"), "") << target;
    }
    // Another address has its own budget; a good token is counted under its user, not the address.
    EXPECT_EQ(call(Verb::get, "/healthz", bearer("guess-2"), "192.0.2.11").result(), Status::unauthorized);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(call(Verb::get, "/healthz").result(), Status::ok) << "probes without a credential stay free";
    EXPECT_THAT(metrics_.render(),
                HasSubstr("rampart_rate_limit_decisions_total{decision=\"limited\",policy=\"anon\"} 3"));
}

TEST_F(RateLimitTest, WithoutRateLimitsARefusedCredentialIsStillA401) {
    config_.rateLimits.enabled = false;
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(call(Verb::get, "/healthz", bearer("guess")).result(), Status::unauthorized);
    EXPECT_EQ(call(Verb::get, "/api/v1/me", bearer("user-token")).result(), Status::ok);
}

// A backend that cannot decide, as the Redis limiter with fail_closed is while Redis is down.
class UnavailableLimiter : public ratelimit::RateLimiter {
  public:
    std::optional<ratelimit::Decision> tryDecide(const ratelimit::Policy&, std::string_view) override {
        return std::nullopt;
    }
    boost::asio::awaitable<ratelimit::Decision> decide(const ratelimit::Policy&, std::string_view,
                                                       const obs::Span&) override {
        throw ratelimit::LimiterUnavailable("redis: connection refused");
        co_return ratelimit::Decision{};
    }
};

TEST_F(RateLimitTest, AnUnavailableBackendIs503NotAFreePass) {
    build(std::make_shared<UnavailableLimiter>());
    auto refused = call(Verb::get, "/api/v1/me", bearer("user-token"));
    EXPECT_EQ(refused.result(), Status::service_unavailable);
    EXPECT_EQ(field(refused, "Content-Type"), "application/problem+json");
    EXPECT_EQ(field(refused, "Retry-After"), "1");
    EXPECT_THAT(refused.body(), ::testing::Not(HasSubstr("connection refused")));
}

}  // namespace
}  // namespace rampart::http
