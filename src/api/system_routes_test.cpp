// The operational routes: /metrics is refused to remote clients (also through a trusted proxy) and
// /readyz reports an unreachable database as 503.
#include "api/system_routes.hpp"

#include <gtest/gtest.h>

#include "http/pipeline.hpp"
#include "testing/pipeline_driver.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::api {
namespace {

class SystemRoutesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        config_.trustedProxies = {"10.0.0.1"};
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "t.db").string()));
        addSystemRoutes(router_, config_, *store_, metrics_);
        pipeline_ = http::buildPipeline(config_, router_, httpMetrics_, nullptr);
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

}  // namespace
}  // namespace rampart::api
