// Argon2id hashing (the reference implementation, libargon2, with memory this code provides; libsodium
// for salts, encoding and comparison), the dummy hash for unknown users, and the password policy.
#include "identity/password.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <argon2.h>
#include <fmt/format.h>
#include <sodium.h>
#include <zxcvbn.h>

#include "core/secret_string.hpp"
#include "core/sodium_init.hpp"

namespace rampart::identity {
namespace {

std::atomic<std::uint64_t> argon2Runs{0};

void requireValid(const PasswordHashing& params) {
    // A cost below libsodium's floor is a configuration mistake, not something a request can cause.
    if (params.opsLimit < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
        params.opsLimit > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
        params.memLimitBytes < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
        params.memLimitBytes > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
        throw std::invalid_argument("Argon2id parameters out of libsodium's range");
    }
}

// libsodium wants the hash as a NUL-terminated buffer of crypto_pwhash_STRBYTES; a longer or
// NUL-carrying stored value cannot be a hash it made.
std::optional<std::array<char, crypto_pwhash_STRBYTES>> toHashBuffer(std::string_view encodedHash) {
    if (encodedHash.empty() || encodedHash.size() >= crypto_pwhash_STRBYTES) return std::nullopt;
    if (encodedHash.find('\0') != std::string_view::npos) return std::nullopt;
    std::array<char, crypto_pwhash_STRBYTES> buffer{};
    std::copy(encodedHash.begin(), encodedHash.end(), buffer.begin());
    return buffer;
}

// ---- Argon2's memory ----------------------------------------------------------------------------------
// libsodium maps Argon2's memory (64 MiB by default) for every hash and unmaps it afterwards. Unmapping
// takes the process's address-space lock for writing and interrupts every core running one of its
// threads to flush their TLBs, so under a login flood each hash stalls the network threads for a moment:
// the login flood benchmark saw GET /healthz's p99 grow 9x and GET /api/v1/jobs/{id}'s 20x. Here a thread
// that hashes all day (the password pool's) keeps one buffer and Argon2 reuses it; Argon2 wipes the
// memory before handing it back. Any other thread gets fresh memory and returns it.

struct FreeDeleter {
    void operator()(std::uint8_t* memory) const { std::free(memory); }
};

struct ThreadArgon2Memory {
    std::size_t keepUpTo = 0;  // bytes; 0: keep nothing
    std::unique_ptr<std::uint8_t, FreeDeleter> kept;
    std::size_t keptSize = 0;
};

thread_local ThreadArgon2Memory threadMemory;

// Argon2's blocks are 1 KiB; a cache line is plenty of alignment for its vector loads.
constexpr std::size_t kArgon2Alignment = 64;

std::uint8_t* allocateAligned(std::size_t bytes) {
    const std::size_t rounded = (bytes + kArgon2Alignment - 1) / kArgon2Alignment * kArgon2Alignment;
    return static_cast<std::uint8_t*>(std::aligned_alloc(kArgon2Alignment, rounded));
}

int allocateArgon2Memory(std::uint8_t** memory, std::size_t bytes) {
    ThreadArgon2Memory& thread = threadMemory;
    if (bytes <= thread.keepUpTo) {
        if (thread.keptSize < bytes) {  // a smaller hash reuses a larger buffer
            thread.kept.reset(allocateAligned(bytes));
            thread.keptSize = thread.kept ? bytes : 0;
        }
        *memory = thread.kept.get();
    } else {
        *memory = allocateAligned(bytes);
    }
    return *memory != nullptr ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

void freeArgon2Memory(std::uint8_t* memory, std::size_t /*bytes*/) {
    if (memory != threadMemory.kept.get()) std::free(memory);
}

constexpr std::size_t kSaltBytes =
    16;  // what libsodium's crypto_pwhash_str uses, and Argon2's recommendation
constexpr std::size_t kTagBytes = 32;
constexpr std::size_t kMaxTagBytes = 64;
constexpr std::uint32_t kArgon2Version = ARGON2_VERSION_13;  // "v=19", the only version libsodium made

// One Argon2 run into `tag` (its size is the tag length). False when the parameters are out of range or
// the memory could not be had.
bool runArgon2(argon2_type type, std::string_view password, const std::uint8_t* salt, std::size_t saltBytes,
               std::uint32_t passes, std::uint32_t memoryKib, std::uint8_t* tag, std::size_t tagBytes) {
    argon2_context context{};
    context.out = tag;
    context.outlen = static_cast<std::uint32_t>(tagBytes);
    // Argon2 reads the password and salt only (ARGON2_FLAG_CLEAR_PASSWORD stays off).
    context.pwd = reinterpret_cast<std::uint8_t*>(const_cast<char*>(password.data()));
    context.pwdlen = static_cast<std::uint32_t>(password.size());
    context.salt = const_cast<std::uint8_t*>(salt);
    context.saltlen = static_cast<std::uint32_t>(saltBytes);
    context.t_cost = passes;
    context.m_cost = memoryKib;
    context.lanes = 1;
    context.threads = 1;
    context.version = kArgon2Version;
    context.allocate_cbk = allocateArgon2Memory;
    context.free_cbk = freeArgon2Memory;
    context.flags = ARGON2_DEFAULT_FLAGS;
    argon2Runs.fetch_add(1, std::memory_order_relaxed);
    return argon2_ctx(&context, type) == ARGON2_OK;
}

std::string base64NoPadding(const std::uint8_t* bytes, std::size_t size) {
    std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL_NO_PADDING), '\0');
    sodium_bin2base64(out.data(), out.size(), bytes, size, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    out.resize(out.find('\0'));
    return out;
}

// "$argon2id$v=19$m=65536,t=3,p=1$<salt>$<tag>" (also "$argon2i$"), base64 without padding, as libsodium
// and the reference implementation write it. Anything else, or parameters out of libsodium's range, is
// malformed: nothing this code or libsodium made, so it matches no password.
struct EncodedHash {
    argon2_type type = Argon2_id;
    std::uint32_t passes = 0;
    std::uint32_t memoryKib = 0;
    std::array<std::uint8_t, kMaxTagBytes> salt{};
    std::size_t saltBytes = 0;
    std::array<std::uint8_t, kMaxTagBytes> tag{};
    std::size_t tagBytes = 0;
};

bool consume(std::string_view& text, std::string_view prefix) {
    if (!text.starts_with(prefix)) return false;
    text.remove_prefix(prefix.size());
    return true;
}

bool consumeNumber(std::string_view& text, std::uint32_t& value) {
    if (text.empty() || text.front() == '0') return false;  // no leading zeros, as the encoders write
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{}) return false;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

bool decodeBase64(std::string_view text, std::uint8_t* out, std::size_t capacity, std::size_t& size) {
    return sodium_base642bin(out, capacity, text.data(), text.size(), nullptr, &size, nullptr,
                             sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0;
}

std::optional<EncodedHash> parseEncodedHash(std::string_view text) {
    EncodedHash hash;
    if (consume(text, "$argon2id$")) {
        hash.type = Argon2_id;
    } else if (consume(text, "$argon2i$")) {
        hash.type = Argon2_i;
    } else {
        return std::nullopt;
    }
    std::uint32_t version = 0;
    std::uint32_t lanes = 0;
    if (!consume(text, "v=") || !consumeNumber(text, version) || version != kArgon2Version)
        return std::nullopt;
    if (!consume(text, "$m=") || !consumeNumber(text, hash.memoryKib)) return std::nullopt;
    if (!consume(text, ",t=") || !consumeNumber(text, hash.passes)) return std::nullopt;
    if (!consume(text, ",p=") || !consumeNumber(text, lanes) || lanes != 1) return std::nullopt;
    if (!consume(text, "$")) return std::nullopt;
    const std::size_t dollar = text.find('$');
    if (dollar == std::string_view::npos) return std::nullopt;
    if (!decodeBase64(text.substr(0, dollar), hash.salt.data(), hash.salt.size(), hash.saltBytes) ||
        !decodeBase64(text.substr(dollar + 1), hash.tag.data(), hash.tag.size(), hash.tagBytes)) {
        return std::nullopt;
    }
    const std::size_t memoryBytes = std::size_t{hash.memoryKib} * 1024;
    if (hash.saltBytes < ARGON2_MIN_SALT_LENGTH || hash.tagBytes < ARGON2_MIN_OUTLEN ||
        hash.passes < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
        hash.passes > crypto_pwhash_argon2id_OPSLIMIT_MAX ||
        memoryBytes < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
        memoryBytes > crypto_pwhash_argon2id_MEMLIMIT_MAX) {
        return std::nullopt;
    }
    return hash;
}

struct DummyHash {
    PasswordHashing params;
    std::string encoded;
};

std::mutex dummyMutex;
std::vector<DummyHash> dummyHashes;  // one per parameter set ever used; in practice one

std::string dummyHashFor(const PasswordHashing& params) {
    std::lock_guard lock(dummyMutex);
    for (const DummyHash& dummy : dummyHashes) {
        if (dummy.params == params) return dummy.encoded;
    }
    // The password is random and thrown away, so nothing anyone types can match it.
    ensureSodiumInitialised();
    std::array<unsigned char, 32> randomPassword{};
    randombytes_buf(randomPassword.data(), randomPassword.size());
    std::optional<std::string> encoded = hashPassword(
        std::string_view(reinterpret_cast<const char*>(randomPassword.data()), randomPassword.size()),
        params);
    sodium_memzero(randomPassword.data(), randomPassword.size());
    if (!encoded) throw std::runtime_error("cannot compute the dummy password hash (out of memory)");
    dummyHashes.push_back({params, *encoded});
    return *encoded;
}

// Code points of valid UTF-8 (shortest form, no surrogates, at most U+10FFFF), or nullopt.
std::optional<std::size_t> countCodePoints(std::string_view text) {
    std::size_t count = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        char32_t codePoint = 0;
        if (lead < 0x80) {
            length = 1;
            codePoint = lead;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            codePoint = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            codePoint = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            codePoint = lead & 0x07;
        } else {
            return std::nullopt;  // continuation byte, or a lead that only starts overlong/too-large forms
        }
        if (text.size() - i < length) return std::nullopt;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) return std::nullopt;
            codePoint = (codePoint << 6) | (next & 0x3F);
        }
        const bool overlong = (length == 3 && codePoint < 0x800) || (length == 4 && codePoint < 0x10000);
        const bool surrogate = codePoint >= 0xD800 && codePoint <= 0xDFFF;
        if (overlong || surrogate || codePoint > 0x10FFFF) return std::nullopt;
        i += length;
        ++count;
    }
    return count;
}

