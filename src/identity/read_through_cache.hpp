// A read-through cache for the look-ups that authenticating a request makes: a value found in the
// store is kept for a short time, a miss is never kept (an unknown or revoked credential always goes
// back to the store). Thread-safe; the load runs outside the lock, and a value loaded while erase() or
// clear() ran (a revocation racing the load) is returned but not kept, so it cannot outlive the revocation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <boost/asio/awaitable.hpp>

namespace rampart::identity {

// LoadArgs: what a caller hands to `load` along with the key on a miss (the request's span).
template <class Key, class Value, class... LoadArgs>
class ReadThroughCache {
  public:
    using Load = std::function<boost::asio::awaitable<std::optional<Value>>(Key, LoadArgs...)>;

    // `capacity` bounds the entries: a full cache is emptied, not grown, so a flood of distinct keys
    // costs store look-ups, never memory.
    ReadThroughCache(Load load, std::chrono::steady_clock::duration ttl, std::size_t capacity)
        : load_(std::move(load)), ttl_(ttl), capacity_(capacity) {}

    // The cached value while it is fresh, else whatever `load` finds (kept when found).
    boost::asio::awaitable<std::optional<Value>> get(Key key, LoadArgs... args) {
        const auto now = std::chrono::steady_clock::now();
        if (auto hit = find(key, now)) co_return hit;
        const std::uint64_t generation = generation_.load();
        std::optional<Value> loaded = co_await load_(key, args...);
        if (loaded) put(key, *loaded, now, generation);
        co_return loaded;
    }

    void erase(const Key& key) {
        std::lock_guard lock(mutex_);
        ++generation_;
        entries_.erase(key);
    }

    void clear() {
        std::lock_guard lock(mutex_);
        ++generation_;
        entries_.clear();
    }

  private:
    using TimePoint = std::chrono::steady_clock::time_point;

    std::optional<Value> find(const Key& key, TimePoint now) const {
        std::lock_guard lock(mutex_);
        auto found = entries_.find(key);
        if (found == entries_.end() || found->second.second <= now) return std::nullopt;
        return found->second.first;
    }

    // Keeps `value` unless an erase() or clear() came after the load began (`generation`).
    void put(const Key& key, Value value, TimePoint now, std::uint64_t generation) {
        std::lock_guard lock(mutex_);
        if (generation_.load() != generation) return;
        if (entries_.size() >= capacity_) entries_.clear();
        entries_.insert_or_assign(key, std::pair{std::move(value), now + ttl_});
    }

    Load load_;
    std::chrono::steady_clock::duration ttl_;
    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::atomic<std::uint64_t> generation_{0};  // bumped by every erase() and clear()
    std::unordered_map<Key, std::pair<Value, TimePoint>> entries_;
};

}  // namespace rampart::identity
