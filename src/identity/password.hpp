// Password hashing (Argon2id: the reference implementation, libargon2) and the password policy (length,
// zxcvbn strength, similarity to the account's own names) applied before a password is accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::identity {

// Argon2id cost. The defaults are above OWASP's minimum for Argon2id (m = 19 MiB, t = 2, p = 1):
// one hash takes about 0.2 s on the 2-core development machine. Rampart always uses p = 1.
struct PasswordHashing {
    unsigned long long opsLimit = 3;                            // Argon2 passes (t)
    std::size_t memLimitBytes = std::size_t{64} * 1024 * 1024;  // Argon2 memory (m), in bytes

    friend bool operator==(const PasswordHashing&, const PasswordHashing&) = default;
};

// No password longer than this ever reaches Argon2, whatever the policy says: a login or sign-up
// with a megabyte of password must cost no more than one with twelve characters.
inline constexpr std::size_t kMaxPasswordBytes = 1024;

// The encoded hash to store ("$argon2id$v=19$m=65536,t=3,p=1$salt$hash", ASCII, under 128 bytes),
// or nullopt when the password is longer than kMaxPasswordBytes (refused without hashing) or
// Argon2's memory could not be allocated.
[[nodiscard]] std::optional<std::string> hashPassword(std::string_view password,
                                                      const PasswordHashing& params = {});

// True when the password matches the stored hash. False for a wrong password, a password longer
// than kMaxPasswordBytes (refused without hashing) and a malformed hash. The comparison is
// constant-time (sodium_memcmp). Hashes libsodium's crypto_pwhash_str made verify too.
[[nodiscard]] bool verifyPassword(std::string_view password, std::string_view encodedHash);

// True when the stored hash was made with other parameters than `params` (or is not Argon2id, or is
// malformed): after a successful login, the caller hashes the password again and stores the result.
[[nodiscard]] bool needsRehash(std::string_view encodedHash, const PasswordHashing& params = {});

// Runs one verification against a hash of a random password made with `params`, and returns false.
// A login for an unknown username calls it, so it costs the same time as a wrong password for a
// known one. The dummy hash is computed on first use per `params`; prepareDummyHash does it at
// start-up instead, so the first unknown-user login is not slower than the rest.
bool verifyAgainstDummy(std::string_view password, const PasswordHashing& params = {});
void prepareDummyHash(const PasswordHashing& params = {});

// Argon2 runs (hashes and verifications) in this process: for metrics, and for tests that prove a
// refusal happened before any hashing.
[[nodiscard]] std::uint64_t argon2RunCount();

// Lets the calling thread keep its Argon2 memory (up to `bytes`) from one hash to the next instead of
// allocating and releasing it every time; 0 releases it. For threads that hash all day (the password
// pool's): releasing 64 MiB unmaps it, which stalls the process's other threads for a moment.
void keepArgon2MemoryOnThisThread(std::size_t bytes);
// The Argon2 memory the calling thread keeps now (empty when none). Argon2 wipes it after every hash.
[[nodiscard]] std::span<const std::uint8_t> argon2MemoryKeptOnThisThread();
// Gives back the memory the calling thread keeps now; its next hash takes (and keeps) it again.
void releaseArgon2MemoryOnThisThread();

enum class PasswordRule { tooLong, invalidText, tooShort, similarToAccount, tooWeak };

struct PasswordPolicy {
    std::size_t minLength = 12;                // Unicode code points
    std::size_t maxBytes = kMaxPasswordBytes;  // UTF-8 bytes; capped at kMaxPasswordBytes
    int minZxcvbnScore = 3;                    // 0..4, see zxcvbnScore
};

struct PolicyViolation {
    PasswordRule rule;
    std::string message;  // for the user; never repeats the password
};

// Stable identifier of a rule for API error bodies, e.g. "password.too_short".
[[nodiscard]] std::string_view ruleId(PasswordRule rule);

// The first rule the password breaks, or nullopt when it may be used. The checks run cheapest
// first and the length limit before anything else reads the whole password. `username` and `email`
// are the account's own; either may be empty.
[[nodiscard]] std::optional<PolicyViolation> checkPassword(std::string_view password,
                                                           std::string_view username, std::string_view email,
                                                           const PasswordPolicy& policy = {});

// zxcvbn's 0-4 score. libzxcvbn returns an entropy in bits; like zxcvbn's reference implementation
// the score is taken from the guesses needed, guesses = 2^entropy: 0 below 10^3, 1 below 10^6,
// 2 below 10^8, 3 below 10^10, else 4. `userWords` (names, email parts) count as the weakest
// dictionary words. The password must be at most kMaxPasswordBytes long (else the score is 0).
[[nodiscard]] int zxcvbnScore(std::string_view password, const std::vector<std::string>& userWords = {});
[[nodiscard]] int zxcvbnScoreForEntropy(double entropyBits);

}  // namespace rampart::identity
