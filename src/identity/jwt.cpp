// Compact JWS parsing, signing and verification with OpenSSL 3, and the verification cache.
#include "identity/jwt.hpp"
#include "crypto/openssl_handles.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <boost/beast/core/string.hpp>
#include <boost/json/serialize.hpp>

#include "core/strict_json.hpp"

namespace rampart::identity {
namespace {

using crypto::BioFree;
using crypto::BnFree;
using crypto::EcdsaSigFree;
using crypto::MdCtxFree;
using crypto::OpensslFree;
using crypto::PkeyCtxFree;

namespace json = boost::json;
using Digest = std::array<unsigned char, 32>;
using TimePoint = std::chrono::system_clock::time_point;

// The group order n of P-256: an ECDSA r or s must lie in [1, n-1].
constexpr std::array<unsigned char, 32> kP256Order = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

// 2200-01-01T00:00:00Z. std::chrono::system_clock counts nanoseconds in 64 bits, which ends in April
// 2262: a later date (the year 9999 was the limit once) overflowed when compared with the clock, undefined
// behaviour found by fuzz/jwt_fuzz.cpp. No token needs to live for 175 years.
constexpr std::int64_t kMaxNumericDate = 7258118400;

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

// OpenSSL's SHA-256 (SHA extensions where the CPU has them: about 4x libsodium's portable code, and the
// verification cache hashes every bearer token on every request), with the algorithm fetched once.
// A digest context per thread, reused (EVP_Digest would allocate and free one per call).
Digest sha256(std::string_view data) {
    static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                                       &EVP_MD_CTX_free);
    Digest digest;
    unsigned int size = 0;
    if (kSha256 == nullptr || !context || EVP_DigestInit_ex2(context.get(), kSha256, nullptr) != 1 ||
        EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(context.get(), digest.data(), &size) != 1 || size != digest.size())
        throw std::runtime_error("SHA-256 is not available");  // every token is refused: fail closed
    return digest;
}

// The digest name OpenSSL needs for each algorithm (Ed25519 hashes internally and takes none).
const char* digestName(Algorithm alg) {
    return alg == Algorithm::kEdDSA ? nullptr : "SHA256";
}

bool keyFitsAlgorithm(Algorithm alg, EVP_PKEY* key, std::string* error) {
    auto refuse = [&](std::string why) {
        if (error) *error = std::move(why);
        return false;
    };
    switch (alg) {
        case Algorithm::kEdDSA: {
            if (!EVP_PKEY_is_a(key, "ED25519")) return refuse("EdDSA needs an Ed25519 key");
            unsigned char raw[32];
            std::size_t size = sizeof raw;
            if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1 || size != sizeof raw) {
                return refuse("cannot read the Ed25519 public key");
            }
            // A small-order point lets anyone produce signatures that verify; libsodium knows the list.
            if (sodium_init() < 0 || crypto_core_ed25519_is_valid_point(raw) != 1) {
                return refuse("the Ed25519 public key is not a valid point of the main subgroup");
            }
            return true;
        }
        case Algorithm::kES256: {
            if (!EVP_PKEY_is_a(key, "EC")) return refuse("ES256 needs an EC key");
            char group[64] = {};
            std::size_t length = 0;
            if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1) {
                return refuse("cannot read the EC curve");
            }
            const std::string_view name(group, length);
            if (name != "prime256v1" && name != "P-256") return refuse("ES256 needs a P-256 key");
            std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
            if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) return refuse("the EC point is not valid");
            return true;
        }
        case Algorithm::kRS256: {
            if (!EVP_PKEY_is_a(key, "RSA")) return refuse("RS256 needs an RSA key");
            const int bits = EVP_PKEY_get_bits(key);
            if (bits < 2048) return refuse("RSA keys under 2048 bits are refused");
            // Larger keys only cost verification time; nobody signs tokens with them.
            if (bits > 8192) return refuse("RSA keys over 8192 bits are refused");
            BIGNUM* rawExponent = nullptr;
            if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &rawExponent) != 1) {
                return refuse("cannot read the RSA exponent");
            }
            std::unique_ptr<BIGNUM, BnFree> exponent(rawExponent);
            // A huge exponent makes each verification slow; real keys use 65537 (or 3).
            if (!BN_is_odd(exponent.get()) || BN_is_one(exponent.get()) || BN_num_bits(exponent.get()) > 32) {
                return refuse("the RSA public exponent is not acceptable");
            }
            return true;
        }
    }
    return refuse("unknown algorithm");
}

