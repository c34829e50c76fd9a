// The Redis GCRA limiter: one atomic Lua script call per decision, with Redis's own clock (TIME), so the
// processes of a cluster share every limit exactly whatever their clocks say, and PEXPIRE so that a key
// vanishes once it is idle (an idle key is the same as an absent one).
#pragma once

#include <string>

#include "ratelimit/rate_limiter.hpp"
#include "redis/client.hpp"

namespace rampart::ratelimit {

class RedisLimiter : public RateLimiter {
  public:
    // Keys are `prefix` + policy name + ":" + key. The client must outlive the limiter.
    explicit RedisLimiter(redis::Client& client, std::string prefix = "rampart:rl:");

    // Never decides at once: the answer is Redis's.
    std::optional<Decision> tryDecide(const Policy&, std::string_view) override { return std::nullopt; }

    // Throws LimiterUnavailable when Redis cannot be reached or answers with an error.
    boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key) override;

    // The script, for tests and reviews.
    [[nodiscard]] static const std::string& scriptSource();

  private:
    redis::Client& client_;
    std::string prefix_;
    redis::Script script_;
};

}  // namespace rampart::ratelimit
