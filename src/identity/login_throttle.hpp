// Failed-login counters per client address (in memory) and the key under which the store counts them
// per username, and the back-off they lock for. Apart from LoginService because it is a self-contained
// policy with its own memory bound, tested on its own.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "core/secret_string.hpp"
#include "identity/auth_settings.hpp"
#include "identity/sealed.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

// Failed logins that lock: base * 2^(failures - max), capped; 0 below the threshold.
[[nodiscard]] std::chrono::seconds lockoutFor(int failures, const AuthSettings& settings);
// The same with another threshold (client addresses get more tries than accounts).
[[nodiscard]] std::chrono::seconds lockoutFor(int failures, int threshold, const AuthSettings& settings);

// The key under which the store counts failed logins of a username (store::IdentityStore's
// login_name_failures, for known and unknown names alike, so that a lockout does not reveal which
// accounts exist): keyed BLAKE2b-256 of the lower-cased name, in hex, under a key derived from the server
// secret. Not the name itself, nor a plain hash of it: people type passwords into the username field,
// and a table of plain hashes could be searched with a dictionary.
class LoginNameKey {
  public:
    // Throws std::invalid_argument when the secret is empty.
    explicit LoginNameKey(const SecretString& serverSecret);
    [[nodiscard]] std::string of(std::string_view username) const;

  private:
    SubkeyBytes key_;
};

// The in-memory counter key of a client address: IPv6 by its /64, IPv4-mapped as IPv4 (the rate
// limiter's AddressKey), so rotating addresses inside one /64 does not escape the lockout.
[[nodiscard]] std::string addressThrottleKey(const boost::asio::ip::address& client);

// In-memory failure counters per client address. Per process (an address's lockout is a brake on one
// node; the per-name counters in the store hold across restarts and cluster nodes). Thread-safe.
class LoginThrottle {
  public:
    static constexpr std::size_t kCapacity = 100'000;

    explicit LoginThrottle(const AuthSettings& settings) : settings_(settings) {}

    [[nodiscard]] std::optional<store::Seconds> lockedUntil(const std::string& key, store::Seconds now);
    // Counts a failure; returns the lockout it started (zero for none).
    std::chrono::seconds fail(const std::string& key, store::Seconds now, int threshold);

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
