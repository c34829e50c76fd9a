// Test-only helpers shared by the jwt, key ring and JWKS tests: OpenSSL key generation, a settable clock,
// and JSON and base64url shortcuts for building hostile tokens by hand.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/evp.h>
#include <boost/json.hpp>

#include "identity/jwt.hpp"

namespace rampart::identity::fixtures {

inline EvpKeyPtr generateEd25519() {
    return adoptEvpKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
}
inline EvpKeyPtr generateP256() {
    return adoptEvpKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}
inline EvpKeyPtr generateRsa(std::size_t bits) {
    return adoptEvpKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}

// RSA generation takes a noticeable fraction of a second: one key of each size per test binary.
inline EVP_PKEY* sharedRsa2048() {
    static const EvpKeyPtr key = generateRsa(2048);
    return key.get();
}
inline EVP_PKEY* sharedRsa1024() {
    static const EvpKeyPtr key = generateRsa(1024);
    return key.get();
}

inline VerificationKey mustKey(std::string kid, Algorithm alg, EVP_PKEY* key) {
    std::string error;
    auto verification = VerificationKey::fromPublicKey(std::move(kid), alg, key, &error);
    if (!verification) throw std::runtime_error("test key refused: " + error);
    return std::move(*verification);
}

// A clock the test moves by hand.
struct ManualClock {
    std::chrono::system_clock::time_point now = std::chrono::sys_seconds{std::chrono::seconds{1'700'000'000}};
    Clock clock() {
        return [this] { return now; };
    }
    std::int64_t seconds() const {
        return std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
    }
};

inline std::string b64(std::string_view bytes) {
    return base64UrlEncode(bytes);
}
inline std::string unb64(std::string_view text) {
    auto decoded = base64UrlDecode(text);
    if (!decoded) throw std::runtime_error("test data is not base64url");
    return *decoded;
}

// The header of a compact token, decoded and parsed.
inline boost::json::object headerOf(std::string_view token) {
    return boost::json::parse(unb64(token.substr(0, token.find('.')))).as_object();
}

}  // namespace rampart::identity::fixtures
