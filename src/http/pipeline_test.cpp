// The pipeline end to end without sockets: each stage attacked through the ordered stage list.
#include "http/pipeline.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "app/config.hpp"
#include "http/problem.hpp"
#include "obs/metrics.hpp"
#include "store/store.hpp"
#include "testing/pipeline_driver.hpp"

namespace rampart::http {
namespace {

// A store failure that is not transient, as PostgreSQL's refusal of a statement is (pg::QueryError).
class RefusedStatement : public store::StoreUnavailable {
  public:
    using StoreUnavailable::StoreUnavailable;
    [[nodiscard]] bool transient() const noexcept override { return false; }
};

class PipelineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        config_.allowedHosts = {"api.example.com", ".tenant.example.com", "127.0.0.1"};
        config_.cors.allowedOrigins = {"https://app.example.com"};
        config_.trustedProxies = {"10.0.0.5"};
        router_.add({.method = Verb::get,
                     .pattern = "/api/v1/things/{id}",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         ex.response.result(Status::ok);
                         ex.response.body() = "thing " + std::string(ex.pathParam("id"));
                         co_return;
                     },
                     .summary = "one thing"});
        router_.add({.method = Verb::post,
                     .pattern = "/api/v1/things",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         ex.response.result(Status::created);
                         co_return;
                     },
                     .summary = "make a thing",
                     .jsonBody = true});
        router_.add({.method = Verb::get,
                     .pattern = "/cacheable",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         ex.response.result(Status::ok);
                         ex.response.set(beast_http::field::cache_control, "public, max-age=600");
                         ex.response.set("X-Frame-Options", "ALLOWALL");
                         co_return;
                     },
                     .summary = "tries to weaken the security headers"});
        router_.add({.method = Verb::get,
                     .pattern = "/boom",
                     .handler = [](Exchange&) -> boost::asio::awaitable<void> {
                         throw std::runtime_error("SELECT secret FROM users at /srv/rampart/src/x.cpp");
                         co_return;
                     },
                     .summary = "fails"});
        router_.add({.method = Verb::get,
                     .pattern = "/database-down",
                     .handler = [](Exchange&) -> boost::asio::awaitable<void> {
                         throw store::StoreUnavailable("connection to 10.0.0.9:5432 refused");
                         co_return;
                     },
                     .summary = "finds the database unreachable"});
        router_.add({.method = Verb::get,
                     .pattern = "/database-refuses",
                     .handler = [](Exchange&) -> boost::asio::awaitable<void> {
                         throw RefusedStatement(
                             "database error 42P01: relation \"secret_table\" does not exist");
                         co_return;
                     },
                     .summary = "sends the database a statement it refuses"});
    }

    Response send(Verb method, std::string target,
                  std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = {},
                  bool tls = false, std::string peer = "192.0.2.10",
                  std::shared_ptr<const ApiError> transportError = nullptr) {
        if (!pipeline_) {
            // These tests are about the stages before authorization, so every test route is public
            // here; the real policy table is attacked in middleware/authorization_test.cpp.
            PipelineDeps deps;
            deps.policies = [](Verb, std::string_view) {
                static const Policy open{.publicRoute = true};
                return &open;
            };
            pipeline_ =
                buildPipeline(pipelineSettings(config_), router_, httpMetrics_, nullptr, std::move(deps));
        }
        Exchange ex;
        ex.request.method(method);
        ex.request.target(target);
        ex.request.version(11);
        bool hostGiven = false;
        for (auto& [name, value] : headers) {
            if (name == "Host") hostGiven = true;
            ex.request.insert(name, value);
        }
        if (!hostGiven) ex.request.set("Host", "api.example.com");
        ex.request.body() = std::move(body);
        ex.tls = tls;
        ex.peer = boost::asio::ip::make_address(peer);
        ex.transportError = std::move(transportError);
        rampart::testing::runThroughPipeline(*pipeline_, ex);
        return std::move(ex.response);
    }

    static void expectSecurityHeaders(const Response& r) {
        EXPECT_EQ(r["Content-Security-Policy"].substr(0, 37), "default-src 'none'; frame-ancestors '");
        EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
        EXPECT_EQ(r["X-Frame-Options"], "DENY");
        EXPECT_EQ(r["Referrer-Policy"], "no-referrer");
        EXPECT_FALSE(r["Permissions-Policy"].empty());
        EXPECT_EQ(r["Cross-Origin-Opener-Policy"], "same-origin");
        EXPECT_EQ(r["Cache-Control"], "no-store");
        EXPECT_EQ(r.count(beast_http::field::server), 0u);
        EXPECT_FALSE(r["X-Request-ID"].empty());
    }

    Config config_;
    Router router_;
    obs::Metrics metrics_;
    obs::HttpMetrics httpMetrics_{metrics_};
    std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(PipelineTest, SuccessCarriesSecurityHeadersAndPathParameter) {
    auto r = send(Verb::get, "/api/v1/things/a%20b");
    EXPECT_EQ(r.result(), Status::ok);
    EXPECT_EQ(r.body(), "thing a b");
    expectSecurityHeaders(r);
    EXPECT_EQ(r.count(beast_http::field::strict_transport_security), 0u) << "no HSTS over plain HTTP";
}

