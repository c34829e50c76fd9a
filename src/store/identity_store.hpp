// What the store keeps for identity: users, personal API tokens, refresh-token families, browser
// sessions and the signing keys. Records are plain values; every rule about them (who may, when, how
// long) lives in the identity services (login_service, account_service), except the few that must be atomic
// (replay, reuse), which are single store calls so that two concurrent requests, or two processes, cannot
// both win.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "store/store_errors.hpp"

namespace rampart::store {

using Seconds = std::chrono::sys_seconds;  // identity times are whole Unix seconds

// Record members carry {} so that callers may name only some of them in designated initializers
// (-Wmissing-field-initializers).

struct UserRecord {
    std::string id{};  // random, base64url (identity::randomToken(16)); never reused
    std::string username{};
    std::optional<std::string> email{};
    std::string role{};  // "admin", "user", "auditor" or "worker"
    bool active = true;
    std::string passwordHash{};  // Argon2id encoded; empty: no password login (e.g. an OIDC-only user)
    // TOTP: the secret sealed under the server secret (empty when never enrolled), whether it is
    // confirmed (required at login), and the last time step accepted (replay protection).
    std::string totpSecretSealed{};
    bool totpEnabled = false;
    std::optional<std::int64_t> totpLastStep{};
    Seconds created{};
    std::optional<Seconds> lastLogin{};
    int failedLogins = 0;  // consecutive failures since the last success
    std::optional<Seconds> lockedUntil{};
    // Every credential issued before this instant is dead: set by "revoke all" and by disabling.
    std::optional<Seconds> credentialsRevokedAt{};
};

// Changes to a user; unset fields stay as they are.
struct UserPatch {
    std::optional<std::optional<std::string>> email{};
    std::optional<std::string> role{};
    std::optional<bool> active{};
    std::optional<std::string> passwordHash{};
    std::optional<std::string> totpSecretSealed{};
    std::optional<bool> totpEnabled{};
    std::optional<std::optional<std::int64_t>> totpLastStep{};
    std::optional<std::optional<Seconds>> lastLogin{};
    std::optional<int> failedLogins{};
    std::optional<std::optional<Seconds>> lockedUntil{};
    std::optional<Seconds> credentialsRevokedAt{};
};

struct ApiTokenRecord {
    std::string id{};  // random, base64url; what DELETE /api/v1/tokens/{id} names
    std::string userId{};
    std::string name{};
    std::string tokenHash{};      // hex SHA-256 of the whole token; the token itself is never stored
    std::string displayPrefix{};  // first characters after "rmp_", for lists
    std::vector<std::string> scopes{};
    Seconds created{};
    std::optional<Seconds> expires{};  // nullopt: never (only where configuration allows it)
    std::optional<Seconds> lastUsed{};
    std::optional<Seconds> revoked{};
};

// A refresh token as stored: its jti, its family, and whether it has been spent.
struct RefreshTokenRecord {
    std::string tokenId{};  // the JWT's jti
    std::string familyId{};
    std::string userId{};
    Seconds issued{};
    Seconds expires{};
};

enum class RefreshOutcome {
    rotated,  // the old token was live: it is spent now and the new one is stored
    reused,   // the old token was already spent: the whole family is revoked now
    revoked,  // the family was revoked before (logout, reuse, revoke-all)
    unknown,  // no such token (or it expired)
};

struct SessionRecord {
    std::string idHash{};  // hex SHA-256 of the session id in the cookie; the id itself is never stored
    std::string userId{};
    Seconds created{};
    Seconds expires{};  // absolute end
    std::optional<Seconds> revoked{};
};

// The failed logins counted against one attempted username, known or not (see IdentityStore).
struct LoginNameFailures {
    int failures = 0;
    Seconds lastFailure{};
    std::optional<Seconds> lockedUntil{};
};

// The one credential a password change leaves alive: the one the change was made with, when the user
// changed their own password (a session, an access token's refresh family, or an API token).
struct KeptCredential {
    enum class Kind { session, refreshFamily, apiToken };
    Kind kind = Kind::session;
    std::string id{};  // the session's id hash, the family id, or the API token's id
};

// A signing key as the store keeps it: identity::StoredSigningKey's fields (private key sealed).
struct SigningKeyRecord {
    std::string kid{};
    std::string alg{};
    std::string publicKey{};
    std::string encryptedPrivateKey{};
    Seconds created{};
    Seconds notAfter{};
    Seconds expires{};
};

// Every call throws StoreUnavailable when the database fails. Awaitables run on the store's own
// threads and resume on the caller's executor.
class IdentityStore {
  public:
    virtual ~IdentityStore() = default;

