// Signing keys: Ed25519 through OpenSSL; private halves sealed at rest (identity/sealed.hpp).
#include "identity/key_ring.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "identity/sealed.hpp"

namespace rampart::identity {
namespace {

namespace json = boost::json;
using TimePoint = std::chrono::system_clock::time_point;

// Changing the context gives unrelated keys: bump it with the blob version if the scheme ever changes.
constexpr std::string_view kSealContext = "rampart signing-key v1";
constexpr std::size_t kEd25519KeySize = 32;

void ensureSodium() {
    // sodium_init is idempotent and thread-safe; a failure means no usable randomness at all.
    if (sodium_init() < 0) throw std::runtime_error("libsodium cannot initialise");
}

std::string randomBase64Url(std::size_t size) {
    ensureSodium();
    std::string raw(size, '\0');
    randombytes_buf(raw.data(), raw.size());
    return base64UrlEncode(raw);
}

std::optional<std::string> rawPublicKey(EVP_PKEY* key) {
    if (!key) return std::nullopt;
    std::string raw(kEd25519KeySize, '\0');
    std::size_t size = raw.size();
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1 ||
        size != kEd25519KeySize) {
        ERR_clear_error();
        return std::nullopt;
    }
    return raw;
}

bool isScopeToken(std::string_view scope) {
    // RFC 6749 section 3.3: %x21 / %x23-5B / %x5D-7E, at least one.
    return !scope.empty() && std::all_of(scope.begin(), scope.end(), [](char c) {
        return c >= 0x21 && c <= 0x7E && c != '"' && c != '\\';
    });
}

// The claims both kinds share, and the signature; the caller adds its own claims first.
IssuedToken signWithCurrentKey(const KeyRing& ring, json::object claims, std::chrono::seconds lifetime,
                               const Clock& clock) {
    IssuedToken result;
    const TimePoint now = clock();
    const SigningKey* key = ring.current(now);
    if (!key) {
        result.error = IssueError::kNoSigningKey;
        return result;
    }
    const auto issuedAt = std::chrono::floor<std::chrono::seconds>(now);
    const auto expires = issuedAt + lifetime;
    if (expires > key->expires) {
        result.error = IssueError::kKeyExpiresTooSoon;
        return result;
    }
    std::string tokenId = randomBase64Url(16);
    claims["iat"] = issuedAt.time_since_epoch().count();
    claims["exp"] = expires.time_since_epoch().count();
    claims["jti"] = tokenId;
    auto token = signJwt(claims, key->kid, key->alg, key->privateKey.get());
    if (!token) {
        result.error = IssueError::kSigningFailed;
        return result;
    }
    result.ok = true;
    result.error = IssueError::kNone;
    result.token = std::move(*token);
    result.tokenId = std::move(tokenId);
    result.expires = expires;
    return result;
}

IssuedToken failed(IssueError error) {
    IssuedToken result;
    result.error = error;
    return result;
}

}  // namespace

std::string generateKid() {
    return randomBase64Url(16);
}

SigningKey generateSigningKey(TimePoint now, const KeyPolicy& policy) {
    EvpKeyPtr privateKey = adoptEvpKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    const auto raw = rawPublicKey(privateKey.get());
    EvpKeyPtr publicKey = raw ? adoptEvpKey(EVP_PKEY_new_raw_public_key(
                                    EVP_PKEY_ED25519, nullptr,
                                    reinterpret_cast<const unsigned char*>(raw->data()), raw->size()))
                              : nullptr;
    if (!privateKey || !publicKey) {
        ERR_clear_error();
        throw std::runtime_error("OpenSSL cannot generate an Ed25519 key");
    }
    SigningKey key;
    key.kid = generateKid();
    key.alg = Algorithm::kEdDSA;
    key.publicKey = std::move(publicKey);
    key.privateKey = std::move(privateKey);
    key.created = std::chrono::floor<std::chrono::seconds>(now);
    key.notAfter = key.created + policy.signingPeriod;
    key.expires = key.notAfter + policy.maxTokenLifetime;
    return key;
}

bool KeyRing::add(SigningKey key) {
    const bool taken =
        std::any_of(keys_.begin(), keys_.end(), [&](const SigningKey& k) { return k.kid == key.kid; });
    if (taken || key.kid.empty() || !key.publicKey) return false;
    keys_.push_back(std::move(key));
    return true;
}

const SigningKey* KeyRing::current(TimePoint now) const {
    const SigningKey* best = nullptr;
    for (const SigningKey& key : keys_) {
        if (!key.privateKey || now >= key.notAfter) continue;
        if (!best || key.created >= best->created) best = &key;
    }
    return best;
}

KeySet KeyRing::verificationKeys(TimePoint now) const {
    KeySet set;
    for (const SigningKey& key : keys_) {
        if (now >= key.expires) continue;
        auto verification = VerificationKey::fromPublicKey(key.kid, key.alg, key.publicKey.get());
        if (!verification) continue;  // add() and openSigningKey() only let valid keys in
        verification->setExpires(key.expires);
        set.add(std::move(*verification));
    }
    return set;
}

std::vector<std::string> KeyRing::removeExpired(TimePoint now) {
    std::vector<std::string> removed;
    std::erase_if(keys_, [&](const SigningKey& key) {
        if (now < key.expires) return false;
        removed.push_back(key.kid);
        return true;
    });
    return removed;
}

