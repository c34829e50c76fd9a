// Failed-login counters per client address and per username, and the back-off they lock for. Apart
// from LoginService because it is a self-contained policy with its own memory bound, tested on its own.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "identity/auth_settings.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

// Failed logins that lock: base * 2^(failures - max), capped; 0 below the threshold.
[[nodiscard]] std::chrono::seconds lockoutFor(int failures, const AuthSettings& settings);
// The same with another threshold (client addresses get more tries than accounts).
[[nodiscard]] std::chrono::seconds lockoutFor(int failures, int threshold, const AuthSettings& settings);

// In-memory failure counters per key ("ip:..." or "user:..."; known names or not, so that an unknown
// name locks exactly like a known one and lockouts do not reveal which accounts exist). Per process:
// the per-account counters in the store hold across restarts and cluster nodes. Thread-safe.
class LoginThrottle {
  public:
    static constexpr std::size_t kCapacity = 100'000;

    explicit LoginThrottle(const AuthSettings& settings) : settings_(settings) {}

    [[nodiscard]] std::optional<store::Seconds> lockedUntil(const std::string& key, store::Seconds now);
    // Counts a failure; returns the lockout it started (zero for none).
    std::chrono::seconds fail(const std::string& key, store::Seconds now, int threshold);
    void reset(const std::string& key);

  private:
    struct Entry {
        int failures = 0;
        store::Seconds lockedUntil{};
        store::Seconds lastFailure{};
    };
    // Forgets quiet entries; if a flood of distinct keys still fills the map, the oldest half goes.
    void prune(store::Seconds now);

    const AuthSettings settings_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace rampart::identity
