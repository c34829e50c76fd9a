// libFuzzer target for JWT verification (identity::verifyJwt and the cached JwtVerifier): bearer tokens
// from anyone. The first byte picks how the rest becomes a token: taken as is; "header\npayload" signed
// with a trusted key, with an outsider's key, with HMAC keyed by the trusted public key (the HS256
// confusion attack) or not signed at all; or edits applied to a valid token. Invariant: an accepted token
// passes an independent check written here (canonical base64url, header alg equal to the algorithm bound
// to the kid's key, no key-bearing header, the signature verified by OpenSSL directly, exp/nbf/iss/aud/
// token_use by hand), and the cached verifier (miss, then hit) agrees with the uncached one.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <boost/json/parse.hpp>

#include "core/base64url.hpp"
#include "identity/jwt.hpp"

namespace {

namespace json = boost::json;
using namespace rampart::identity;
using rampart::base64UrlEncode;
using std::chrono::system_clock;

constexpr std::string_view kIssuer = "https://rampart.example";
constexpr std::string_view kAudience = "rampart";
const system_clock::time_point kNow{std::chrono::seconds(1767225600)};  // 2026-01-01T00:00:00Z

// Fixed keys, so that the checked-in seed tokens verify: Ed25519 from a fixed seed, P-256 from this PEM.
// The RSA key is made at start-up (its tokens are signed by the fuzzer itself, never read from seeds).
constexpr unsigned char kEd25519Seed[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                            17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
constexpr unsigned char kOutsiderSeed[32] = {99, 2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
constexpr const char* kEs256Pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbsMAc2z7cDeWGNT3\n"
    "59/ofZ5vs4YI/2MtaG10/SolV4GhRANCAARiBqMS145SvdpWOcLQgaoY6joKMMjO\n"
    "81TGmxf4UnI+TLRoB/mwqEodLGR6ZhGVs7NyNIuEIlwUxuZks7+UhX/V\n"
    "-----END PRIVATE KEY-----\n";

struct TrustedKey {
    std::string kid;
    Algorithm alg;
    EvpKeyPtr privateKey;
    std::string publicPem;  // the HMAC key of the confusion attack
};

std::string publicPem(EVP_PKEY* key) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), key);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

struct Fixture {
    std::vector<TrustedKey> trusted;
    EvpKeyPtr outsider;
    KeySet keys;
    VerifyOptions options;
    std::shared_ptr<VerificationCache> cache = std::make_shared<VerificationCache>(64);
    std::unique_ptr<JwtVerifier> verifier;
    std::string validToken;

    Fixture() {
        auto add = [&](std::string kid, Algorithm alg, EVP_PKEY* key) {
            if (!key) std::abort();
            auto verification = VerificationKey::fromPublicKey(kid, alg, key);
            if (!verification || !keys.add(std::move(*verification))) std::abort();
            trusted.push_back({std::move(kid), alg, adoptEvpKey(key), publicPem(key)});
        };
        add("ed", Algorithm::kEdDSA,
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, kEd25519Seed, sizeof kEd25519Seed));
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(kEs256Pem, -1), BIO_free);
        add("ec", Algorithm::kES256, PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
        add("rsa", Algorithm::kRS256, EVP_RSA_gen(2048));
        outsider = adoptEvpKey(
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, kOutsiderSeed, sizeof kOutsiderSeed));

        options.issuer = kIssuer;
        options.audience = kAudience;
        options.tokenUse = "access";
        verifier = std::make_unique<JwtVerifier>(
            options, [] { return kNow; }, cache);
        validToken = *signCompact(R"({"alg":"EdDSA","typ":"JWT","kid":"ed"})",
                                  R"({"sub":"u1","iss":"https://rampart.example","aud":"rampart",)"
                                  R"("exp":1767229200,"iat":1767225000,"token_use":"access","scope":"jobs"})",
                                  Algorithm::kEdDSA, trusted[0].privateKey.get());
    }

    const TrustedKey* find(std::string_view kid) const {
        for (const auto& key : trusted)
            if (key.kid == kid) return &key;
        return nullptr;
    }
};

