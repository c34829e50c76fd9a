// The task types every Rampart has: noop, echo, sleep, hash.sha256 and http.fetch (through the egress
// guard). Each is small, bounded by its schema, and cancellable where it takes time.
#pragma once

#include "jobs/task_registry.hpp"

namespace rampart::jobs {

void addBuiltinTasks(TaskRegistry& registry);

}  // namespace rampart::jobs
