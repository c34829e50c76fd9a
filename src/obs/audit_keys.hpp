// The two keys that make the audit log more than a checksum, both derived from the server's secret key
// (never stored in the database): the HMAC key of the row chain, and the Ed25519 key that signs the
// checkpoints written outside the database (docs/security.md, "Audit log").
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"
#include "obs/audit.hpp"

namespace rampart::obs {

// HMAC-SHA-256 key of the audit chain: HKDF-SHA-256 of the secret key with info "rampart audit-chain v1".
// Whoever writes the database without this key cannot make a row whose hash verifies.
class AuditChainKey {
  public:
    // Throws std::invalid_argument for an empty secret, std::runtime_error when OpenSSL fails.
    [[nodiscard]] static std::shared_ptr<const AuditChainKey> derive(const SecretString& secretKey);

    AuditChainKey(const AuditChainKey&) = delete;
    AuditChainKey& operator=(const AuditChainKey&) = delete;
    ~AuditChainKey();

    // HMAC-SHA-256(key, previousHash || canonicalContent): the keyed form of auditRowHash.
    [[nodiscard]] AuditHash rowHash(std::span<const std::uint8_t> previousHash,
                                    std::string_view canonicalContent) const;

  private:
    AuditChainKey() = default;
    std::array<unsigned char, 32> key_{};
};

// The Ed25519 key that signs audit checkpoints: its seed is HKDF-SHA-256 of the secret key with info
// "rampart audit-checkpoint v1". Derived rather than taken from the JWT key ring, whose keys rotate and
// are deleted from the database once expired: a checkpoint must stay verifiable for as long as the log.
class AuditCheckpointKey {
  public:
    // Throws std::invalid_argument for an empty secret, std::runtime_error when OpenSSL fails.
    explicit AuditCheckpointKey(const SecretString& secretKey);
    AuditCheckpointKey(const AuditCheckpointKey&) = delete;
    AuditCheckpointKey& operator=(const AuditCheckpointKey&) = delete;
    ~AuditCheckpointKey();

    [[nodiscard]] const std::array<std::uint8_t, 32>& publicKey() const { return publicKey_; }
    // The 64-byte detached Ed25519 signature of `message`.
    [[nodiscard]] std::array<std::uint8_t, 64> sign(std::string_view message) const;

  private:
    std::array<std::uint8_t, 32> publicKey_{};
    std::array<unsigned char, 64> secretKey_{};  // libsodium's seed || public key
};

// True when `signature` is a valid Ed25519 signature of `message` under `publicKey`.
[[nodiscard]] bool verifyAuditSignature(std::span<const std::uint8_t> publicKey, std::string_view message,
                                        std::span<const std::uint8_t> signature);

}  // namespace rampart::obs
