// The authorization policy of every route, in one table keyed by method + route pattern. A route
// that is not in the table is unreachable (deny by default): the authorization stage answers 403.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "http/exchange.hpp"
#include "identity/principal.hpp"

namespace rampart::api {

struct Policy {
    http::Verb method = http::Verb::get;
    std::string_view pattern{};           // exactly as the route registers it ("/api/v1/users/{id}")
    bool publicRoute = false;             // no authentication needed; every other field is then ignored
    std::vector<identity::Role> roles{};  // roles that may call it; empty means nobody
    // The scope a credential must carry ("" for none). Login credentials carry "*"; personal API
    // tokens carry what they were created with.
    std::string_view scope{};
    // Only credentials a person obtained by logging in (access tokens, sessions): personal API tokens
    // and external tokens cannot manage second factors.
    bool interactiveOnly = false;
    // Reachable by an administrator who has not enrolled TOTP while auth.require_admin_totp is on:
    // the routes needed to enrol, to see oneself and to log out.
    bool allowWithoutTotp = false;

    [[nodiscard]] bool allows(identity::Role role) const;
};

// The policy of one route, or null when the route has none.
[[nodiscard]] const Policy* policyFor(http::Verb method, std::string_view pattern);

// Every entry, for tests, the OpenAPI document and reviews.
[[nodiscard]] std::span<const Policy> policies();

}  // namespace rampart::api
