// When a failed attempt may run again, computed one way for the in-process workers and for external
// workers reporting through the worker API: now + jobs::retryDelay for the attempt that failed, under
// the task type's RetryPolicy, with a fresh uniform draw for the full jitter.
#pragma once

#include <string_view>

#include "jobs/task_registry.hpp"
#include "store/job_store.hpp"

namespace rampart::jobs {

// `attempt`: the attempt that just failed (the job's attempt count, from 1). A task type this process
// does not know gets the default RetryPolicy.
[[nodiscard]] store::Millis nextRetryAt(const TaskRegistry& registry, std::string_view task, int attempt,
                                        store::Millis now);

}  // namespace rampart::jobs
