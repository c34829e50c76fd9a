// SHA-256 of bytes and its hex text: for fingerprints of high-entropy or non-secret data (API tokens,
// idempotent requests). Never for passwords: those use Argon2id (identity/password.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace rampart {

using Sha256Digest = std::array<std::uint8_t, 32>;

[[nodiscard]] Sha256Digest sha256(std::string_view bytes);

// Lower-case hex, two digits a byte.
[[nodiscard]] std::string hexLower(std::span<const std::uint8_t> bytes);

}  // namespace rampart
