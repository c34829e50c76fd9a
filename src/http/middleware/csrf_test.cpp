// The CSRF stage attacked: every way a cross-site request with the session cookie could try to pass
// (no token, wrong token, another session's token, foreign or null Origin, none at all), and the
// legitimate same-origin and allowed-origin requests that must.
#include "http/middleware/csrf.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "testing/auth_pipeline.hpp"

namespace rampart::http {
namespace {

using rampart::testing::Headers;

class CsrfTest : public rampart::testing::AuthPipelineTest {
  protected:
    static constexpr std::string_view kSession = "__Host-rampart_session=session-user";

    std::string tokenFor(std::string_view sessionId) const {
        return identity::CsrfKey(SecretString(std::string(kSecretKey))).tokenFor(sessionId);
    }

    // A state-changing request made with the session cookie, over TLS.
    Response post(Headers extra, bool tls = true, std::string peer = "192.0.2.10") {
        Headers headers = {{"Cookie", std::string(kSession)}};
        headers.insert(headers.end(), extra.begin(), extra.end());
        return send(Verb::post, "/api/v1/tokens", std::move(headers), tls, std::move(peer));
    }

    static void expectCsrfRefusal(const Response& r) {
        EXPECT_EQ(r.result(), Status::forbidden);
        auto body = boost::json::parse(r.body()).as_object();
        EXPECT_EQ(body.at("type").as_string(), "urn:rampart:problem:csrf-failed");
    }
};

TEST_F(CsrfTest, SessionPostWithoutTokenIsRefused) {
    expectCsrfRefusal(post({{"Origin", "https://api.example.com"}}));
}

TEST_F(CsrfTest, WrongTokenIsRefused) {
    expectCsrfRefusal(post({{"X-CSRF-Token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                            {"Origin", "https://api.example.com"}}));
    expectCsrfRefusal(post({{"X-CSRF-Token", ""}, {"Origin", "https://api.example.com"}}));
}

TEST_F(CsrfTest, TokenOfAnotherSessionIsRefused) {
    expectCsrfRefusal(
        post({{"X-CSRF-Token", tokenFor("session-other")}, {"Origin", "https://api.example.com"}}));
}

TEST_F(CsrfTest, TwoTokenHeadersAreRefused) {
    expectCsrfRefusal(post({{"X-CSRF-Token", tokenFor("session-user")},
                            {"X-CSRF-Token", tokenFor("session-user")},
                            {"Origin", "https://api.example.com"}}));
}

TEST_F(CsrfTest, RightTokenFromAForeignOriginIsRefused) {
    const std::string token = tokenFor("session-user");
    for (const std::string origin :
         {"https://evil.example", "null", "https://api.example.com:8443", "http://api.example.com",
          "https://api.example.com.evil.example", "https://app.example.com.evil.example"}) {
        SCOPED_TRACE(origin);
        expectCsrfRefusal(post({{"X-CSRF-Token", token}, {"Origin", origin}}));
    }
    // A same-origin Referer does not rescue a null Origin: Origin, when sent, is what counts.
    expectCsrfRefusal(
        post({{"X-CSRF-Token", token}, {"Origin", "null"}, {"Referer", "https://api.example.com/ui"}}));
    expectCsrfRefusal(post({{"X-CSRF-Token", token},
                            {"Origin", "https://api.example.com"},
                            {"Origin", "https://evil.example"}}));
}

TEST_F(CsrfTest, RightTokenWithoutOriginOrRefererIsRefused) {
    expectCsrfRefusal(post({{"X-CSRF-Token", tokenFor("session-user")}}));
}

TEST_F(CsrfTest, ForeignOrMalformedRefererIsRefused) {
    const std::string token = tokenFor("session-user");
    for (const std::string referer :
         {"https://evil.example/page", "https://api.example.com@evil.example/", "/relative/page",
          "ftp://api.example.com/", "http://api.example.com/"}) {
        SCOPED_TRACE(referer);
        expectCsrfRefusal(post({{"X-CSRF-Token", token}, {"Referer", referer}}));
    }
}

TEST_F(CsrfTest, RightTokenAndOwnOriginPasses) {
    const std::string token = tokenFor("session-user");
    EXPECT_EQ(post({{"X-CSRF-Token", token}, {"Origin", "https://api.example.com"}}).result(), Status::ok);
    // A default port in Host or Origin is the same origin.
    EXPECT_EQ(post({{"X-CSRF-Token", token}, {"Origin", "https://api.example.com:443"}}).result(),
              Status::ok);
    // Over plain HTTP, the own origin is http://.
    EXPECT_EQ(post({{"X-CSRF-Token", token}, {"Origin", "http://api.example.com"}}, false).result(),
              Status::ok);
    expectCsrfRefusal(post({{"X-CSRF-Token", token}, {"Origin", "https://api.example.com"}}, false));
}

TEST_F(CsrfTest, RightTokenAndOwnRefererPasses) {
    EXPECT_EQ(
        post({{"X-CSRF-Token", tokenFor("session-user")}, {"Referer", "https://api.example.com/ui/jobs?x=1"}})
            .result(),
        Status::ok);
}

TEST_F(CsrfTest, AllowlistedCorsOriginPasses) {
    EXPECT_EQ(
        post({{"X-CSRF-Token", tokenFor("session-user")}, {"Origin", "https://app.example.com"}}).result(),
        Status::ok);
}

TEST_F(CsrfTest, SchemeFromTrustedProxyOnly) {
    const std::string token = tokenFor("session-user");
    // TLS ended at the trusted proxy: the own origin is https.
    EXPECT_EQ(
        post({{"X-CSRF-Token", token}, {"Origin", "https://api.example.com"}, {"X-Forwarded-Proto", "https"}},
             false, "10.0.0.5")
            .result(),
        Status::ok);
    // Anyone else claiming https is not believed.
    expectCsrfRefusal(
        post({{"X-CSRF-Token", token}, {"Origin", "https://api.example.com"}, {"X-Forwarded-Proto", "https"}},
             false));
}

TEST_F(CsrfTest, SafeMethodsNeedNothing) {
    EXPECT_EQ(get("/api/v1/tokens", {{"Cookie", std::string(kSession)}}).result(), Status::ok);
    EXPECT_EQ(send(Verb::head, "/api/v1/tokens", {{"Cookie", std::string(kSession)}}).result(), Status::ok);
}

TEST_F(CsrfTest, BearerAndTokenRequestsNeedNothing) {
    EXPECT_EQ(send(Verb::post, "/api/v1/tokens", bearer("user-token")).result(), Status::ok);
    EXPECT_EQ(send(Verb::post, "/api/v1/tokens", {{"Authorization", "Token rmp_tokens"}, {"Origin", "null"}})
                  .result(),
              Status::ok);
}

TEST_F(CsrfTest, WithoutASecretKeySessionWritesAreRefused) {
    config_.secretKey = SecretString();
    expectCsrfRefusal(
        post({{"X-CSRF-Token", tokenFor("session-user")}, {"Origin", "https://api.example.com"}}));
}

TEST(CsrfOriginOf, TakesSchemeAndAuthorityOnly) {
    EXPECT_EQ(CsrfStage::originOf("https://API.example.com/a?b#c"), "https://api.example.com");
    EXPECT_EQ(CsrfStage::originOf("http://localhost:8080"), "http://localhost:8080");
    EXPECT_EQ(CsrfStage::originOf("https://api.example.com:443/"), "https://api.example.com");
    EXPECT_FALSE(CsrfStage::originOf("https://user@api.example.com/"));
    EXPECT_FALSE(CsrfStage::originOf("https:///path"));
    EXPECT_FALSE(CsrfStage::originOf("javascript:alert(1)"));
    EXPECT_FALSE(CsrfStage::originOf(""));
}

}  // namespace
}  // namespace rampart::http
