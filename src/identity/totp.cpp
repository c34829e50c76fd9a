// RFC 6238 TOTP on OpenSSL's HMAC, Base32 and the otpauth:// URI.
#include "identity/totp.hpp"

#include <array>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "core/sodium_init.hpp"

namespace rampart::identity {
namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kIssuer = "Rampart";
constexpr int kMinDigits = 6;
constexpr int kMaxDigits = 8;
// Steps accepted on either side of the current one: RFC 6238 section 5.2 recommends at most one.
constexpr std::int64_t kDriftSteps = 1;

bool validParams(const TotpParams& params) {
    return params.digits >= kMinDigits && params.digits <= kMaxDigits && params.period.count() >= 1;
}

const EVP_MD* digestOf(TotpAlgorithm algorithm) {
    switch (algorithm) {
        case TotpAlgorithm::sha1:
            return EVP_sha1();
        case TotpAlgorithm::sha256:
            return EVP_sha256();
        case TotpAlgorithm::sha512:
            return EVP_sha512();
    }
    throw std::invalid_argument("unknown TOTP algorithm");
}

std::string_view nameOf(TotpAlgorithm algorithm) {
    switch (algorithm) {
        case TotpAlgorithm::sha1:
            return "SHA1";
        case TotpAlgorithm::sha256:
            return "SHA256";
        case TotpAlgorithm::sha512:
            return "SHA512";
    }
    throw std::invalid_argument("unknown TOTP algorithm");
}

int base32Value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

// RFC 3986 unreserved characters stay; everything else (':', '@', spaces, UTF-8) becomes %XX.
std::string percentEncode(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += c;
        } else {
            out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
        }
    }
    return out;
}

bool isAsciiDigits(std::string_view code) {
    for (const char c : code) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// RFC 4226 section 5.3: HMAC of the big-endian counter, dynamic truncation, modulo 10^digits.
std::array<char, kMaxDigits + 1> hotp(std::string_view secret, std::uint64_t counter,
                                      const TotpParams& params) {
    std::array<unsigned char, 8> message{};
    for (int i = 7; i >= 0; --i) {
        message[static_cast<std::size_t>(i)] = static_cast<unsigned char>(counter & 0xFF);
        counter >>= 8;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int macLength = 0;
    if (HMAC(digestOf(params.algorithm), secret.data(), static_cast<int>(secret.size()), message.data(),
             message.size(), mac.data(), &macLength) == nullptr) {
        throw std::runtime_error("HMAC failed");
    }
    const unsigned offset = mac[macLength - 1] & 0x0F;
    const std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7F) << 24) |
                                 (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                                 (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                                 static_cast<std::uint32_t>(mac[offset + 3]);
    sodium_memzero(mac.data(), mac.size());
    std::uint32_t modulus = 1;
    for (int i = 0; i < params.digits; ++i) modulus *= 10;
    std::uint32_t value = binary % modulus;
    std::array<char, kMaxDigits + 1> code{};
    for (int i = params.digits - 1; i >= 0; --i) {
        code[static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return code;
}

}  // namespace

SecretString generateTotpSecret() {
    ensureSodiumInitialised();
    std::string secret(kTotpSecretBytes, '\0');
    randombytes_buf(secret.data(), secret.size());
    return SecretString(std::move(secret));
}

std::string base32Encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : bytes) {
        buffer = (buffer << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 5) {
            out += kBase32Alphabet[(buffer >> (bits - 5)) & 0x1F];
            bits -= 5;
        }
    }
    if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 0x1F];
    return out;
}

std::optional<std::string> base32Decode(std::string_view text) {
    // Unpadded Base32 of n bytes has a length whose remainder mod 8 is 0, 2, 4, 5 or 7.
    const std::size_t remainder = text.size() % 8;
    if (remainder == 1 || remainder == 3 || remainder == 6) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 5 / 8);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int value = base32Value(c);
        if (value < 0) return std::nullopt;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
        bits += 5;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
            bits -= 8;
        }
    }
    // Leftover bits must be zero, so each byte string has exactly one accepted encoding.
    if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

SecretString totpUri(std::string_view username, std::string_view secret, const TotpParams& params) {
    if (!validParams(params)) throw std::invalid_argument("TOTP parameters out of range");
    return SecretString(
        fmt::format("otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}", kIssuer,
                    percentEncode(username), base32Encode(secret), kIssuer, nameOf(params.algorithm),
                    params.digits, params.period.count()));
}

std::optional<std::int64_t> totpStep(std::chrono::system_clock::time_point now, std::chrono::seconds period) {
    if (period.count() < 1) return std::nullopt;
    const std::int64_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (seconds < 0) return std::nullopt;
    return seconds / period.count();
}

std::string totpCode(std::string_view secret, std::int64_t step, const TotpParams& params) {
    if (!validParams(params)) throw std::invalid_argument("TOTP parameters out of range");
    if (secret.empty()) throw std::invalid_argument("empty TOTP secret");
    if (step < 0) throw std::invalid_argument("negative TOTP step");
    const auto code = hotp(secret, static_cast<std::uint64_t>(step), params);
    return std::string(code.data(), static_cast<std::size_t>(params.digits));
}

std::optional<std::int64_t> verifyTotp(std::string_view secret, std::string_view code,
                                       std::chrono::system_clock::time_point now,
                                       std::optional<std::int64_t> lastUsedStep, const TotpParams& params) {
    if (!validParams(params) || secret.empty()) return std::nullopt;
    if (code.size() != static_cast<std::size_t>(params.digits) || !isAsciiDigits(code)) return std::nullopt;
    const std::optional<std::int64_t> current = totpStep(now, params.period);
    if (!current) return std::nullopt;

    // Every step in the window is computed and compared, matching or not, so the time taken does
    // not tell which step (if any) the code belongs to.
    std::optional<std::int64_t> matched;
    for (std::int64_t step = *current - kDriftSteps; step <= *current + kDriftSteps; ++step) {
        if (step < 0) continue;
        auto expected = hotp(secret, static_cast<std::uint64_t>(step), params);
        const bool equal = sodium_memcmp(expected.data(), code.data(), code.size()) == 0;
        sodium_memzero(expected.data(), expected.size());
        const bool fresh = !lastUsedStep || step > *lastUsedStep;
        if (equal && fresh) matched = step;  // later steps win; two equal codes in one window are ~1e-6
    }
    return matched;
}

}  // namespace rampart::identity
