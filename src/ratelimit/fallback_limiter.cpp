// The outage policy around the shared limiter; see fallback_limiter.hpp.
#include "ratelimit/fallback_limiter.hpp"

#include <spdlog/spdlog.h>

#include "obs/metrics.hpp"

namespace rampart::ratelimit {
namespace {
constexpr std::int64_t kWarningIntervalNs = 10'000'000'000;
}  // namespace

FallbackLimiter::FallbackLimiter(std::shared_ptr<RateLimiter> shared, std::shared_ptr<MemoryLimiter> memory,
                                 bool failClosed, obs::RateLimitMetrics* metrics,
                                 std::chrono::milliseconds retryAfter, NanoClock clock)
    : shared_(std::move(shared)),
      memory_(std::move(memory)),
      failClosed_(failClosed),
      metrics_(metrics),
      retryAfterNs_(std::chrono::nanoseconds(retryAfter).count()),
      clock_(clock ? std::move(clock) : steadyNanoClock()) {}

std::optional<Decision> FallbackLimiter::tryDecide(const Policy& policy, std::string_view key) {
    const std::int64_t downUntil = downUntil_.load();
    if (downUntil != 0 && clock_() < downUntil) {
        // Known to be down: decide now rather than wait for another failed connection.
        if (metrics_) metrics_->backendFailed(!failClosed_);
        if (failClosed_) throw LimiterUnavailable("the shared rate limiter is unreachable");
        return memory_->decideNow(policy, key);
    }
    return shared_->tryDecide(policy, key);
}

boost::asio::awaitable<Decision> FallbackLimiter::decide(const Policy& policy, std::string_view key,
                                                         const obs::Span& trace) {
    std::string failure;
    Decision decision;
    try {
        decision = co_await shared_->decide(policy, key, trace);
    } catch (const LimiterUnavailable& error) {
        failure = error.what();
    }
    if (!failure.empty()) co_return failed(policy, key, failure.c_str());
    if (downUntil_.exchange(0) != 0) {
        spdlog::info("rate limits: the shared limiter (Redis) answers again; limits are cluster-wide again");
        if (metrics_) metrics_->setFallbackActive(false);
    }
    co_return decision;
}

Decision FallbackLimiter::failed(const Policy& policy, std::string_view key, const char* why) {
    const std::int64_t now = clock_();
    downUntil_.store(now + retryAfterNs_);
    if (metrics_) {
        metrics_->backendFailed(!failClosed_);
        metrics_->setFallbackActive(!failClosed_);
    }
    std::int64_t next = nextWarningAt_.load();
    if (now >= next && nextWarningAt_.compare_exchange_strong(next, now + kWarningIntervalNs)) {
        spdlog::warn(
            "rate limits: the shared limiter (Redis) is unreachable ({}); {} ({} more failures since the "
            "last warning)",
            why,
            failClosed_ ? "answering 503 (rate_limits.fail_closed)"
                        : "deciding in memory, per process, until it answers again",
            quietFailures_.exchange(0));
    } else {
        ++quietFailures_;
    }
    if (failClosed_) throw LimiterUnavailable(why);
    return memory_->decideNow(policy, key);
}

}  // namespace rampart::ratelimit
