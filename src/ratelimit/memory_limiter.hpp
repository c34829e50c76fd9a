// The in-memory GCRA limiter: one TAT per (policy, key) in a sharded hash map, a mutex per shard (no
// global lock), a bounded number of keys, and decisions taken synchronously on the calling thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ratelimit/rate_limiter.hpp"

namespace rampart::ratelimit {

// Monotonic nanoseconds; tests inject a fake.
using NanoClock = std::function<std::int64_t()>;
[[nodiscard]] NanoClock steadyNanoClock();

struct MemoryLimiterOptions {
    // The most keys held at once across every policy. A key whose TAT has passed is the same as an
    // absent key, so it is dropped first; when every key is still live, the one closest to idle goes
    // (it holds the least state: a client it belonged to gains at most what it would soon regain).
    std::size_t maxKeys = 100'000;
    NanoClock clock{};  // empty: steadyNanoClock()
};

class MemoryLimiter : public RateLimiter {
  public:
    static constexpr std::size_t kShards = 64;
    static constexpr std::size_t kMinKeys = kShards;

    // Throws std::invalid_argument when maxKeys < kMinKeys.
    explicit MemoryLimiter(MemoryLimiterOptions options = {});

    // Exact under concurrency: the read-modify-write of a key's TAT happens under its shard's mutex.
    Decision decideNow(const Policy& policy, std::string_view key);

    std::optional<Decision> tryDecide(const Policy& policy, std::string_view key) override {
        return decideNow(policy, key);
    }
    boost::asio::awaitable<Decision> decide(const Policy& policy, std::string_view key,
                                            const obs::Span& trace) override;

    // Keys held now (live or not yet swept), and how many were evicted while still live.
    [[nodiscard]] std::size_t size() const;
    [[nodiscard]] std::uint64_t liveEvictions() const {
        return liveEvictions_.load(std::memory_order_relaxed);
    }

  private:
    struct TransparentHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
    };
    using Map = std::unordered_map<std::string, std::int64_t, TransparentHash, std::equal_to<>>;
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        Map tats;
    };

    // Makes room for one more key in a full shard (caller holds its mutex).
    void makeRoom(Shard& shard, std::int64_t now);

    std::size_t perShard_;
    NanoClock clock_;
    std::array<Shard, kShards> shards_;
    std::atomic<std::uint64_t> liveEvictions_{0};
};

}  // namespace rampart::ratelimit
