// Unversioned operational routes: /healthz, /readyz, /metrics and /openapi.json.
#pragma once

#include "app/config.hpp"
#include "http/router.hpp"
#include "obs/metrics.hpp"
#include "store/store.hpp"

namespace rampart::api {

void addSystemRoutes(http::Router& router, const Config& config, store::Store& store, obs::Metrics& metrics);

}  // namespace rampart::api
