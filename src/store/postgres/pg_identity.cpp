// PostgresStore's identity calls over the tables of migration 3: users, API tokens, refresh-token
// families, sessions and signing keys. The calls that must be atomic across processes are single
// conditional statements, one pipeline (one implicit transaction), or row locks inside inTransaction.
//
// Every async method is a plain function returning withConnection()/inTransaction()'s awaitable (see
// docs/development.md). inTransaction may run its function again after a serialization failure or a
// deadlock, so no function moves out of what it captured.
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "store/identity_columns.hpp"
#include "store/identity_rules.hpp"
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;

constexpr int kMaxUserPage = 500;

std::optional<std::int64_t> optionalUnix(const std::optional<Seconds>& time) {
    return time ? std::optional(unixOf(*time)) : std::nullopt;
}

// --- users ---

UserRecord userOf(const pg::Result& result, int row) {
    return userOfRow(pg::Row(result, row));
}

std::optional<UserRecord> firstUser(const pg::Result& result) {
    if (result.empty()) return std::nullopt;
    return userOf(result, 0);
}

// Usernames and emails match through lower(), which the unique indexes cover; under the columns'
// "C" collation it folds ASCII only, as SQLite's NOCASE does.
const std::string kSelectUserById = fmt::format("SELECT {} FROM users WHERE id = $1", kUserColumns);
const std::string kSelectUserByUsername =
    fmt::format("SELECT {} FROM users WHERE lower(username) = lower($1::text)", kUserColumns);
const std::string kListUsers = fmt::format(
    "SELECT {} FROM users WHERE lower(username) > lower($1::text) ORDER BY lower(username) LIMIT $2",
    kUserColumns);
const std::string kInsertUser =
    "INSERT INTO users (id, username, email, role, active, password_hash, totp_secret, totp_enabled, "
    "totp_last_step, created, last_login, failed_logins, locked_until, credentials_revoked_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING";
const std::string kCountFailure = fmt::format(
    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING {}", kUserColumns);

// A failure starts the count again when the last one is older than the quiet spell ($3).
const std::string kCountNameFailure = fmt::format(
    "INSERT INTO login_name_failures (name_key, failures, last_failure) VALUES ($1, 1, $2) "
    "ON CONFLICT (name_key) DO UPDATE SET failures = CASE WHEN login_name_failures.last_failure < $3 "
    "THEN 1 ELSE login_name_failures.failures + 1 END, last_failure = $2 RETURNING {}",
    kLoginNameFailureColumns);
const std::string kSelectNameFailures =
    fmt::format("SELECT {} FROM login_name_failures WHERE name_key = $1", kLoginNameFailureColumns);

// --- API tokens ---

ApiTokenRecord tokenOf(const pg::Result& result, int row) {
    return tokenOfRow(pg::Row(result, row));
}

std::optional<ApiTokenRecord> firstToken(const pg::Result& result) {
    if (result.empty()) return std::nullopt;
    return tokenOf(result, 0);
}

const std::string kSelectTokenByHash =
    fmt::format("SELECT {} FROM api_tokens WHERE token_hash = $1", kTokenColumns);
const std::string kSelectTokenById = fmt::format("SELECT {} FROM api_tokens WHERE id = $1", kTokenColumns);
// seq breaks ties between tokens created in the same second: the later insert is newer.
const std::string kListTokens = fmt::format(
    "SELECT {} FROM api_tokens WHERE user_id = $1 AND revoked IS NULL ORDER BY created DESC, seq DESC",
    kTokenColumns);

// --- refresh tokens ---

pg::Statement insertRefreshToken(const RefreshTokenRecord& token) {
    return pg::Statement{
        .sql =
            "INSERT INTO refresh_tokens (token_id, family_id, user_id, issued, expires, spent) "
            "VALUES ($1, $2, $3, $4, $5, NULL)",
        .params = pg::Params(token.tokenId, token.familyId, token.userId, unixOf(token.issued),
                             unixOf(token.expires)),
    };
}

constexpr std::string_view kRevokeFamily =
    "UPDATE refresh_families SET revoked = $1 WHERE id = $2 AND revoked IS NULL";

}  // namespace

// --- users ---

