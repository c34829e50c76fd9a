// GCRA over a sharded map: the shard is chosen by the key's hash, so requests of different keys
// rarely meet on a mutex, and those of one key are serialised, which is what makes the count exact.
#include "ratelimit/memory_limiter.hpp"

#include <limits>
#include <stdexcept>

namespace rampart::ratelimit {

NanoClock steadyNanoClock() {
    return [] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    };
}

MemoryLimiter::MemoryLimiter(MemoryLimiterOptions options)
    : perShard_(options.maxKeys / kShards),
      clock_(options.clock ? std::move(options.clock) : steadyNanoClock()) {
    if (options.maxKeys < kMinKeys)
        throw std::invalid_argument("the in-memory rate limiter needs room for at least 64 keys");
}

Decision MemoryLimiter::decideNow(const Policy& policy, std::string_view key) {
    // The policy's name keeps policies apart: the same user under "user" and "jobs.submit" has two TATs.
    LimitKey full;
    full.append(policy.name).append("\x1f").append(key);
    const std::string_view id = full.view();
    const std::size_t hash = TransparentHash()(id);
    // The high bits choose the shard; the map uses the whole hash for its buckets.
    Shard& shard = shards_[(hash >> 58) % kShards];
    const std::int64_t interval = policy.rate.interval().count();

    std::lock_guard lock(shard.mutex);
    const std::int64_t now = clock_();
    auto it = shard.tats.find(id);
    std::int64_t stored = it == shard.tats.end() ? std::numeric_limits<std::int64_t>::min() : it->second;
    std::int64_t next = 0;
    const Decision decision = gcraStep(stored, now, interval, policy.rate.requests, next);
    if (!decision.allowed) return decision;
    if (it != shard.tats.end()) {
        it->second = next;
    } else {
        if (shard.tats.size() >= perShard_) makeRoom(shard, now);
        shard.tats.emplace(std::string(id), next);
    }
    return decision;
}

void MemoryLimiter::makeRoom(Shard& shard, std::int64_t now) {
    // Idle keys (TAT passed) first: forgetting them changes no decision.
    auto oldest = shard.tats.end();
    for (auto it = shard.tats.begin(); it != shard.tats.end();) {
        if (it->second <= now) {
            it = shard.tats.erase(it);
            continue;
        }
        if (oldest == shard.tats.end() || it->second < oldest->second) oldest = it;
        ++it;
    }
    if (shard.tats.size() < perShard_ || oldest == shard.tats.end()) return;
    shard.tats.erase(oldest);
    liveEvictions_.fetch_add(1, std::memory_order_relaxed);
}

boost::asio::awaitable<Decision> MemoryLimiter::decide(const Policy& policy, std::string_view key,
                                                       const obs::Span& /*trace*/) {
    co_return decideNow(policy, key);
}

std::size_t MemoryLimiter::size() const {
    std::size_t total = 0;
    for (const Shard& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.tats.size();
    }
    return total;
}

}  // namespace rampart::ratelimit
