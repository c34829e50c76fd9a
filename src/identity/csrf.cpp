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

#include "identity/api_token.hpp"

namespace rampart::identity {
namespace {

// Domain separation: the same secret key also signs other things, which must never yield a value
// usable as a CSRF token, nor the other way round.
constexpr std::string_view kContext = "rampart csrf v1";

struct KdfDeleter {
    void operator()(EVP_KDF* kdf) const { EVP_KDF_free(kdf); }
    void operator()(EVP_KDF_CTX* context) const { EVP_KDF_CTX_free(context); }
};

void deriveKey(std::string_view secretKey, std::array<unsigned char, 32>& out) {
    const std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    if (!kdf) throw std::runtime_error("OpenSSL has no HKDF");
    const std::unique_ptr<EVP_KDF_CTX, KdfDeleter> context(EVP_KDF_CTX_new(kdf.get()));
    if (!context) throw std::runtime_error("cannot create an HKDF context");
    // OSSL_PARAM takes non-const pointers but only reads through them here.
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secretKey.data()),
                                          secretKey.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kContext.data()),
                                          kContext.size()),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(context.get(), out.data(), out.size(), params) != 1) {
        throw std::runtime_error("HKDF derivation failed");
    }
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