asio::awaitable<void> PostgresStore::createUser(UserRecord user) {
    return withConnection([user = std::move(user)](pg::Connection& db) -> asio::awaitable<void> {
        pg::Params params(user.id, user.username, user.email, user.role, user.active, user.passwordHash,
                          user.totpSecretSealed, user.totpEnabled, user.totpLastStep, unixOf(user.created),
                          optionalUnix(user.lastLogin), user.failedLogins, optionalUnix(user.lockedUntil),
                          optionalUnix(user.credentialsRevokedAt));
        const auto inserted = co_await db.query(kInsertUser, std::move(params));
        if (inserted.affected() == 1) co_return;
        // ON CONFLICT DO NOTHING skipped it: a unique index holds the value. Asking which one is still
        // true afterwards, as users are never deleted and usernames never change. The message never
        // carries the value: it may end up in logs.
        const auto taken = co_await db.query(
            "SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1::text)), "
            "EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($2::text)), "
            "EXISTS (SELECT 1 FROM users WHERE id = $3)",
            pg::Params(user.username, user.email, user.id));
        if (taken.boolean(0, 0)) throw Conflict("username taken");
        if (taken.boolean(0, 1)) throw Conflict("email taken");
        if (taken.boolean(0, 2)) throw Conflict("user id taken");
        // The clashing email was changed in between: it was taken when we tried.
        throw Conflict("username or email taken");
    });
}

asio::awaitable<std::optional<UserRecord>> PostgresStore::findUserById(std::string id) {
    return withConnection(
        [id = std::move(id)](pg::Connection& db) -> asio::awaitable<std::optional<UserRecord>> {
            const auto found = co_await db.query(kSelectUserById, pg::Params(id));
            co_return firstUser(found);
        });
}

asio::awaitable<std::optional<UserRecord>> PostgresStore::findUserByUsername(std::string username) {
    return withConnection(
        [username = std::move(username)](pg::Connection& db) -> asio::awaitable<std::optional<UserRecord>> {
            const auto found = co_await db.query(kSelectUserByUsername, pg::Params(username));
            co_return firstUser(found);
        });
}

asio::awaitable<std::vector<UserRecord>> PostgresStore::listUsers(std::string afterUsername, int limit) {
    return withConnection([afterUsername = std::move(afterUsername),
                           limit](pg::Connection& db) -> asio::awaitable<std::vector<UserRecord>> {
        // Checked here so that a bad limit fails when awaited, like every other error.
        if (limit < 1 || limit > kMaxUserPage) throw std::invalid_argument("user list limit must be 1..500");
        const auto page = co_await db.query(kListUsers, pg::Params(afterUsername, limit));
        std::vector<UserRecord> users;
        users.reserve(page.rows());
        for (int row = 0; row < page.rows(); ++row) users.push_back(userOf(page, row));
        co_return users;
    });
}

asio::awaitable<std::optional<UserRecord>> PostgresStore::updateUser(std::string id, UserPatch patch) {
    // Only fixed fragments go into the text; every value is bound, numbered in the order it is set
    // ($1 is the id), since PostgreSQL cannot type a parameter the statement never uses.
    pg::Params params(id);
    std::string sets;
    auto set = [&sets, &params](std::string_view column, const auto& value) {
        params.add(value);
        if (!sets.empty()) sets += ", ";
        sets += fmt::format("{} = ${}", column, params.size());
    };
    if (patch.email) set("email", *patch.email);
    if (patch.role) set("role", *patch.role);
    if (patch.active) set("active", *patch.active);
    if (patch.passwordHash) set("password_hash", *patch.passwordHash);
    if (patch.totpSecretSealed) set("totp_secret", *patch.totpSecretSealed);
    if (patch.totpEnabled) set("totp_enabled", *patch.totpEnabled);
    if (patch.totpLastStep) set("totp_last_step", *patch.totpLastStep);
    if (patch.lastLogin) set("last_login", optionalUnix(*patch.lastLogin));
    if (patch.failedLogins) set("failed_logins", *patch.failedLogins);
    if (patch.lockedUntil) set("locked_until", optionalUnix(*patch.lockedUntil));
    if (patch.credentialsRevokedAt) set("credentials_revoked_at", unixOf(*patch.credentialsRevokedAt));
    std::string sql = sets.empty()
                          ? kSelectUserById
                          : fmt::format("UPDATE users SET {} WHERE id = $1 RETURNING {}", sets, kUserColumns);
    // Only the email among the columns a patch may set is unique.
    const bool setsEmail = patch.email && patch.email->has_value();
    return withConnection([sql = std::move(sql), params = std::move(params),
                           setsEmail](pg::Connection& db) -> asio::awaitable<std::optional<UserRecord>> {
        pg::Result updated;
        try {
            updated = co_await db.query(sql, params);
        } catch (const pg::QueryError& error) {
            if (setsEmail && error.uniqueViolation()) throw Conflict("email taken");
            throw;
        }
        co_return firstUser(updated);
    });
}

