// The signing key ring: load, rotate, reload for unknown kids.
#include "identity/key_manager.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

namespace rampart::identity {

KeyManager::KeyManager(store::IdentityStore& store, SecretString serverSecret, const AuthSettings& settings,
                       Clock clock)
    : store_(store),
      serverSecret_(std::move(serverSecret)),
      // A key must keep verifying as long as the longest token it signed lives.
      policy_{.signingPeriod = std::chrono::days{30},
              .maxTokenLifetime = std::max(settings.refreshTokenTtl, settings.sessionTtl)},
      clock_(std::move(clock)),
      ring_(std::make_shared<const KeyRing>()),
      keys_(std::make_shared<const KeySet>()),
      reloads_(BoundedPool::Options{.threads = 1, .queueCapacity = 1, .refusal = [] {
                                        return std::make_exception_ptr(
                                            std::runtime_error("the signing keys are being reloaded"));
                                    }}) {}

std::shared_ptr<const KeyRing> KeyManager::ring() const {
    std::lock_guard lock(ringMutex_);
    return ring_;
}

std::shared_ptr<const KeySet> KeyManager::verificationKeys() const {
    std::lock_guard lock(ringMutex_);
    return keys_;
}

boost::asio::awaitable<VerifyResult> KeyManager::verify(const JwtVerifier& verifier, std::string_view token) {
    auto result = verifier.verify(token, *verificationKeys());
    if (result.ok || result.error != VerifyError::kKidUnknown || !claimUnknownKidReload()) co_return result;
    bool reloaded = false;
    try {
        reloaded = co_await reloads_.run([this] { return reloadKeysForUnknownKid(); });
    } catch (const std::exception&) {
        reloaded = false;  // shut down
    }
    if (reloaded) result = verifier.verify(token, *verificationKeys());
    co_return result;
}

void KeyManager::publish(KeyRing ring) {
    auto keys = std::make_shared<const KeySet>(ring.verificationKeys(clock_()));
    auto shared = std::make_shared<const KeyRing>(std::move(ring));
    std::lock_guard lock(ringMutex_);
    ring_ = std::move(shared);
    keys_ = std::move(keys);
}

void KeyManager::loadKeys() {
    KeyRing ring;
    int unopened = 0;
    std::vector<std::string> expired;
    const auto time = clock_();
    for (auto& record : store_.loadSigningKeysBlocking()) {
        StoredSigningKey stored{.kid = record.kid,
                                .alg = record.alg,
                                .publicKey = record.publicKey,
                                .encryptedPrivateKey = record.encryptedPrivateKey,
                                .created = record.created,
                                .notAfter = record.notAfter,
                                .expires = record.expires};
        if (record.expires <= time) {
            expired.push_back(record.kid);
            continue;
        }
        auto key = openSigningKey(stored, serverSecret_);
        if (!key) {
            ++unopened;
            continue;
        }
        ring.add(std::move(*key));
    }
    if (!expired.empty()) store_.deleteSigningKeysBlocking(expired);
    if (unopened > 0) {
        spdlog::warn("{} stored signing key(s) cannot be opened with the configured secret key", unopened);
    }
    if (!ring.current(time)) {
        if (unopened > 0) {
            // Making a new key here would silently end every session signed under the old secret; the
            // operator has to decide (restore the secret, or rotate on purpose).
            throw std::runtime_error(
                "stored signing keys cannot be opened with this secret key; restore the secret key or run "
                "`rampart admin keys rotate`");
        }
        auto key = storeNewKey(time);
        spdlog::info("created the first signing key {}", key.kid);
        ring.add(std::move(key));
    }
    publish(std::move(ring));
}

bool KeyManager::claimUnknownKidReload() {
    const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::int64_t last = lastUnknownKidReload_.load();
    const std::int64_t interval =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(kUnknownKidReloadInterval).count();
    if (last != 0 && now - last < interval) return false;
    return lastUnknownKidReload_.compare_exchange_strong(last, now);  // else another request does it
}

bool KeyManager::reloadKeysForUnknownKid() {
    unknownKidReloads_.fetch_add(1);
    try {
        loadKeys();
    } catch (const std::exception& error) {
        spdlog::warn("reloading signing keys for an unknown kid failed: {}", error.what());
        return false;
    }
    return true;
}

SigningKey KeyManager::storeNewKey(std::chrono::system_clock::time_point time) {
    auto key = generateSigningKey(time, policy_);
    auto sealed = sealSigningKey(key, serverSecret_);
    if (!sealed) throw std::runtime_error("cannot seal a signing key: is the secret key set?");
    store_.insertSigningKeyBlocking(
        store::SigningKeyRecord{.kid = sealed->kid,
                                .alg = sealed->alg,
                                .publicKey = sealed->publicKey,
                                .encryptedPrivateKey = sealed->encryptedPrivateKey,
                                .created = sealed->created,
                                .notAfter = sealed->notAfter,
                                .expires = sealed->expires});
    return key;
}

std::string KeyManager::rotateKeys() {
    std::string kid = storeNewKey(clock_()).kid;
    loadKeys();
    return kid;
}

}  // namespace rampart::identity