// Signing needs only the right kind of key; the full checks above are for keys that come from outside.
bool keyTypeFits(Algorithm alg, EVP_PKEY* key) {
    switch (alg) {
        case Algorithm::kEdDSA:
            return EVP_PKEY_is_a(key, "ED25519");
        case Algorithm::kES256: {
            char group[64] = {};
            std::size_t length = 0;
            if (!EVP_PKEY_is_a(key, "EC") ||
                EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1) {
                return false;
            }
            const std::string_view name(group, length);
            return name == "prime256v1" || name == "P-256";
        }
        case Algorithm::kRS256:
            return EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048;
    }
    return false;
}

bool inP256ScalarRange(const unsigned char* value) {
    const bool zero = std::all_of(value, value + 32, [](unsigned char b) { return b == 0; });
    return !zero && std::memcmp(value, kP256Order.data(), 32) < 0;
}

// JOSE's fixed r||s to the DER SEQUENCE OpenSSL verifies.
std::optional<std::string> joseToDer(std::string_view signature) {
    if (signature.size() != 64) return std::nullopt;
    const unsigned char* raw = bytes(signature);
    if (!inP256ScalarRange(raw) || !inP256ScalarRange(raw + 32)) return std::nullopt;
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(raw, 32, nullptr);
    BIGNUM* s = BN_bin2bn(raw + 32, 32, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int length = i2d_ECDSA_SIG(sig.get(), &der);
    if (length <= 0) return std::nullopt;
    std::unique_ptr<unsigned char, OpensslFree> owned(der);
    return std::string(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
}

std::optional<std::string> derToJose(std::string_view der) {
    const unsigned char* p = bytes(der);
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) return std::nullopt;
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string out(64, '\0');
    auto* target = reinterpret_cast<unsigned char*>(out.data());
    if (BN_bn2binpad(r, target, 32) != 32 || BN_bn2binpad(s, target + 32, 32) != 32) return std::nullopt;
    return out;
}

bool digestVerify(Algorithm alg, EVP_PKEY* key, std::string_view input, std::string_view signature) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    const bool ok =
        ctx &&
        EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digestName(alg), nullptr, nullptr, key, nullptr) == 1 &&
        EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input), input.size()) == 1;
    // Failed checks leave entries in the thread's error queue; they must not pile up on a busy thread.
    if (!ok) ERR_clear_error();
    return ok;
}

// A NumericDate (RFC 7519 section 2): a non-negative number of seconds, fractions allowed and dropped.
std::optional<std::chrono::sys_seconds> numericDate(const json::value& value) {
    std::int64_t seconds = 0;
    if (value.is_int64()) {
        seconds = value.get_int64();
    } else if (value.is_uint64()) {
        if (value.get_uint64() > static_cast<std::uint64_t>(kMaxNumericDate)) return std::nullopt;
        seconds = static_cast<std::int64_t>(value.get_uint64());
    } else if (value.is_double()) {
        const double d = value.get_double();
        if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxNumericDate)) return std::nullopt;
        seconds = static_cast<std::int64_t>(std::floor(d));
    } else {
        return std::nullopt;
    }
    if (seconds < 0 || seconds > kMaxNumericDate) return std::nullopt;
    return std::chrono::sys_seconds{std::chrono::seconds{seconds}};
}

