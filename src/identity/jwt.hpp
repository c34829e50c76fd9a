// Compact JWS (RFC 7515/7519): base64url, signing, and verification against keys that each carry their one
// allowed algorithm, with a cache of successful verifications. A pure library: no HTTP, no storage.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>
#include <boost/json/object.hpp>

#include "core/base64url.hpp"

namespace rampart::identity {

// Tests control time through this; production passes systemClock().
using Clock = std::function<std::chrono::system_clock::time_point()>;
[[nodiscard]] Clock systemClock();

// The only algorithms there are. HS* and "none" are not missing by accident: a symmetric algorithm next to
// public keys is how "HS256 signed with the public key" forgeries work.
enum class Algorithm { kEdDSA, kES256, kRS256 };
[[nodiscard]] std::string_view algorithmName(Algorithm alg);                   // "EdDSA", "ES256", "RS256"
[[nodiscard]] std::optional<Algorithm> parseAlgorithm(std::string_view name);  // exact, case-sensitive

// OpenSSL keys are reference counted and safe to use from many threads once built.
using EvpKeyPtr = std::shared_ptr<EVP_PKEY>;
[[nodiscard]] EvpKeyPtr adoptEvpKey(EVP_PKEY* key);  // takes ownership; nullptr stays nullptr

// A public key bound to exactly one algorithm. The token's "alg" must name that algorithm; it never chooses.
class VerificationKey {
  public:
    // Copies only the public half of `key`. Refuses (nullopt, reason in *error) a key that does not fit
    // `alg`: Ed25519 for EdDSA (not a small-order point), P-256 for ES256, RSA of 2048 to 8192 bits with a
    // sane public exponent for RS256.
    [[nodiscard]] static std::optional<VerificationKey> fromPublicKey(std::string kid, Algorithm alg,
                                                                      EVP_PKEY* key,
                                                                      std::string* error = nullptr);
    // A raw 32-byte Ed25519 public key, as our key ring stores and a JWK "x" carries it.
    [[nodiscard]] static std::optional<VerificationKey> fromEd25519(std::string kid, std::string_view raw,
                                                                    std::string* error = nullptr);
    // A PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"), e.g. from configuration.
    [[nodiscard]] static std::optional<VerificationKey> fromPem(std::string kid, Algorithm alg,
                                                                std::string_view pem,
                                                                std::string* error = nullptr);

    [[nodiscard]] const std::string& kid() const { return kid_; }
    [[nodiscard]] Algorithm algorithm() const { return alg_; }
    [[nodiscard]] EVP_PKEY* evpKey() const { return key_.get(); }
    // SHA-256 of the SubjectPublicKeyInfo: tells a cached verification whether the kid still means this key.
    [[nodiscard]] const std::array<unsigned char, 32>& fingerprint() const { return fingerprint_; }

    // After this instant the key verifies nothing (a retired signing key); unset means no end.
    [[nodiscard]] const std::optional<std::chrono::system_clock::time_point>& expires() const {
        return expires_;
    }
    void setExpires(std::chrono::system_clock::time_point expires) { expires_ = expires; }

    // `signature` in JWS form (for ES256 the 64-byte r||s). False for every failure, never throws.
    [[nodiscard]] bool verify(std::string_view signingInput, std::string_view signature) const;

  private:
    VerificationKey(std::string kid, Algorithm alg, EvpKeyPtr key, std::array<unsigned char, 32> fingerprint)
        : kid_(std::move(kid)), alg_(alg), key_(std::move(key)), fingerprint_(fingerprint) {}

    std::string kid_;
    Algorithm alg_;
    EvpKeyPtr key_;
    std::array<unsigned char, 32> fingerprint_;
    std::optional<std::chrono::system_clock::time_point> expires_;
};

// The keys a verifier trusts, by kid. A value type: build a new one on rotation or JWKS refresh and swap a
// std::shared_ptr<const KeySet> so requests in flight keep the snapshot they started with.
class KeySet {
  public:
    // False (and nothing added) when the kid is taken: one kid, one key, one algorithm.
    bool add(VerificationKey key);
    [[nodiscard]] const VerificationKey* find(std::string_view kid) const;
    [[nodiscard]] std::size_t size() const { return keys_.size(); }
    [[nodiscard]] bool empty() const { return keys_.empty(); }
    [[nodiscard]] const std::map<std::string, VerificationKey, std::less<>>& keys() const { return keys_; }

