// Router matching, parameters, and refusal of targets that try to get around it.
#include "http/router.hpp"

#include <gtest/gtest.h>

#include "http/problem.hpp"

namespace rampart::http {
namespace {

Handler noop() {
    return [](Exchange&) -> boost::asio::awaitable<void> { co_return; };
}

Exchange matchTarget(const Router& router, Verb method, std::string target) {
    Exchange ex;
    ex.request.method(method);
    ex.request.target(target);
    router.match(ex);
    return ex;
}

class RouterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        router_.add({.method = Verb::get, .pattern = "/api/v1/jobs", .handler = noop()});
        router_.add(
            {.method = Verb::post, .pattern = "/api/v1/jobs", .handler = noop(), .maxBodyBytes = 4096});
        router_.add({.method = Verb::get, .pattern = "/api/v1/jobs/{id}", .handler = noop()});
        router_.add({.method = Verb::post, .pattern = "/api/v1/jobs/{id}/cancel", .handler = noop()});
    }
    Router router_;
};

TEST_F(RouterTest, MatchesLiteralAndParameterSegments) {
    auto ex = matchTarget(router_, Verb::get, "/api/v1/jobs/42?x=1");
    ASSERT_NE(ex.route, nullptr);
    EXPECT_EQ(ex.route->pattern, "/api/v1/jobs/{id}");
    EXPECT_EQ(ex.pathParam("id"), "42");
    EXPECT_EQ(ex.query, "x=1");
    EXPECT_EQ(ex.path, "/api/v1/jobs/42");
}

TEST_F(RouterTest, HeadUsesGetRoutes) {
    auto ex = matchTarget(router_, Verb::head, "/api/v1/jobs");
    ASSERT_NE(ex.route, nullptr);
    EXPECT_EQ(ex.route->method, Verb::get);
}

TEST_F(RouterTest, UnknownPathAndWrongMethod) {
    auto unknown = matchTarget(router_, Verb::get, "/api/v1/jobz");
    EXPECT_EQ(unknown.route, nullptr);
    EXPECT_EQ(unknown.routeTemplate, "unmatched");
    auto wrong = matchTarget(router_, Verb::delete_, "/api/v1/jobs/1");
    EXPECT_EQ(wrong.route, nullptr);
    EXPECT_EQ(wrong.routeTemplate, "/api/v1/jobs/{id}");
    EXPECT_EQ(router_.allowedMethods("/api/v1/jobs"), "GET, HEAD, POST");
    // Trailing slashes and empty parameters are different paths.
    EXPECT_EQ(matchTarget(router_, Verb::get, "/api/v1/jobs/").route, nullptr);
    EXPECT_EQ(matchTarget(router_, Verb::get, "/api/v1//jobs").route, nullptr);
}

TEST_F(RouterTest, RefusesTraversalEncodedSeparatorsAndNonOriginForm) {
    for (std::string target :
         {"/api/v1/jobs/../../etc/passwd", "/api/v1/jobs/.", "/api/v1/jobs/%2e%2e", "/api/v1/jobs/.%2E",
          "/api/v1/jobs/a%2Fb", "/api/v1/jobs/a%2fb", "/api/v1/jobs/a%5Cb", "/api/v1/jobs/a%00",
          "http://evil.com/api/v1/jobs", "*", "evil.com:443", "", "/api/v1/jobs/a b", "/api/v1/jobs/\x01",
          "/api/v1/jobs/\xC3\xA9", "/api/v1/jobs/\"x\""}) {
        EXPECT_THROW(matchTarget(router_, Verb::get, target), ApiError) << target;
    }
    // Past the segments the matcher looks at, traversal is refused all the same.
    std::string deep = "/api/v1/jobs";
    for (int i = 0; i < 40; ++i) deep += "/x";
    EXPECT_EQ(matchTarget(router_, Verb::get, deep).route, nullptr) << "more segments than any route: 404";
    EXPECT_THROW(matchTarget(router_, Verb::get, deep + "/../../etc/passwd"), ApiError);
    EXPECT_THROW(matchTarget(router_, Verb::get, deep + "/a%2fb"), ApiError);
    // A malformed escape in a parameter does not match, so it is a 404, never a crash.
    EXPECT_EQ(matchTarget(router_, Verb::get, "/api/v1/jobs/%zz").route, nullptr);
    EXPECT_EQ(matchTarget(router_, Verb::get, "/api/v1/jobs/%4").route, nullptr);
}

TEST_F(RouterTest, BodyLimitPerRoute) {
    Request header;
    header.method(Verb::post);
    header.target("/api/v1/jobs");
    EXPECT_EQ(router_.bodyLimit(header, 1000), 4096u);
    header.target("/api/v1/jobs/1/cancel");
    EXPECT_EQ(router_.bodyLimit(header, 1000), 1000u);
}

TEST_F(RouterTest, RefusesDuplicateAndMalformedPatterns) {
    EXPECT_THROW(router_.add({.method = Verb::get, .pattern = "/api/v1/jobs", .handler = noop()}),
                 std::invalid_argument);
    EXPECT_THROW(router_.add({.method = Verb::get, .pattern = "api", .handler = noop()}),
                 std::invalid_argument);
    std::string tooDeep;
    for (std::size_t i = 0; i <= Router::kMaxSegments; ++i) tooDeep += "/x";
    EXPECT_THROW(router_.add({.method = Verb::get, .pattern = tooDeep, .handler = noop()}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace rampart::http
