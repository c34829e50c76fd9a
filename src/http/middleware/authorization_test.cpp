// The authorization stage attacked through the real policy table: wrong roles, missing scopes, API
// tokens on interactive-only routes, admins without TOTP, routes without a policy; and every denial
// lands in the real audit log without a credential in it.
#include "http/middleware/authorization.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "store/store.hpp"
#include "testing/audit_key.hpp"
#include "testing/auth_pipeline.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::http {
namespace {

using rampart::testing::Headers;

using ::testing::HasSubstr;
using ::testing::Not;

class AuthorizationTest : public rampart::testing::AuthPipelineTest {
  protected:
    static std::string slugOf(const Response& r) {
        return std::string(boost::json::parse(r.body()).as_object().at("type").as_string());
    }
    void expectForbidden(Verb method, std::string target, Headers headers,
                         std::string_view slug = "forbidden") {
        SCOPED_TRACE(std::string(beast_http::to_string(method)) + " " + target);
        auto r = send(method, std::move(target), std::move(headers));
        EXPECT_EQ(r.result(), Status::forbidden);
        EXPECT_EQ(slugOf(r), "urn:rampart:problem:" + std::string(slug));
    }
    void expectOk(Verb method, std::string target, Headers headers) {
        SCOPED_TRACE(std::string(beast_http::to_string(method)) + " " + target);
        EXPECT_EQ(send(method, std::move(target), std::move(headers)).result(), Status::ok);
    }
};

TEST_F(AuthorizationTest, PublicRoutesNeedNoCredential) {
    for (const char* target : {"/healthz", "/openapi.json", "/.well-known/jwks.json"})
        expectOk(Verb::get, target, {});
    expectOk(Verb::post, "/api/v1/auth/login", {});
    expectOk(Verb::post, "/api/v1/auth/refresh", {});
}

TEST_F(AuthorizationTest, ProtectedRouteWithoutCredentialIs401WithChallenge) {
    for (const char* target : {"/api/v1/me", "/api/v1/users", "/api/v1/audit", "/api/v1/tokens"}) {
        SCOPED_TRACE(target);
        auto r = get(target);
        EXPECT_EQ(r.result(), Status::unauthorized);
        EXPECT_EQ(r[beast_http::field::www_authenticate], R"(Bearer realm="rampart")");
    }
}

TEST_F(AuthorizationTest, RolesAreEnforced) {
    expectForbidden(Verb::get, "/api/v1/users", bearer("user-token"));
    expectForbidden(Verb::post, "/api/v1/users", bearer("auditor-token"));
    expectForbidden(Verb::patch, "/api/v1/users/42", bearer("user-token"));
    expectForbidden(Verb::post, "/api/v1/users/42/revoke-credentials", bearer("worker-token"));
    expectForbidden(Verb::get, "/api/v1/audit", bearer("worker-token"));
    expectForbidden(Verb::get, "/api/v1/audit", bearer("user-token"));
    // HEAD reaches the GET route and its policy; it is no way around it.
    EXPECT_EQ(send(Verb::head, "/api/v1/users", bearer("user-token")).result(), Status::forbidden);

    expectOk(Verb::get, "/api/v1/audit", bearer("auditor-token"));
    expectOk(Verb::get, "/api/v1/audit", bearer("admin-token"));
    expectOk(Verb::post, "/api/v1/users", bearer("admin-token"));
    for (const char* token : {"admin-token", "user-token", "auditor-token", "worker-token"})
        expectOk(Verb::get, "/api/v1/me", bearer(token));
}

TEST_F(AuthorizationTest, ApiTokenNeedsTheScope) {
    expectForbidden(Verb::get, "/api/v1/tokens", bearer("rmp_jobs_only"));
    expectForbidden(Verb::delete_, "/api/v1/tokens/7", {{"Authorization", "Token rmp_jobs_only"}});
    expectOk(Verb::get, "/api/v1/tokens", bearer("rmp_tokens"));
    // An admin's token with users scopes reads users but not the audit log, whatever the role allows.
    expectOk(Verb::get, "/api/v1/users/1", bearer("rmp_admin_users"));
    expectForbidden(Verb::get, "/api/v1/audit", bearer("rmp_admin_users"));
    // Login credentials carry every scope their role allows.
    expectOk(Verb::get, "/api/v1/tokens", bearer("user-token"));
}

TEST_F(AuthorizationTest, ApiTokensCannotUseInteractiveOnlyRoutes) {
    for (const char* route : {"/api/v1/me/totp", "/api/v1/me/totp/confirm", "/api/v1/me/totp/disable"}) {
        expectForbidden(Verb::post, route, bearer("rmp_tokens"));
        expectForbidden(Verb::post, route, bearer("rmp_admin_users"));
        expectOk(Verb::post, route, bearer("user-token"));
    }
}

TEST_F(AuthorizationTest, AdminWithoutTotpReachesOnlyTheEnrolmentRoutes) {
    expectForbidden(Verb::get, "/api/v1/users", bearer("admin-no-totp-token"), "totp-required");
    expectForbidden(Verb::get, "/api/v1/audit", bearer("admin-no-totp-token"), "totp-required");
    expectForbidden(Verb::post, "/api/v1/me/totp/disable", bearer("admin-no-totp-token"), "totp-required");
    expectOk(Verb::get, "/api/v1/me", bearer("admin-no-totp-token"));
    expectOk(Verb::post, "/api/v1/me/totp", bearer("admin-no-totp-token"));
    expectOk(Verb::post, "/api/v1/me/totp/confirm", bearer("admin-no-totp-token"));
    expectOk(Verb::post, "/api/v1/auth/logout", bearer("admin-no-totp-token"));
    // Other roles are not affected.
    expectOk(Verb::get, "/api/v1/tokens", bearer("user-token"));
}

TEST_F(AuthorizationTest, AdminTotpNotRequiredWhenTurnedOff) {
    config_.auth.requireAdminTotp = false;
    expectOk(Verb::get, "/api/v1/users", bearer("admin-no-totp-token"));
}

TEST_F(AuthorizationTest, UnknownPathsAndMethodsAreLeftToTheRouter) {
    EXPECT_EQ(get("/api/v1/nothing-here", bearer("admin-token")).result(), Status::not_found);
    EXPECT_EQ(get("/api/v1/nothing-here").result(), Status::not_found);
    EXPECT_EQ(send(Verb::put, "/api/v1/users/1", bearer("admin-token")).result(), Status::method_not_allowed);
}

TEST_F(AuthorizationTest, RouteWithoutPolicyIsForbiddenEvenToAnAdmin) {
    addPolicyRoutes();
    router_.add({.method = Verb::get,
                 .pattern = "/api/v1/forgotten",
                 .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                     ex.response.result(Status::ok);
                     co_return;
                 }});
    expectForbidden(Verb::get, "/api/v1/forgotten", bearer("admin-token"));
    expectForbidden(Verb::get, "/api/v1/forgotten", {});  // not even a 401 that would hint at a way in
    // The table is still in force for the other routes.
    expectOk(Verb::get, "/api/v1/users", bearer("admin-token"));
}

