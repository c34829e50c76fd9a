// Job payloads (args, result, error, progress message) sealed at rest: XChaCha20-Poly1305 (libsodium)
// under a key derived from the server's secret key and a key generation, with the job id and the
// column name as associated data, so a sealed value copied onto another job or column does not open.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"

namespace rampart::store {

// A sealed value starts with this, which no JSON text and no text the store writes itself starts with:
// "$s1$<generation>$<base64url(nonce || ciphertext and tag)>". A value without it is plaintext (written
// with sealing off, or before it was on) and reads as it is.
inline constexpr std::string_view kSealedPrefix = "$s1$";

// The generation of a sealed value; nullopt for plaintext or a malformed prefix.
[[nodiscard]] std::optional<std::int64_t> sealedGeneration(std::string_view stored);

// The longest a sealed value of `plainSize` bytes can be (for limits the store checks on what it keeps).
[[nodiscard]] std::size_t sealedSize(std::size_t plainSize);

// The payload keys of one secret key: generation g's key is derived (crypto_kdf) from a master key
// hashed from the secret, so only the generation number needs storing. Wipes its master key.
class PayloadKeys {
  public:
    explicit PayloadKeys(const SecretString& secretKey);
    ~PayloadKeys();
    PayloadKeys(const PayloadKeys&) = delete;
    PayloadKeys& operator=(const PayloadKeys&) = delete;

    // `plaintext` sealed under `generation`'s key for (jobId, column).
    [[nodiscard]] std::string seal(std::int64_t generation, std::string_view jobId, std::string_view column,
                                   std::string_view plaintext) const;
    // The plaintext of a value sealed for (jobId, column), or the value itself when it is plaintext;
    // nullopt when it is sealed but does not open (another job's or column's value, another secret key,
    // a changed byte, a malformed value).
    [[nodiscard]] std::optional<std::string> open(std::string_view jobId, std::string_view column,
                                                  std::string_view stored) const;

    // `value` hashed (BLAKE2b) under a key of its own, not a generation's: "$k1$<base64url>". For the
    // request hash kept with an idempotency key, which must stay comparable across rotations.
    [[nodiscard]] std::string keyedHash(std::string_view value) const;

  private:
    std::array<unsigned char, 32> master_{};
    std::array<unsigned char, 32> hashKey_{};
};

}  // namespace rampart::store
