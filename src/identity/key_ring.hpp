// The ring of Ed25519 keys that sign our own tokens: generation, rotation, sealing private keys at rest
// under the server secret, and issuing access and refresh tokens.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/secret_string.hpp"
#include "identity/jwt.hpp"

namespace rampart::identity {

struct SigningKey {
    std::string kid;  // 16 random bytes, base64url
    Algorithm alg = Algorithm::kEdDSA;
    EvpKeyPtr publicKey;
    EvpKeyPtr privateKey;  // null when only the public half is loaded
    std::chrono::sys_seconds created{};
    std::chrono::sys_seconds notAfter{};  // signs nothing from here on
    std::chrono::sys_seconds expires{};   // verifies nothing from here on
};

struct KeyPolicy {
    std::chrono::seconds signingPeriod{std::chrono::days{30}};
    // The longest token a key may sign (refresh tokens); the key keeps verifying this long after notAfter.
    std::chrono::seconds maxTokenLifetime{std::chrono::days{30}};
};

// A fresh Ed25519 key with a random kid: created = now, notAfter = now + signingPeriod,
// expires = notAfter + maxTokenLifetime. Throws std::runtime_error only if OpenSSL cannot make a key.
[[nodiscard]] SigningKey generateSigningKey(std::chrono::system_clock::time_point now,
                                            const KeyPolicy& policy = {});
[[nodiscard]] std::string generateKid();

// A value type like KeySet: rotate by copying, adding, and publishing the new ring (shared_ptr<const>).
class KeyRing {
  public:
    // Rotation and loading from the store; false (nothing added) if the kid is already in the ring.
    bool add(SigningKey key);
    // The newest key (by created) that has a private key and is before its notAfter; null when none.
    [[nodiscard]] const SigningKey* current(std::chrono::system_clock::time_point now) const;
    // Every key before its expires, each with that expiry set: what verifiers and the published JWKS use.
    [[nodiscard]] KeySet verificationKeys(std::chrono::system_clock::time_point now) const;
    // Drops keys past expires and returns their kids, so the caller can delete them from the store.
    std::vector<std::string> removeExpired(std::chrono::system_clock::time_point now);
    [[nodiscard]] const std::vector<SigningKey>& keys() const { return keys_; }

  private:
    std::vector<SigningKey> keys_;
};

// The public key: raw 32 bytes in base64url, and as a JWK ({"kty":"OKP","crv":"Ed25519",...}).
[[nodiscard]] std::string publicKeyBase64Url(const SigningKey& key);
[[nodiscard]] boost::json::object publicJwk(const SigningKey& key);

// What the store keeps for a key: never the private key in clear. encryptedPrivateKey is base64url of
// version (1 byte) || nonce (24) || XChaCha20-Poly1305 ciphertext and tag, under a key derived from the
// server secret with HKDF-SHA256 ("rampart signing-key v1"), the kid as associated data.
struct StoredSigningKey {
    std::string kid;
    std::string alg;                  // "EdDSA"
    std::string publicKey;            // raw, base64url
    std::string encryptedPrivateKey;  // empty when the key has no private half
    std::chrono::sys_seconds created{};
    std::chrono::sys_seconds notAfter{};
    std::chrono::sys_seconds expires{};
};

// Nullopt when the key is not an Ed25519 key or the secret is empty.
[[nodiscard]] std::optional<StoredSigningKey> sealSigningKey(const SigningKey& key,
                                                             const SecretString& serverSecret);
// Nullopt on any failure, all of them alike: wrong secret, changed kid, a flipped byte, a public key that
// does not belong to the private one, an unknown version.
[[nodiscard]] std::optional<SigningKey> openSigningKey(const StoredSigningKey& stored,
                                                       const SecretString& serverSecret);

inline constexpr std::chrono::seconds kMinAccessTokenLifetime{std::chrono::minutes{5}};
inline constexpr std::chrono::seconds kMaxAccessTokenLifetime{std::chrono::minutes{15}};
inline constexpr std::chrono::seconds kMaxRefreshTokenLifetime{std::chrono::days{90}};

struct AccessTokenParams {
    std::string subject;
    std::string issuer;
    std::string audience;
    std::vector<std::string> scopes;  // each an RFC 6749 scope-token (printable ASCII, no space or quote)
    std::chrono::seconds lifetime{std::chrono::minutes{10}};  // 5 to 15 minutes, else refused
    // The refresh family the token was issued with ("family_id" claim), so that revoking the family
    // (logout, reuse) ends its access tokens too; empty for none.
    std::string familyId{};
};

struct RefreshTokenParams {
    std::string subject;
    std::string familyId;  // the rotation family ("family_id" claim): reuse of a dead token kills it
    std::string issuer;
    std::string audience;
    std::chrono::seconds lifetime{std::chrono::days{14}};  // up to kMaxRefreshTokenLifetime
};

enum class IssueError {
    kNone,
    kInvalidArgument,     // empty subject/issuer/audience/family, or a bad scope
    kLifetimeOutOfRange,  // outside the allowed range for this kind of token
    kNoSigningKey,        // no key in the ring may sign now
    kKeyExpiresTooSoon,   // the key would stop verifying before the token expires: rotate first
    kSigningFailed,
};

struct IssuedToken {
    bool ok = false;
    IssueError error = IssueError::kNoSigningKey;
    std::string token;
    std::string tokenId;  // the jti: 128 random bits, base64url
    std::chrono::sys_seconds expires{};
};

[[nodiscard]] IssuedToken issueAccessToken(const KeyRing& ring, const AccessTokenParams& params,
                                           const Clock& clock);
[[nodiscard]] IssuedToken issueRefreshToken(const KeyRing& ring, const RefreshTokenParams& params,
                                            const Clock& clock);

}  // namespace rampart::identity