// ASCII-only case folding: without ICU there is no full Unicode folding, and the names this
// protects against (usernames, email addresses) are ASCII in practice.
std::string asciiLower(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return lower;
}

bool isAsciiAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string_view emailLocalPart(std::string_view email) {
    const std::size_t at = email.rfind('@');
    return at == std::string_view::npos ? email : email.substr(0, at);
}

// Names shorter than this are too common as substrings ("al", "jo") to refuse passwords over.
constexpr std::size_t kMinSimilarNameLength = 3;

bool similar(std::string_view password, std::string_view name) {
    if (name.size() < kMinSimilarNameLength) return false;
    return password.find(name) != std::string_view::npos || name.find(password) != std::string_view::npos;
}

// Words zxcvbn should treat as the first an attacker tries: the account's own names and the
// parts of its email address, and the product's name.
std::vector<std::string> accountWords(std::string_view username, std::string_view email) {
    std::vector<std::string> words{"rampart"};
    auto add = [&words](std::string_view word) {
        if (word.size() < kMinSimilarNameLength) return;
        std::string lower = asciiLower(word);
        if (std::find(words.begin(), words.end(), lower) == words.end()) words.push_back(std::move(lower));
    };
    add(username);
    add(emailLocalPart(email));
    add(email);
    for (std::string_view text : {username, email}) {
        std::size_t start = 0;
        for (std::size_t i = 0; i <= text.size(); ++i) {
            if (i == text.size() || !isAsciiAlnum(text[i])) {
                add(text.substr(start, i - start));
                start = i + 1;
            }
        }
    }
    return words;
}

