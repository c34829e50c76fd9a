// Personal API tokens (256-bit random, shown once, stored only as SHA-256) and the random tokens
// behind session ids, refresh token ids and CSRF secrets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base64url.hpp"
#include "core/secret_string.hpp"

namespace rampart::identity {

// "rmp_" + base64url (no padding) of 32 random bytes: 4 + 43 = 47 characters. The prefix lets
// secret scanners and people recognise a leaked token.
inline constexpr std::string_view kApiTokenPrefix = "rmp_";
inline constexpr std::size_t kApiTokenRandomBytes = 32;
inline constexpr std::size_t kApiTokenLength = 47;
// Characters after the prefix kept for display ("rmp_AbCdEfGh…"), so a user can tell tokens apart.
inline constexpr std::size_t kApiTokenDisplayChars = 8;

using ApiTokenHash = std::array<std::uint8_t, 32>;  // SHA-256 of the whole token, prefix included

struct NewApiToken {
    SecretString token;         // shown to the user once, never stored
    ApiTokenHash hash;          // stored (hashHex for a text column) and looked up
    std::string displayPrefix;  // stored, shown in token lists
};

[[nodiscard]] NewApiToken generateApiToken();

// SHA-256 of the token. A fast hash is enough: the token has 256 bits of entropy, so unlike a
// password it cannot be guessed from its hash, and lookups stay cheap.
[[nodiscard]] ApiTokenHash hashApiToken(std::string_view token);
[[nodiscard]] std::string hashHex(const ApiTokenHash& hash);  // 64 lower-case hex digits

// The display prefix of a token: its first kApiTokenDisplayChars characters after "rmp_".
[[nodiscard]] std::string apiTokenDisplayPrefix(std::string_view token);

// True only for exactly "rmp_" + 43 base64url characters that decode to 32 bytes (the last
// character carries two zero bits). Whatever fails this never reaches a hash or a lookup.
[[nodiscard]] bool looksLikeApiToken(std::string_view text);

// Constant-time for equal lengths (sodium_memcmp); different lengths are unequal at once, since the
// length of a token is no secret.
[[nodiscard]] bool constantTimeEquals(std::string_view a, std::string_view b);

// base64url (no padding) of `bytes` random bytes from libsodium: for session ids, refresh token ids
// and CSRF secrets. Throws std::invalid_argument below 16 bytes (128 bits), a programming error.
[[nodiscard]] std::string randomToken(std::size_t bytes = 32);

}  // namespace rampart::identity