    // OpenTelemetry's db.system of the database underneath: "sqlite" or "postgresql".
    [[nodiscard]] virtual std::string_view databaseSystem() const = 0;

    // --- users ---
    // Throws Conflict when the username or email is taken (usernames compare case-insensitively).
    virtual boost::asio::awaitable<void> createUser(UserRecord user) = 0;
    virtual boost::asio::awaitable<std::optional<UserRecord>> findUserById(std::string id) = 0;
    // Case-insensitive (ASCII) match.
    virtual boost::asio::awaitable<std::optional<UserRecord>> findUserByUsername(std::string username) = 0;
    // Users ordered by username, starting after `afterUsername` (cursor), at most `limit` (1..500).
    virtual boost::asio::awaitable<std::vector<UserRecord>> listUsers(std::string afterUsername,
                                                                      int limit) = 0;
    // Applies the patch; returns the user as it is now, nullopt when there is no such user. Throws
    // Conflict when a new email is taken.
    virtual boost::asio::awaitable<std::optional<UserRecord>> updateUser(std::string id, UserPatch patch) = 0;
    // Atomically counts one failed login: failedLogins + 1, and lockedUntil = now + lockout(count)
    // when lockout(count) > 0 seconds. Returns the user after the change (nullopt: no such user).
    virtual boost::asio::awaitable<std::optional<UserRecord>> recordLoginFailure(
        std::string userId, Seconds now, std::function<std::chrono::seconds(int failures)> lockout) = 0;
    // Atomically accepts a TOTP time step once: true (and totpLastStep = step) only when the stored
    // last step is unset or lower. Two requests with the same code: exactly one gets true.
    virtual boost::asio::awaitable<bool> consumeTotpStep(std::string userId, std::int64_t step) = 0;
    // Blocking, for start-up and the admin CLI.
    virtual std::int64_t countUsersBlocking() = 0;

    // --- failed logins per attempted username ---
    // Counted for every name tried, existing or not, so that an unknown name locks exactly like a known
    // one on every node and after a restart. `nameKey` is a keyed hash of the name (the caller's), never
    // the name itself.
    // Atomically counts one failure: failures + 1, or 1 when the last failure is older than
    // `forgetAfter` (or there is none); lastFailure = now; lockedUntil = now + lockout(failures) when
    // that is > 0 s. Returns the row after the change.
    virtual boost::asio::awaitable<LoginNameFailures> recordLoginNameFailure(
        std::string nameKey, Seconds now, std::chrono::seconds forgetAfter,
        std::function<std::chrono::seconds(int failures)> lockout) = 0;
    virtual boost::asio::awaitable<std::optional<LoginNameFailures>> findLoginNameFailures(
        std::string nameKey) = 0;
    // After a successful login or an administrator's unlock.
    virtual boost::asio::awaitable<void> clearLoginNameFailures(std::string nameKey) = 0;
    // Bounds the table: deletes the rows last failed before `quietBefore` whose lock (if any) has ended
    // by `now`, then, beyond the `keep` most recently failed rows, the oldest. Returns the rows deleted.
    virtual boost::asio::awaitable<std::int64_t> pruneLoginNameFailures(Seconds quietBefore, Seconds now,
                                                                        std::int64_t keep) = 0;

