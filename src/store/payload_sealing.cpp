// Sealing job payloads with libsodium: BLAKE2b for the master key, crypto_kdf per generation,
// XChaCha20-Poly1305 with a random nonce per value.
#include "store/payload_sealing.hpp"

#include <charconv>
#include <stdexcept>

#include <sodium.h>

#include "core/base64url.hpp"
#include "core/sodium_init.hpp"

namespace rampart::store {
namespace {

constexpr std::size_t kNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::size_t kKeySize = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
// crypto_kdf's context: 8 bytes naming what the subkeys are for.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "rmpayld1";
constexpr char kHashKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "rmreqhs1";
constexpr std::string_view kKeyedHashPrefix = "$k1$";
// Hashed in front of the secret, so the master key differs from any other use of the secret.
constexpr std::string_view kMasterDomain = "rampart job payload keys v1";

static_assert(kKeySize == crypto_kdf_KEYBYTES);

struct GenerationKey {
    std::array<unsigned char, kKeySize> data{};
    ~GenerationKey() { sodium_memzero(data.data(), data.size()); }
};

// The associated data: the job id and the column, separated by a byte neither contains.
std::string associatedData(std::string_view jobId, std::string_view column) {
    std::string data(jobId);
    data += '\0';
    data += column;
    return data;
}

const unsigned char* bytes(std::string_view text) {
    return reinterpret_cast<const unsigned char*>(text.data());
}

// The generation and where the base64url part starts.
std::optional<std::pair<std::int64_t, std::size_t>> parsePrefix(std::string_view stored) {
    if (!stored.starts_with(kSealedPrefix)) return std::nullopt;
    const std::size_t start = kSealedPrefix.size();
    const std::size_t end = stored.find('$', start);
    if (end == std::string_view::npos || end == start) return std::nullopt;
    std::int64_t generation = 0;
    const auto [ptr, ec] = std::from_chars(stored.data() + start, stored.data() + end, generation);
    if (ec != std::errc() || ptr != stored.data() + end || generation < 1) return std::nullopt;
    return std::pair(generation, end + 1);
}

}  // namespace

std::optional<std::int64_t> sealedGeneration(std::string_view stored) {
    auto prefix = parsePrefix(stored);
    if (!prefix) return std::nullopt;
    return prefix->first;
}

std::size_t sealedSize(std::size_t plainSize) {
    // The prefix, up to 19 digits and '$', then base64url without padding.
    return kSealedPrefix.size() + 20 + ((kNonceSize + plainSize + kTagSize) * 4 + 2) / 3;
}

PayloadKeys::PayloadKeys(const SecretString& secretKey) {
    ensureSodiumInitialised();
    if (secretKey.empty()) throw std::invalid_argument("sealing job payloads needs the secret key");
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, master_.size());
    crypto_generichash_update(&state, bytes(kMasterDomain), kMasterDomain.size());
    crypto_generichash_update(&state, bytes(secretKey.reveal()), secretKey.reveal().size());
    crypto_generichash_final(&state, master_.data(), master_.size());
    sodium_memzero(&state, sizeof state);
    // Generation keys start at subkey 1; the hashing key has its own context besides.
    crypto_kdf_derive_from_key(hashKey_.data(), hashKey_.size(), 0, kHashKdfContext, master_.data());
}

PayloadKeys::~PayloadKeys() {
    sodium_memzero(master_.data(), master_.size());
    sodium_memzero(hashKey_.data(), hashKey_.size());
}

std::string PayloadKeys::keyedHash(std::string_view value) const {
    std::array<unsigned char, 32> digest{};
    crypto_generichash(digest.data(), digest.size(), bytes(value), value.size(), hashKey_.data(),
                       hashKey_.size());
    return std::string(kKeyedHashPrefix) + base64UrlEncode(digest.data(), digest.size());
}

std::string PayloadKeys::seal(std::int64_t generation, std::string_view jobId, std::string_view column,
                              std::string_view plaintext) const {
    if (generation < 1) throw std::invalid_argument("a payload key generation starts at 1");
    GenerationKey key;
    crypto_kdf_derive_from_key(key.data.data(), key.data.size(), static_cast<std::uint64_t>(generation),
                               kKdfContext, master_.data());
    std::string blob(kNonceSize + plaintext.size() + kTagSize, '\0');
    auto* nonce = reinterpret_cast<unsigned char*>(blob.data());
    randombytes_buf(nonce, kNonceSize);
    const std::string ad = associatedData(jobId, column);
    unsigned long long cipherSize = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceSize, &cipherSize, bytes(plaintext),
                                               plaintext.size(), bytes(ad), ad.size(), nullptr, nonce,
                                               key.data.data());
    std::string sealed(kSealedPrefix);
    sealed += std::to_string(generation);
    sealed += '$';
    sealed += base64UrlEncode(blob);
    return sealed;
}

std::optional<std::string> PayloadKeys::open(std::string_view jobId, std::string_view column,
                                             std::string_view stored) const {
    if (!stored.starts_with(kSealedPrefix)) return std::string(stored);
    auto prefix = parsePrefix(stored);
    if (!prefix) return std::nullopt;
    auto blob = base64UrlDecode(stored.substr(prefix->second));
    if (!blob || blob->size() < kNonceSize + kTagSize) return std::nullopt;
    GenerationKey key;
    crypto_kdf_derive_from_key(key.data.data(), key.data.size(), static_cast<std::uint64_t>(prefix->first),
                               kKdfContext, master_.data());
    const auto* nonce = bytes(*blob);
    const std::size_t cipherSize = blob->size() - kNonceSize;
    std::string plain(cipherSize - kTagSize, '\0');
    const std::string ad = associatedData(jobId, column);
    unsigned long long plainSize = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plainSize,
                                                   nullptr, nonce + kNonceSize, cipherSize, bytes(ad),
                                                   ad.size(), nonce, key.data.data()) != 0) {
        return std::nullopt;
    }
    return plain;
}

}  // namespace rampart::store
