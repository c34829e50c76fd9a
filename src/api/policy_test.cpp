// The policy table against the API's route list: every route has a policy, and the table says what
// docs/security.md and docs/api.md say about who may call what.
#include "api/policy.hpp"

#include <set>

#include <gtest/gtest.h>

#include "http/router.hpp"

namespace rampart::api {
namespace {

using http::Verb;
using identity::Role;

struct RouteName {
    Verb method;
    std::string pattern;
};

// Every route of API v1 and the operational routes, written out independently of the table so that
// a line missing from the table is noticed here.
const std::vector<RouteName>& everyRoute() {
    static const std::vector<RouteName> routes = {
        {Verb::get, "/healthz"},
        {Verb::get, "/readyz"},
        {Verb::get, "/metrics"},
        {Verb::get, "/openapi.json"},
        {Verb::get, "/.well-known/jwks.json"},
        {Verb::post, "/api/v1/auth/login"},
        {Verb::post, "/api/v1/auth/refresh"},
        {Verb::post, "/api/v1/auth/logout"},
        {Verb::get, "/api/v1/me"},
        {Verb::post, "/api/v1/me/totp"},
        {Verb::post, "/api/v1/me/totp/confirm"},
        {Verb::post, "/api/v1/me/totp/disable"},
        {Verb::get, "/api/v1/tokens"},
        {Verb::post, "/api/v1/tokens"},
        {Verb::delete_, "/api/v1/tokens/{id}"},
        {Verb::get, "/api/v1/users"},
        {Verb::get, "/api/v1/users/{id}"},
        {Verb::post, "/api/v1/users"},
        {Verb::patch, "/api/v1/users/{id}"},
        {Verb::post, "/api/v1/users/{id}/revoke-credentials"},
        {Verb::get, "/api/v1/audit"},
        {Verb::get, "/api/v1/tasks"},
        {Verb::post, "/api/v1/jobs"},
        {Verb::post, "/api/v1/jobs/batch"},
        {Verb::get, "/api/v1/jobs"},
        {Verb::get, "/api/v1/jobs/{id}"},
        {Verb::post, "/api/v1/jobs/{id}/cancel"},
        {Verb::post, "/api/v1/jobs/{id}/retry"},
        {Verb::get, "/api/v1/jobs/{id}/events"},
        {Verb::get, "/api/v1/queues"},
        {Verb::post, "/api/v1/queues/{name}/pause"},
        {Verb::post, "/api/v1/queues/{name}/resume"},
        {Verb::get, "/api/v1/schedules"},
        {Verb::post, "/api/v1/schedules"},
        {Verb::get, "/api/v1/schedules/{id}"},
        {Verb::get, "/api/v1/schedules/{id}/ticks"},
        {Verb::patch, "/api/v1/schedules/{id}"},
        {Verb::delete_, "/api/v1/schedules/{id}"},
        {Verb::post, "/api/v1/worker/lease"},
        {Verb::post, "/api/v1/worker/jobs/{id}/heartbeat"},
        {Verb::post, "/api/v1/worker/jobs/{id}/progress"},
        {Verb::post, "/api/v1/worker/jobs/{id}/complete"},
        {Verb::post, "/api/v1/worker/jobs/{id}/fail"},
        {Verb::post, "/api/v1/worker/reports"},
    };
    return routes;
}

TEST(Policy, EveryRouteOfTheRouterHasAPolicy) {
    http::Router router;
    for (const auto& route : everyRoute()) {
        router.add({.method = route.method,
                    .pattern = route.pattern,
                    .handler = [](http::Exchange&) -> boost::asio::awaitable<void> { co_return; }});
    }
    for (const http::Route& route : router.routes()) {
        EXPECT_NE(policyFor(route.method, route.pattern), nullptr)
            << http::beast_http::to_string(route.method) << " " << route.pattern << " has no policy";
    }
    EXPECT_EQ(policies().size(), everyRoute().size()) << "the table has entries for routes that do not exist";
}

TEST(Policy, LookupIsExactOnMethodAndPattern) {
    EXPECT_NE(policyFor(Verb::get, "/api/v1/users/{id}"), nullptr);
    EXPECT_EQ(policyFor(Verb::delete_, "/api/v1/users/{id}"), nullptr);
    EXPECT_EQ(policyFor(Verb::get, "/api/v1/users/123"), nullptr) << "patterns, not paths";
    EXPECT_EQ(policyFor(Verb::get, "/api/v1/users/"), nullptr);
    EXPECT_EQ(policyFor(Verb::get, "/API/v1/users"), nullptr);
}

TEST(Policy, NoDuplicatesAndOnlyKnownScopes) {
    std::set<std::pair<Verb, std::string_view>> seen;
    for (const Policy& policy : policies()) {
        SCOPED_TRACE(std::string(policy.pattern));
        EXPECT_TRUE(seen.emplace(policy.method, policy.pattern).second) << "duplicate";
        if (policy.publicRoute) continue;
        EXPECT_FALSE(policy.roles.empty()) << "an authenticated route nobody may call";
        EXPECT_TRUE(policy.scope.empty() || identity::isKnownScope(policy.scope));
        EXPECT_TRUE(policy.alsoScope.empty() || identity::isKnownScope(policy.alsoScope));
        EXPECT_TRUE(policy.alsoScope.empty() || !policy.scope.empty()) << "alsoScope is the second one";
    }
}

TEST(Policy, WhoMayCallWhat) {
    const std::set<std::string_view> publicRoutes = {"/healthz",
                                                     "/readyz",
                                                     "/metrics",
                                                     "/openapi.json",
                                                     "/.well-known/jwks.json",
                                                     "/api/v1/auth/login",
                                                     "/api/v1/auth/refresh"};
    for (const Policy& policy : policies())
        EXPECT_EQ(policy.publicRoute, publicRoutes.contains(policy.pattern)) << policy.pattern;

    const Policy* users = policyFor(Verb::post, "/api/v1/users");
    ASSERT_NE(users, nullptr);
    EXPECT_TRUE(users->allows(Role::admin));
    for (Role role : {Role::user, Role::auditor, Role::worker}) EXPECT_FALSE(users->allows(role));
    EXPECT_EQ(users->scope, "users:write");
    EXPECT_FALSE(users->allowWithoutTotp);

    const Policy* audit = policyFor(Verb::get, "/api/v1/audit");
    ASSERT_NE(audit, nullptr);
    EXPECT_TRUE(audit->allows(Role::admin));
    EXPECT_TRUE(audit->allows(Role::auditor));
    EXPECT_FALSE(audit->allows(Role::user));
    EXPECT_FALSE(audit->allows(Role::worker));
    EXPECT_EQ(audit->scope, "audit:read");

    const Policy* me = policyFor(Verb::get, "/api/v1/me");
    ASSERT_NE(me, nullptr);
    for (Role role : {Role::admin, Role::user, Role::auditor, Role::worker}) EXPECT_TRUE(me->allows(role));
    EXPECT_TRUE(me->allowWithoutTotp);

    // Enrolling is possible without TOTP; turning it off needs it, and needs a login credential.
    EXPECT_TRUE(policyFor(Verb::post, "/api/v1/me/totp")->allowWithoutTotp);
    EXPECT_TRUE(policyFor(Verb::post, "/api/v1/me/totp")->interactiveOnly);
    EXPECT_FALSE(policyFor(Verb::post, "/api/v1/me/totp/disable")->allowWithoutTotp);
    EXPECT_TRUE(policyFor(Verb::post, "/api/v1/me/totp/disable")->interactiveOnly);
    EXPECT_EQ(policyFor(Verb::delete_, "/api/v1/tokens/{id}")->scope, "tokens");

    // The worker API is for workers alone, with the worker scope; workers can do nothing with jobs
    // besides.
    for (const Policy& policy : policies()) {
        const bool workerRoute = policy.pattern.starts_with("/api/v1/worker/");
        SCOPED_TRACE(std::string(policy.pattern));
        if (workerRoute) {
            EXPECT_TRUE(policy.allows(Role::worker));
            for (Role role : {Role::admin, Role::user, Role::auditor}) EXPECT_FALSE(policy.allows(role));
            EXPECT_EQ(policy.scope, "worker");
        } else if (policy.pattern.starts_with("/api/v1/jobs") ||
                   policy.pattern.starts_with("/api/v1/schedules")) {
            EXPECT_FALSE(policy.allows(Role::worker));
        }
        // Schedules: auditors read, never change.
        if (policy.pattern.starts_with("/api/v1/schedules")) {
            EXPECT_TRUE(policy.allows(Role::admin));
            EXPECT_TRUE(policy.allows(Role::user));
            EXPECT_EQ(policy.allows(Role::auditor), policy.method == Verb::get);
            EXPECT_EQ(policy.scope, policy.method == Verb::get ? "schedules:read" : "schedules:write");
            // A schedule submits jobs: creating or changing one needs jobs:write as well.
            const bool submits = policy.method == Verb::post || policy.method == Verb::patch;
            EXPECT_EQ(policy.alsoScope, submits ? "jobs:write" : "");
        }
    }
}

TEST(PolicyTable, AServerWithARouteWithoutAPolicyDoesNotStart) {
    http::Router router;
    for (const auto& route : everyRoute()) {
        router.add({.method = route.method,
                    .pattern = route.pattern,
                    .handler = [](http::Exchange&) -> boost::asio::awaitable<void> { co_return; }});
    }
    EXPECT_NO_THROW(requireEveryRouteHasAPolicy(router));
    router.add({.method = Verb::delete_,
                .pattern = "/api/v1/forgotten/{id}",
                .handler = [](http::Exchange&) -> boost::asio::awaitable<void> { co_return; }});
    try {
        requireEveryRouteHasAPolicy(router);
        ADD_FAILURE() << "a route without a policy was accepted";
    } catch (const std::logic_error& error) {
        EXPECT_NE(std::string(error.what()).find("DELETE /api/v1/forgotten/{id}"), std::string::npos)
            << error.what();
    }
}

}  // namespace
}  // namespace rampart::api
