// Rate limiting: every limited route spends one request of the caller's policy (the user's, a worker
// account's, a service token's override, or the anonymous client address's), of the route's named scope, and
// of the global limit; a refusal is 429 with Retry-After, and every limited response carries RateLimit-Policy
// and RateLimit (draft-ietf-httpapi-ratelimit-headers-10, structured-field lists: `RateLimit-Policy:
// "user";q=1000;w=3600` and `RateLimit: "user";r=998;t=4`).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/middleware.hpp"
#include "ratelimit/rate_limit_settings.hpp"
#include "ratelimit/rate_limiter.hpp"

namespace prometheus {
class Counter;
}

namespace rampart::obs {
class RateLimitMetrics;
}

namespace rampart::http {

// The scope names routes use (Route::rateLimitScope, limitScope).
inline constexpr std::string_view kLoginScope = "login";
inline constexpr std::string_view kJobsSubmitScope = "jobs.submit";

// A policy with what the hot path needs ready-made: its header item and its two counters.
struct BoundPolicy {
    ratelimit::Policy policy;
    std::string policyItem;  // "\"user\";q=1000;w=3600"
    prometheus::Counter* allowed = nullptr;
    prometheus::Counter* limited = nullptr;
};

// What one request has spent so far: one entry per policy name (the most restrictive decision when a
// name was consulted twice, as login is by address and by username).
struct RateLimitContext {
    struct Entry {
        const BoundPolicy* policy = nullptr;
        ratelimit::Decision decision;
    };
    const class RateLimitStage* stage = nullptr;
    std::array<Entry, 6> entries{};
    std::size_t count = 0;

    void record(const BoundPolicy& policy, const ratelimit::Decision& decision);
};

class RateLimitStage : public Middleware {
  public:
    // `metrics` may be null (tests). Anonymous callers are keyed by ex.client.
    RateLimitStage(const ratelimit::RateLimitSettings& config,
                   std::shared_ptr<ratelimit::RateLimiter> limiter, obs::RateLimitMetrics* metrics);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    // Spends one request of scope `scope` keyed by `key` (a route handler's own key, such as the
    // username of a login). Throws the 429 ApiError when refused; nothing when the scope is off.
    boost::asio::awaitable<void> spend(Exchange& ex, RateLimitContext& context, std::string_view scope,
                                       std::string_view key) const;

    // "RateLimit-Policy" and "RateLimit" values for what the request spent.
    [[nodiscard]] static std::string policyHeader(const RateLimitContext& context);
    [[nodiscard]] static std::string stateHeader(const RateLimitContext& context);

  private:
    const BoundPolicy* bind(std::optional<ratelimit::Policy> policy);
    const BoundPolicy* scopePolicy(std::string_view scope) const;
    // One decision, recorded in `context`; throws the 429 when refused and the 503 when the backend
    // cannot decide (fail_closed). tryCheck decides at once when the backend can and returns false when
    // it must be awaited (awaitCheck): the in-memory backend never costs a coroutine frame.
    bool tryCheck(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
                  std::string_view key) const;
    boost::asio::awaitable<void> awaitCheck(Exchange& ex, RateLimitContext& context,
                                            const BoundPolicy& policy, std::string_view key) const;
    void apply(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
               const ratelimit::Decision& decision) const;
    [[noreturn]] void refuse(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
                             const ratelimit::Decision& decision) const;

    std::shared_ptr<ratelimit::RateLimiter> limiter_;
    obs::RateLimitMetrics* metrics_;
    std::vector<std::unique_ptr<BoundPolicy>> owned_;
    const BoundPolicy* anon_ = nullptr;
    const BoundPolicy* user_ = nullptr;
    const BoundPolicy* worker_ = nullptr;  // replaces user_ for callers with the worker role
    const BoundPolicy* global_ = nullptr;
    std::map<std::string, const BoundPolicy*, std::less<>> scopes_;
    std::unordered_map<std::string, const BoundPolicy*> tokens_;  // API token id -> its override
};

// For route handlers: spends one request of `scope` keyed by `key` when the rate-limit stage ran for
// this request; nothing otherwise (limits disabled). Throws the 429 ApiError when refused.
boost::asio::awaitable<void> limitScope(Exchange& ex, std::string_view scope, std::string_view key);

}  // namespace rampart::http