// Reads the registered claims; the policy (issuer, audience, time) is checked afterwards.
VerifyError extractClaims(json::object object, Claims& claims) {
    auto optionalString = [&](std::string_view name, std::string& out) {
        const json::value* value = object.if_contains(name);
        if (!value) return true;
        if (!value->is_string()) return false;
        out = std::string(value->get_string());
        return true;
    };
    if (!optionalString("sub", claims.subject) || claims.subject.empty()) return VerifyError::kInvalidClaim;
    if (!optionalString("iss", claims.issuer) || !optionalString("jti", claims.tokenId) ||
        !optionalString("token_use", claims.tokenUse)) {
        return VerifyError::kInvalidClaim;
    }

    if (const json::value* aud = object.if_contains("aud")) {
        if (aud->is_string()) {
            claims.audience.emplace_back(aud->get_string());
        } else if (aud->is_array()) {
            for (const json::value& item : aud->get_array()) {
                if (!item.is_string()) return VerifyError::kInvalidClaim;
                claims.audience.emplace_back(item.get_string());
            }
        } else {
            return VerifyError::kInvalidClaim;
        }
    }

    const json::value* exp = object.if_contains("exp");
    if (!exp) return VerifyError::kExpirationMissing;
    const auto expires = numericDate(*exp);
    if (!expires) return VerifyError::kInvalidClaim;
    claims.expires = *expires;
    for (auto [name, target] : {std::pair{"nbf", &claims.notBefore}, std::pair{"iat", &claims.issuedAt}}) {
        const json::value* value = object.if_contains(name);
        if (!value) continue;
        *target = numericDate(*value);
        if (!*target) return VerifyError::kInvalidClaim;
    }

    if (const json::value* scope = object.if_contains("scope")) {
        if (scope->is_string()) {
            const std::string_view text = scope->get_string();
            std::size_t start = 0;
            while (start < text.size()) {
                std::size_t end = text.find(' ', start);
                if (end == std::string_view::npos) end = text.size();
                if (end > start) claims.scopes.emplace_back(text.substr(start, end - start));
                start = end + 1;
            }
        } else if (scope->is_array()) {
            for (const json::value& item : scope->get_array()) {
                if (!item.is_string()) return VerifyError::kInvalidClaim;
                claims.scopes.emplace_back(item.get_string());
            }
        } else {
            return VerifyError::kInvalidClaim;
        }
    }
    claims.raw = std::move(object);
    return VerifyError::kNone;
}

// Everything that depends on the caller's options and clock; run on every request, cached or not.
VerifyError checkPolicy(const std::optional<std::string>& type, const Claims& claims,
                        const VerifyOptions& options, TimePoint now) {
    if (now >= claims.expires + options.leeway) return VerifyError::kExpired;
    if (claims.notBefore && now + options.leeway < *claims.notBefore) return VerifyError::kNotYetValid;
    if (claims.issuedAt && *claims.issuedAt > now + options.leeway) return VerifyError::kIssuedInFuture;
    if (options.issuer.empty() || claims.issuer != options.issuer) return VerifyError::kWrongIssuer;
    if (options.audience.empty() || std::find(claims.audience.begin(), claims.audience.end(),
                                              options.audience) == claims.audience.end()) {
        return VerifyError::kWrongAudience;
    }
    if (options.tokenUse && claims.tokenUse != *options.tokenUse) return VerifyError::kWrongTokenUse;
    if (options.type && (!type || !boost::beast::iequals(*type, *options.type)))
        return VerifyError::kWrongType;
    return VerifyError::kNone;
}

bool keyStillValid(const VerificationKey& key, TimePoint now) {
    return !key.expires() || now < *key.expires();
}