// Base64url decoded without this project's code; nullopt unless `text` is the one canonical encoding.
std::optional<std::string> decodeCanonical(std::string_view text) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto index = kAlphabet.find(c);
        if (index == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(index);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    // Leftover bits: fewer than 6, all zero, or the text was not an encoding of whole bytes.
    if (bits >= 6 || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

bool opensslVerifies(const TrustedKey& key, std::string_view input, std::string signature) {
    const EVP_MD* digest = key.alg == Algorithm::kEdDSA ? nullptr : EVP_sha256();
    if (key.alg == Algorithm::kES256) {
        // JOSE r||s to the DER that OpenSSL reads.
        if (signature.size() != 64) return false;
        const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
        ECDSA_SIG* sig = ECDSA_SIG_new();
        ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
        unsigned char* der = nullptr;
        const int length = i2d_ECDSA_SIG(sig, &der);
        ECDSA_SIG_free(sig);
        if (length <= 0) return false;
        signature.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
        OPENSSL_free(der);
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, digest, nullptr, key.privateKey.get()) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

std::optional<std::int64_t> seconds(const json::value* value) {
    if (!value) return std::nullopt;
    if (value->is_int64()) return value->get_int64();
    if (value->is_uint64())
        return static_cast<std::int64_t>(std::min<std::uint64_t>(value->get_uint64(), INT64_MAX));
    if (value->is_double()) return static_cast<std::int64_t>(value->get_double());
    return std::nullopt;
}

// Everything an accepted token must be, checked without the verifier's code.
void checkAccepted(const Fixture& fixture, std::string_view token, const VerifyResult& result) {
    const auto firstDot = token.find('.');
    const auto secondDot = token.find('.', firstDot + 1);
    if (firstDot == std::string_view::npos || secondDot == std::string_view::npos ||
        token.find('.', secondDot + 1) != std::string_view::npos)
        std::abort();
    const auto header = decodeCanonical(token.substr(0, firstDot));
    const auto payload = decodeCanonical(token.substr(firstDot + 1, secondDot - firstDot - 1));
    const auto signature = decodeCanonical(token.substr(secondDot + 1));
    if (!header || !payload || !signature) std::abort();

    json::error_code ec;
    const json::value headerJson = json::parse(*header, ec);
    if (ec || !headerJson.is_object()) std::abort();
    const auto& h = headerJson.get_object();
    for (const char* name : {"jwk", "jku", "x5u", "x5c", "crit"})
        if (h.contains(name)) std::abort();
    const auto* kid = h.if_contains("kid");
    const auto* alg = h.if_contains("alg");
    if (!kid || !kid->is_string() || !alg || !alg->is_string()) std::abort();
    const TrustedKey* key = fixture.find(kid->get_string());
    if (!key || alg->get_string() != algorithmName(key->alg)) std::abort();
    if (!opensslVerifies(*key, token.substr(0, secondDot), *signature)) std::abort();

    const json::value claims = json::parse(*payload, ec);
    if (ec || !claims.is_object()) std::abort();
    const auto& c = claims.get_object();
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch()).count();
    const auto exp = seconds(c.if_contains("exp"));
    if (!exp || *exp + 30 <= now) std::abort();
    if (const auto nbf = seconds(c.if_contains("nbf")); nbf && *nbf > now + 30) std::abort();
    const auto* iss = c.if_contains("iss");
    if (!iss || !iss->is_string() || iss->get_string() != kIssuer) std::abort();
    const auto* aud = c.if_contains("aud");
    bool audienceFound = aud && aud->is_string() && aud->get_string() == kAudience;
    if (aud && aud->is_array())
        for (const auto& item : aud->get_array())
            audienceFound |= item.is_string() && item.get_string() == kAudience;
    if (!audienceFound) std::abort();
    const auto* use = c.if_contains("token_use");
    if (!use || !use->is_string() || use->get_string() != "access") std::abort();
    const auto* sub = c.if_contains("sub");
    if (!sub || !sub->is_string() || sub->get_string().empty() || sub->get_string() != result.claims->subject)
        std::abort();
}

std::string hmacSha256(std::string_view key, std::string_view input) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    return std::string(reinterpret_cast<const char*>(mac), length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Fixture fixture;
    if (size == 0) return 0;
    const unsigned mode = data[0] % 6;
    const TrustedKey& key = fixture.trusted[(data[0] / 6) % fixture.trusted.size()];
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

    std::string token;
    if (mode == 0) {
        token = rest;  // a token as a client sends it
    } else if (mode == 5) {
        // Edits to a valid token: pairs of (position, byte) overwrite, a position past the end appends.
        token = fixture.validToken;
        for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
            const auto position = static_cast<unsigned char>(rest[i]) * 2u;
            if (position < token.size())
                token[position] = rest[i + 1];
            else
                token += rest[i + 1];
        }
    } else {
        const auto newline = rest.find('\n');
        const std::string_view headerJson = rest.substr(0, newline);
        const std::string_view payloadJson =
            newline == std::string_view::npos ? "" : rest.substr(newline + 1);
        const std::string signingInput = base64UrlEncode(headerJson) + "." + base64UrlEncode(payloadJson);
        if (mode == 1) {  // signed by the trusted key: only the header and claims rules stand in the way
            token = signCompact(headerJson, payloadJson, key.alg, key.privateKey.get()).value_or("");
        } else if (mode == 2) {  // signed by a key nobody trusts
            token =
                signCompact(headerJson, payloadJson, Algorithm::kEdDSA, fixture.outsider.get()).value_or("");
        } else if (mode == 3) {  // HMAC keyed by the public key, as if the verifier took "alg" from the token
            token = signingInput + "." + base64UrlEncode(hmacSha256(key.publicPem, signingInput));
        } else {  // no signature at all
            token = signingInput + ".";
        }
    }

    const VerifyResult direct = verifyJwt(token, fixture.keys, fixture.options, kNow);
    if (direct.ok != (direct.error == VerifyError::kNone)) std::abort();
    if (direct.ok) {
        checkAccepted(fixture, token, direct);
        if (mode == 2 || mode == 3 || mode == 4) std::abort();  // already implied; says it outright
        if (mode == 5) {
            const std::string_view original = fixture.validToken;
            if (token.substr(0, token.rfind('.')) != original.substr(0, original.rfind('.'))) std::abort();
        }
    }
    // The cache must never change an answer: first a miss (or an entry from an earlier input), then a hit.
    for (int i = 0; i < 2; ++i) {
        const VerifyResult cached = fixture.verifier->verify(token, fixture.keys);
        if (cached.ok != direct.ok || cached.error != direct.error) std::abort();
        if (cached.ok && cached.claims->subject != direct.claims->subject) std::abort();
    }
    return 0;
}