asio::awaitable<std::optional<UserRecord>> PostgresStore::recordLoginFailure(
    std::string userId, Seconds now, std::function<std::chrono::seconds(int failures)> lockout) {
    // The increment locks the user's row until the commit: no other failure, from any process, is
    // counted between it and the lockout.
    return inTransaction([userId = std::move(userId), now, lockout = std::move(lockout)](
                             pg::Connection& db) -> asio::awaitable<std::optional<UserRecord>> {
        const auto counted = co_await db.query(kCountFailure, pg::Params(userId));
        auto user = firstUser(counted);
        if (!user) co_return user;
        const std::chrono::seconds wait = lockout ? lockout(user->failedLogins) : std::chrono::seconds{0};
        if (wait > std::chrono::seconds{0}) {
            const Seconds until = now + wait;
            co_await db.query("UPDATE users SET locked_until = $1 WHERE id = $2",
                              pg::Params(unixOf(until), userId));
            user->lockedUntil = until;
        }
        co_return user;
    });
}

asio::awaitable<LoginNameFailures> PostgresStore::recordLoginNameFailure(
    std::string nameKey, Seconds now, std::chrono::seconds forgetAfter,
    std::function<std::chrono::seconds(int failures)> lockout) {
    // The upsert locks the name's row until the commit: no other failure, from any process, is counted
    // between it and the lockout.
    return inTransaction([nameKey = std::move(nameKey), now, forgetAfter, lockout = std::move(lockout)](
                             pg::Connection& db) -> asio::awaitable<LoginNameFailures> {
        const auto counted =
            co_await db.query(kCountNameFailure, pg::Params(nameKey, unixOf(now), unixOf(now - forgetAfter)));
        if (counted.empty()) throw StoreUnavailable("login_name_failures: the upsert returned no row");
        LoginNameFailures row = loginNameFailuresOfRow(pg::Row(counted, 0));
        const std::chrono::seconds wait = lockout ? lockout(row.failures) : std::chrono::seconds{0};
        if (wait > std::chrono::seconds{0}) {
            row.lockedUntil = now + wait;
            co_await db.query("UPDATE login_name_failures SET locked_until = $1 WHERE name_key = $2",
                              pg::Params(unixOf(*row.lockedUntil), nameKey));
        }
        co_return row;
    });
}

asio::awaitable<std::optional<LoginNameFailures>> PostgresStore::findLoginNameFailures(std::string nameKey) {
    return withConnection([nameKey = std::move(nameKey)](
                              pg::Connection& db) -> asio::awaitable<std::optional<LoginNameFailures>> {
        const auto found = co_await db.query(kSelectNameFailures, pg::Params(nameKey));
        if (found.empty()) co_return std::nullopt;
        co_return loginNameFailuresOfRow(pg::Row(found, 0));
    });
}

asio::awaitable<void> PostgresStore::clearLoginNameFailures(std::string nameKey) {
    return withConnection([nameKey = std::move(nameKey)](pg::Connection& db) -> asio::awaitable<void> {
        co_await db.query("DELETE FROM login_name_failures WHERE name_key = $1", pg::Params(nameKey));
    });
}

asio::awaitable<std::int64_t> PostgresStore::pruneLoginNameFailures(Seconds quietBefore, Seconds now,
                                                                    std::int64_t keep) {
    return withConnection([quietBefore, now, keep](pg::Connection& db) -> asio::awaitable<std::int64_t> {
        const auto quiet = co_await db.query(
            "DELETE FROM login_name_failures WHERE last_failure < $1 "
            "AND (locked_until IS NULL OR locked_until <= $2)",
            pg::Params(unixOf(quietBefore), unixOf(now)));
        const auto oldest = co_await db.query(
            "DELETE FROM login_name_failures WHERE name_key IN (SELECT name_key FROM login_name_failures "
            "ORDER BY last_failure DESC, name_key OFFSET $1)",
            pg::Params(std::max<std::int64_t>(keep, 0)));
        co_return quiet.affected() + oldest.affected();
    });
}

