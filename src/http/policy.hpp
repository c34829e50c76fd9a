// Who may call one route: the type the authorization stage checks. The table of the API's routes is
// api/policy.hpp; a route without an entry there is unreachable.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "http/exchange.hpp"
#include "identity/principal.hpp"

namespace rampart::http {

struct Policy {
    Verb method = Verb::get;
    std::string_view pattern{};           // exactly as the route registers it ("/api/v1/users/{id}")
    bool publicRoute = false;             // no authentication needed; every other field is then ignored
    std::vector<identity::Role> roles{};  // roles that may call it; empty means nobody
    // The scope a credential must carry ("" for none). Login credentials carry "*"; personal API
    // tokens carry what they were created with.
    std::string_view scope{};
    // A second scope the credential must carry as well ("" for none): creating or changing a schedule
    // submits jobs later, so it needs jobs:write beside schedules:write.
    std::string_view alsoScope{};
    // Only credentials a person obtained by logging in (access tokens, sessions): personal API tokens
    // and external tokens cannot manage second factors.
    bool interactiveOnly = false;
    // Reachable by an administrator who has not enrolled TOTP while auth.require_admin_totp is on:
    // the routes needed to enrol, to see oneself and to log out.
    bool allowWithoutTotp = false;

    [[nodiscard]] bool allows(identity::Role role) const {
        return std::find(roles.begin(), roles.end(), role) != roles.end();
    }
};

}  // namespace rampart::http