PolicyViolation violation(PasswordRule rule, std::string message) {
    return PolicyViolation{rule, std::move(message)};
}

}  // namespace

std::optional<std::string> hashPassword(std::string_view password, const PasswordHashing& params) {
    requireValid(params);
    if (password.size() > kMaxPasswordBytes) return std::nullopt;
    ensureSodiumInitialised();
    std::array<std::uint8_t, kSaltBytes> salt{};
    randombytes_buf(salt.data(), salt.size());
    std::array<std::uint8_t, kTagBytes> tag{};
    const auto passes = static_cast<std::uint32_t>(params.opsLimit);
    const auto memoryKib = static_cast<std::uint32_t>(params.memLimitBytes / 1024);
    if (!runArgon2(Argon2_id, password, salt.data(), salt.size(), passes, memoryKib, tag.data(),
                   tag.size())) {
        return std::nullopt;  // out of memory
    }
    std::string encoded =
        fmt::format("$argon2id$v={}$m={},t={},p=1${}${}", kArgon2Version, memoryKib, passes,
                    base64NoPadding(salt.data(), salt.size()), base64NoPadding(tag.data(), tag.size()));
    sodium_memzero(tag.data(), tag.size());
    return encoded;
}

bool verifyPassword(std::string_view password, std::string_view encodedHash) {
    if (password.size() > kMaxPasswordBytes) return false;
    const std::optional<EncodedHash> stored = parseEncodedHash(encodedHash);
    if (!stored) return false;
    ensureSodiumInitialised();
    std::array<std::uint8_t, kMaxTagBytes> computed{};
    const bool ran = runArgon2(stored->type, password, stored->salt.data(), stored->saltBytes, stored->passes,
                               stored->memoryKib, computed.data(), stored->tagBytes);
    const bool matches = ran && sodium_memcmp(computed.data(), stored->tag.data(), stored->tagBytes) == 0;
    sodium_memzero(computed.data(), computed.size());
    return matches;
}

