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
    // node may have rotated the keys), reloads them and tries once more.
    [[nodiscard]] VerifyResult verify(const JwtVerifier& verifier, std::string_view token);

  private:
    void publish(KeyRing ring);
    // Generates a signing key and stores it sealed (blocking).
    SigningKey storeNewKey(std::chrono::system_clock::time_point time);
    // Reloads the keys (blocking) at most once per kUnknownKidReloadInterval, so forged kids cannot make
    // every request read the store; true when it reloaded.
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
};

}  // namespace rampart::identity
