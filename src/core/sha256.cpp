// SHA-256 through libsodium, and hex text for digests.
#include "core/sha256.hpp"

#include <sodium.h>

#include "core/sodium_init.hpp"

namespace rampart {

Sha256Digest sha256(std::string_view bytes) {
    ensureSodiumInitialised();
    Sha256Digest digest{};
    crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return digest;
}

std::string hexLower(std::span<const std::uint8_t> bytes) {
    std::string hex(bytes.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
    hex.pop_back();
    return hex;
}

}  // namespace rampart
