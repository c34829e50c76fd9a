// HKDF-SHA-256 (RFC 5869, no salt) through OpenSSL 3: the one derivation of the subkeys Rampart takes
// from its secret key (sealed key material, CSRF tokens, the audit chain and its checkpoints).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "crypto/openssl_handles.hpp"

namespace rampart::crypto {

// Fills `out` with HKDF-SHA-256(key, info). False (and OpenSSL's error queue cleared) if OpenSSL fails.
inline bool hkdfSha256(std::string_view key, std::string_view info, std::span<unsigned char> out) {
    const std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
    const std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> context(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(key.data()), key.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
        OSSL_PARAM_construct_end(),
    };
    if (!context || EVP_KDF_derive(context.get(), out.data(), out.size(), params) != 1) {
        ERR_clear_error();
        return false;
    }
    return true;
}

}  // namespace rampart::crypto
