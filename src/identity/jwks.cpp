// JWK members to OpenSSL keys (OSSL_PARAM_BLD and EVP_PKEY_fromdata) and back.
#include "identity/jwks.hpp"
#include "crypto/openssl_handles.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/strict_json.hpp"

namespace rampart::identity {
namespace {

using crypto::BnFree;
using crypto::ParamBldFree;
using crypto::ParamFree;
using crypto::PkeyCtxFree;

namespace json = boost::json;

// Members that only a private (or symmetric) JWK has: their presence means a secret was published.
constexpr std::array<std::string_view, 8> kPrivateMembers = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// Why a key is left out; an empty reason means the key was read.
struct KeyOutcome {
    std::optional<VerificationKey> key;
    std::string skipReason;
};

KeyOutcome skip(std::string reason) {
    return KeyOutcome{std::nullopt, std::move(reason)};
}

std::optional<std::string> stringMember(const json::object& jwk, std::string_view name) {
    const json::value* value = jwk.if_contains(name);
    if (!value || !value->is_string()) return std::nullopt;
    return std::string(value->get_string());
}

std::optional<std::string> decodedMember(const json::object& jwk, std::string_view name) {
    const auto text = stringMember(jwk, name);
    return text ? base64UrlDecode(*text) : std::nullopt;
}

EvpKeyPtr keyFromParams(const char* type, OSSL_PARAM_BLD* builder) {
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        ERR_clear_error();
        return nullptr;
    }
    return adoptEvpKey(key);
}

BnPtr bignum(std::string_view bigEndian) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bigEndian.data()),
                           static_cast<int>(bigEndian.size()), nullptr));
}

EvpKeyPtr rsaKey(const json::object& jwk) {
    const auto n = decodedMember(jwk, "n");
    const auto e = decodedMember(jwk, "e");
    if (!n || !e || n->empty() || e->empty()) return nullptr;
    BnPtr modulus = bignum(*n);
    BnPtr exponent = bignum(*e);
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
    if (!modulus || !exponent || !builder ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1) {
        return nullptr;
    }
    return keyFromParams("RSA", builder.get());
}

EvpKeyPtr p256Key(const json::object& jwk) {
    const auto x = decodedMember(jwk, "x");
    const auto y = decodedMember(jwk, "y");
    // RFC 7518 section 6.2.1.2: each coordinate is exactly the field size, 32 bytes for P-256.
    if (!x || !y || x->size() != 32 || y->size() != 32) return nullptr;
    std::string point = "\x04" + *x + *y;  // the uncompressed SEC1 encoding
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
    if (!builder ||
        OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) != 1) {
        return nullptr;
    }
    return keyFromParams("EC", builder.get());
}

// The algorithm a kty/crv pair implies; nullopt for pairs we do not support.
std::optional<Algorithm> impliedAlgorithm(std::string_view kty, const std::optional<std::string>& crv) {
    if (kty == "RSA") return Algorithm::kRS256;
    if (kty == "EC" && crv == "P-256") return Algorithm::kES256;
    if (kty == "OKP" && crv == "Ed25519") return Algorithm::kEdDSA;
    return std::nullopt;
}

// The kty an algorithm needs, to tell a mismatch (refused) from an unsupported curve (skipped).
std::string_view requiredKty(Algorithm alg) {
    switch (alg) {
        case Algorithm::kEdDSA:
            return "OKP";
        case Algorithm::kES256:
            return "EC";
        case Algorithm::kRS256:
            return "RSA";
    }
    return "";
}

// Reads one JWK: a skip reason, a key, or (through `error`) a reason to refuse the whole document.
KeyOutcome readKey(const json::object& jwk, std::string& error) {
    const json::value* ktyValue = jwk.if_contains("kty");
    if (!ktyValue || !ktyValue->is_string()) {
        error = "a key has no kty";
        return {};
    }
    const std::string kty(ktyValue->get_string());
    const auto crv = stringMember(jwk, "crv");

    std::optional<Algorithm> declared;
    if (const json::value* alg = jwk.if_contains("alg")) {
        if (!alg->is_string()) {
            error = "a key has a non-string alg";
            return {};
        }
        const std::string_view name = alg->get_string();
        if (name == "none" || name.starts_with("HS")) {
            error = fmt::format("a {} key declares alg {}", kty, name);
            return {};
        }
        declared = parseAlgorithm(name);
        if (!declared) return skip(fmt::format("alg {} is not supported", name));
        if (requiredKty(*declared) != kty || (*declared == Algorithm::kES256 && crv != "P-256")) {
            error =
                fmt::format("alg {} does not fit a key of kty {}{}", name, kty, crv ? " crv " + *crv : "");
            return {};
        }
    }

    const auto kid = stringMember(jwk, "kid");
    if (!kid || kid->empty()) return skip("no kid");
    if (const json::value* use = jwk.if_contains("use");
        use && (!use->is_string() || use->get_string() != "sig")) {
        return skip(fmt::format("kid {}: use is not sig", *kid));
    }
    if (const json::value* ops = jwk.if_contains("key_ops")) {
        const bool verifies =
            ops->is_array() &&
            std::any_of(ops->get_array().begin(), ops->get_array().end(),
                        [](const json::value& op) { return op.is_string() && op.get_string() == "verify"; });
        if (!verifies) return skip(fmt::format("kid {}: key_ops lacks verify", *kid));
    }
    const auto implied = impliedAlgorithm(kty, crv);
    if (!implied) {
        return skip(fmt::format("kid {}: kty {}{} is not supported", *kid, kty, crv ? " crv " + *crv : ""));
    }
    const Algorithm alg = declared.value_or(*implied);

    EvpKeyPtr material;
    std::string why;
    std::optional<VerificationKey> key;
    switch (alg) {
        case Algorithm::kRS256:
            material = rsaKey(jwk);
            break;
        case Algorithm::kES256:
            material = p256Key(jwk);
            break;
        case Algorithm::kEdDSA: {
            const auto x = decodedMember(jwk, "x");
            if (!x) return skip(fmt::format("kid {}: x is not base64url", *kid));
            key = VerificationKey::fromEd25519(*kid, *x, &why);
            break;
        }
    }
    if (alg != Algorithm::kEdDSA) {
        if (!material) return skip(fmt::format("kid {}: the key material cannot be read", *kid));
        key = VerificationKey::fromPublicKey(*kid, alg, material.get(), &why);
    }
    if (!key) return skip(fmt::format("kid {}: {}", *kid, why));
    return KeyOutcome{std::move(key), {}};
}

