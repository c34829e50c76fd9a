// The authorization policy of every route, in one table keyed by method + route pattern. A route
// that is not in the table is unreachable (deny by default): the authorization stage answers 403.
// The Policy type is the HTTP layer's (http/policy.hpp); the table of this API's routes is here.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "http/exchange.hpp"
#include "http/policy.hpp"
#include "http/router.hpp"

namespace rampart::api {

using http::Policy;

// The policy of one route, or null when the route has none.
[[nodiscard]] const Policy* policyFor(http::Verb method, std::string_view pattern);

// Throws std::logic_error naming the first route of `router` that has no policy: the server refuses to
// start with one (the authorization stage would answer it 403 to everyone, admins included).
void requireEveryRouteHasAPolicy(const http::Router& router);

// Every entry, for tests, the OpenAPI document and reviews.
[[nodiscard]] std::span<const Policy> policies();

}  // namespace rampart::api
