// Sealing with libsodium's XChaCha20-Poly1305; the key comes from OpenSSL's HKDF.
#include "identity/sealed.hpp"

#include <array>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <sodium.h>

#include "core/base64url.hpp"
#include "core/sodium_init.hpp"
#include "crypto/hkdf.hpp"

namespace rampart::identity {
namespace {

constexpr unsigned char kVersion = 1;
constexpr std::size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;

using SealingKey = SubkeyBytes;
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == sizeof(SubkeyBytes::data),
              "a sealing key is a subkey");

const unsigned char* bytes(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

bool deriveSubkey(const SecretString& serverSecret, std::string_view context, SubkeyBytes& out) {
    if (serverSecret.empty()) return false;
    return crypto::hkdfSha256(serverSecret.reveal(), context, out.data);
}

void secureZero(void* data, std::size_t size) {
    sodium_memzero(data, size);
}

std::optional<std::string> sealSecret(std::string_view plaintext, const SecretString& serverSecret,
                                      std::string_view context, std::string_view associatedData) {
    ensureSodiumInitialised();
    SealingKey key;
    if (!deriveSubkey(serverSecret, context, key)) return std::nullopt;
    std::string blob(1 + kNonceSize + plaintext.size() + kTagSize, '\0');
    auto* out = reinterpret_cast<unsigned char*>(blob.data());
    out[0] = kVersion;
    unsigned char* nonce = out + 1;
    randombytes_buf(nonce, kNonceSize);
    unsigned long long cipherSize = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceSize, &cipherSize, bytes(plaintext),
                                               plaintext.size(), bytes(associatedData), associatedData.size(),
                                               nullptr, nonce, key.data.data());
    std::string encoded = base64UrlEncode(blob);
    sodium_memzero(blob.data(), blob.size());
    return encoded;
}

std::optional<SecretString> openSecret(std::string_view sealed, const SecretString& serverSecret,
                                       std::string_view context, std::string_view associatedData) {
    auto blob = base64UrlDecode(sealed);
    if (!blob || blob->size() < 1 + kNonceSize + kTagSize ||
        static_cast<unsigned char>((*blob)[0]) != kVersion) {
        return std::nullopt;
    }
    ensureSodiumInitialised();
    SealingKey key;
    if (!deriveSubkey(serverSecret, context, key)) return std::nullopt;
    const auto* nonce = bytes(*blob) + 1;
    const auto* cipher = nonce + kNonceSize;
    const std::size_t cipherSize = blob->size() - 1 - kNonceSize;
    std::string plain(cipherSize - kTagSize, '\0');
    unsigned long long plainSize = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plainSize,
                                                   nullptr, cipher, cipherSize, bytes(associatedData),
                                                   associatedData.size(), nonce, key.data.data()) != 0) {
        sodium_memzero(plain.data(), plain.size());
        return std::nullopt;
    }
    return SecretString(std::move(plain));
}

}  // namespace rampart::identity
