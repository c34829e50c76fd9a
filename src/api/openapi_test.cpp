// The OpenAPI document must describe every route the server answers, with its path parameters.
#include "api/openapi.hpp"

#include <gtest/gtest.h>

#include "api/system_routes.hpp"
#include "app/config.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::api {
namespace {

TEST(OpenApi, DescribesEveryRouteOfTheServer) {
    rampart::testing::TempDirectory dir;
    auto store = store::openStore(SecretString("sqlite://" + (dir.path() / "t.db").string()));
    Config config;
    obs::Metrics metrics;
    http::Router router;
    addSystemRoutes(router, routeSettings(config), *store, metrics);
    // A parameterised route, like the v1 API's /api/v1/jobs/{id}/cancel.
    router.add({.method = http::Verb::post,
                .pattern = "/api/v1/jobs/{id}/cancel",
                .handler = [](http::Exchange&) -> boost::asio::awaitable<void> { co_return; },
                .summary = "cancel",
                .jsonBody = true});

    auto document = buildOpenApi(router);
    EXPECT_EQ(document.at("openapi").as_string(), "3.1.0");
    const auto& paths = document.at("paths").as_object();
    ASSERT_FALSE(router.routes().empty());
    for (const auto& route : router.routes()) {
        std::string method(http::beast_http::to_string(route.method));
        for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ASSERT_TRUE(paths.contains(route.pattern))
            << route.pattern << " is missing from the OpenAPI document";
        ASSERT_TRUE(paths.at(route.pattern).as_object().contains(method)) << method << " " << route.pattern;
        const auto& operation = paths.at(route.pattern).at(method).as_object();
        EXPECT_FALSE(operation.at("summary").as_string().empty()) << route.pattern << " has no summary";
    }
    const auto& cancel = paths.at("/api/v1/jobs/{id}/cancel").at("post").as_object();
    // Limited routes document the 429 and its headers; probes are not limited.
    const auto& limited = cancel.at("responses").as_object();
    ASSERT_TRUE(limited.contains("429"));
    EXPECT_TRUE(limited.at("429").at("headers").as_object().contains("Retry-After"));
    EXPECT_TRUE(limited.at("429").at("headers").as_object().contains("RateLimit"));
    EXPECT_FALSE(paths.at("/healthz").at("get").at("responses").as_object().contains("429"));
    EXPECT_EQ(cancel.at("parameters").as_array().at(0).at("name").as_string(), "id");
    EXPECT_TRUE(cancel.contains("requestBody"));
    store->close();
}

}  // namespace
}  // namespace rampart::api
