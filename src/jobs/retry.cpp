// One random engine per thread: the jitter needs no lock and no cryptographic quality.
#include "jobs/retry.hpp"

#include <random>

namespace rampart::jobs {

store::Millis nextRetryAt(const TaskRegistry& registry, std::string_view task, int attempt,
                          store::Millis now) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    const TaskType* type = registry.find(task);
    const auto delay = retryDelay(attempt, type ? type->retry : RetryPolicy{}, jitter);
    return now + delay.count();
}

}  // namespace rampart::jobs
