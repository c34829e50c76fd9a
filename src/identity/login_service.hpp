// Signing in and staying signed in: password (and TOTP) login with throttling and lockout back-off,
// token pairs and refresh rotation with family revocation on reuse, browser sessions, logout. One
// service because these share one life cycle, that of a login credential: issued here, rotated here,
// ended here. Authenticating requests with those credentials is RequestAuthenticator's; accounts,
// API tokens and TOTP enrolment are AccountService's. It speaks in records and errors, never HTTP.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/secret_string.hpp"
#include "identity/audit_trail.hpp"
#include "identity/auth_error.hpp"
#include "identity/auth_settings.hpp"
#include "identity/credential_cache.hpp"
#include "identity/csrf.hpp"
#include "identity/jwt.hpp"
#include "identity/key_manager.hpp"
#include "identity/login_throttle.hpp"
#include "identity/password_hasher.hpp"
#include "identity/principal.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

struct TokenPair {
    std::string accessToken;
    std::string refreshToken;
    std::chrono::seconds expiresIn{0};
};

struct NewSession {
    SecretString cookieValue;  // the session id: goes into the cookie, nowhere else
    std::string csrfToken;
    std::chrono::seconds maxAge{0};
};

struct LoginRequest {
    std::string username;
    SecretString password;
    std::optional<std::string> totp;
    bool session = false;
};

struct LoginResult {
    std::optional<TokenPair> tokens;    // when !session
    std::optional<NewSession> session;  // when session
};

class LoginService {
  public:
    LoginService(store::IdentityStore& store, store::AuditSink& audit, CredentialCache& cache,
                 KeyManager& keys, PasswordHasher& hasher, SecretString serverSecret, AuthSettings settings,
                 Clock clock = systemClock());

    // Throws AuthError: invalid_credentials (unauthorized), totp_required (totpRequired, the password
    // was right and a code is needed), too_many_attempts (throttled, with retryAfter),
    // password_hashing_busy (unavailable, with retryAfter: the hashing pool is full, known user or not).
    boost::asio::awaitable<LoginResult> login(LoginRequest request, RequestContext context);
    // Rotates a refresh token. Throws AuthError unauthorized for anything but a live token; a spent
    // token revokes its whole family and is audited.
    boost::asio::awaitable<TokenPair> refresh(std::string refreshToken, RequestContext context);
    // Ends the caller's session or refresh family (and with it the family's access tokens).
    boost::asio::awaitable<void> logout(Principal principal, RequestContext context);

    [[nodiscard]] const CsrfKey& csrfKey() const { return csrf_; }

  private:
    // A new refresh family with its first token, and an access token of that family.
    boost::asio::awaitable<TokenPair> issuePair(const store::UserRecord& user, const std::string& familyId);
    // An access token for `userId` in refresh family `familyId`: every scope, the configured lifetime.
    [[nodiscard]] IssuedToken issueAccess(const KeyRing& ring, const std::string& userId,
                                          const std::string& familyId) const;
    boost::asio::awaitable<void> loginFailed(const std::optional<store::UserRecord>& user,
                                             const std::string& username, const RequestContext& context,
                                             std::string_view reason);
    [[nodiscard]] store::Seconds now() const;

    store::IdentityStore& store_;
    AuditTrail audit_;
    CredentialCache& cache_;
    KeyManager& keys_;
    PasswordHasher& hasher_;
    SecretString serverSecret_;
    AuthSettings settings_;
    Clock clock_;
    CsrfKey csrf_;
    JwtVerifier refreshVerifier_;
    LoginThrottle throttle_;
};

}  // namespace rampart::identity