asio::awaitable<bool> PostgresStore::consumeTotpStep(std::string userId, std::int64_t step) {
    // One conditional UPDATE: whichever request reaches the row second waits for the first to commit,
    // then finds the step already taken.
    return withConnection([userId = std::move(userId), step](pg::Connection& db) -> asio::awaitable<bool> {
        const auto updated = co_await db.query(
            "UPDATE users SET totp_last_step = $1 "
            "WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            pg::Params(step, userId));
        co_return updated.affected() == 1;
    });
}

std::int64_t PostgresStore::countUsersBlocking() {
    return blocking(
        [](pg::BlockingConnection& db) { return db.exec("SELECT count(*) FROM users").int64(0, 0); });
}

// --- personal API tokens ---

asio::awaitable<void> PostgresStore::createApiToken(ApiTokenRecord token) {
    return withConnection([token = std::move(token)](pg::Connection& db) -> asio::awaitable<void> {
        pg::Params params(token.id, token.userId, token.name, token.tokenHash, token.displayPrefix,
                          joinScopes(token.scopes), unixOf(token.created), optionalUnix(token.expires),
                          optionalUnix(token.lastUsed), optionalUnix(token.revoked));
        co_await db.query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, display_prefix, scopes, created, "
            "expires, last_used, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            std::move(params));
    });
}

asio::awaitable<std::optional<ApiTokenRecord>> PostgresStore::findApiTokenByHash(std::string tokenHash) {
    return withConnection([tokenHash = std::move(tokenHash)](
                              pg::Connection& db) -> asio::awaitable<std::optional<ApiTokenRecord>> {
        const auto found = co_await db.query(kSelectTokenByHash, pg::Params(tokenHash));
        co_return firstToken(found);
    });
}

asio::awaitable<std::optional<ApiTokenRecord>> PostgresStore::findApiTokenById(std::string tokenId) {
    return withConnection(
        [tokenId = std::move(tokenId)](pg::Connection& db) -> asio::awaitable<std::optional<ApiTokenRecord>> {
            const auto found = co_await db.query(kSelectTokenById, pg::Params(tokenId));
            co_return firstToken(found);
        });
}

asio::awaitable<std::vector<ApiTokenRecord>> PostgresStore::listApiTokens(std::string userId) {
    return withConnection(
        [userId = std::move(userId)](pg::Connection& db) -> asio::awaitable<std::vector<ApiTokenRecord>> {
            const auto listed = co_await db.query(kListTokens, pg::Params(userId));
            std::vector<ApiTokenRecord> tokens;
            tokens.reserve(listed.rows());
            for (int row = 0; row < listed.rows(); ++row) tokens.push_back(tokenOf(listed, row));
            co_return tokens;
        });
}

asio::awaitable<bool> PostgresStore::revokeApiToken(std::string userId, std::string tokenId, Seconds now) {
    // The user's id is part of the match, so nobody revokes someone else's token by guessing its id.
    return withConnection([userId = std::move(userId), tokenId = std::move(tokenId),
                           now](pg::Connection& db) -> asio::awaitable<bool> {
        const auto updated = co_await db.query(
            "UPDATE api_tokens SET revoked = $1 WHERE id = $2 AND user_id = $3 AND revoked IS NULL",
            pg::Params(unixOf(now), tokenId, userId));
        co_return updated.affected() == 1;
    });
}

asio::awaitable<void> PostgresStore::touchApiToken(std::string tokenId, Seconds now) {
    return withConnection([tokenId = std::move(tokenId), now](pg::Connection& db) -> asio::awaitable<void> {
        co_await db.query("UPDATE api_tokens SET last_used = $1 WHERE id = $2",
                          pg::Params(unixOf(now), tokenId));
    });
}

// --- refresh-token families ---

asio::awaitable<void> PostgresStore::createRefreshFamily(RefreshTokenRecord first) {
    // One pipeline is one implicit transaction: never a family without its first token.
    return withConnection([first = std::move(first)](pg::Connection& db) -> asio::awaitable<void> {
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "INSERT INTO refresh_families (id, user_id, created, revoked) VALUES ($1, $2, $3, NULL)",
            .params = pg::Params(first.familyId, first.userId, unixOf(first.issued)),
        });
        statements.push_back(insertRefreshToken(first));
        co_await db.pipeline(std::move(statements));
    });
}

