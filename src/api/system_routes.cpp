// Liveness, readiness, metrics and the API description. /metrics answers loopback clients only unless
// metrics_public is set: it describes traffic, which is nobody else's business.
#include "api/system_routes.hpp"

#include <boost/json/serialize.hpp>

#include "api/openapi.hpp"
#include "http/problem.hpp"

namespace rampart::api {

namespace {

void json(http::Exchange& ex, std::string body) {
    ex.response.result(http::Status::ok);
    ex.response.set(http::beast_http::field::content_type, "application/json");
    ex.response.body() = std::move(body);
}

}  // namespace

void addSystemRoutes(http::Router& router, const RouteSettings& settings, store::Store& store,
                     obs::Metrics& metrics, redis::Client* redis) {
    router.add({.method = http::Verb::get,
                .pattern = "/healthz",
                .handler = [](http::Exchange& ex) -> boost::asio::awaitable<void> {
                    json(ex, R"({"status":"ok"})");
                    co_return;
                },
                .summary = "Liveness: the process is up and serving",
                // Probes and scrapes come often from one address; limiting them would fail a healthy node.
                .rateLimited = false,
                .operationId = "getHealth",
                .answers = {answer(200, "Serving", "Health")}});

    router.add(
        {.method = http::Verb::get,
         .pattern = "/readyz",
         // Redis only carries the rate limits: while it is down a node still serves (each deciding
         // limits in its own memory), so it stays ready unless rate_limits.fail_closed makes it
         // refuse limited requests. Taking every node out of the load balancer at once would turn
         // a Redis outage into a full one.
         .handler = [&store, redis, redisRequired = settings.redisRequired](
                        http::Exchange& ex) -> boost::asio::awaitable<void> {
             bool storeReady = false;
             try {
                 storeReady = co_await store.ping();
             } catch (const std::exception&) {
                 storeReady = false;
             }
             bool redisReady = true;
             if (redis != nullptr) redisReady = co_await redis->ping();  // never throws
             if (!storeReady && !redisReady && redisRequired)
                 throw http::ApiError::serviceUnavailable(
                     "Not ready: the database (store) and redis are down.");
             if (!storeReady) throw http::ApiError::serviceUnavailable("The database is not reachable.");
             if (!redisReady && redisRequired)
                 throw http::ApiError::serviceUnavailable(
                     "Not ready: redis is down and rate_limits.fail_closed is set.");
             if (redis == nullptr) {
                 json(ex, R"({"status":"ready","checks":{"store":"ok"}})");
             } else if (redisReady) {
                 json(ex, R"({"status":"ready","checks":{"store":"ok","redis":"ok"}})");
             } else {
                 json(ex,
                      R"({"status":"ready","checks":{"store":"ok","redis":"unreachable"},)"
                      R"("note":"rate limits are decided by each process on its own until redis answers"})");
             }
         },
         .summary = "Readiness: the database answers (and Redis, when redis_url and rate_limits.fail_closed "
                    "are set)",
         .rateLimited = false,
         .operationId = "getReadiness",
         .answers = {answer(200, "Ready to serve", "Readiness"),
                     problemAnswer(503, "Not ready: the database (or a required Redis) does not answer")}});

    router.add({.method = http::Verb::get,
                .pattern = "/metrics",
                .handler = [&metrics, open = settings.metricsPublic](
                               http::Exchange& ex) -> boost::asio::awaitable<void> {
                    if (!open && !ex.client.is_loopback()) throw http::ApiError::notFound();
                    ex.response.result(http::Status::ok);
                    ex.response.set(http::beast_http::field::content_type,
                                    "text/plain; version=0.0.4; charset=utf-8");
                    ex.response.body() = metrics.render();
                    co_return;
                },
                .summary = "Prometheus metrics (loopback clients only unless metrics_public)",
                .rateLimited = false,
                .operationId = "getMetrics",
                .answers = {http::RouteAnswer{.status = 200,
                                              .description = "The metrics",
                                              .schema = "MetricsText",
                                              .mediaType = "text/plain"},
                            problemAnswer(404, "Not a loopback client, and metrics_public is off")}});

    // The document describes the table as it is once start-up registered every route; built on first
    // use so it includes routes added after this one.
    auto document = std::make_shared<std::string>();
    auto once = std::make_shared<std::once_flag>();
    router.add({.method = http::Verb::get,
                .pattern = "/openapi.json",
                .handler = [&router, document, once, secureCookies = settings.secureCookies](
                               http::Exchange& ex) -> boost::asio::awaitable<void> {
                    std::call_once(*once, [&] {
                        *document = boost::json::serialize(buildOpenApi(router, secureCookies));
                    });
                    json(ex, *document);
                    co_return;
                },
                .summary = "The OpenAPI 3.1 description of this API",
                .operationId = "getOpenApi",
                .answers = {answer(200, "This document", "OpenApiDocument")}});
}

}  // namespace rampart::api