// The part of verification that depends only on the token, the key set and the time: structure, header
// rules, key choice and signature. Fills `entry` (for the cache) on success.
VerifyError verifySignature(std::string_view token, const KeySet& keys, TimePoint now,
                            VerificationCache::Entry& entry) {
    if (token.empty() || token.size() > kMaxTokenSize) return VerifyError::kMalformed;
    const std::size_t firstDot = token.find('.');
    if (firstDot == std::string_view::npos) return VerifyError::kMalformed;
    const std::size_t secondDot = token.find('.', firstDot + 1);
    if (secondDot == std::string_view::npos || token.find('.', secondDot + 1) != std::string_view::npos) {
        return VerifyError::kMalformed;
    }
    const std::string_view headerPart = token.substr(0, firstDot);
    const std::string_view payloadPart = token.substr(firstDot + 1, secondDot - firstDot - 1);
    const std::string_view signaturePart = token.substr(secondDot + 1);
    if (headerPart.empty() || payloadPart.empty()) return VerifyError::kMalformed;

    const auto headerText = base64UrlDecode(headerPart);
    if (!headerText) return VerifyError::kMalformed;
    const auto header = parseStrictJsonObject(*headerText, {.maxSize = kMaxTokenSize, .maxDepth = 8});
    if (!header) return VerifyError::kMalformed;

    const json::value* algValue = header->if_contains("alg");
    if (!algValue) return VerifyError::kAlgorithmMissing;
    if (!algValue->is_string()) return VerifyError::kMalformed;
    const std::string_view algName = algValue->get_string();
    // Case-insensitively ("NONE", "nOnE"): ASCII only, whatever the process locale.
    if (boost::beast::iequals(algName, "none")) return VerifyError::kAlgorithmNone;
    const auto alg = parseAlgorithm(algName);
    if (!alg) return VerifyError::kAlgorithmUnsupported;

    // A token naming its own key (jwk, jku, x5u, x5c) or extensions we must understand (crit) is refused
    // outright: keys come only from the key set, and we implement no extension.
    for (const std::string_view name : {"jwk", "jku", "x5u", "x5c", "crit"}) {
        if (header->contains(name)) return VerifyError::kForbiddenHeader;
    }
    if (const json::value* typ = header->if_contains("typ")) {
        if (!typ->is_string()) return VerifyError::kMalformed;
        entry.type = std::string(typ->get_string());
    }

    const json::value* kidValue = header->if_contains("kid");
    if (!kidValue || !kidValue->is_string() || kidValue->get_string().empty())
        return VerifyError::kKidMissing;
    const VerificationKey* key = keys.find(kidValue->get_string());
    if (!key) return VerifyError::kKidUnknown;
    if (!keyStillValid(*key, now)) return VerifyError::kKeyExpired;
    if (*alg != key->algorithm()) return VerifyError::kAlgorithmMismatch;

    const auto payload = base64UrlDecode(payloadPart);
    if (!payload || signaturePart.empty()) return VerifyError::kMalformed;
    const auto signature = base64UrlDecode(signaturePart);
    if (!signature) return VerifyError::kMalformed;
    if (!key->verify(token.substr(0, secondDot), *signature)) return VerifyError::kBadSignature;

    // Claims are parsed only once the signature holds: unauthenticated bytes meet the JSON parser in the
    // header alone.
    auto claimsObject = parseStrictJsonObject(*payload, {.maxSize = kMaxTokenSize, .maxDepth = 16});
    if (!claimsObject) return VerifyError::kMalformed;
    const VerifyError claimsError = extractClaims(std::move(*claimsObject), entry.claims);
    if (claimsError != VerifyError::kNone) return claimsError;

    entry.kid = key->kid();
    entry.alg = key->algorithm();
    entry.keyFingerprint = key->fingerprint();
    return VerifyError::kNone;
}

VerifyResult refused(VerifyError error) {
    return VerifyResult{.ok = false, .error = error, .claims = nullptr};
}

}  // namespace

Clock systemClock() {
    return [] { return std::chrono::system_clock::now(); };
}

std::string_view algorithmName(Algorithm alg) {
    switch (alg) {
        case Algorithm::kEdDSA:
            return "EdDSA";
        case Algorithm::kES256:
            return "ES256";
        case Algorithm::kRS256:
            return "RS256";
    }
    return "unknown";
}