TEST_F(PipelineTest, ErrorsAreProblemJsonWithSecurityHeaders) {
    for (auto [method, target, status] : std::vector<std::tuple<Verb, std::string, Status>>{
             {Verb::get, "/nope", Status::not_found},
             {Verb::delete_, "/api/v1/things/1", Status::method_not_allowed},
             {Verb::post, "/api/v1/things", Status::unsupported_media_type},
             {Verb::get, "/api/v1/things/..", Status::bad_request},
         }) {
        auto r = send(method, target);
        EXPECT_EQ(r.result(), status) << target;
        EXPECT_EQ(r[beast_http::field::content_type], "application/problem+json");
        expectSecurityHeaders(r);
        auto body = boost::json::parse(r.body()).as_object();
        EXPECT_EQ(body.at("status").as_int64(), static_cast<int>(status));
        EXPECT_TRUE(body.at("type").as_string().starts_with("urn:rampart:problem:"));
        EXPECT_FALSE(body.at("title").as_string().empty());
        EXPECT_EQ(body.at("instance").as_string(), "urn:rampart:request:" + std::string(r["X-Request-ID"]));
    }
}

TEST_F(PipelineTest, MethodNotAllowedListsAllowedMethods) {
    auto r = send(Verb::put, "/api/v1/things/1");
    EXPECT_EQ(r.result(), Status::method_not_allowed);
    EXPECT_EQ(r[beast_http::field::allow], "GET, HEAD");
}

TEST_F(PipelineTest, TransportErrorsAreAnsweredWithHeaders) {
    auto r = send(Verb::post, "/api/v1/things", {{"Content-Type", "application/json"}}, "", false,
                  "192.0.2.10", std::make_shared<ApiError>(ApiError::payloadTooLarge(1024)));
    EXPECT_EQ(r.result(), Status::payload_too_large);
    expectSecurityHeaders(r);
}

TEST_F(PipelineTest, JsonRoutesRequireJsonContentType) {
    EXPECT_EQ(send(Verb::post, "/api/v1/things", {{"Content-Type", "application/json"}}, "{}").result(),
              Status::created);
    EXPECT_EQ(send(Verb::post, "/api/v1/things", {{"Content-Type", "application/json; charset=utf-8"}}, "{}")
                  .result(),
              Status::created);
    EXPECT_EQ(send(Verb::post, "/api/v1/things", {{"Content-Type", "text/plain"}}, "{}").result(),
              Status::unsupported_media_type);
    EXPECT_EQ(send(Verb::post, "/api/v1/things", {{"Content-Type", "application/json; charset=latin1"}}, "{}")
                  .result(),
              Status::unsupported_media_type);
    EXPECT_EQ(send(Verb::post, "/api/v1/things", {{"Content-Type", "application/jsonp"}}, "{}").result(),
              Status::unsupported_media_type);
}

TEST_F(PipelineTest, HandlersCannotWeakenOrDuplicateSecurityHeaders) {
    auto r = send(Verb::get, "/cacheable");
    EXPECT_EQ(r.count(beast_http::field::cache_control), 1u);
    EXPECT_EQ(r[beast_http::field::cache_control], "no-store");
    EXPECT_EQ(r.count("X-Frame-Options"), 1u);
    EXPECT_EQ(r["X-Frame-Options"], "DENY");
}

