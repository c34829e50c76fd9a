// What the v1 route handlers are handed from the configuration (app/config.cpp fills it).
#pragma once

namespace rampart::api {

struct RouteSettings {
    bool secureCookies = true;   // Secure attribute on session and CSRF cookies
    bool metricsPublic = false;  // /metrics to any client (default: loopback only)
    bool redisRequired = false;  // /readyz fails without Redis (rate_limits.fail_closed)
};

}  // namespace rampart::api
