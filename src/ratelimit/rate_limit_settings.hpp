// The rate-limit policies ([rate_limits]), in Django REST Framework's terms. An unset (off) limit is
// not applied. Semantics (GCRA) in rate_limiter.hpp and docs/configuration.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include "ratelimit/rate.hpp"

namespace rampart::ratelimit {

struct RateLimitSettings {
    bool enabled = true;
    // Anonymous callers, keyed by client address (IPv6: its /64).
    std::optional<Rate> anon = Rate{.requests = 100, .window = std::chrono::hours(1)};
    // Authenticated callers, keyed by user id.
    std::optional<Rate> user = Rate{.requests = 1000, .window = std::chrono::hours(1)};
    // Callers with the worker role, keyed by user id, instead of `user`: a worker fleet leases, beats
    // and reports far more often than a person, and must not be throttled by a person's budget.
    // 1000/second: a fleet on one account making a few calls per job (lease, report, beats) stays
    // below it; a stolen worker token is still bounded.
    std::optional<Rate> worker = Rate{.requests = 1000, .window = std::chrono::seconds(1)};
    // Every limited request of every caller together; off by default.
    std::optional<Rate> global;
    // Login attempts, keyed by client address and, separately, by username.
    std::optional<Rate> login = Rate{.requests = 5, .window = std::chrono::minutes(1)};
    // Job submissions (single and batch), keyed like the caller.
    std::optional<Rate> jobsSubmit = Rate{.requests = 100, .window = std::chrono::minutes(1)};
    // API token id -> the rate that replaces `user` for requests made with that token (service accounts).
    std::map<std::string, Rate> tokens;
    // Redis unreachable: answer 503 instead of falling back to the in-memory limiter.
    bool failClosed = false;
    // The most keys the in-memory limiter holds at once.
    std::size_t maxKeys = 100'000;
};

}  // namespace rampart::ratelimit