TEST_F(PipelineTest, UnexpectedExceptionsLeakNothing) {
    auto r = send(Verb::get, "/boom");
    EXPECT_EQ(r.result(), Status::internal_server_error);
    EXPECT_EQ(r.body().find("SELECT"), std::string::npos);
    EXPECT_EQ(r.body().find("/srv"), std::string::npos);
    EXPECT_EQ(r.body().find(".cpp"), std::string::npos);
    expectSecurityHeaders(r);
}

TEST_F(PipelineTest, AnUnreachableDatabaseIsA503ThatSaysToTryAgain) {
    auto r = send(Verb::get, "/database-down");
    EXPECT_EQ(r.result(), Status::service_unavailable);
    EXPECT_EQ(r["Retry-After"], "1");
    EXPECT_EQ(r.body().find("10.0.0.9"), std::string::npos) << "the store's message stays in the log";
    expectSecurityHeaders(r);
}

// A statement the database refuses (our bug, a missing privilege) is no outage: 500, no Retry-After, and
// nothing of the message reaches the client.
TEST_F(PipelineTest, ARefusedStatementIs500NotAnOutage) {
    auto r = send(Verb::get, "/database-refuses");
    EXPECT_EQ(r.result(), Status::internal_server_error);
    EXPECT_EQ(r["Retry-After"], "");
    EXPECT_EQ(r.body().find("secret_table"), std::string::npos) << r.body();
    expectSecurityHeaders(r);
}

TEST_F(PipelineTest, HostAllowlist) {
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "api.example.com"}}).result(), Status::ok);
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "API.Example.COM:8443"}}).result(), Status::ok);
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "tenant.example.com"}}).result(), Status::ok);
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "a.b.tenant.example.com"}}).result(), Status::ok);
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "127.0.0.1:8080"}}).result(), Status::ok);
    for (std::string host : {"evil.com", "api.example.com.evil.com", "eviltenant.example.com", "example.com",
                             "api.example.com:80:80", "api.example.com:http", "api.example.com@evil.com",
                             "api.example.com/x", "[::1]", "", "api.example.com:", "api.example.com:123456",
                             "api.example.com:65536", "api.example.com:99999"}) {
        auto r = send(Verb::get, "/api/v1/things/1", {{"Host", host}});
        EXPECT_EQ(r.result(), Status::bad_request) << "Host: " << host;
        expectSecurityHeaders(r);
    }
    // Two Host headers could be read differently by a proxy and by us.
    EXPECT_EQ(
        send(Verb::get, "/api/v1/things/1", {{"Host", "api.example.com"}, {"Host", "evil.com"}}).result(),
        Status::bad_request);
}

TEST_F(PipelineTest, RequestIdKeptWhenWellFormedElseReplaced) {
    EXPECT_EQ(send(Verb::get, "/healthz", {{"X-Request-ID", "abc-123_x.y:z"}})["X-Request-ID"],
              "abc-123_x.y:z");
    // operator[] returns a view into the response, which dies with the statement: copy the value.
    const std::string replaced(
        send(Verb::get, "/healthz", {{"X-Request-ID", "<script>alert(1)</script>"}})["X-Request-ID"]);
    EXPECT_EQ(replaced.find('<'), std::string::npos);
    EXPECT_EQ(replaced.size(), 32u);
    const std::string tooLong(
        send(Verb::get, "/healthz", {{"X-Request-ID", std::string(200, 'a')}})["X-Request-ID"]);
    EXPECT_EQ(tooLong.size(), 32u);
    EXPECT_NE(send(Verb::get, "/healthz")["X-Request-ID"], send(Verb::get, "/healthz")["X-Request-ID"]);
}

