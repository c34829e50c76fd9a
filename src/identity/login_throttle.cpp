// Login throttling: counters, back-off and their memory bound.
#include "identity/login_throttle.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace rampart::identity {

using store::Seconds;

std::chrono::seconds lockoutFor(int failures, const AuthSettings& settings) {
    return lockoutFor(failures, settings.loginMaxFailures, settings);
}

std::chrono::seconds lockoutFor(int failures, int threshold, const AuthSettings& settings) {
    if (failures < threshold) return std::chrono::seconds::zero();
    const int doublings = std::min(failures - threshold, 30);
    return std::min(settings.lockoutBase * (std::int64_t{1} << doublings), settings.lockoutMax);
}

std::optional<Seconds> LoginThrottle::lockedUntil(const std::string& key, Seconds now) {
    std::lock_guard lock(mutex_);
    auto found = entries_.find(key);
    if (found == entries_.end() || found->second.lockedUntil <= now) return std::nullopt;
    return found->second.lockedUntil;
}

std::chrono::seconds LoginThrottle::fail(const std::string& key, Seconds now, int threshold) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= kCapacity) prune(now);
    Entry& entry = entries_[key];
    if (entry.lastFailure + settings_.lockoutMax < now) entry.failures = 0;  // forgotten after a quiet spell
    ++entry.failures;
    entry.lastFailure = now;
    const auto lockout = lockoutFor(entry.failures, threshold, settings_);
    if (lockout > std::chrono::seconds::zero()) entry.lockedUntil = now + lockout;
    return lockout;
}

void LoginThrottle::reset(const std::string& key) {
    std::lock_guard lock(mutex_);
    entries_.erase(key);
}

void LoginThrottle::prune(Seconds now) {
    std::erase_if(entries_, [&](const auto& item) {
        return item.second.lockedUntil <= now && item.second.lastFailure + settings_.lockoutMax < now;
    });
    if (entries_.size() < kCapacity) return;
    std::vector<Seconds> times;
    times.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) times.push_back(entry.lastFailure);
    auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
    std::nth_element(times.begin(), middle, times.end());
    const Seconds cutoff = *middle;
    std::erase_if(entries_, [&](const auto& item) { return item.second.lastFailure < cutoff; });
}

}  // namespace rampart::identity
