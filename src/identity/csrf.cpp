// CSRF tokens: HKDF-SHA256 key derivation and HMAC-SHA256 through OpenSSL 3.
#include "identity/csrf.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include "crypto/hkdf.hpp"
#include "identity/api_token.hpp"

namespace rampart::identity {
namespace {

// Domain separation: the same secret key also signs other things, which must never yield a value
// usable as a CSRF token, nor the other way round.
constexpr std::string_view kContext = "rampart csrf v1";

void deriveKey(std::string_view secretKey, std::array<unsigned char, 32>& out) {
    if (!crypto::hkdfSha256(secretKey, kContext, out)) throw std::runtime_error("HKDF derivation failed");
}

}  // namespace

CsrfKey::CsrfKey(const SecretString& secretKey) {
    if (secretKey.empty()) throw std::invalid_argument("CSRF tokens need a secret key");
    deriveKey(secretKey.reveal(), key_);
}

CsrfKey::~CsrfKey() {
    sodium_memzero(key_.data(), key_.size());
}

std::string CsrfKey::tokenFor(std::string_view sessionId) const {
    if (sessionId.empty()) throw std::invalid_argument("a CSRF token needs a session id");
    std::array<unsigned char, 32> mac{};
    unsigned int macLength = 0;
    if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
             reinterpret_cast<const unsigned char*>(sessionId.data()), sessionId.size(), mac.data(),
             &macLength) == nullptr ||
        macLength != mac.size()) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return base64UrlEncode(mac.data(), mac.size());
}

bool CsrfKey::verify(std::string_view sessionId, std::string_view presented) const {
    if (sessionId.empty()) return false;
    // The expected token is computed even for a presented value of the wrong length, so a wrong
    // guess costs the same; constantTimeEquals then refuses it on length.
    const std::string expected = tokenFor(sessionId);
    return constantTimeEquals(expected, presented);
}

std::string csrfToken(std::string_view sessionId, const SecretString& secretKey) {
    return CsrfKey(secretKey).tokenFor(sessionId);
}

bool verifyCsrf(std::string_view sessionId, const SecretString& secretKey, std::string_view presented) {
    if (secretKey.empty()) return false;
    return CsrfKey(secretKey).verify(sessionId, presented);
}

}  // namespace rampart::identity