    // --- personal API tokens ---
    virtual boost::asio::awaitable<void> createApiToken(ApiTokenRecord token) = 0;
    // The token with that hash (revoked and expired ones included: the caller decides).
    virtual boost::asio::awaitable<std::optional<ApiTokenRecord>> findApiTokenByHash(
        std::string tokenHash) = 0;
    // The token with that id, whoever owns it (revoked and expired ones included): for administrators.
    virtual boost::asio::awaitable<std::optional<ApiTokenRecord>> findApiTokenById(std::string tokenId) = 0;
    // The user's tokens, newest first, revoked ones left out.
    virtual boost::asio::awaitable<std::vector<ApiTokenRecord>> listApiTokens(std::string userId) = 0;
    // Revokes one of the user's tokens; false when the user has no unrevoked token with that id (an
    // expired one can still be revoked: it is still listed).
    virtual boost::asio::awaitable<bool> revokeApiToken(std::string userId, std::string tokenId,
                                                        Seconds now) = 0;
    // Sets lastUsed; callers do it at most once a minute per token.
    virtual boost::asio::awaitable<void> touchApiToken(std::string tokenId, Seconds now) = 0;

    // --- refresh-token families ---
    // Starts a family with its first token.
    virtual boost::asio::awaitable<void> createRefreshFamily(RefreshTokenRecord first) = 0;
    // Spends `presentedTokenId` and stores `next` in the same family, atomically. `next.familyId` and
    // `next.userId` are ignored and taken from the presented token. See RefreshOutcome; when the
    // outcome is not `rotated`, `next` is not stored. The result carries the presented token's family
    // and user whenever the token is found, even when it is expired (outcome `unknown`). A token is
    // expired from its `expires` instant on. Expiry is checked first, then the family, then spending.
    struct RotateResult {
        RefreshOutcome outcome = RefreshOutcome::unknown;
        std::string familyId;
        std::string userId;
    };
    virtual boost::asio::awaitable<RotateResult> rotateRefreshToken(std::string presentedTokenId,
                                                                    RefreshTokenRecord next, Seconds now) = 0;
    // Revokes a family (logout); false when it was unknown or already revoked.
    virtual boost::asio::awaitable<bool> revokeRefreshFamily(std::string familyId, Seconds now) = 0;
    // True when the family exists and is not revoked: access tokens carry their family and die with it.
    virtual boost::asio::awaitable<bool> refreshFamilyLive(std::string familyId) = 0;

    // --- browser sessions ---
    virtual boost::asio::awaitable<void> createSession(SessionRecord session) = 0;
    virtual boost::asio::awaitable<std::optional<SessionRecord>> findSession(std::string idHash) = 0;
    virtual boost::asio::awaitable<bool> revokeSession(std::string idHash, Seconds now) = 0;

    // Revokes every API token, session and refresh family of the user and sets credentialsRevokedAt,
    // in one transaction; with `deactivate`, also sets active = false. Returns false for no such user.
    virtual boost::asio::awaitable<bool> revokeAllCredentials(std::string userId, Seconds now,
                                                              bool deactivate) = 0;

    // Sets a new password hash (and clears failedLogins and lockedUntil) and revokes every API token,
    // session and refresh family of the user except `keep`, in one transaction: no request sees the new
    // password with an old credential still live. credentialsRevokedAt is left alone (it would end
    // `keep` too); every credential Rampart issues is one of those rows, or an access token that dies
    // with its family. Returns the user after the change; nullopt (and nothing changed) for no such user.
    virtual boost::asio::awaitable<std::optional<UserRecord>> changePassword(
        std::string userId, std::string passwordHash, Seconds now, std::optional<KeptCredential> keep) = 0;

    // --- signing keys (blocking: start-up and `rampart admin keys rotate`) ---
    // Oldest first; keys created in the same second in the order they were inserted (the newest signs).
    virtual std::vector<SigningKeyRecord> loadSigningKeysBlocking() = 0;
    virtual void insertSigningKeyBlocking(SigningKeyRecord key) = 0;
    virtual void deleteSigningKeysBlocking(std::vector<std::string> kids) = 0;
};

}  // namespace rampart::store
