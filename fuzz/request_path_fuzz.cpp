// libFuzzer target for the request path: raw bytes -> Beast's parser -> router -> the whole pipeline.
// Invariants: no crash, no exception escapes, every answer is < 500 and carries the security headers.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/policy.hpp"
#include "app/config.hpp"
#include "http/pipeline.hpp"
#include "http/problem.hpp"
#include "obs/metrics.hpp"

namespace {

using namespace rampart;

struct Fixture {
    Config config;
    http::Router router;
    obs::Metrics metrics;
    obs::HttpMetrics httpMetrics{metrics};
    std::unique_ptr<http::Pipeline> pipeline;

    Fixture() {
        config.cors.allowedOrigins = {"https://app.example.com"};
        config.trustedProxies = {"10.0.0.0/8"};
        auto handler = [](http::Exchange& ex) -> boost::asio::awaitable<void> {
            ex.response.result(http::Status::ok);
            ex.response.body() = std::string(ex.pathParam("id"));
            co_return;
        };
        router.add({.method = http::Verb::get, .pattern = "/healthz", .handler = handler});
        router.add({.method = http::Verb::get, .pattern = "/api/v1/jobs/{id}", .handler = handler});
        router.add({.method = http::Verb::post,
                    .pattern = "/api/v1/jobs",
                    .handler = handler,
                    .jsonBody = true,
                    .maxBodyBytes = 4096});
        // Every route public, so fuzzed requests reach the handlers: authentication still parses every
        // Authorization and Cookie header on the way (and refuses them: there is no authenticator).
        http::PipelineDeps deps;
        deps.policies = [](http::Verb, std::string_view) {
            static const http::Policy open{.publicRoute = true};
            return &open;
        };
        pipeline =
            http::buildPipeline(pipelineSettings(config), router, httpMetrics, nullptr, std::move(deps));
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fixture;
    namespace beast_http = boost::beast::http;
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    parser.eager(true);
    boost::system::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(data, size), ec);
    (void)used;

    http::Exchange ex;
    ex.peer = boost::asio::ip::make_address(size % 2 ? "10.1.2.3" : "192.0.2.1");
    if (ec && ec != beast_http::error::need_more) {
        ex.transportError =
            std::make_shared<http::ApiError>(http::ApiError::badRequest("The request could not be parsed."));
    }
    ex.request = parser.release();
    if (!ex.transportError) {
        try {
            fixture.router.match(ex);
        } catch (const http::ApiError& error) {
            ex.transportError = std::make_shared<http::ApiError>(error);
        }
    }
    boost::asio::io_context io;
    bool finished = false;
    boost::asio::co_spawn(io, fixture.pipeline->run(ex), [&](std::exception_ptr failure) {
        if (failure) std::abort();  // the pipeline must never let an exception escape
        finished = true;
    });
    io.run();
    if (!finished) std::abort();
    if (ex.response.result_int() >= 500 || ex.response.result_int() < 100) std::abort();
    if (ex.fixedHeaders.find("X-Content-Type-Options: nosniff\r\n") == std::string_view::npos) std::abort();
    if (ex.fixedHeaders.find("Content-Security-Policy: default-src 'none'") == std::string_view::npos)
        std::abort();
    return 0;
}
