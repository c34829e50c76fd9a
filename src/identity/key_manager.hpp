// The signing key ring of this process: loaded from the store at start-up and every minute, rotated by
// `rampart admin keys rotate`, reloaded when a token names a kid another node has just made. Its own
// service because it is the one part of identity that is blocking and process-wide: the login service
// signs with its ring, the authenticator verifies with its keys, and neither owns their life cycle.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/bounded_pool.hpp"
#include "core/secret_string.hpp"
#include "identity/auth_settings.hpp"
#include "identity/jwt.hpp"
#include "identity/key_ring.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

class KeyManager {
  public:
    KeyManager(store::IdentityStore& store, SecretString serverSecret, const AuthSettings& settings,
               Clock clock = systemClock());

    // --- blocking: start-up, a periodic reload, `rampart admin keys rotate` ---
    // Loads the ring from the store; when no key may sign, generates one and stores it sealed.
    // Throws std::runtime_error when stored keys cannot be opened and none can sign (wrong secret key).
    void loadKeys();
    // Adds a new signing key to the store and the ring; returns its kid. Audited by the caller.
    std::string rotateKeys();

    // The public keys that verify our tokens, for /.well-known/jwks.json.
    [[nodiscard]] std::shared_ptr<const KeySet> verificationKeys() const;
    // The keys that sign.
    [[nodiscard]] std::shared_ptr<const KeyRing> ring() const;
    // Verifies with the current keys; when the token names a kid this process has not loaded (another
    // node may have rotated the keys), reloads them and tries once more. The reload reads the store, so
    // it runs on a thread of its own while the caller (a network thread) serves other requests; it runs
    // at most once per kUnknownKidReloadInterval, however many requests name unknown kids at once.
    boost::asio::awaitable<VerifyResult> verify(const JwtVerifier& verifier, std::string_view token);

    // Reloads made for unknown kids so far (for tests).
    [[nodiscard]] std::uint64_t unknownKidReloads() const { return unknownKidReloads_.load(); }
    // Waits for a reload under way and stops the reload thread; verify() reloads no more. For shutting
    // down after the server's connections are closed and before its io_contexts go.
    void shutdown() { reloads_.shutdown(); }

  private:
    void publish(KeyRing ring);
    // Generates a signing key and stores it sealed (blocking).
    SigningKey storeNewKey(std::chrono::system_clock::time_point time);
    // Claims the next reload for an unknown kid: true at most once per kUnknownKidReloadInterval (and
    // for one caller only), so forged kids cannot make every request read the store.
    bool claimUnknownKidReload();
    // Reloads the keys (blocking, on reloads_); true when it reloaded.
    bool reloadKeysForUnknownKid();
    static constexpr std::chrono::seconds kUnknownKidReloadInterval{5};

    store::IdentityStore& store_;
    SecretString serverSecret_;
    KeyPolicy policy_;
    Clock clock_;
    mutable std::mutex ringMutex_;
    std::atomic<std::int64_t> lastUnknownKidReload_{0};  // steady_clock ticks; 0: never
    std::shared_ptr<const KeyRing> ring_;
    std::shared_ptr<const KeySet> keys_;
    std::atomic<std::uint64_t> unknownKidReloads_{0};
    // One thread for the reloads (claimUnknownKidReload lets one run at a time); last, so it stops first.
    BoundedPool reloads_;
};

}  // namespace rampart::identity
