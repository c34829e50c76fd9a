// Unversioned operational routes: /healthz, /readyz, /metrics and /openapi.json.
#pragma once

#include "api/route_settings.hpp"
#include "http/router.hpp"
#include "obs/metrics.hpp"
#include "redis/client.hpp"
#include "store/store.hpp"

namespace rampart::api {

// `redis` (null when redis_url is unset) is part of readiness: /readyz answers 503 while it does not answer
// PING.
void addSystemRoutes(http::Router& router, const RouteSettings& settings, store::Store& store,
                     obs::Metrics& metrics, redis::Client* redis = nullptr);

}  // namespace rampart::api
