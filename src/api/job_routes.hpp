// The jobs API. Today: GET /api/v1/tasks, the registered task types with their argument schemas.
#pragma once

#include "http/router.hpp"
#include "jobs/task_registry.hpp"

namespace rampart::api {

void addJobRoutes(http::Router& router, const jobs::TaskRegistry& registry);

}  // namespace rampart::api
