// Login throttling: counters, back-off and their memory bound.
#include "identity/login_throttle.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <sodium.h>

#include "core/address_key.hpp"
#include "core/sha256.hpp"
#include "core/sodium_init.hpp"

namespace rampart::identity {

using store::Seconds;

namespace {
constexpr std::string_view kNameKeyContext = "rampart login name v1";
}  // namespace

LoginNameKey::LoginNameKey(const SecretString& serverSecret) {
    ensureSodiumInitialised();
    if (!deriveSubkey(serverSecret, kNameKeyContext, key_))
        throw std::invalid_argument("login name keys need a secret key");
}

std::string LoginNameKey::of(std::string_view username) const {
    std::string lower(username);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    });
    std::array<std::uint8_t, crypto_generichash_BYTES> digest{};
    crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(lower.data()),
                       lower.size(), key_.data.data(), key_.data.size());
    secureZero(lower.data(), lower.size());
    return hexLower(digest);
}

std::string addressThrottleKey(const boost::asio::ip::address& client) {
    return "ip:" + std::string(AddressKey(client).view());
}

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
