// CSRF tokens bound to a session: HMAC-SHA256 of the session id under a key derived from the
// server's secret key (OWASP's signed double-submit pattern), checked in constant time.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"

namespace rampart::identity {

// The key derived once (HKDF-SHA256 of the secret key, info "rampart csrf v1"): create one at start-up
// and share it, since derivation costs more than the HMAC itself. Changing the secret key or the
// "v1" in the context invalidates every outstanding token.
class CsrfKey {
  public:
    // Throws std::invalid_argument for an empty secret key (a configuration error).
    explicit CsrfKey(const SecretString& secretKey);
    CsrfKey(const CsrfKey&) = default;
    CsrfKey& operator=(const CsrfKey&) = default;
    ~CsrfKey();  // wipes the key

    // base64url (no padding, 43 characters) of HMAC-SHA256(key, sessionId). Throws
    // std::invalid_argument for an empty session id: a token must be bound to something.
    [[nodiscard]] std::string tokenFor(std::string_view sessionId) const;

    // True only when `presented` is exactly the token for `sessionId`; false for an empty session id.
    [[nodiscard]] bool verify(std::string_view sessionId, std::string_view presented) const;

  private:
    std::array<unsigned char, 32> key_{};
};

// One-shot forms of CsrfKey (derive, then sign or check).
[[nodiscard]] std::string csrfToken(std::string_view sessionId, const SecretString& secretKey);
[[nodiscard]] bool verifyCsrf(std::string_view sessionId, const SecretString& secretKey,
                              std::string_view presented);

}  // namespace rampart::identity
