// The identity service: login with throttling and TOTP, token pairs and their rotation, sessions,
// personal API tokens, TOTP enrolment, user administration, and authenticating each request's
// credential. It speaks in records and errors, never HTTP; the routes in api/ translate.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/json/object.hpp>

#include "core/secret_string.hpp"
#include "identity/csrf.hpp"
#include "identity/jwt.hpp"
#include "identity/key_ring.hpp"
#include "identity/password.hpp"
#include "identity/principal.hpp"
#include "store/store.hpp"

namespace rampart::identity {

class OidcRegistry;

struct AuthSettings {
    std::string issuer = "rampart";
    std::string audience = "rampart-api";
    std::chrono::seconds accessTokenTtl{600};
    std::chrono::seconds refreshTokenTtl{std::chrono::days{14}};
    std::chrono::seconds sessionTtl{std::chrono::hours{8}};
    std::chrono::seconds apiTokenMaxTtl{std::chrono::days{365}};
    PasswordHashing hashing;
    PasswordPolicy passwordPolicy;
    int loginMaxFailures = 5;  // failures before lockouts start
    std::chrono::seconds lockoutBase{60};
    std::chrono::seconds lockoutMax{3600};
    bool requireAdminTotp = false;
};

// Where a call comes from, for throttling and the audit log.
struct RequestContext {
    std::string requestId;
    boost::asio::ip::address client;
};

// A refusal the caller shows to the client: `slug` is stable ("invalid_credentials",
// "password.too_short"), `message` is safe to show, `field` is a JSON pointer when one field is at
// fault. Every login failure is the same invalid_credentials error, whatever went wrong.
class AuthError : public std::runtime_error {
  public:
    enum class Kind { invalid, unauthorized, forbidden, notFound, conflict, throttled, totpRequired };
    AuthError(Kind kind, std::string slug, std::string message, std::string field = {})
        : std::runtime_error(message), kind_(kind), slug_(std::move(slug)), field_(std::move(field)) {}

    [[nodiscard]] Kind kind() const { return kind_; }
    [[nodiscard]] const std::string& slug() const { return slug_; }
    [[nodiscard]] const std::string& field() const { return field_; }
    std::chrono::seconds retryAfter{0};  // for throttled

  private:
    Kind kind_;
    std::string slug_;
    std::string field_;
};

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

struct CreatedApiToken {
    store::ApiTokenRecord record;
    SecretString token;  // shown once
};

struct TotpEnrolment {
    std::string secretBase32;
    SecretString uri;
};

struct NewUser {
    std::string username;
    std::optional<std::string> email;
    Role role = Role::user;
    SecretString password;
};

// Changes an admin may make to a user; unset fields stay.
struct UserChanges {
    std::optional<std::optional<std::string>> email;
    std::optional<Role> role;
    std::optional<bool> active;
    std::optional<SecretString> password;
};

class AuthService : public Authenticator {
  public:
    AuthService(store::Store& store, SecretString serverSecret, AuthSettings settings,
                Clock clock = systemClock(), OidcRegistry* oidc = nullptr);
    ~AuthService() override;

    // --- signing keys (blocking; start-up, a periodic reload, `rampart admin keys rotate`) ---
    // Loads the ring from the store; when no key may sign, generates one and stores it sealed.
    // Throws std::runtime_error when stored keys cannot be opened and none can sign (wrong secret key).
    void loadKeys();
    // Adds a new signing key to the store and the ring; returns its kid. Audited by the caller.
    std::string rotateKeys();
    // The public keys that verify our tokens, for /.well-known/jwks.json.
    [[nodiscard]] std::shared_ptr<const KeySet> verificationKeys() const;

    // --- requests ---
    boost::asio::awaitable<AuthOutcome> authenticate(PresentedCredential credential,
                                                     boost::asio::ip::address client) override;

    // Throws AuthError: invalid_credentials (unauthorized), totp_required (totpRequired, the password
    // was right and a code is needed), too_many_attempts (throttled, with retryAfter).
    boost::asio::awaitable<LoginResult> login(LoginRequest request, RequestContext context);
    // Rotates a refresh token. Throws AuthError unauthorized for anything but a live token; a spent
    // token revokes its whole family and is audited.
    boost::asio::awaitable<TokenPair> refresh(std::string refreshToken, RequestContext context);
    // Ends the caller's session or refresh family (and with it the family's access tokens).
    boost::asio::awaitable<void> logout(Principal principal, RequestContext context);

    boost::asio::awaitable<CreatedApiToken> createApiToken(Principal principal, std::string name,
                                                           std::vector<std::string> scopes,
                                                           std::optional<std::chrono::seconds> expiresIn,
                                                           RequestContext context);
    // The live tokens of `owner` (the caller's own when empty). Another user's: admins and auditors only;
    // anyone else gets AuthError notFound, as if the user had none to show.
    boost::asio::awaitable<std::vector<store::ApiTokenRecord>> listApiTokens(Principal principal,
                                                                             std::string owner);
    // Revokes the caller's token, or, for an admin, anyone's. Throws AuthError notFound for a token the
    // caller may not revoke or that is not live: the two look the same.
    boost::asio::awaitable<void> revokeApiToken(Principal principal, std::string tokenId,
                                                RequestContext context);

