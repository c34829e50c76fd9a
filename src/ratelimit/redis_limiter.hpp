// The Redis GCRA limiter: one atomic Lua script call per decision, with Redis's own clock (TIME), so the
// processes of a cluster share every limit exactly whatever their clocks say, and PEXPIRE so that a key
// vanishes once it is idle (an idle key is the same as an absent one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ratelimit/rate_limiter.hpp"
#include "redis/client.hpp"
#include "redis/redis_url.hpp"

namespace rampart::ratelimit {

class RedisLimiter : public RateLimiter {
  public:
    // Keys are `prefix` + policy name + ":" + key. The client must outlive the limiter.
    explicit RedisLimiter(redis::Client& client, std::string prefix = "rampart:rl:");

    // The limiter of `rampart serve`: one connection of its own per io_context that decisions come from,
    // made on that context's first decision with options.callerThreadOnly, so a decision runs on the
    // caller's thread (no hop to a Redis thread and back) and the decisions of one thread are pipelined
    // on its connection. Each caller's io_context must be run by one thread (as each HTTP I/O thread's
    // is). A connection lives as long as its io_context: destroying the context closes it.
    RedisLimiter(redis::RedisUrl url, redis::ClientOptions options, std::string prefix = "rampart:rl:");

    // Never decides at once: the answer is Redis's.
    std::optional<Decision> tryDecide(const Policy&, std::string_view) override { return std::nullopt; }

    // Throws LimiterUnavailable when Redis cannot be reached or answers with an error.
    boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key) override;

    // The script, for tests and reviews.
    [[nodiscard]] static const std::string& scriptSource();

  private:
    struct PerContext {
        redis::RedisUrl url;
        redis::ClientOptions options;
        std::uint64_t serial;  // tells this limiter's connections from others' on the same context
    };

    // This caller's connection: the one client, or the caller's io_context's own.
    redis::Client& clientFor(const boost::asio::any_io_executor& executor);

    redis::Client* client_ = nullptr;
    std::optional<PerContext> perContext_;
    std::string prefix_;
    redis::Script script_;
};

}  // namespace rampart::ratelimit