void keepArgon2MemoryOnThisThread(std::size_t bytes) {
    threadMemory.keepUpTo = bytes;
    if (threadMemory.keptSize > bytes) {
        threadMemory.kept.reset();
        threadMemory.keptSize = 0;
    }
}

void releaseArgon2MemoryOnThisThread() {
    threadMemory.kept.reset();
    threadMemory.keptSize = 0;
}

std::span<const std::uint8_t> argon2MemoryKeptOnThisThread() {
    return {threadMemory.kept.get(), threadMemory.keptSize};
}

bool needsRehash(std::string_view encodedHash, const PasswordHashing& params) {
    requireValid(params);
    const auto buffer = toHashBuffer(encodedHash);
    if (!buffer) return true;
    // The Argon2id-specific check, not crypto_pwhash_str_needs_rehash: the generic one accepts an
    // Argon2i hash with the right cost, and those should move to Argon2id too (it returns -1 for them).
    return crypto_pwhash_argon2id_str_needs_rehash(buffer->data(), params.opsLimit, params.memLimitBytes) !=
           0;
}

bool verifyAgainstDummy(std::string_view password, const PasswordHashing& params) {
    const std::string dummy = dummyHashFor(params);
    // The result is thrown away: only the time spent matters.
    (void)verifyPassword(password, dummy);
    return false;
}