asio::awaitable<IdentityStore::RotateResult> PostgresStore::rotateRefreshToken(std::string presentedTokenId,
                                                                               RefreshTokenRecord next,
                                                                               Seconds now) {
    // The presented token's row and its family's are locked until the commit, so two requests (or two
    // processes) presenting the same token cannot both rotate it: the second waits, then reads it
    // spent. Every outcome returns rather than throws, so a reuse's revocation commits.
    return inTransaction([presentedTokenId = std::move(presentedTokenId), next = std::move(next),
                          now](pg::Connection& db) -> asio::awaitable<RotateResult> {
        RotateResult result;
        const auto found = co_await db.query(
            "SELECT t.family_id, t.user_id, t.expires, t.spent IS NOT NULL, f.revoked IS NOT NULL "
            "FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_id = $1 "
            "FOR UPDATE",
            pg::Params(presentedTokenId));
        if (found.empty()) co_return result;
        result.familyId = found.string(0, 0);
        result.userId = found.string(0, 1);
        result.outcome = refreshOutcomeOf(found.int64(0, 2), found.boolean(0, 3), found.boolean(0, 4), now);
        if (result.outcome == RefreshOutcome::reused) {
            // Someone holds a copy: the family dies for both holders.
            co_await db.query(std::string(kRevokeFamily), pg::Params(unixOf(now), result.familyId));
        }
        if (result.outcome != RefreshOutcome::rotated) co_return result;
        RefreshTokenRecord stored = next;  // a copy: a retried transaction starts from `next` again
        stored.familyId = result.familyId;
        stored.userId = result.userId;
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "UPDATE refresh_tokens SET spent = $1 WHERE token_id = $2",
            .params = pg::Params(unixOf(now), presentedTokenId),
        });
        statements.push_back(insertRefreshToken(stored));
        co_await db.pipeline(std::move(statements));
        co_return result;
    });
}

asio::awaitable<bool> PostgresStore::revokeRefreshFamily(std::string familyId, Seconds now) {
    return withConnection([familyId = std::move(familyId), now](pg::Connection& db) -> asio::awaitable<bool> {
        const auto updated = co_await db.query(std::string(kRevokeFamily), pg::Params(unixOf(now), familyId));
        co_return updated.affected() == 1;
    });
}

asio::awaitable<bool> PostgresStore::refreshFamilyLive(std::string familyId) {
    return withConnection([familyId = std::move(familyId)](pg::Connection& db) -> asio::awaitable<bool> {
        const auto found = co_await db.query(
            "SELECT 1 FROM refresh_families WHERE id = $1 AND revoked IS NULL", pg::Params(familyId));
        co_return !found.empty();
    });
}

// --- browser sessions ---

asio::awaitable<void> PostgresStore::createSession(SessionRecord session) {
    return withConnection([session = std::move(session)](pg::Connection& db) -> asio::awaitable<void> {
        pg::Params params(session.idHash, session.userId, unixOf(session.created), unixOf(session.expires),
                          optionalUnix(session.revoked));
        co_await db.query(
            "INSERT INTO sessions (id_hash, user_id, created, expires, revoked) VALUES ($1, $2, $3, $4, $5)",
            std::move(params));
    });
}

asio::awaitable<std::optional<SessionRecord>> PostgresStore::findSession(std::string idHash) {
    return withConnection(
        [idHash = std::move(idHash)](pg::Connection& db) -> asio::awaitable<std::optional<SessionRecord>> {
            const auto found = co_await db.query(
                "SELECT " + std::string(kSessionColumns) + " FROM sessions WHERE id_hash = $1",
                pg::Params(idHash));
            std::optional<SessionRecord> session;
            if (!found.empty()) session = sessionOfRow(pg::Row(found, 0));
            co_return session;
        });
}

asio::awaitable<bool> PostgresStore::revokeSession(std::string idHash, Seconds now) {
    return withConnection([idHash = std::move(idHash), now](pg::Connection& db) -> asio::awaitable<bool> {
        const auto updated =
            co_await db.query("UPDATE sessions SET revoked = $1 WHERE id_hash = $2 AND revoked IS NULL",
                              pg::Params(unixOf(now), idHash));
        co_return updated.affected() == 1;
    });
}