    boost::asio::awaitable<TotpEnrolment> enrolTotp(Principal principal, RequestContext context);
    boost::asio::awaitable<void> confirmTotp(Principal principal, std::string code, RequestContext context);
    boost::asio::awaitable<void> disableTotp(Principal principal, SecretString password, std::string code,
                                             RequestContext context);

    boost::asio::awaitable<std::optional<store::UserRecord>> findUser(std::string id);
    boost::asio::awaitable<std::vector<store::UserRecord>> listUsers(std::string afterUsername, int limit);
    // Checks the username, email and password policy; throws AuthError invalid / conflict.
    boost::asio::awaitable<store::UserRecord> createUser(NewUser user, std::string actor,
                                                         RequestContext context);
    // Disabling revokes every credential at once. Throws AuthError notFound / invalid / conflict.
    boost::asio::awaitable<store::UserRecord> updateUser(std::string id, UserChanges changes,
                                                         std::string actor, RequestContext context);
    boost::asio::awaitable<void> revokeAllCredentials(std::string id, std::string actor,
                                                      RequestContext context);

    // Appends an audit event; the service's own events all go through here.
    // Not coroutines: they copy their arguments into the event before returning the store's awaitable.
    // (No default argument for details: g++ 12 destroys a defaulted temporary in a co_await twice.)
    boost::asio::awaitable<void> audit(std::string_view action, std::string_view actor,
                                       const RequestContext& context, std::string_view target,
                                       std::string_view outcome, boost::json::object details);
    boost::asio::awaitable<void> audit(std::string_view action, std::string_view actor,
                                       const RequestContext& context, std::string_view target,
                                       std::string_view outcome);

    // --- blocking forms for the CLI and start-up ---
    // Creates the first admin when the database has no user: the password from `passwordFile` when
    // given, else a random one, which is returned so the caller prints it once. Nullopt when users
    // exist already.
    std::optional<SecretString> bootstrapAdmin(const std::filesystem::path& passwordFile);

    [[nodiscard]] const AuthSettings& settings() const { return settings_; }
    [[nodiscard]] const CsrfKey& csrfKey() const { return csrf_; }

    // Failed logins that lock: base * 2^(failures - max), capped; 0 below the threshold.
    [[nodiscard]] static std::chrono::seconds lockoutFor(int failures, const AuthSettings& settings);
    // The same with another threshold (client addresses get more tries than accounts).
    [[nodiscard]] static std::chrono::seconds lockoutFor(int failures, int threshold,
                                                         const AuthSettings& settings);

  private:
    struct Throttle;
    struct CredentialCache;

    // Per-request lookups behind a one-second cache (see CredentialCache). Only found records are kept.
    boost::asio::awaitable<std::optional<store::UserRecord>> cachedUser(const std::string& id);
    boost::asio::awaitable<bool> cachedFamilyLive(const std::string& familyId);
    boost::asio::awaitable<std::optional<store::ApiTokenRecord>> cachedApiToken(const std::string& hash);
    boost::asio::awaitable<std::optional<store::SessionRecord>> cachedSession(const std::string& idHash);
    // After any change to users or credentials made here: the next request reads the store again.
    void forgetCachedCredentials();

    boost::asio::awaitable<AuthOutcome> authenticateJwt(std::string_view token);
    boost::asio::awaitable<AuthOutcome> authenticateApiToken(std::string_view token);
    boost::asio::awaitable<AuthOutcome> authenticateSession(std::string_view cookie);
    // A configured OIDC provider's token: the local user of that name is created on first sight (no
    // password: it can only come through its provider) and its role follows the provider's claims.
    boost::asio::awaitable<AuthOutcome> authenticateExternal(std::string_view token);
    // A new refresh family with its first token, and an access token of that family.
    boost::asio::awaitable<TokenPair> issuePair(const store::UserRecord& user, const std::string& familyId);
    boost::asio::awaitable<void> loginFailed(const std::optional<store::UserRecord>& user,
                                             const std::string& username, const RequestContext& context,
                                             std::string_view reason);
    [[nodiscard]] store::Seconds now() const;
    [[nodiscard]] std::shared_ptr<const KeyRing> ring() const;
    void publish(KeyRing ring);
    [[nodiscard]] KeyPolicy keyPolicy() const;
    // Generates a signing key and stores it sealed (blocking).
    SigningKey storeNewKey(std::chrono::system_clock::time_point time);
    // A token names a kid this process has not loaded: another node may have rotated the keys. Reloads
    // them (blocking) at most once per kUnknownKidReloadInterval, so forged kids cannot make every
    // request read the store; true when it reloaded.
    bool reloadKeysForUnknownKid();
    static constexpr std::chrono::seconds kUnknownKidReloadInterval{5};

    store::Store& store_;
    SecretString serverSecret_;
    AuthSettings settings_;
    Clock clock_;
    OidcRegistry* oidc_;
    CsrfKey csrf_;
    std::shared_ptr<VerificationCache> signatureCache_;
    JwtVerifier accessVerifier_;
    JwtVerifier refreshVerifier_;

    mutable std::mutex ringMutex_;
    std::atomic<std::int64_t> lastUnknownKidReload_{0};  // steady_clock ticks; 0: never
    std::shared_ptr<const KeyRing> ring_;
    std::shared_ptr<const KeySet> keys_;
    std::unique_ptr<Throttle> throttle_;
    std::unique_ptr<CredentialCache> credentials_;
};

}  // namespace rampart::identity