class AuthorizationAuditTest : public AuthorizationTest {
  protected:
    void SetUp() override {
        store_owned_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "audit.db").string()),
                                        {.auditKey = rampart::testing::testAuditKey()});
        store_owned_->migrate();
        store_ = store_owned_.get();
    }
    void TearDown() override { store_owned_->close(); }

    std::vector<obs::AuditRecord> denials() {
        store::AuditQuery query;
        query.action = "permission.denied";
        return rampart::testing::runToCompletion(store_->listAudit(query));
    }

    rampart::testing::TempDirectory dir_;
    std::unique_ptr<store::Store> store_owned_;
};

TEST_F(AuthorizationAuditTest, EveryDenialIsAuditedWithoutTheCredential) {
    auto r = send(Verb::get, "/api/v1/users/42", bearer("user-token"));
    ASSERT_EQ(r.result(), Status::forbidden);
    auto records = denials();
    ASSERT_EQ(records.size(), 1u);
    const obs::AuditEvent& event = records[0].event;
    EXPECT_EQ(event.actor, "u-user");
    EXPECT_EQ(event.client, "192.0.2.10");
    EXPECT_EQ(event.requestId, std::string(r["X-Request-ID"]));
    EXPECT_FALSE(event.requestId.empty());
    EXPECT_EQ(event.target, "GET /api/v1/users/{id}");
    EXPECT_EQ(event.outcome, "denied");
    EXPECT_EQ(event.details.at("reason").as_string(), "role");

    send(Verb::get, "/api/v1/tokens", bearer("rmp_jobs_only"));
    send(Verb::post, "/api/v1/me/totp", bearer("rmp_tokens"));
    send(Verb::get, "/api/v1/users", bearer("admin-no-totp-token"));
    records = denials();
    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(records[1].event.details.at("reason").as_string(), "scope");
    EXPECT_EQ(records[2].event.details.at("reason").as_string(), "interactive_only");
    EXPECT_EQ(records[3].event.details.at("reason").as_string(), "totp_required");
    EXPECT_EQ(records[3].event.actor, "u-admin2");

    for (const auto& record : records) {
        const std::string stored = obs::canonicalAuditContent(record.event);
        for (const char* secret :
             {"user-token", "rmp_jobs_only", "rmp_tokens", "admin-no-totp-token", "cred-"})
            EXPECT_THAT(stored, Not(HasSubstr(secret)));
    }
}

TEST_F(AuthorizationAuditTest, AllowedRequestsAndMissingCredentialsAreNotDenials) {
    EXPECT_EQ(get("/api/v1/users", bearer("admin-token")).result(), Status::ok);
    EXPECT_EQ(get("/api/v1/users").result(), Status::unauthorized);
    EXPECT_TRUE(denials().empty());
}

TEST_F(AuthorizationAuditTest, ClientBehindATrustedProxyIsTheForwardedAddress) {
    auto headers = bearer("worker-token");
    headers.emplace_back("X-Forwarded-For", "198.51.100.7");
    EXPECT_EQ(send(Verb::get, "/api/v1/audit", headers, false, "10.0.0.5").result(), Status::forbidden);
    auto records = denials();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].event.client, "198.51.100.7");
}

}  // namespace
}  // namespace rampart::http
