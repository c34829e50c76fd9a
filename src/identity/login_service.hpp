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
#include "identity/password_confirmed.hpp"
#include "identity/password_hasher.hpp"
#include "identity/principal.hpp"
#include "obs/metrics.hpp"
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
                 Clock clock = systemClock(), obs::AuthMetrics* metrics = nullptr);

    // Throws AuthError: invalid_credentials (unauthorized), totp_required (totpRequired, the password
    // was right and a code is needed), too_many_attempts (throttled, with retryAfter),
    // password_hashing_busy (unavailable, with retryAfter: the hashing pool is full, known user or not).
    boost::asio::awaitable<LoginResult> login(LoginRequest request, RequestContext context);
    // Rotates a refresh token. Throws AuthError unauthorized for anything but a live token; a spent
    // token revokes its whole family and is audited.
    boost::asio::awaitable<TokenPair> refresh(std::string refreshToken, RequestContext context);
    // Ends the caller's session or refresh family (and with it the family's access tokens).
    boost::asio::awaitable<void> logout(Principal principal, RequestContext context);

    // Asks a signed-in caller for their password again, before a change a stolen credential must not make
    // (TOTP enrolment and disabling). Throttled like a login: a locked account or address is refused
    // (too_many_attempts), and a wrong password counts as a failed login (audited as auth.login with reason
    // "reauth_bad_password", toward the lockout) and throws AuthError forbidden "invalid_credentials" (a
    // 403, not a 401: the request's own credential is good). An account without a password (an external
    // provider's user) never passes.
    boost::asio::awaitable<PasswordConfirmed> confirmPassword(Principal principal, SecretString password,
                                                              RequestContext context);

    [[nodiscard]] const CsrfKey& csrfKey() const { return csrf_; }

    // The store's per-name failure counters are kept this many at most (the most recently failed).
    static constexpr std::int64_t kNameFailureCapacity = 100'000;
    // Housekeeping: forgets the names quiet for lockout_max_seconds whose lockout has ended, then any
    // beyond kNameFailureCapacity, oldest first. Returns the rows deleted.
    boost::asio::awaitable<std::int64_t> pruneNameFailures();

  private:
    // Whether `username` from `client` may try a password now: until is the end of the longer of the
    // address's and the name's lockouts (none when neither is locked); nameFailed says the name has
    // failures on record (a success then clears them).
    struct Lock {
        std::optional<store::Seconds> until;
        bool nameFailed = false;
    };
    boost::asio::awaitable<Lock> lockFor(const std::string& username, const RequestContext& context,
                                         store::Seconds time);
    // A new refresh family with its first token, and an access token of that family.
    boost::asio::awaitable<TokenPair> issuePair(const store::UserRecord& user, const std::string& familyId,
                                                const RequestContext& context);
    // An access token for `userId` in refresh family `familyId`: every scope, the configured lifetime.
    [[nodiscard]] IssuedToken issueAccess(const KeyRing& ring, const std::string& userId,
                                          const std::string& familyId) const;
    // The audit target of a login attempt: "user:NAME" for an account, and for a name no account has
    // "name:" and the name's keyed hash (its lockout counter's key), never the text typed: people type
    // passwords into the username field.
    [[nodiscard]] std::string attemptTarget(const std::optional<store::UserRecord>& user,
                                            std::string_view typedName) const;
    boost::asio::awaitable<void> loginFailed(const std::optional<store::UserRecord>& user,
                                             const std::string& username, const RequestContext& context,
                                             std::string_view reason);
    void countFailure(obs::AuthMetrics::Failure failure) const {
        if (metrics_) metrics_->failed(failure);
    }
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
    LoginThrottle throttle_;  // per client address, this process
    LoginNameKey nameKey_;    // per username, in the store
    obs::AuthMetrics* metrics_;
};

}  // namespace rampart::identity
