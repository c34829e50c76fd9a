// RFC 6238 time-based one-time passwords (TOTP) for two-factor login, with replay protection, and
// the RFC 4648 Base32 and otpauth:// URI that authenticator apps read.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"

namespace rampart::identity {

enum class TotpAlgorithm { sha1, sha256, sha512 };

// What every authenticator app supports is the default; the others exist for RFC 6238's vectors.
struct TotpParams {
    TotpAlgorithm algorithm = TotpAlgorithm::sha1;
    int digits = 6;                   // 6 to 8 (RFC 4226)
    std::chrono::seconds period{30};  // at least 1 s
};

// 160 bits, the HMAC-SHA1 block-output size RFC 4226 recommends.
inline constexpr std::size_t kTotpSecretBytes = 20;

// A new random secret (raw bytes). The caller stores it (encrypted at rest) and shows it once, as
// totpUri, while the user enrols.
[[nodiscard]] SecretString generateTotpSecret();

// RFC 4648 Base32, upper case, without '=' padding (the form otpauth:// URIs use).
[[nodiscard]] std::string base32Encode(std::string_view bytes);
// Strict inverse of base32Encode: letters of either case, no padding, no whitespace, no impossible
// lengths and no non-zero bits after the last byte; else nullopt.
[[nodiscard]] std::optional<std::string> base32Decode(std::string_view text);

// otpauth://totp/Rampart:{username}?secret=...&issuer=Rampart&algorithm=SHA1&digits=6&period=30
// with the username percent-encoded. It carries the secret, hence SecretString.
[[nodiscard]] SecretString totpUri(std::string_view username, std::string_view secret,
                                   const TotpParams& params = {});

// The time step of `now` (Unix seconds / period), or nullopt before 1970.
[[nodiscard]] std::optional<std::int64_t> totpStep(std::chrono::system_clock::time_point now,
                                                   std::chrono::seconds period = std::chrono::seconds(30));

// The code for one time step, zero-padded to params.digits. Throws std::invalid_argument for
// params outside the supported range or a negative step (programming errors, not user input).
[[nodiscard]] std::string totpCode(std::string_view secret, std::int64_t step, const TotpParams& params = {});

// Checks a code the user typed. Accepts the step of `now` and one step either side (clock drift),
// compares in constant time, and refuses every step at or before lastUsedStep, so each code works
// once. Returns the matched step, which the caller must store as the new lastUsedStep before
// reporting success; nullopt for a wrong, replayed or malformed code (anything but exactly
// params.digits ASCII digits).
[[nodiscard]] std::optional<std::int64_t> verifyTotp(std::string_view secret, std::string_view code,
                                                     std::chrono::system_clock::time_point now,
                                                     std::optional<std::int64_t> lastUsedStep,
                                                     const TotpParams& params = {});

}  // namespace rampart::identity
