// Small secrets sealed at rest under the server's secret key: signing keys' private halves, TOTP
// secrets. XChaCha20-Poly1305 under a key derived with HKDF-SHA256 from the secret key and a context
// string, so each use has its own key; associated data binds a sealed value to its owner (a kid, a
// user id), so a value copied onto another row does not open.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"

namespace rampart::identity {

// Overwrites memory in a way the compiler may not optimise out (sodium_memzero).
void secureZero(void* data, std::size_t size);

// Fixed-size key material, wiped however the scope is left.
template <std::size_t N>
struct WipedBytes {
    std::array<unsigned char, N> data{};
    WipedBytes() = default;
    WipedBytes(const WipedBytes&) = delete;
    WipedBytes& operator=(const WipedBytes&) = delete;
    ~WipedBytes() { secureZero(data.data(), data.size()); }
};

using SubkeyBytes = WipedBytes<32>;

// A key of its own for one use of the server secret: HKDF-SHA256 with `context` as the info, so keys
// for different uses never coincide. False when the secret is empty or the derivation fails.
[[nodiscard]] bool deriveSubkey(const SecretString& serverSecret, std::string_view context, SubkeyBytes& out);

// base64url of version (1 byte) || nonce (24) || ciphertext and tag. Nullopt when the server secret is
// empty or the key cannot be derived.
[[nodiscard]] std::optional<std::string> sealSecret(std::string_view plaintext,
                                                    const SecretString& serverSecret,
                                                    std::string_view context,
                                                    std::string_view associatedData);

// The plaintext, or nullopt on any failure, all alike: wrong secret, context or associated data, a
// flipped byte, an unknown version, a malformed blob.
[[nodiscard]] std::optional<SecretString> openSecret(std::string_view sealed,
                                                     const SecretString& serverSecret,
                                                     std::string_view context,
                                                     std::string_view associatedData);

}  // namespace rampart::identity