std::string bignumToBase64Url(EVP_PKEY* key, const char* name, int padTo) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
        ERR_clear_error();
        return {};
    }
    BnPtr value(raw);
    const int size = padTo > 0 ? padTo : BN_num_bytes(value.get());
    std::string out(static_cast<std::size_t>(size), '\0');
    if (BN_bn2binpad(value.get(), reinterpret_cast<unsigned char*>(out.data()), size) != size) return {};
    return base64UrlEncode(out);
}

}  // namespace

JwksResult parseJwks(std::string_view document) {
    JwksResult result;
    auto refuse = [&](std::string why) {
        result.ok = false;
        result.error = std::move(why);
        result.keys = KeySet();
        return std::move(result);
    };
    try {
        if (document.size() > kMaxJwksSize) return refuse("the JWKS document is too large");
        const auto root = parseStrictJsonObject(document, {.maxSize = kMaxJwksSize, .maxDepth = 8});
        if (!root) return refuse("the JWKS document is not a JSON object (or repeats a member)");
        const json::value* keys = root->if_contains("keys");
        if (!keys || !keys->is_array()) return refuse("the JWKS document has no keys array");
        if (keys->get_array().size() > kMaxJwksKeys) return refuse("the JWKS document has too many keys");

        // Private members anywhere refuse everything, before any key is read: the provider is broken.
        for (const json::value& item : keys->get_array()) {
            if (!item.is_object()) return refuse("a member of keys is not an object");
            for (const std::string_view member : kPrivateMembers) {
                if (item.get_object().contains(member)) {
                    return refuse(
                        fmt::format("the JWKS document publishes private key material ({})", member));
                }
            }
        }
        for (const json::value& item : keys->get_array()) {
            std::string error;
            KeyOutcome outcome = readKey(item.get_object(), error);
            if (!error.empty()) return refuse(std::move(error));
            if (!outcome.key) {
                result.skipped.push_back(std::move(outcome.skipReason));
                continue;
            }
            const std::string kid = outcome.key->kid();
            if (!result.keys.add(std::move(*outcome.key))) {
                return refuse(fmt::format("the JWKS document repeats kid {}", kid));
            }
        }
        if (result.keys.empty()) return refuse("the JWKS document has no usable signing key");
        result.ok = true;
        return result;
    } catch (const std::exception&) {
        // Bad input is reported above; only allocation failure lands here.
        return refuse("the JWKS document cannot be read");
    }
}

json::object toJwk(const VerificationKey& key) {
    json::object jwk;
    EVP_PKEY* evp = key.evpKey();
    switch (key.algorithm()) {
        case Algorithm::kEdDSA: {
            std::string raw(32, '\0');
            std::size_t size = raw.size();
            if (EVP_PKEY_get_raw_public_key(evp, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1) {
                ERR_clear_error();
                raw.clear();
            }
            jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64UrlEncode(raw)}};
            break;
        }
        case Algorithm::kES256:
            jwk = {{"kty", "EC"},
                   {"crv", "P-256"},
                   {"x", bignumToBase64Url(evp, OSSL_PKEY_PARAM_EC_PUB_X, 32)},
                   {"y", bignumToBase64Url(evp, OSSL_PKEY_PARAM_EC_PUB_Y, 32)}};
            break;
        case Algorithm::kRS256:
            jwk = {{"kty", "RSA"},
                   {"n", bignumToBase64Url(evp, OSSL_PKEY_PARAM_RSA_N, 0)},
                   {"e", bignumToBase64Url(evp, OSSL_PKEY_PARAM_RSA_E, 0)}};
            break;
    }
    jwk["kid"] = key.kid();
    jwk["alg"] = algorithmName(key.algorithm());
    jwk["use"] = "sig";
    return jwk;
}

json::object toJwks(const KeySet& keys) {
    json::array list;
    for (const auto& [kid, key] : keys.keys()) list.push_back(toJwk(key));
    return json::object{{"keys", std::move(list)}};
}

}  // namespace rampart::identity
