// The one policy table. Adding a route means adding its line here, or the route answers 403 to
// everyone; policy_test.cpp walks the table so a forgotten line is caught before it ships.
#include "api/policy.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::api {
namespace {

using http::Verb;
using identity::Role;

Policy publicRoute(Verb method, std::string_view pattern) {
    return Policy{.method = method, .pattern = pattern, .publicRoute = true};
}

const std::vector<Policy>& table() {
    // Function-local, like the table, so a lookup during another file's static initialisation is safe.
    static const std::vector<Role> kAnyRole = {Role::admin, Role::user, Role::auditor, Role::worker};
    static const std::vector<Role> kAdmin = {Role::admin};
    static const std::vector<Role> kAdminAuditor = {Role::admin, Role::auditor};
    static const std::vector<Role> kAdminUser = {Role::admin, Role::user};
    static const std::vector<Role> kAdminUserAuditor = {Role::admin, Role::user, Role::auditor};
    static const std::vector<Role> kWorker = {Role::worker};
    static const std::vector<Policy> entries = {
        // Operational routes and the two ways in. /metrics checks for loopback in its handler.
        publicRoute(Verb::get, "/healthz"),
        publicRoute(Verb::get, "/readyz"),
        publicRoute(Verb::get, "/metrics"),
        publicRoute(Verb::get, "/openapi.json"),
        publicRoute(Verb::get, "/.well-known/jwks.json"),
        publicRoute(Verb::post, "/api/v1/auth/login"),
        publicRoute(Verb::post, "/api/v1/auth/refresh"),

        // One's own account. The TOTP routes stay reachable without TOTP so an admin can enrol.
        {.method = Verb::post, .pattern = "/api/v1/auth/logout", .roles = kAnyRole, .allowWithoutTotp = true},
        {.method = Verb::get, .pattern = "/api/v1/me", .roles = kAnyRole, .allowWithoutTotp = true},
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp",
         .roles = kAnyRole,
         .interactiveOnly = true,
         .allowWithoutTotp = true},
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp/confirm",
         .roles = kAnyRole,
         .interactiveOnly = true,
         .allowWithoutTotp = true},
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp/disable",
         .roles = kAnyRole,
         .interactiveOnly = true},
        {.method = Verb::get, .pattern = "/api/v1/tokens", .roles = kAnyRole, .scope = "tokens"},
        {.method = Verb::post, .pattern = "/api/v1/tokens", .roles = kAnyRole, .scope = "tokens"},
        {.method = Verb::delete_, .pattern = "/api/v1/tokens/{id}", .roles = kAnyRole, .scope = "tokens"},

        // User administration.
        {.method = Verb::get, .pattern = "/api/v1/users", .roles = kAdmin, .scope = "users:read"},
        {.method = Verb::get, .pattern = "/api/v1/users/{id}", .roles = kAdmin, .scope = "users:read"},
        {.method = Verb::post, .pattern = "/api/v1/users", .roles = kAdmin, .scope = "users:write"},
        {.method = Verb::patch, .pattern = "/api/v1/users/{id}", .roles = kAdmin, .scope = "users:write"},
        {.method = Verb::post,
         .pattern = "/api/v1/users/{id}/revoke-credentials",
         .roles = kAdmin,
         .scope = "users:write"},

        // Jobs: the task types (their argument schemas), for every role; submitting, canceling and retrying
        // for
        // users and admins; reading for auditors too. Which jobs: jobs::JobService (owner, admin, auditor).
        {.method = Verb::get, .pattern = "/api/v1/tasks", .roles = kAnyRole},
        {.method = Verb::post, .pattern = "/api/v1/jobs", .roles = kAdminUser, .scope = "jobs:write"},
        {.method = Verb::post, .pattern = "/api/v1/jobs/batch", .roles = kAdminUser, .scope = "jobs:write"},
        {.method = Verb::get, .pattern = "/api/v1/jobs", .roles = kAdminUserAuditor, .scope = "jobs:read"},
        {.method = Verb::get,
         .pattern = "/api/v1/jobs/{id}",
         .roles = kAdminUserAuditor,
         .scope = "jobs:read"},
        {.method = Verb::post,
         .pattern = "/api/v1/jobs/{id}/cancel",
         .roles = kAdminUser,
         .scope = "jobs:write"},
        {.method = Verb::post,
         .pattern = "/api/v1/jobs/{id}/retry",
         .roles = kAdminUser,
         .scope = "jobs:write"},

        {.method = Verb::get,
         .pattern = "/api/v1/jobs/{id}/events",
         .roles = kAdminUserAuditor,
         .scope = "jobs:read"},

        // Queues: counts for admins and auditors; pausing and resuming for admins.
        {.method = Verb::get, .pattern = "/api/v1/queues", .roles = kAdminAuditor, .scope = "jobs:read"},
        {.method = Verb::post,
         .pattern = "/api/v1/queues/{name}/pause",
         .roles = kAdmin,
         .scope = "jobs:write"},
        {.method = Verb::post,
         .pattern = "/api/v1/queues/{name}/resume",
         .roles = kAdmin,
         .scope = "jobs:write"},

        // Schedules: reading for users, admins and auditors; changing for users and admins. Whether users may
        // at all (schedules.allow_users) and which schedules: jobs::ScheduleService. Creating or changing one
        // needs jobs:write too, since its ticks submit jobs; deleting one needs schedules:write only.
        {.method = Verb::get,
         .pattern = "/api/v1/schedules",
         .roles = kAdminUserAuditor,
         .scope = "schedules:read"},
        {.method = Verb::get,
         .pattern = "/api/v1/schedules/{id}",
         .roles = kAdminUserAuditor,
         .scope = "schedules:read"},
        {.method = Verb::get,
         .pattern = "/api/v1/schedules/{id}/ticks",
         .roles = kAdminUserAuditor,
         .scope = "schedules:read"},
        {.method = Verb::post,
         .pattern = "/api/v1/schedules",
         .roles = kAdminUser,
         .scope = "schedules:write",
         .alsoScope = "jobs:write"},
        {.method = Verb::patch,
         .pattern = "/api/v1/schedules/{id}",
         .roles = kAdminUser,
         .scope = "schedules:write",
         .alsoScope = "jobs:write"},
        {.method = Verb::delete_,
         .pattern = "/api/v1/schedules/{id}",
         .roles = kAdminUser,
         .scope = "schedules:write"},
        // The worker API: external workers lease jobs and report on them. Workers only: an admin who
        // wants to run jobs creates a worker account. Which queues and which jobs: jobs::LeaseService.
        {.method = Verb::post, .pattern = "/api/v1/worker/lease", .roles = kWorker, .scope = "worker"},
        {.method = Verb::post,
         .pattern = "/api/v1/worker/jobs/{id}/heartbeat",
         .roles = kWorker,
         .scope = "worker"},
        {.method = Verb::post,
         .pattern = "/api/v1/worker/jobs/{id}/progress",
         .roles = kWorker,
         .scope = "worker"},
        {.method = Verb::post,
         .pattern = "/api/v1/worker/jobs/{id}/complete",
         .roles = kWorker,
         .scope = "worker"},
        {.method = Verb::post,
         .pattern = "/api/v1/worker/jobs/{id}/fail",
         .roles = kWorker,
         .scope = "worker"},
        {.method = Verb::post, .pattern = "/api/v1/worker/reports", .roles = kWorker, .scope = "worker"},

        // The audit log: read-only, for admins and auditors.
        {.method = Verb::get, .pattern = "/api/v1/audit", .roles = kAdminAuditor, .scope = "audit:read"},
    };
    return entries;
}

}  // namespace

const Policy* policyFor(http::Verb method, std::string_view pattern) {
    for (const Policy& policy : table())
        if (policy.method == method && policy.pattern == pattern) return &policy;
    return nullptr;
}

void requireEveryRouteHasAPolicy(const http::Router& router) {
    for (const http::Route& route : router.routes()) {
        if (policyFor(route.method, route.pattern) == nullptr) {
            throw std::logic_error(fmt::format("the route {} {} has no authorization policy (api/policy.cpp)",
                                               std::string_view(http::beast_http::to_string(route.method)),
                                               route.pattern));
        }
    }
}

std::span<const Policy> policies() {
    return table();
}

}  // namespace rampart::api
