// The authentication stage attacked: malformed and ambiguous credentials, refused tokens, stale and
// duplicated session cookies, and the cookie strings the login handler will send.
#include "http/middleware/authentication.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "testing/auth_pipeline.hpp"

namespace rampart::http {
namespace {

using rampart::testing::Headers;

using ::testing::HasSubstr;
using ::testing::Not;
using Scheme = identity::PresentedCredential::Scheme;

class AuthenticationTest : public rampart::testing::AuthPipelineTest {
  protected:
    // The problem document without its instance (the request id differs per request).
    static std::string bodyWithoutInstance(const Response& r) {
        auto body = boost::json::parse(r.body()).as_object();
        body.erase("instance");
        return boost::json::serialize(body);
    }
};

TEST_F(AuthenticationTest, BadCredentialsAreOneAndTheSame401) {
    const std::vector<std::pair<std::string, Headers>> attempts = {
        {"no credential", {}},
        {"unknown token", {{"Authorization", "Bearer not-a-known-token"}}},
        {"Basic scheme", {{"Authorization", "Basic dXNlcjpwYXNz"}}},
        {"two headers", {{"Authorization", "Bearer user-token"}, {"Authorization", "Bearer user-token"}}},
        {"Bearer without value", {{"Authorization", "Bearer"}}},
        {"Bearer and a space", {{"Authorization", "Bearer "}}},
        {"two spaces", {{"Authorization", "Bearer  user-token"}}},
        {"trailing garbage", {{"Authorization", "Bearer user-token extra"}}},
        {"comma list", {{"Authorization", "Bearer user-token, Bearer admin-token"}}},
        {"empty header", {{"Authorization", ""}}},
        {"scheme only differs by prefix", {{"Authorization", "Bearerx user-token"}}},
        {"non-token68 characters", {{"Authorization", "Bearer user\"token"}}},
    };
    std::string firstBody;
    for (const auto& [what, headers] : attempts) {
        SCOPED_TRACE(what);
        auto r = get("/api/v1/me", headers);
        EXPECT_EQ(r.result(), Status::unauthorized);
        EXPECT_EQ(r[beast_http::field::content_type], "application/problem+json");
        EXPECT_THAT(std::string(r[beast_http::field::www_authenticate]),
                    HasSubstr(R"(Bearer realm="rampart")"));
        const std::string body = bodyWithoutInstance(r);
        EXPECT_THAT(body, HasSubstr("urn:rampart:problem:unauthorized"));
        EXPECT_THAT(body, Not(HasSubstr("unknown_token")));  // the reason never reaches the client
        if (firstBody.empty()) firstBody = body;
        EXPECT_EQ(body, firstBody);
    }
    // Only the well-formed single header was ever handed to the authenticator.
    for (const auto& [scheme, value] : authenticator_.calls) EXPECT_EQ(value, "not-a-known-token");
}

TEST_F(AuthenticationTest, RefusedCredentialSaysInvalidToken) {
    auto refused = get("/api/v1/me", bearer("expired-or-unknown"));
    EXPECT_EQ(refused[beast_http::field::www_authenticate],
              R"(Bearer realm="rampart", error="invalid_token")");
}

TEST_F(AuthenticationTest, BadAuthorizationIsRefusedEvenOnPublicRoutes) {
    EXPECT_EQ(get("/healthz").result(), Status::ok);
    EXPECT_EQ(get("/healthz", bearer("forged")).result(), Status::unauthorized);
}

TEST_F(AuthenticationTest, BearerAndTokenSchemesInAnyCase) {
    EXPECT_EQ(get("/api/v1/me", {{"Authorization", "Bearer user-token"}}).result(), Status::ok);
    EXPECT_EQ(get("/api/v1/me", {{"Authorization", "bearer user-token"}}).result(), Status::ok);
    EXPECT_EQ(get("/api/v1/me", {{"Authorization", "Token rmp_tokens"}}).result(), Status::ok);
    EXPECT_EQ(get("/api/v1/me", {{"Authorization", "TOKEN rmp_tokens"}}).result(), Status::ok);
    ASSERT_EQ(authenticator_.calls.size(), 4u);
    EXPECT_EQ(authenticator_.calls[0].first, Scheme::bearer);
    EXPECT_EQ(authenticator_.calls[2].first, Scheme::token);
    EXPECT_EQ(authenticator_.calls[2].second, "rmp_tokens");
}

TEST_F(AuthenticationTest, AuthorizationHeaderWinsOverTheCookie) {
    // A good cookie does not rescue a bad header...
    auto r = get("/api/v1/me",
                 {{"Authorization", "Bearer forged"}, {"Cookie", "__Host-rampart_session=session-user"}});
    EXPECT_EQ(r.result(), Status::unauthorized);
    // ...and with a good header the cookie is not even looked at.
    authenticator_.calls.clear();
    get("/api/v1/me",
        {{"Authorization", "Bearer user-token"}, {"Cookie", "__Host-rampart_session=session-user"}});
    ASSERT_EQ(authenticator_.calls.size(), 1u);
    EXPECT_EQ(authenticator_.calls[0].first, Scheme::bearer);
}

TEST_F(AuthenticationTest, SessionCookieAuthenticates) {
    auto r = get("/api/v1/me", {{"Cookie", "theme=dark; __Host-rampart_session=session-user; lang=en"}});
    EXPECT_EQ(r.result(), Status::ok);
    EXPECT_EQ(r.count(beast_http::field::set_cookie), 0u);
    ASSERT_EQ(authenticator_.calls.size(), 1u);
    EXPECT_EQ(authenticator_.calls[0].first, Scheme::sessionCookie);
    EXPECT_EQ(authenticator_.calls[0].second, "session-user");
    // With secure cookies on, the unprefixed name is somebody else's cookie.
    EXPECT_EQ(get("/api/v1/me", {{"Cookie", "rampart_session=session-user"}}).result(), Status::unauthorized);
}

TEST_F(AuthenticationTest, StaleCookieOnLoginPassesAsAnonymousAndIsCleared) {
    auto r = send(Verb::post, "/api/v1/auth/login", {{"Cookie", "__Host-rampart_session=long-expired"}});
    EXPECT_EQ(r.result(), Status::ok);
    EXPECT_EQ(r.body(), "POST /api/v1/auth/login");
    EXPECT_EQ(r[beast_http::field::set_cookie], sessionClearCookie(true));
    EXPECT_THAT(std::string(r[beast_http::field::set_cookie]), HasSubstr("Max-Age=0"));
}

TEST_F(AuthenticationTest, StaleCookieIsClearedOnErrorResponsesToo) {
    auto r = get("/api/v1/me", {{"Cookie", "__Host-rampart_session=long-expired"}});
    EXPECT_EQ(r.result(), Status::unauthorized);
    EXPECT_EQ(r[beast_http::field::set_cookie], sessionClearCookie(true));
}

TEST_F(AuthenticationTest, ClearingDoesNotUndoTheNewSessionOfALogin) {
    handlers_["POST /api/v1/auth/login"] = [](Exchange& ex) -> boost::asio::awaitable<void> {
        ex.response.result(Status::ok);
        ex.response.insert(beast_http::field::set_cookie,
                           sessionSetCookie("fresh-session", std::chrono::seconds(28800), true));
        co_return;
    };
    auto r = send(Verb::post, "/api/v1/auth/login", {{"Cookie", "__Host-rampart_session=long-expired"}});
    EXPECT_EQ(r.result(), Status::ok);
    EXPECT_EQ(r.count(beast_http::field::set_cookie), 1u);
    EXPECT_THAT(std::string(r[beast_http::field::set_cookie]), HasSubstr("=fresh-session;"));
}

TEST_F(AuthenticationTest, DuplicatedOrMalformedSessionCookieIsNeverUsed) {
    for (const Headers& headers : std::vector<Headers>{
             {{"Cookie", "__Host-rampart_session=session-user; __Host-rampart_session=session-other"}},
             {{"Cookie", "__Host-rampart_session=session-user"}, {"Cookie", "__Host-rampart_session=x"}},
             {{"Cookie", "__Host-rampart_session=session-user; __Host-rampart_session=session-user"}},
             {{"Cookie", "__Host-rampart_session="}},
             {{"Cookie", "__Host-rampart_session=\"session-user\""}},
             {{"Cookie", "__Host-rampart_session =session-user"}},
             {{"Cookie", "__Host-rampart_session"}},
         }) {
        SCOPED_TRACE(headers.front().second);
        authenticator_.calls.clear();
        auto r = get("/api/v1/me", headers);
        EXPECT_EQ(r.result(), Status::unauthorized);
        EXPECT_TRUE(authenticator_.calls.empty()) << "an ambiguous cookie reached the authenticator";
        EXPECT_EQ(r[beast_http::field::set_cookie], sessionClearCookie(true));
    }
}

TEST_F(AuthenticationTest, WithoutAnAuthenticatorEveryCredentialIsRefused) {
    PipelineDeps deps;  // no authenticator
    deps.policies = api::policyFor;
    addPolicyRoutes();
    auto pipeline = buildPipeline(pipelineSettings(config_), router_, httpMetrics_, nullptr, std::move(deps));
    auto run = [&](std::string target, Headers headers) {
        Exchange ex;
        ex.request.method(Verb::get);
        ex.request.target(target);
        ex.request.version(11);
        ex.request.set("Host", "api.example.com");
        for (auto& [name, value] : headers) ex.request.insert(name, value);
        ex.peer = boost::asio::ip::make_address("192.0.2.10");
        rampart::testing::runThroughPipeline(*pipeline, ex);
        return ex.response.result();
    };
    EXPECT_EQ(run("/api/v1/users", bearer("admin-token")), Status::unauthorized);
    EXPECT_EQ(run("/api/v1/me", {{"Cookie", "__Host-rampart_session=session-user"}}), Status::unauthorized);
    EXPECT_EQ(run("/healthz", {}), Status::ok);
}

TEST(SessionCookies, AttributesAndNames) {
    EXPECT_EQ(sessionCookieName(true), "__Host-rampart_session");
    EXPECT_EQ(sessionCookieName(false), "rampart_session");
    EXPECT_EQ(sessionSetCookie("abc_DEF-123", std::chrono::seconds(3600), true),
              "__Host-rampart_session=abc_DEF-123; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict; Secure");
    const std::string plain = sessionSetCookie("abc", std::chrono::seconds(60), false);
    EXPECT_TRUE(plain.starts_with("rampart_session=abc;"));
    EXPECT_THAT(plain, Not(HasSubstr("Secure")));
    EXPECT_THAT(plain, HasSubstr("HttpOnly"));
    EXPECT_THAT(plain, HasSubstr("SameSite=Strict"));
    for (bool secure : {true, false}) {
        const std::string clear = sessionClearCookie(secure);
        EXPECT_TRUE(clear.starts_with(std::string(sessionCookieName(secure)) + "=;"));
        EXPECT_THAT(clear, HasSubstr("Max-Age=0"));
        EXPECT_THAT(clear, HasSubstr("Path=/"));
        EXPECT_THAT(clear, Not(HasSubstr("Domain")));
        EXPECT_EQ(clear.find("Secure") != std::string::npos, secure);
    }
    // Header injection through the value is impossible.
    EXPECT_THROW((void)sessionSetCookie("a; Domain=evil.example", std::chrono::seconds(60), true),
                 std::invalid_argument);
    EXPECT_THROW((void)sessionSetCookie("a\r\nSet-Cookie: x=y", std::chrono::seconds(60), true),
                 std::invalid_argument);
    EXPECT_THROW((void)sessionSetCookie("", std::chrono::seconds(60), true), std::invalid_argument);
    EXPECT_THROW((void)sessionSetCookie("a", std::chrono::seconds(-1), true), std::invalid_argument);
}

TEST(SessionCookies, FindStrictly) {
    Request request;
    request.insert(beast_http::field::cookie, "a=1; __Host-rampart_session=s1;b=2");
    auto found = findSessionCookie(request, true);
    EXPECT_EQ(found.state, SessionCookie::State::present);
    EXPECT_EQ(found.value, "s1");
    EXPECT_EQ(findSessionCookie(request, false).state, SessionCookie::State::absent);
    request.insert(beast_http::field::cookie, "__Host-rampart_session=s2");
    found = findSessionCookie(request, true);
    EXPECT_EQ(found.state, SessionCookie::State::invalid);
    EXPECT_TRUE(found.value.empty());
}

}  // namespace
}  // namespace rampart::http
