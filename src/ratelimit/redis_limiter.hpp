// The Redis GCRA limiter: one atomic Lua script call per decision, with Redis's own clock (TIME), so the
// processes of a cluster share every limit exactly whatever their clocks say, and PEXPIRE so that a key
// vanishes once it is idle (an idle key is the same as an absent one).
#pragma once

#include <chrono>
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

    // Decides at once only from a lease (see decide); nullopt otherwise: the answer is Redis's.
    std::optional<Decision> tryDecide(const Policy& policy, std::string_view key) override;

    // One script call in Redis for the request. In the server's form (a connection per io_context, the
    // decision resuming on the caller's thread) and for a quota of kMinLeaseQuota or more, Redis may allow
    // several requests at once (a lease, at most a hundredth of the quota and kMaxLease): the calling
    // thread allows the others itself (tryDecide) for kLeaseLife, then gives back what it did not spend
    // in its next call for the key. The lease grows (doubling) while each is spent within its life and
    // shrinks to what was spent when one lapses, so a key used less often than that is decided by Redis
    // every time. No more requests are allowed than Redis allowed: a cluster may allow fewer than the
    // limit (by what its threads hold unspent), never more; the headers' figures count a thread's unspent
    // requests as remaining.
    // Throws LimiterUnavailable when Redis cannot be reached or answers with an error.
    boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key,
                                            const obs::Span& trace) override;

    static constexpr std::uint64_t kMinLeaseQuota = 200;  // a lease of 2 is a hundredth of it
    static constexpr std::uint64_t kMaxLease = 256;
    static constexpr std::chrono::milliseconds kLeaseLife{100};
    static constexpr std::size_t kMaxLeasedKeys =
        1024;  // per thread: more keys are decided by Redis each time

    // The script, for tests and reviews.
    [[nodiscard]] static const std::string& scriptSource();

  private:
    struct PerContext {
        redis::RedisUrl url;
        redis::ClientOptions options;
    };

    // The most requests one lease may hold for `rate`; 1: none (the one-client form, small quotas).
    [[nodiscard]] std::uint64_t leaseCapFor(const Rate& rate) const;

    // This caller's connection: the one client, or the caller's io_context's own.
    redis::Client& clientFor(const boost::asio::any_io_executor& executor);

    redis::Client* client_ = nullptr;
    std::optional<PerContext> perContext_;
    std::uint64_t serial_;  // tells this limiter's connections and leases from others' on the same thread
    std::string prefix_;
    redis::Script script_;
};

}  // namespace rampart::ratelimit
