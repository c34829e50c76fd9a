// The schedules API: periodic jobs defined by a cron expression or an interval. The route policies decide
// which roles may call; jobs::ScheduleService decides which schedules a caller may see or change.
#pragma once

#include "http/router.hpp"
#include "jobs/schedule_service.hpp"

namespace rampart::api {

void addScheduleRoutes(http::Router& router, jobs::ScheduleService& service);

}  // namespace rampart::api
