// The operational routes: /metrics is refused to remote clients (also through a trusted proxy) and
// /readyz reports an unreachable database, and an unreachable Redis when one is configured, as 503.
#include "api/system_routes.hpp"

#include <gtest/gtest.h>

#include "api/policy.hpp"
#include "app/config.hpp"
#include "http/pipeline.hpp"
#include "redis/client_host.hpp"
#include "testing/audit_key.hpp"
#include "testing/child_process.hpp"
#include "testing/pipeline_driver.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::api {
namespace {

class SystemRoutesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        config_.trustedProxies = {"10.0.0.1"};
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "t.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
        addSystemRoutes(router_, routeSettings(config_), *store_, metrics_);
        http::PipelineDeps deps;
        deps.policies = policyFor;
        pipeline_ =
            http::buildPipeline(pipelineSettings(config_), router_, httpMetrics_, nullptr, std::move(deps));
    }
    void TearDown() override { store_->close(); }

    http::Response get(const std::string& target, const std::string& peer,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
        http::Exchange ex;
        ex.request.method(http::Verb::get);
        ex.request.target(target);
        ex.request.version(11);
        ex.request.set("Host", "localhost");
        for (auto& [name, value] : headers) ex.request.set(name, value);
        ex.peer = boost::asio::ip::make_address(peer);
        rampart::testing::runThroughPipeline(*pipeline_, ex);
        return std::move(ex.response);
    }

    rampart::testing::TempDirectory dir_;
    Config config_;
    std::unique_ptr<store::Store> store_;
    obs::Metrics metrics_;
    obs::HttpMetrics httpMetrics_{metrics_};
    http::Router router_;
    std::unique_ptr<http::Pipeline> pipeline_;
};

TEST_F(SystemRoutesTest, MetricsOnlyForLoopbackClients) {
    EXPECT_EQ(get("/metrics", "127.0.0.1").result(), http::Status::ok);
    EXPECT_EQ(get("/metrics", "::1").result(), http::Status::ok);
    EXPECT_EQ(get("/metrics", "203.0.113.5").result(), http::Status::not_found);
    // A remote client cannot claim to be local through a header...
    EXPECT_EQ(get("/metrics", "203.0.113.5", {{"X-Forwarded-For", "127.0.0.1"}}).result(),
              http::Status::not_found);
    // ...and a trusted proxy in front of it passes on the real, remote client.
    EXPECT_EQ(get("/metrics", "10.0.0.1", {{"X-Forwarded-For", "203.0.113.5"}}).result(),
              http::Status::not_found);
}

TEST_F(SystemRoutesTest, ReadinessFollowsTheStore) {
    EXPECT_EQ(get("/readyz", "127.0.0.1").result(), http::Status::ok);
    EXPECT_EQ(get("/healthz", "203.0.113.5").result(), http::Status::ok);
    store_->close();
    auto notReady = get("/readyz", "127.0.0.1");
    EXPECT_EQ(notReady.result(), http::Status::service_unavailable);
    EXPECT_EQ(notReady[http::beast_http::field::content_type], "application/problem+json");
    EXPECT_EQ(get("/healthz", "127.0.0.1").result(), http::Status::ok)
        << "liveness does not depend on the store";
}

// With redis_url set, readiness reports Redis too; here nothing listens on its port. Only with
// rate_limits.fail_closed does a Redis outage make the node not ready: otherwise it limits in memory.
class SystemRoutesRedis : public ::testing::TestWithParam<bool> {};

TEST_P(SystemRoutesRedis, ReadinessNamesRedisWhenItDoesNotAnswer) {
    const bool failClosed = GetParam();
    rampart::testing::TempDirectory dir;
    Config config;
    config.rateLimits.failClosed = failClosed;
    auto store = store::openStore(SecretString("sqlite://" + (dir.path() / "t.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
    const auto url =
        redis::parseRedisUrl("redis://:pw@127.0.0.1:" + std::to_string(rampart::testing::probeFreePort()));
    redis::ClientHost redis(url, redis::ClientOptions{});
    obs::Metrics metrics;
    obs::HttpMetrics httpMetrics{metrics};
    http::Router router;
    addSystemRoutes(router, routeSettings(config), *store, metrics, &redis.client());
    http::PipelineDeps deps;
    deps.policies = policyFor;
    const auto pipeline =
        http::buildPipeline(pipelineSettings(config), router, httpMetrics, nullptr, std::move(deps));
    const auto get = [&](const std::string& target) {
        http::Exchange ex;
        ex.request.method(http::Verb::get);
        ex.request.target(target);
        ex.request.version(11);
        ex.request.set("Host", "localhost");
        ex.peer = boost::asio::ip::make_address("127.0.0.1");
        rampart::testing::runThroughPipeline(*pipeline, ex);
        return std::move(ex.response);
    };
    const auto redisDown = get("/readyz");
    if (failClosed) {
        EXPECT_EQ(redisDown.result(), http::Status::service_unavailable);
        EXPECT_NE(redisDown.body().find("redis is down"), std::string::npos) << redisDown.body();
    } else {
        EXPECT_EQ(redisDown.result(), http::Status::ok);
        EXPECT_NE(redisDown.body().find(R"("redis":"unreachable")"), std::string::npos) << redisDown.body();
    }
    EXPECT_EQ(redisDown.body().find(":pw@"), std::string::npos) << redisDown.body();
    EXPECT_EQ(get("/healthz").result(), http::Status::ok) << "liveness does not depend on Redis";
    store->close();
    const auto bothDown = get("/readyz");
    EXPECT_EQ(bothDown.result(), http::Status::service_unavailable);
    EXPECT_NE(bothDown.body().find(failClosed ? "store" : "database"), std::string::npos) << bothDown.body();
    if (failClosed) {
        EXPECT_NE(bothDown.body().find("redis"), std::string::npos) << bothDown.body();
    }
}

INSTANTIATE_TEST_SUITE_P(FailClosed, SystemRoutesRedis, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "FailClosed" : "FallBackToMemory"; });

}  // namespace
}  // namespace rampart::api