std::optional<Algorithm> parseAlgorithm(std::string_view name) {
    if (name == "EdDSA") return Algorithm::kEdDSA;
    if (name == "ES256") return Algorithm::kES256;
    if (name == "RS256") return Algorithm::kRS256;
    return std::nullopt;
}

EvpKeyPtr adoptEvpKey(EVP_PKEY* key) {
    if (!key) return nullptr;
    return EvpKeyPtr(key, EVP_PKEY_free);
}

std::optional<VerificationKey> VerificationKey::fromPublicKey(std::string kid, Algorithm alg, EVP_PKEY* key,
                                                              std::string* error) {
    if (!key) {
        if (error) *error = "no key";
        return std::nullopt;
    }
    if (kid.empty()) {
        if (error) *error = "a key needs a kid";
        return std::nullopt;
    }
    if (!keyFitsAlgorithm(alg, key, error)) {
        ERR_clear_error();
        return std::nullopt;
    }
    // Re-reading the SubjectPublicKeyInfo drops any private half and gives the fingerprint.
    unsigned char* der = nullptr;
    const int length = i2d_PUBKEY(key, &der);
    if (length <= 0) {
        ERR_clear_error();
        if (error) *error = "cannot encode the public key";
        return std::nullopt;
    }
    std::unique_ptr<unsigned char, OpensslFree> owned(der);
    const std::string_view encoded(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    const unsigned char* cursor = der;
    EvpKeyPtr publicOnly = adoptEvpKey(d2i_PUBKEY(nullptr, &cursor, length));
    if (!publicOnly) {
        ERR_clear_error();
        if (error) *error = "cannot decode the public key";
        return std::nullopt;
    }
    return VerificationKey(std::move(kid), alg, std::move(publicOnly), sha256(encoded));
}

std::optional<VerificationKey> VerificationKey::fromEd25519(std::string kid, std::string_view raw,
                                                            std::string* error) {
    if (raw.size() != 32) {
        if (error) *error = "an Ed25519 public key has 32 bytes";
        return std::nullopt;
    }
    EvpKeyPtr key =
        adoptEvpKey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(raw), raw.size()));
    if (!key) {
        ERR_clear_error();
        if (error) *error = "not an Ed25519 public key";
        return std::nullopt;
    }
    return fromPublicKey(std::move(kid), Algorithm::kEdDSA, key.get(), error);
}

std::optional<VerificationKey> VerificationKey::fromPem(std::string kid, Algorithm alg, std::string_view pem,
                                                        std::string* error) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EvpKeyPtr key = bio ? adoptEvpKey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) : nullptr;
    if (!key) {
        ERR_clear_error();
        if (error) *error = "not a PEM public key";
        return std::nullopt;
    }
    return fromPublicKey(std::move(kid), alg, key.get(), error);
}

bool VerificationKey::verify(std::string_view signingInput, std::string_view signature) const {
    switch (alg_) {
        case Algorithm::kEdDSA:
            return signature.size() == 64 && digestVerify(alg_, key_.get(), signingInput, signature);
        case Algorithm::kES256: {
            const auto der = joseToDer(signature);
            return der && digestVerify(alg_, key_.get(), signingInput, *der);
        }
        case Algorithm::kRS256:
            return signature.size() == static_cast<std::size_t>(EVP_PKEY_get_size(key_.get())) &&
                   digestVerify(alg_, key_.get(), signingInput, signature);
    }
    return false;
}

bool KeySet::add(VerificationKey key) {
    std::string kid = key.kid();
    return keys_.emplace(std::move(kid), std::move(key)).second;
}

const VerificationKey* KeySet::find(std::string_view kid) const {
    const auto it = keys_.find(kid);
    return it == keys_.end() ? nullptr : &it->second;
}

