// Base64url (RFC 4648 section 5) without padding: the encoding of every token and JOSE value here.
#include "core/base64url.hpp"

#include <array>
#include <cstdint>

namespace rampart {
namespace {

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 255 marks a byte outside the alphabet ('=', '+', '/', whitespace, NUL included).
constexpr std::array<unsigned char, 256> kBase64UrlValues = [] {
    std::array<unsigned char, 256> values{};
    values.fill(255);
    for (std::size_t i = 0; i < kBase64UrlAlphabet.size(); ++i) {
        values[static_cast<unsigned char>(kBase64UrlAlphabet[i])] = static_cast<unsigned char>(i);
    }
    return values;
}();

}  // namespace

std::string base64UrlEncode(std::string_view input) {
    std::string out;
    out.reserve((input.size() * 4 + 2) / 3);
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    std::size_t i = 0;
    for (; i + 3 <= input.size(); i += 3) {
        const std::uint32_t n = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        out += kBase64UrlAlphabet[(n >> 18) & 63];
        out += kBase64UrlAlphabet[(n >> 12) & 63];
        out += kBase64UrlAlphabet[(n >> 6) & 63];
        out += kBase64UrlAlphabet[n & 63];
    }
    const std::size_t rest = input.size() - i;
    if (rest == 1) {
        const std::uint32_t n = std::uint32_t{in[i]} << 16;
        out += kBase64UrlAlphabet[(n >> 18) & 63];
        out += kBase64UrlAlphabet[(n >> 12) & 63];
    } else if (rest == 2) {
        const std::uint32_t n = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        out += kBase64UrlAlphabet[(n >> 18) & 63];
        out += kBase64UrlAlphabet[(n >> 12) & 63];
        out += kBase64UrlAlphabet[(n >> 6) & 63];
    }
    return out;
}

std::optional<std::string> base64UrlDecode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;  // 6 bits cannot make a byte
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (const char c : text) {
        const unsigned char value = kBase64UrlValues[static_cast<unsigned char>(c)];
        if (value == 255) return std::nullopt;
        accumulator = (accumulator << 6) | value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((accumulator >> bits) & 0xFF);
        }
    }
    // Leftover bits must be zero, or "AB" and "AC" would both decode to the same byte.
    if (bits > 0 && (accumulator & ((1U << bits) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace rampart
