// The identity API: login, refresh, logout, the caller's own account and TOTP, personal API tokens,
// user administration, the audit log, and the public keys that verify our tokens.
#pragma once

#include "api/route_settings.hpp"
#include "http/router.hpp"
#include "identity/auth_service.hpp"
#include "store/store.hpp"

namespace rampart::api {

void addIdentityRoutes(http::Router& router, const RouteSettings& settings, identity::AuthService& auth,
                       store::Store& store);

}  // namespace rampart::api
