// The server's real route table against the policy table, both ways: a route without a policy, or a
// policy naming no route, fails here. (policy_test.cpp checks what each policy says.)
#include "api/identity_routes.hpp"

#include <set>

#include <gtest/gtest.h>

#include "api/job_routes.hpp"
#include "api/policy.hpp"
#include "api/schedule_routes.hpp"
#include "api/system_routes.hpp"
#include "api/worker_routes.hpp"
#include "app/config.hpp"
#include "identity/identity_services.hpp"
#include "jobs/builtin_tasks.hpp"
#include "jobs/job_service.hpp"
#include "jobs/lease_service.hpp"
#include "obs/metrics.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::api {
namespace {

// Every route the server serves (method and pattern), from the same registration serve makes.
std::set<std::pair<http::Verb, std::string>> servedRoutes() {
    testing::TempDirectory dir;
    store::SqliteStore store(dir.path() / "rampart.db");
    store.setAuditKey(rampart::testing::testAuditKey());
    Config config;
    identity::IdentityServices identityServices(
        store, store, SecretString("a test secret key that is long enough"), identity::AuthSettings{});
    obs::Metrics metrics;
    http::Router router;
    addSystemRoutes(router, routeSettings(config), store, metrics);
    addIdentityRoutes(router, routeSettings(config), identityServices.logins, identityServices.accounts,
                      identityServices.keys, store);
    jobs::TaskRegistry tasks;
    jobs::addBuiltinTasks(tasks);
    jobs::JobService jobService(store, store, tasks, jobs::JobsSettings{});
    addJobRoutes(router, tasks, jobService);
    jobs::LeaseService leaseService(store, tasks, jobs::JobsSettings{});
    addWorkerRoutes(router, leaseService);
    jobs::ScheduleService scheduleService(store, store, store, jobService, jobs::ScheduleSettings{});
    addScheduleRoutes(router, scheduleService);

    std::set<std::pair<http::Verb, std::string>> served;
    for (const http::Route& route : router.routes()) served.emplace(route.method, route.pattern);
    store.close();
    return served;
}

TEST(IdentityRoutes, EveryRouteTheServerServesHasAPolicyAndEveryPolicyARoute) {
    const auto served = servedRoutes();
    for (const auto& [method, pattern] : served) {
        EXPECT_NE(policyFor(method, pattern), nullptr)
            << http::beast_http::to_string(method) << ' ' << pattern << " has no policy";
    }
    for (const Policy& policy : policies()) {
        EXPECT_TRUE(served.contains({policy.method, std::string(policy.pattern)}))
            << http::beast_http::to_string(policy.method) << ' ' << policy.pattern << " names no route";
    }
}

// The API is versioned: every route is under /api/v1/ except the operational endpoints, whose
// paths are fixed by the tools that call them (probes, Prometheus, OpenAPI tooling, JWKS clients).
TEST(IdentityRoutes, EveryApiRouteIsUnderItsVersion) {
    const std::set<std::string> operational = {"/healthz", "/readyz", "/metrics", "/openapi.json",
                                               "/.well-known/jwks.json"};
    for (const auto& [method, pattern] : servedRoutes()) {
        EXPECT_TRUE(pattern.starts_with("/api/v1/") || operational.contains(pattern))
            << http::beast_http::to_string(method) << ' ' << pattern << " is outside /api/v1/";
    }
}

}  // namespace
}  // namespace rampart::api