void prepareDummyHash(const PasswordHashing& params) {
    (void)dummyHashFor(params);
}

std::uint64_t argon2RunCount() {
    return argon2Runs.load(std::memory_order_relaxed);
}

std::string_view ruleId(PasswordRule rule) {
    switch (rule) {
        case PasswordRule::tooLong:
            return "password.too_long";
        case PasswordRule::invalidText:
            return "password.invalid_text";
        case PasswordRule::tooShort:
            return "password.too_short";
        case PasswordRule::similarToAccount:
            return "password.similar_to_account";
        case PasswordRule::tooWeak:
            return "password.too_weak";
    }
    return "password.invalid";
}

std::optional<PolicyViolation> checkPassword(std::string_view password, std::string_view username,
                                             std::string_view email, const PasswordPolicy& policy) {
    // Length in bytes first: nothing below (UTF-8 scan, zxcvbn, Argon2) may see an oversized input.
    const std::size_t maxBytes = std::min(policy.maxBytes, kMaxPasswordBytes);
    if (password.size() > maxBytes) {
        return violation(PasswordRule::tooLong,
                         fmt::format("The password is too long: at most {} bytes.", maxBytes));
    }
    const std::optional<std::size_t> codePoints = countCodePoints(password);
    // NUL is valid UTF-8 but cut short by C APIs (zxcvbn here, forms and clients elsewhere).
    if (!codePoints || password.find('\0') != std::string_view::npos) {
        return violation(PasswordRule::invalidText,
                         "The password must be valid UTF-8 text without NUL characters.");
    }
    if (*codePoints < policy.minLength) {
        return violation(PasswordRule::tooShort,
                         fmt::format("The password is too short: at least {} characters.", policy.minLength));
    }
    // A SecretString, so the lower-case copy is wiped like the original.
    const SecretString lowerPassword(asciiLower(password));
    if (similar(lowerPassword.reveal(), asciiLower(username)) ||
        similar(lowerPassword.reveal(), asciiLower(emailLocalPart(email))) ||
        similar(lowerPassword.reveal(), asciiLower(email))) {
        return violation(PasswordRule::similarToAccount,
                         "The password must not contain, or be part of, the username or email address.");
    }
    if (zxcvbnScore(password, accountWords(username, email)) < policy.minZxcvbnScore) {
        return violation(PasswordRule::tooWeak,
                         "The password is too easy to guess: use a longer passphrase of uncommon words, "
                         "and avoid names, dates, keyboard patterns and common passwords.");
    }
    return std::nullopt;
}

int zxcvbnScore(std::string_view password, const std::vector<std::string>& userWords) {
    if (password.size() > kMaxPasswordBytes || password.find('\0') != std::string_view::npos) return 0;
    // zxcvbn wants a C string; a SecretString copy is wiped, so the password does not linger in freed memory.
    const SecretString terminated{std::string(password)};
    std::vector<const char*> dictionary;
    dictionary.reserve(userWords.size() + 1);
    for (const std::string& word : userWords) dictionary.push_back(word.c_str());
    dictionary.push_back(nullptr);
    return zxcvbnScoreForEntropy(ZxcvbnMatch(terminated.reveal().c_str(), dictionary.data(), nullptr));
}

int zxcvbnScoreForEntropy(double entropyBits) {
    // guesses = 2^bits, so guesses < 10^k exactly when bits < k * log2(10).
    const double log10Guesses = entropyBits * std::log10(2.0);
    if (!(log10Guesses >= 3)) return 0;  // also NaN
    if (log10Guesses < 6) return 1;
    if (log10Guesses < 8) return 2;
    if (log10Guesses < 10) return 3;
    return 4;
}

}  // namespace rampart::identity
