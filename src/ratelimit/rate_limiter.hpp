// The one rate-limiter interface (GCRA, one timestamp per key), the decision it returns, and the GCRA
// step every backend applies: the in-memory limiter in C++, the Redis limiter in its Lua twin.
//
// Semantics of a policy "N/window" (GCRA, the generic cell rate algorithm): each key holds a theoretical
// arrival time (TAT). A request is allowed while it would not push the TAT more than N intervals
// (interval = window / N) past now. So a key with no history may make N requests at once (the burst
// is the quota), then one more every interval: "100/hour" allows 100 at once, then one every 36 s, and
// never more than 100 in any 36-second-aligned burst plus the steady rate. A refused request changes
// nothing. A key whose TAT is in the past is the same as a key never seen, so it may be forgotten.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "obs/tracer.hpp"
#include "ratelimit/rate.hpp"

namespace rampart::ratelimit {

// One limit: its name (reported in the RateLimit headers and in metrics) and its rate.
struct Policy {
    std::string name;  // "anon", "user", "token", "login", "jobs.submit", "global"
    Rate rate;
};

struct Decision {
    bool allowed = false;
    std::uint64_t remaining = 0;             // requests the key could make right now (after this one)
    std::chrono::nanoseconds retryAfter{0};  // refused: until the next request would be allowed
    std::chrono::nanoseconds resetAfter{0};  // until the whole quota is available again
};

// One GCRA step for a key whose stored TAT is `storedTat` (0 or any past time for a fresh key), at
// `now`, all in the same unit (nanoseconds here, microseconds in Redis). `newTat` receives the TAT
// to store when the request is allowed; it is left alone when refused.
[[nodiscard]] inline Decision gcraStep(std::int64_t storedTat, std::int64_t now, std::int64_t interval,
                                       std::uint64_t requests, std::int64_t& newTat) {
    const std::int64_t tolerance = interval * static_cast<std::int64_t>(requests);
    const std::int64_t tat = std::max(storedTat, now);
    const std::int64_t next = tat + interval;
    Decision decision;
    if (next - now > tolerance) {
        decision.retryAfter = std::chrono::nanoseconds(next - now - tolerance);
        decision.resetAfter = std::chrono::nanoseconds(tat - now);
        return decision;
    }
    newTat = next;
    decision.allowed = true;
    decision.remaining = static_cast<std::uint64_t>((tolerance - (next - now)) / interval);
    decision.resetAfter = std::chrono::nanoseconds(next - now);
    return decision;
}

// Raised by a backend that cannot decide (Redis unreachable) and has no fallback configured.
class LimiterUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class RateLimiter {
  public:
    virtual ~RateLimiter() = default;

    // The decision for one request of `key` under `policy`, taken at once when the backend can (the
    // in-memory one always can: no coroutine frame per decision); nullopt when it must wait for
    // someone else (Redis), and then the caller awaits decide().
    virtual std::optional<Decision> tryDecide(const Policy& policy, std::string_view key) = 0;

    // The decision, however long it takes. Throws LimiterUnavailable when it cannot be had. A call to a
    // shared backend (Redis) is a span under `trace`, the request's.
    virtual boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key,
                                                    const obs::Span& trace) = 0;
};

// A key made of a few parts without touching the heap for the usual sizes (a policy name, a user id,
// an address, a username): the request path builds one per decision.
class LimitKey {
  public:
    LimitKey() = default;
    LimitKey(const LimitKey&) = delete;
    LimitKey& operator=(const LimitKey&) = delete;

    LimitKey& append(std::string_view part) {
        if (heap_.empty() && size_ + part.size() <= kInline) {
            std::copy(part.begin(), part.end(), inline_ + size_);
            size_ += part.size();
            return *this;
        }
        if (heap_.empty()) heap_.assign(inline_, size_);
        heap_.append(part);
        size_ = heap_.size();
        return *this;
    }

    [[nodiscard]] std::string_view view() const {
        return heap_.empty() ? std::string_view(inline_, size_) : std::string_view(heap_);
    }

  private:
    static constexpr std::size_t kInline = 192;
    char inline_[kInline];
    std::size_t size_ = 0;
    std::string heap_;
};

}  // namespace rampart::ratelimit