asio::awaitable<bool> PostgresStore::revokeAllCredentials(std::string userId, Seconds now, bool deactivate) {
    // One pipeline is one implicit transaction and one round trip: the user never has some credentials
    // revoked and others still live. For an unknown user every statement matches nothing.
    return withConnection([userId = std::move(userId), now,
                           deactivate](pg::Connection& db) -> asio::awaitable<bool> {
        const std::int64_t at = unixOf(now);
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "UPDATE users SET credentials_revoked_at = $1, "
                   "active = CASE WHEN $3 THEN false ELSE active END WHERE id = $2",
            .params = pg::Params(at, userId, deactivate),
        });
        for (std::string_view table : {"api_tokens", "sessions", "refresh_families"}) {
            statements.push_back(pg::Statement{
                .sql =
                    fmt::format("UPDATE {} SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL", table),
                .params = pg::Params(at, userId),
            });
        }
        const auto results = co_await db.pipeline(std::move(statements));
        co_return results.front().affected() == 1;
    });
}

asio::awaitable<std::optional<UserRecord>> PostgresStore::changePassword(std::string userId,
                                                                         std::string passwordHash,
                                                                         Seconds now,
                                                                         std::optional<KeptCredential> keep) {
    // One pipeline is one implicit transaction: the new password never meets a credential that should have
    // died with the old one. For an unknown user every statement matches nothing.
    using Kind = KeptCredential::Kind;
    const std::int64_t at = unixOf(now);
    std::vector<pg::Statement> statements;
    statements.push_back(pg::Statement{
        .sql = fmt::format(
            "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1 "
            "RETURNING {}",
            kUserColumns),
        .params = pg::Params(userId, passwordHash),
    });
    const std::pair<std::string_view, Kind> tables[] = {{"api_tokens", Kind::apiToken},
                                                        {"sessions", Kind::session},
                                                        {"refresh_families", Kind::refreshFamily}};
    for (const auto& [table, kind] : tables) {
        const std::string_view idColumn = kind == Kind::session ? "id_hash" : "id";
        std::optional<std::string> kept;
        if (keep && keep->kind == kind) kept = keep->id;
        statements.push_back(pg::Statement{
            .sql = fmt::format("UPDATE {} SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL "
                               "AND {} IS DISTINCT FROM $3::text",
                               table, idColumn),
            .params = pg::Params(at, userId, kept),
        });
    }
    return withConnection([statements = std::move(statements)](
                              pg::Connection& db) -> asio::awaitable<std::optional<UserRecord>> {
        auto pipelined = statements;
        const auto results = co_await db.pipeline(std::move(pipelined));
        co_return firstUser(results.front());
    });
}

// --- signing keys ---

std::vector<SigningKeyRecord> PostgresStore::loadSigningKeysBlocking() {
    return blocking([](pg::BlockingConnection& db) {
        // seq keeps keys created in the same second in insertion order: the newest signs.
        const auto rows = db.exec(
            "SELECT kid, alg, public_key, encrypted_private_key, created, not_after, expires "
            "FROM signing_keys ORDER BY created, seq");
        std::vector<SigningKeyRecord> keys;
        keys.reserve(rows.rows());
        for (int row = 0; row < rows.rows(); ++row) {
            keys.push_back(SigningKeyRecord{
                .kid = rows.string(row, 0),
                .alg = rows.string(row, 1),
                .publicKey = rows.string(row, 2),
                .encryptedPrivateKey = rows.string(row, 3),
                .created = secondsOf(rows.int64(row, 4)),
                .notAfter = secondsOf(rows.int64(row, 5)),
                .expires = secondsOf(rows.int64(row, 6)),
            });
        }
        return keys;
    });
}

void PostgresStore::insertSigningKeyBlocking(SigningKeyRecord key) {
    blocking([&key](pg::BlockingConnection& db) {
        db.exec(
            "INSERT INTO signing_keys (kid, alg, public_key, encrypted_private_key, created, not_after, "
            "expires) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            pg::Params(key.kid, key.alg, key.publicKey, key.encryptedPrivateKey, unixOf(key.created),
                       unixOf(key.notAfter), unixOf(key.expires)));
    });
}

void PostgresStore::deleteSigningKeysBlocking(std::vector<std::string> kids) {
    if (kids.empty()) return;
    blocking([&kids](pg::BlockingConnection& db) {
        pg::Params params;
        params.addArray(kids);
        db.exec("DELETE FROM signing_keys WHERE kid = ANY($1::text[])", params);
    });
}

}  // namespace rampart::store
