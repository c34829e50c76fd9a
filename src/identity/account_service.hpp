// Accounts and what an account holds besides its login: users and their roles (create, change, disable,
// revoke every credential), personal API tokens, TOTP enrolment, and the first admin. One service
// because each of these is an administrative change to an account, audited and followed by clearing
// the shared CredentialCache; logging in is LoginService's and checking a credential
// RequestAuthenticator's. It speaks in records and errors, never HTTP.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/secret_string.hpp"
#include "identity/audit_trail.hpp"
#include "identity/auth_error.hpp"
#include "identity/auth_settings.hpp"
#include "identity/credential_cache.hpp"
#include "identity/jwt.hpp"
#include "identity/login_throttle.hpp"
#include "identity/password_confirmed.hpp"
#include "identity/password_hasher.hpp"
#include "identity/principal.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

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

// What a password change made with `principal` leaves alive: its session, its access token's refresh
// family, or its API token; nothing for an external provider's token (not ours to keep or end).
[[nodiscard]] std::optional<store::KeptCredential> keptCredentialOf(const Principal& principal);

class AccountService {
  public:
    // Password hashes and checks run on `hasher`'s pool; when it is full, the calls that need one
    // (creating a user, setting a password, disabling TOTP) throw AuthError unavailable.
    AccountService(store::IdentityStore& store, store::AuditSink& audit, CredentialCache& cache,
                   PasswordHasher& hasher, SecretString serverSecret, AuthSettings settings,
                   Clock clock = systemClock());

    // --- personal API tokens ---
    // Throws AuthError forbidden "external_credential" for a credential from an external OIDC provider: a
    // token of ours would outlive the provider's token and its revocation there.
    boost::asio::awaitable<CreatedApiToken> createApiToken(Principal principal, std::string name,
                                                           std::vector<std::string> scopes,
                                                           std::optional<std::chrono::seconds> expiresIn,
                                                           RequestContext context);
    // The live tokens of `owner` (the caller's own when empty). Another user's: admins and auditors only;
    // anyone else gets AuthError notFound, as if the user had none to show.
    boost::asio::awaitable<std::vector<store::ApiTokenRecord>> listApiTokens(
        Principal principal, std::string owner, const obs::Span& trace = obs::Span::off());
    // Revokes the caller's token, or, for an admin, anyone's. Throws AuthError notFound for a token the
    // caller may not revoke or that is not live: the two look the same.
    boost::asio::awaitable<void> revokeApiToken(Principal principal, std::string tokenId,
                                                RequestContext context);

    // --- TOTP enrolment ---
    // Enrolling and disabling take the caller's password, confirmed just now (LoginService::confirmPassword).
    boost::asio::awaitable<TotpEnrolment> enrolTotp(Principal principal, PasswordConfirmed password,
                                                    RequestContext context);
    boost::asio::awaitable<void> confirmTotp(Principal principal, std::string code, RequestContext context);
    boost::asio::awaitable<void> disableTotp(Principal principal, PasswordConfirmed password,
                                             std::string code, RequestContext context);

    // --- users ---
    // `trace`: the request's span, for the spans of the store calls.
    boost::asio::awaitable<std::optional<store::UserRecord>> findUser(
        std::string id, const obs::Span& trace = obs::Span::off());
    boost::asio::awaitable<std::vector<store::UserRecord>> listUsers(
        std::string afterUsername, int limit, const obs::Span& trace = obs::Span::off());
    // Checks the username, email and password policy; throws AuthError invalid / conflict.
    boost::asio::awaitable<store::UserRecord> createUser(NewUser user, std::string actor,
                                                         RequestContext context);
    // Disabling revokes every credential at once. A new password revokes every session, refresh family and
    // API token of the user in the same transaction, except `keep` when the actor changes their own password
    // (the credential the request came with; see keptCredentialOf). Throws AuthError notFound / invalid /
    // conflict.
    boost::asio::awaitable<store::UserRecord> updateUser(std::string id, UserChanges changes,
                                                         std::string actor, RequestContext context,
                                                         std::optional<store::KeptCredential> keep);
    // The same, keeping nothing.
    boost::asio::awaitable<store::UserRecord> updateUser(std::string id, UserChanges changes,
                                                         std::string actor, RequestContext context);
    boost::asio::awaitable<void> revokeAllCredentials(std::string id, std::string actor,
                                                      RequestContext context);

    // --- blocking, for start-up ---
    // Creates the first admin when the database has no user: the password from `passwordFile` when
    // given, else a random one, which is returned so the caller prints it once. Nullopt when users
    // exist already.
    std::optional<SecretString> bootstrapAdmin(const std::filesystem::path& passwordFile);

  private:
    [[nodiscard]] store::Seconds now() const;

    store::IdentityStore& store_;
    AuditTrail audit_;
    CredentialCache& cache_;
    PasswordHasher& hasher_;
    SecretString serverSecret_;
    AuthSettings settings_;
    Clock clock_;
    LoginNameKey nameKey_;  // to lift a name's lockout (LoginService counts it)
};

}  // namespace rampart::identity
