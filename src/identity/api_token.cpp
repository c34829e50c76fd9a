// API token generation, format check and hashing, and random tokens, on libsodium.
#include "identity/api_token.hpp"

#include <stdexcept>
#include <vector>

#include <sodium.h>

#include "core/sha256.hpp"
#include "core/sodium_init.hpp"

namespace rampart::identity {
namespace {

constexpr std::size_t kMinRandomTokenBytes = 16;
static_assert(kApiTokenLength == kApiTokenPrefix.size() + (kApiTokenRandomBytes * 4 + 2) / 3);

bool isBase64UrlChar(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Index of a base64url character; only called after isBase64UrlChar.
int base64UrlValue(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '-' ? 62 : 63;
}

}  // namespace

std::string randomToken(std::size_t bytes) {
    if (bytes < kMinRandomTokenBytes) throw std::invalid_argument("random tokens need at least 128 bits");
    ensureSodiumInitialised();
    std::vector<unsigned char> random(bytes);
    randombytes_buf(random.data(), random.size());
    std::string token = base64UrlEncode(random.data(), random.size());
    sodium_memzero(random.data(), random.size());
    return token;
}

NewApiToken generateApiToken() {
    std::string token(kApiTokenPrefix);
    token += randomToken(kApiTokenRandomBytes);
    NewApiToken created{SecretString(), hashApiToken(token), apiTokenDisplayPrefix(token)};
    created.token = SecretString(std::move(token));
    return created;
}

ApiTokenHash hashApiToken(std::string_view token) {
    return sha256(token);
}

std::string hashHex(const ApiTokenHash& hash) {
    return hexLower(hash);
}

std::string apiTokenDisplayPrefix(std::string_view token) {
    if (token.starts_with(kApiTokenPrefix)) token.remove_prefix(kApiTokenPrefix.size());
    return std::string(token.substr(0, kApiTokenDisplayChars));
}

bool looksLikeApiToken(std::string_view text) {
    if (text.size() != kApiTokenLength || !text.starts_with(kApiTokenPrefix)) return false;
    const std::string_view body = text.substr(kApiTokenPrefix.size());
    for (const char c : body) {
        if (!isBase64UrlChar(c)) return false;
    }
    // 43 characters hold 258 bits for 256: a canonical encoding leaves the last two at zero.
    return (base64UrlValue(body.back()) & 0x3) == 0;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace rampart::identity
