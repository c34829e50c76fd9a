// The worker API: external workers (role `worker`, scope "worker") lease jobs and report on them.
// The route policies let only workers in; jobs::LeaseService decides which jobs and which reports.
#pragma once

#include "http/router.hpp"
#include "jobs/lease_service.hpp"

namespace rampart::api {

void addWorkerRoutes(http::Router& router, jobs::LeaseService& service);

}  // namespace rampart::api
