// The identity API: login, refresh, logout, the caller's own account and TOTP, personal API tokens,
// user administration, the audit log, and the public keys that verify our tokens.
#pragma once

#include "api/route_settings.hpp"
#include "http/router.hpp"
#include "identity/account_service.hpp"
#include "identity/auth_error.hpp"
#include "identity/key_manager.hpp"
#include "identity/login_service.hpp"
#include "store/store.hpp"

namespace rampart::api {

void addIdentityRoutes(http::Router& router, const RouteSettings& settings, identity::LoginService& logins,
                       identity::AccountService& accounts, const identity::KeyManager& keys,
                       store::Store& store);

}  // namespace rampart::api
