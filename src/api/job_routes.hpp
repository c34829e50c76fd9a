// The jobs API: task types, submitting (one or a batch), listing, reading and canceling jobs. The
// route policies decide who may call; jobs::JobService decides which jobs a caller may see or touch.
#pragma once

#include "http/router.hpp"
#include "jobs/job_service.hpp"
#include "jobs/task_registry.hpp"

namespace rampart::api {

void addJobRoutes(http::Router& router, const jobs::TaskRegistry& registry, jobs::JobService& service);

}  // namespace rampart::api