std::string publicKeyBase64Url(const SigningKey& key) {
    const auto raw = rawPublicKey(key.publicKey.get());
    return raw ? base64UrlEncode(*raw) : std::string();
}

json::object publicJwk(const SigningKey& key) {
    return json::object{{"kty", "OKP"},
                        {"crv", "Ed25519"},
                        {"x", publicKeyBase64Url(key)},
                        {"kid", key.kid},
                        {"alg", algorithmName(key.alg)},
                        {"use", "sig"}};
}

std::optional<StoredSigningKey> sealSigningKey(const SigningKey& key, const SecretString& serverSecret) {
    if (key.alg != Algorithm::kEdDSA || key.kid.empty()) return std::nullopt;
    const auto publicRaw = rawPublicKey(key.publicKey.get());
    if (!publicRaw) return std::nullopt;
    StoredSigningKey stored{.kid = key.kid,
                            .alg = std::string(algorithmName(key.alg)),
                            .publicKey = base64UrlEncode(*publicRaw),
                            .encryptedPrivateKey = {},
                            .created = key.created,
                            .notAfter = key.notAfter,
                            .expires = key.expires};
    if (!key.privateKey) return stored;
    if (serverSecret.empty()) return std::nullopt;

    WipedBytes<kEd25519KeySize> privateRaw;
    std::size_t size = privateRaw.data.size();
    if (EVP_PKEY_get_raw_private_key(key.privateKey.get(), privateRaw.data.data(), &size) != 1 ||
        size != kEd25519KeySize) {
        ERR_clear_error();
        return std::nullopt;
    }
    auto sealed = sealSecret(
        std::string_view(reinterpret_cast<const char*>(privateRaw.data.data()), privateRaw.data.size()),
        serverSecret, kSealContext, key.kid);
    if (!sealed) return std::nullopt;
    stored.encryptedPrivateKey = std::move(*sealed);
    return stored;
}

std::optional<SigningKey> openSigningKey(const StoredSigningKey& stored, const SecretString& serverSecret) {
    if (stored.kid.empty() || parseAlgorithm(stored.alg) != Algorithm::kEdDSA) return std::nullopt;
    const auto publicRaw = base64UrlDecode(stored.publicKey);
    if (!publicRaw || !VerificationKey::fromEd25519(stored.kid, *publicRaw)) return std::nullopt;

    SigningKey key;
    key.kid = stored.kid;
    key.alg = Algorithm::kEdDSA;
    key.publicKey = adoptEvpKey(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(publicRaw->data()),
        publicRaw->size()));
    key.created = stored.created;
    key.notAfter = stored.notAfter;
    key.expires = stored.expires;
    if (!key.publicKey) {
        ERR_clear_error();
        return std::nullopt;
    }
    if (stored.encryptedPrivateKey.empty()) return key;

    const auto privateRaw = openSecret(stored.encryptedPrivateKey, serverSecret, kSealContext, stored.kid);
    if (!privateRaw || privateRaw->size() != kEd25519KeySize) return std::nullopt;
    key.privateKey = adoptEvpKey(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(privateRaw->reveal().data()),
        privateRaw->size()));
    if (!key.privateKey) {
        ERR_clear_error();
        return std::nullopt;
    }
    // A blob sealed for another key under the same kid must not pair a foreign private key with this public
    // one.
    if (rawPublicKey(key.privateKey.get()) != publicRaw) return std::nullopt;
    return key;
}

IssuedToken issueAccessToken(const KeyRing& ring, const AccessTokenParams& params, const Clock& clock) {
    if (params.subject.empty() || params.issuer.empty() || params.audience.empty() ||
        !std::all_of(params.scopes.begin(), params.scopes.end(), isScopeToken)) {
        return failed(IssueError::kInvalidArgument);
    }
    if (params.lifetime < kMinAccessTokenLifetime || params.lifetime > kMaxAccessTokenLifetime) {
        return failed(IssueError::kLifetimeOutOfRange);
    }
    std::string scope;
    for (const std::string& item : params.scopes) {
        if (!scope.empty()) scope += ' ';
        scope += item;
    }
    json::object claims{{"iss", params.issuer},
                        {"sub", params.subject},
                        {"aud", params.audience},
                        {"token_use", "access"},
                        {"scope", scope}};
    if (!params.familyId.empty()) claims["family_id"] = params.familyId;
    return signWithCurrentKey(ring, std::move(claims), params.lifetime, clock);
}

IssuedToken issueRefreshToken(const KeyRing& ring, const RefreshTokenParams& params, const Clock& clock) {
    if (params.subject.empty() || params.familyId.empty() || params.issuer.empty() ||
        params.audience.empty()) {
        return failed(IssueError::kInvalidArgument);
    }
    if (params.lifetime <= std::chrono::seconds::zero() || params.lifetime > kMaxRefreshTokenLifetime) {
        return failed(IssueError::kLifetimeOutOfRange);
    }
    json::object claims{{"iss", params.issuer},
                        {"sub", params.subject},
                        {"aud", params.audience},
                        {"token_use", "refresh"},
                        {"family_id", params.familyId}};
    return signWithCurrentKey(ring, std::move(claims), params.lifetime, clock);
}

}  // namespace rampart::identity