TEST_F(PipelineTest, HstsOnlyOverTlsOrFromTrustedProxy) {
    auto overTls = send(Verb::get, "/api/v1/things/1", {}, {}, true);
    EXPECT_EQ(overTls[beast_http::field::strict_transport_security], "max-age=31536000; includeSubDomains");
    auto viaProxy =
        send(Verb::get, "/api/v1/things/1", {{"X-Forwarded-Proto", "https"}}, {}, false, "10.0.0.5");
    EXPECT_EQ(viaProxy.count(beast_http::field::strict_transport_security), 1u);
    auto forged =
        send(Verb::get, "/api/v1/things/1", {{"X-Forwarded-Proto", "https"}}, {}, false, "192.0.2.66");
    EXPECT_EQ(forged.count(beast_http::field::strict_transport_security), 0u);
}

TEST_F(PipelineTest, HttpsRedirectWhenTlsRequired) {
    config_.requireTls = true;
    auto r = send(Verb::post, "/api/v1/things?x=1", {{"Host", "api.example.com:8080"}}, "{}");
    EXPECT_EQ(r.result(), Status::permanent_redirect);
    EXPECT_EQ(r[beast_http::field::location], "https://api.example.com/api/v1/things?x=1");
    expectSecurityHeaders(r);
    // A client cannot skip the redirect by claiming a proxy said https.
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"X-Forwarded-Proto", "https"}}).result(),
              Status::permanent_redirect);
    EXPECT_EQ(
        send(Verb::get, "/api/v1/things/1", {{"X-Forwarded-Proto", "https"}}, {}, false, "10.0.0.5").result(),
        Status::ok);
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {}, {}, true).result(), Status::ok);
    // The redirect never points at a host outside the allowlist.
    EXPECT_EQ(send(Verb::get, "/api/v1/things/1", {{"Host", "evil.com"}}).result(), Status::bad_request);
}

TEST_F(PipelineTest, CorsAllowsListedOriginOnly) {
    auto allowed = send(Verb::get, "/api/v1/things/1", {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(allowed[beast_http::field::access_control_allow_origin], "https://app.example.com");
    EXPECT_EQ(allowed[beast_http::field::vary], "Origin");
    for (std::string origin : {"https://evil.com", "null", "https://app.example.com.evil.com",
                               "http://app.example.com", "https://app.example.com:444", "*"}) {
        auto r = send(Verb::get, "/api/v1/things/1", {{"Origin", origin}});
        EXPECT_EQ(r.count(beast_http::field::access_control_allow_origin), 0u) << origin;
        EXPECT_EQ(r.count(beast_http::field::access_control_allow_credentials), 0u) << origin;
    }
}

TEST_F(PipelineTest, CorsPreflight) {
    auto ok = send(Verb::options, "/api/v1/things",
                   {{"Origin", "https://app.example.com"},
                    {"Access-Control-Request-Method", "POST"},
                    {"Access-Control-Request-Headers", "content-type, authorization"}});
    EXPECT_EQ(ok.result(), Status::no_content);
    EXPECT_EQ(ok[beast_http::field::access_control_allow_origin], "https://app.example.com");
    EXPECT_EQ(ok[beast_http::field::access_control_allow_methods], "POST");
    expectSecurityHeaders(ok);

    auto badOrigin = send(Verb::options, "/api/v1/things",
                          {{"Origin", "https://evil.com"}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(badOrigin.result(), Status::forbidden);
    EXPECT_EQ(badOrigin.count(beast_http::field::access_control_allow_origin), 0u);

    auto badMethod =
        send(Verb::options, "/api/v1/things",
             {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "DELETE"}});
    EXPECT_EQ(badMethod.result(), Status::forbidden);

    auto badHeader = send(Verb::options, "/api/v1/things",
                          {{"Origin", "https://app.example.com"},
                           {"Access-Control-Request-Method", "POST"},
                           {"Access-Control-Request-Headers", "x-evil"}});
    EXPECT_EQ(badHeader.result(), Status::forbidden);
}

TEST_F(PipelineTest, MetricsCountByRouteTemplateNotRawPath) {
    send(Verb::get, "/api/v1/things/secret-token-in-path");
    send(Verb::get, "/nope/other-secret");
    auto text = metrics_.render();
    EXPECT_NE(text.find(R"(route="/api/v1/things/{id}")"), std::string::npos);
    EXPECT_NE(text.find(R"(route="unmatched")"), std::string::npos);
    EXPECT_EQ(text.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace rampart::http
