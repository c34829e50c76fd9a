// Base64url (RFC 4648 section 5) without padding, strict when decoding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rampart {

// Decoding is strict: no '=', nothing outside the alphabet, no impossible length, and unused trailing
// bits must be zero, so every byte string has exactly one encoding.
[[nodiscard]] std::string base64UrlEncode(std::string_view bytes);
[[nodiscard]] std::optional<std::string> base64UrlDecode(std::string_view text);

[[nodiscard]] inline std::string base64UrlEncode(const void* data, std::size_t size) {
    return base64UrlEncode(std::string_view(static_cast<const char*>(data), size));
}

}  // namespace rampart