std::optional<std::string> createSignature(Algorithm alg, EVP_PKEY* privateKey,
                                           std::string_view signingInput) {
    if (!privateKey || !keyTypeFits(alg, privateKey)) {
        ERR_clear_error();
        return std::nullopt;
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, digestName(alg), nullptr, nullptr, privateKey, nullptr) !=
            1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, bytes(signingInput), signingInput.size()) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    std::string signature(length, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                       bytes(signingInput), signingInput.size()) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    signature.resize(length);
    if (alg == Algorithm::kES256) return derToJose(signature);
    return signature;
}

std::optional<std::string> signCompact(std::string_view headerJson, std::string_view payload, Algorithm alg,
                                       EVP_PKEY* privateKey) {
    std::string token = base64UrlEncode(headerJson);
    token += '.';
    token += base64UrlEncode(payload);
    const auto signature = createSignature(alg, privateKey, token);
    if (!signature) return std::nullopt;
    token += '.';
    token += base64UrlEncode(*signature);
    return token;
}

std::optional<std::string> signJwt(const json::object& claims, std::string_view kid, Algorithm alg,
                                   EVP_PKEY* privateKey) {
    const json::object header{{"alg", algorithmName(alg)}, {"typ", "JWT"}, {"kid", kid}};
    return signCompact(json::serialize(header), json::serialize(claims), alg, privateKey);
}

std::string_view verifyErrorName(VerifyError error) {
    switch (error) {
        case VerifyError::kNone:
            return "none";
        case VerifyError::kMalformed:
            return "malformed";
        case VerifyError::kAlgorithmMissing:
            return "algorithm_missing";
        case VerifyError::kAlgorithmNone:
            return "algorithm_none";
        case VerifyError::kAlgorithmUnsupported:
            return "algorithm_unsupported";
        case VerifyError::kAlgorithmMismatch:
            return "algorithm_mismatch";
        case VerifyError::kForbiddenHeader:
            return "forbidden_header";
        case VerifyError::kKidMissing:
            return "kid_missing";
        case VerifyError::kKidUnknown:
            return "kid_unknown";
        case VerifyError::kKeyExpired:
            return "key_expired";
        case VerifyError::kBadSignature:
            return "bad_signature";
        case VerifyError::kInvalidClaim:
            return "invalid_claim";
        case VerifyError::kExpirationMissing:
            return "expiration_missing";
        case VerifyError::kExpired:
            return "expired";
        case VerifyError::kNotYetValid:
            return "not_yet_valid";
        case VerifyError::kIssuedInFuture:
            return "issued_in_future";
        case VerifyError::kWrongIssuer:
            return "wrong_issuer";
        case VerifyError::kWrongAudience:
            return "wrong_audience";
        case VerifyError::kWrongType:
            return "wrong_type";
        case VerifyError::kWrongTokenUse:
            return "wrong_token_use";
    }
    return "unknown";
}

VerifyResult verifyJwt(std::string_view token, const KeySet& keys, const VerifyOptions& options,
                       TimePoint now) {
    try {
        VerificationCache::Entry entry;
        VerifyError error = verifySignature(token, keys, now, entry);
        if (error == VerifyError::kNone) error = checkPolicy(entry.type, entry.claims, options, now);
        if (error != VerifyError::kNone) return refused(error);
        return VerifyResult{.ok = true,
                            .error = VerifyError::kNone,
                            .claims = std::make_shared<const Claims>(std::move(entry.claims))};
    } catch (const std::exception&) {
        // Bad input is reported through return values; only allocation failure can land here.
        return refused(VerifyError::kMalformed);
    }
}

namespace {

constexpr std::size_t kCacheShards = 16;

struct DigestHash {
    std::size_t operator()(const Digest& digest) const {
        std::size_t h;
        std::memcpy(&h, digest.data() + 8, sizeof h);  // SHA-256 output is already uniform
        return h;
    }
};

}  // namespace

