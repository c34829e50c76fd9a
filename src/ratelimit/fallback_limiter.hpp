// A shared limiter (Redis) with what happens when it cannot be reached: by default the in-memory limiter
// decides instead (each process then limits on its own) and a metric and a warning say so; with
// fail_closed every decision fails, and the rate-limit stage answers 503.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "ratelimit/memory_limiter.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace rampart::obs {
class RateLimitMetrics;
}

namespace rampart::ratelimit {

class FallbackLimiter : public RateLimiter {
  public:
    // After a failure the shared limiter is left alone for `retryAfter` (decisions are taken in memory,
    // or refused), so an outage does not make every request wait for a connection attempt.
    FallbackLimiter(std::shared_ptr<RateLimiter> shared, std::shared_ptr<MemoryLimiter> memory,
                    bool failClosed, obs::RateLimitMetrics* metrics,
                    std::chrono::milliseconds retryAfter = std::chrono::seconds(1), NanoClock clock = {});

    std::optional<Decision> tryDecide(const Policy& policy, std::string_view key) override;
    boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key,
                                            const obs::Span& trace) override;

    // True while decisions are not taken by the shared limiter.
    [[nodiscard]] bool degraded() const { return downUntil_.load() != 0; }

  private:
    // The shared limiter failed: remember it, count it, warn (at most every 10 s), then fall back or throw.
    Decision failed(const Policy& policy, std::string_view key, const char* why);

    std::shared_ptr<RateLimiter> shared_;
    std::shared_ptr<MemoryLimiter> memory_;
    bool failClosed_;
    obs::RateLimitMetrics* metrics_;
    std::int64_t retryAfterNs_;
    NanoClock clock_;
    std::atomic<std::int64_t> downUntil_{0};  // clock_ time until which the shared limiter is skipped; 0: up
    std::atomic<std::int64_t> nextWarningAt_{0};
    std::atomic<std::uint64_t> quietFailures_{0};
};

}  // namespace rampart::ratelimit
