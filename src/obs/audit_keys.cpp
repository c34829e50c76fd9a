// Audit keys: HKDF-SHA-256 through OpenSSL (as identity/sealed.cpp derives its keys), HMAC-SHA-256 and
// Ed25519 through libsodium.
#include "obs/audit_keys.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <sodium.h>

#include "core/sodium_init.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/openssl_handles.hpp"

namespace rampart::obs {
namespace {

constexpr std::string_view kChainInfo = "rampart audit-chain v1";
constexpr std::string_view kCheckpointInfo = "rampart audit-checkpoint v1";

void deriveKey(const SecretString& secretKey, std::string_view info, std::span<unsigned char> out) {
    if (secretKey.empty()) throw std::invalid_argument("the audit log's keys need the secret key");
    if (!crypto::hkdfSha256(secretKey.reveal(), info, out))
        throw std::runtime_error("HKDF derivation of an audit key failed");
}

}  // namespace

std::shared_ptr<const AuditChainKey> AuditChainKey::derive(const SecretString& secretKey) {
    std::shared_ptr<AuditChainKey> key(new AuditChainKey());
    deriveKey(secretKey, kChainInfo, key->key_);
    return key;
}

AuditChainKey::~AuditChainKey() {
    sodium_memzero(key_.data(), key_.size());
}

AuditHash AuditChainKey::rowHash(std::span<const std::uint8_t> previousHash,
                                 std::string_view canonicalContent) const {
    static_assert(crypto_auth_hmacsha256_BYTES == std::tuple_size_v<AuditHash>);
    ensureSodiumInitialised();
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, key_.data(), key_.size());
    crypto_auth_hmacsha256_update(&state, previousHash.data(), previousHash.size());
    crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(canonicalContent.data()),
                                  canonicalContent.size());
    AuditHash hash{};
    crypto_auth_hmacsha256_final(&state, hash.data());
    sodium_memzero(&state, sizeof state);
    return hash;
}

AuditCheckpointKey::AuditCheckpointKey(const SecretString& secretKey) {
    static_assert(crypto_sign_SEEDBYTES == 32 && crypto_sign_PUBLICKEYBYTES == 32 &&
                  crypto_sign_SECRETKEYBYTES == 64);
    ensureSodiumInitialised();
    std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
    deriveKey(secretKey, kCheckpointInfo, seed);
    crypto_sign_seed_keypair(publicKey_.data(), secretKey_.data(), seed.data());
    sodium_memzero(seed.data(), seed.size());
}

AuditCheckpointKey::~AuditCheckpointKey() {
    sodium_memzero(secretKey_.data(), secretKey_.size());
}

std::array<std::uint8_t, 64> AuditCheckpointKey::sign(std::string_view message) const {
    std::array<std::uint8_t, 64> signature{};
    crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), secretKey_.data());
    return signature;
}

bool verifyAuditSignature(std::span<const std::uint8_t> publicKey, std::string_view message,
                          std::span<const std::uint8_t> signature) {
    if (publicKey.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) return false;
    ensureSodiumInitialised();
    return crypto_sign_verify_detached(signature.data(),
                                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                       publicKey.data()) == 0;
}

}  // namespace rampart::obs