struct VerificationCache::Shard {
    mutable std::mutex mutex;
    std::unordered_map<Digest, std::shared_ptr<const Entry>, DigestHash> entries;
};

VerificationCache::VerificationCache(std::size_t capacity)
    : shardCapacity_(capacity == 0 ? 0 : (capacity + kCacheShards - 1) / kCacheShards),
      shards_(std::make_unique<Shard[]>(kCacheShards)) {}

VerificationCache::~VerificationCache() = default;

std::shared_ptr<const VerificationCache::Entry> VerificationCache::find(std::string_view token,
                                                                        TimePoint now) const {
    const Digest digest = sha256(token);
    Shard& shard = shards_[digest[0] % kCacheShards];
    std::lock_guard lock(shard.mutex);
    const auto it = shard.entries.find(digest);
    if (it == shard.entries.end()) return nullptr;
    if (now >= it->second->claims.expires) {
        shard.entries.erase(it);
        return nullptr;
    }
    return it->second;
}

void VerificationCache::insert(std::string_view token, std::shared_ptr<const Entry> shared, TimePoint now) {
    if (shardCapacity_ == 0 || !shared || now >= shared->claims.expires) return;
    const Digest digest = sha256(token);
    Shard& shard = shards_[digest[0] % kCacheShards];
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= shardCapacity_ && !shard.entries.contains(digest)) {
        std::erase_if(shard.entries, [&](const auto& item) { return now >= item.second->claims.expires; });
        // Still full of live tokens: drop an eighth at once, so the sweep above is not paid on every insert.
        // Losing an entry costs one signature check later, nothing more.
        const std::size_t target = shardCapacity_ - std::max<std::size_t>(1, shardCapacity_ / 8);
        while (shard.entries.size() > target) shard.entries.erase(shard.entries.begin());
    }
    shard.entries.insert_or_assign(digest, std::move(shared));
}

std::size_t VerificationCache::size() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < kCacheShards; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        total += shards_[i].entries.size();
    }
    return total;
}

void VerificationCache::clear() {
    for (std::size_t i = 0; i < kCacheShards; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        shards_[i].entries.clear();
    }
}

JwtVerifier::JwtVerifier(VerifyOptions options, Clock clock, std::shared_ptr<VerificationCache> cache)
    : options_(std::move(options)), clock_(std::move(clock)), cache_(std::move(cache)) {}

VerifyResult JwtVerifier::verify(std::string_view token, const KeySet& keys) const {
    try {
        const TimePoint now = clock_();
        if (cache_ && !token.empty() && token.size() <= kMaxTokenSize) {
            if (const auto hit = cache_->find(token, now)) {
                // The signature was good under this exact key; the key must still be here and still valid.
                const VerificationKey* key = keys.find(hit->kid);
                if (key && key->algorithm() == hit->alg && key->fingerprint() == hit->keyFingerprint &&
                    keyStillValid(*key, now)) {
                    const VerifyError error = checkPolicy(hit->type, hit->claims, options_, now);
                    if (error != VerifyError::kNone) return refused(error);
                    return VerifyResult{.ok = true,
                                        .error = VerifyError::kNone,
                                        .claims = std::shared_ptr<const Claims>(hit, &hit->claims)};
                }
                // Otherwise the key changed or left: verify from scratch, which gives the right error.
            }
        }
        VerificationCache::Entry entry;
        VerifyError error = verifySignature(token, keys, now, entry);
        if (error == VerifyError::kNone) error = checkPolicy(entry.type, entry.claims, options_, now);
        if (error != VerifyError::kNone) return refused(error);
        auto verified = std::make_shared<const VerificationCache::Entry>(std::move(entry));
        if (cache_) cache_->insert(token, verified, now);
        return VerifyResult{.ok = true,
                            .error = VerifyError::kNone,
                            .claims = std::shared_ptr<const Claims>(verified, &verified->claims)};
    } catch (const std::exception&) {
        return refused(VerifyError::kMalformed);
    }
}

}  // namespace rampart::identity