  private:
    std::map<std::string, VerificationKey, std::less<>> keys_;
};

// A JWS signature over `signingInput` ("header.payload"), JOSE form (ES256: r||s, 64 bytes). Nullopt when the
// private key does not fit the algorithm or OpenSSL fails.
[[nodiscard]] std::optional<std::string> createSignature(Algorithm alg, EVP_PKEY* privateKey,
                                                         std::string_view signingInput);

// A compact JWS from raw header and payload bytes (tests use it to build hostile tokens). The header text is
// signed as given; nothing is added to it.
[[nodiscard]] std::optional<std::string> signCompact(std::string_view headerJson, std::string_view payload,
                                                     Algorithm alg, EVP_PKEY* privateKey);

// A JWT with header {"alg":<alg>,"typ":"JWT","kid":<kid>} and `claims` as payload.
[[nodiscard]] std::optional<std::string> signJwt(const boost::json::object& claims, std::string_view kid,
                                                 Algorithm alg, EVP_PKEY* privateKey);

inline constexpr std::size_t kMaxTokenSize = 8 * 1024;

// Why a token was refused; one code per reason so logs and audit say what happened. The HTTP layer should
// still answer every one of them with the same 401 (the client learns nothing from the difference).
enum class VerifyError {
    kNone,
    kMalformed,             // size, segments, base64url, JSON, not objects, duplicate keys
    kAlgorithmMissing,      // no "alg" in the header
    kAlgorithmNone,         // "alg": "none" (in any letter case)
    kAlgorithmUnsupported,  // anything but EdDSA, ES256, RS256 (every HS* included)
    kAlgorithmMismatch,     // a supported algorithm, but not the one bound to the key
    kForbiddenHeader,       // jwk, jku, x5u, x5c or crit: a token may not bring its own key or rules
    kKidMissing,            // no "kid" (or not a non-empty string)
    kKidUnknown,            // no key with that kid
    kKeyExpired,            // the key exists but has retired from verifying
    kBadSignature,          // the signature does not verify (wrong length included)
    kInvalidClaim,          // a registered claim of the wrong type or range, or no "sub"
    kExpirationMissing,     // no "exp": every token must end
    kExpired,               // "exp" passed, beyond the leeway
    kNotYetValid,           // "nbf" in the future, beyond the leeway
    kIssuedInFuture,        // "iat" in the future, beyond the leeway
    kWrongIssuer,           // "iss" is not the expected issuer
    kWrongAudience,         // "aud" (string or array) does not contain the expected audience
    kWrongType,             // header "typ" is not the expected one (only when one is expected)
    kWrongTokenUse,         // "token_use" is not the expected one (an access verifier meets a refresh token)
};
// A stable snake_case name ("bad_signature") for logs, metrics and audit records.
[[nodiscard]] std::string_view verifyErrorName(VerifyError error);

// The registered claims, typed, plus everything as it came.
struct Claims {
    std::string subject;                                // sub
    std::string issuer;                                 // iss
    std::vector<std::string> audience;                  // aud (a single string becomes one element)
    std::chrono::sys_seconds expires{};                 // exp (required)
    std::optional<std::chrono::sys_seconds> notBefore;  // nbf
    std::optional<std::chrono::sys_seconds> issuedAt;   // iat
    std::string tokenId;                                // jti
    std::string tokenUse;                               // token_use: "access" or "refresh" in our tokens
    std::vector<std::string> scopes;  // scope: space-separated string (or an array of strings)
    boost::json::object raw;          // the whole claims object, for custom claims (family_id, ...)
};

struct VerifyResult {
    bool ok = false;
    VerifyError error = VerifyError::kMalformed;
    // Set only when ok. Shared with the verification cache's entry on a hit (not copied per request).
    std::shared_ptr<const Claims> claims;
};

struct VerifyOptions {
    std::string issuer;    // required: "iss" must equal it (an empty value refuses every token)
    std::string audience;  // required: "aud" must contain it (likewise)
    // "access" or "refresh" for our own tokens; nullopt for an external provider's tokens that have none.
    std::optional<std::string> tokenUse;
    // Header "typ", compared case-insensitively, when set (RFC 9068 providers send "at+jwt").
    std::optional<std::string> type{};
    std::chrono::seconds leeway{30};  // clock skew tolerated on exp, nbf and iat
};

// Checks everything except revocation: that is the caller's, per request, against the user and session
// state (a revoked token keeps a valid signature until it expires). Uncached.
[[nodiscard]] VerifyResult verifyJwt(std::string_view token, const KeySet& keys, const VerifyOptions& options,
                                     std::chrono::system_clock::time_point now);

// Successful signature checks by SHA-256 of the whole token. A signature check costs 20-60 us, more than the
// whole budget of a request; a hit costs a hash and a lookup. Only the signature is remembered: on a hit the
// key must still be in the key set with the same public key and algorithm, and every claim (exp first) is
// checked again against the caller's options and clock. Entries leave at the token's exp or when the
// shard is full. Thread-safe; share one per process (or per verifier). It never answers for revocation.
class VerificationCache {
  public:
    explicit VerificationCache(std::size_t capacity = 10'000);
    ~VerificationCache();
    VerificationCache(const VerificationCache&) = delete;
    VerificationCache& operator=(const VerificationCache&) = delete;

    struct Entry {
        std::string kid;
        Algorithm alg;
        std::array<unsigned char, 32> keyFingerprint;
        std::optional<std::string> type;  // header typ, which VerifyOptions::type may ask about
        Claims claims;
    };

    [[nodiscard]] std::shared_ptr<const Entry> find(std::string_view token,
                                                    std::chrono::system_clock::time_point now) const;
    void insert(std::string_view token, std::shared_ptr<const Entry> entry,
                std::chrono::system_clock::time_point now);
    [[nodiscard]] std::size_t size() const;
    void clear();

  private:
    struct Shard;
    std::size_t shardCapacity_;
    std::unique_ptr<Shard[]> shards_;
};

// What the request pipeline holds: options, a clock and (optionally) a cache. The key set comes with each
// call, so rotation and JWKS refresh are a matter of passing the newest snapshot.
class JwtVerifier {
  public:
    JwtVerifier(VerifyOptions options, Clock clock, std::shared_ptr<VerificationCache> cache = nullptr);

    [[nodiscard]] VerifyResult verify(std::string_view token, const KeySet& keys) const;
    [[nodiscard]] const VerifyOptions& options() const { return options_; }

  private:
    VerifyOptions options_;
    Clock clock_;
    std::shared_ptr<VerificationCache> cache_;
};

}  // namespace rampart::identity
