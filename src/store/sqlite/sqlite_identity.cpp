// SqliteStore's identity calls over the tables of migration 3: users, API tokens, refresh-token
// families, sessions and signing keys. Reads go to the reader pool, writes to the writer thread.
//
// Every async method is a plain function returning write()/read()'s awaitable, not a coroutine:
// with g++ 12, a lambda that moved a coroutine's by-value parameter into its capture, awaited in
// the same expression, was destroyed twice (see appendAudit).
#include <stdexcept>
#include <string_view>

#include "store/identity_columns.hpp"
#include "store/identity_rules.hpp"
#include "store/sqlite/row_helpers.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rampart::store {
namespace {

using sqlite::bindOptional;
using sqlite::Connection;
using sqlite::SqliteError;
using sqlite::Statement;

constexpr int kMaxUserPage = 500;

void bindOptional(Statement& statement, int index, const std::optional<Seconds>& value) {
    bindOptional(statement, index, value ? std::optional(unixOf(*value)) : std::nullopt);
}

// --- users ---

UserRecord userOf(const Statement& row) {
    return userOfRow(sqlite::Columns(row));
}

std::optional<UserRecord> selectUser(Connection& db, std::string_view where, std::string_view value) {
    auto select = db.prepare(std::string("SELECT ") + std::string(kUserColumns) + " FROM users WHERE " +
                             std::string(where));
    select.bindText(1, value);
    if (!select.step()) return std::nullopt;
    return userOf(select);
}

// True when another user than `exceptId` already holds the value in that column (the column's
// NOCASE collation applies).
bool taken(Connection& db, std::string_view column, std::string_view value, std::string_view exceptId) {
    auto select =
        db.prepare(std::string("SELECT 1 FROM users WHERE ") + std::string(column) + " = ?1 AND id <> ?2");
    select.bindText(1, value).bindText(2, exceptId);
    return select.step();
}

// --- API tokens ---

ApiTokenRecord tokenOf(const Statement& row) {
    return tokenOfRow(sqlite::Columns(row));
}

// --- refresh tokens ---

void insertRefreshToken(Connection& db, const RefreshTokenRecord& token) {
    auto insert = db.prepare(
        "INSERT INTO refresh_tokens (token_id, family_id, user_id, issued, expires, spent) "
        "VALUES (?1, ?2, ?3, ?4, ?5, NULL)");
    insert.bindText(1, token.tokenId)
        .bindText(2, token.familyId)
        .bindText(3, token.userId)
        .bindInt64(4, unixOf(token.issued))
        .bindInt64(5, unixOf(token.expires));
    insert.step();
}

bool revokeFamily(Connection& db, std::string_view familyId, Seconds now) {
    auto update = db.prepare("UPDATE refresh_families SET revoked = ?1 WHERE id = ?2 AND revoked IS NULL");
    update.bindInt64(1, unixOf(now)).bindText(2, familyId);
    update.step();
    return db.changes() == 1;
}

// Runs an UPDATE whose first parameter is a time and second an id; returns the rows changed.
std::int64_t updateWithTimeAndId(Connection& db, std::string_view sql, Seconds time, std::string_view id) {
    auto update = db.prepare(sql);
    update.bindInt64(1, unixOf(time)).bindText(2, id);
    update.step();
    return db.changes();
}

}  // namespace

// --- users ---

boost::asio::awaitable<void> SqliteStore::createUser(UserRecord user) {
    return write([user = std::move(user)](Connection& db) {
        auto insert = db.prepare(
            "INSERT INTO users (id, username, email, role, active, password_hash, totp_secret, "
            "totp_enabled, totp_last_step, created, last_login, failed_logins, locked_until, "
            "credentials_revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
        insert.bindText(1, user.id)
            .bindText(2, user.username)
            .bindText(4, user.role)
            .bindInt64(5, user.active ? 1 : 0)
            .bindText(6, user.passwordHash)
            .bindText(7, user.totpSecretSealed)
            .bindInt64(8, user.totpEnabled ? 1 : 0)
            .bindInt64(10, unixOf(user.created))
            .bindInt64(12, user.failedLogins);
        bindOptional(insert, 3, user.email);
        bindOptional(insert, 9, user.totpLastStep);
        bindOptional(insert, 11, user.lastLogin);
        bindOptional(insert, 13, user.lockedUntil);
        bindOptional(insert, 14, user.credentialsRevokedAt);
        try {
            insert.step();
        } catch (const SqliteError& error) {
            // SQLite's error does not say which column clashed; asking afterwards does, and the
            // writer runs one request at a time, so the answer is still true. The message never
            // carries the value: it may end up in logs.
            if (!error.isConstraintViolation()) throw;
            if (taken(db, "username", user.username, "")) throw Conflict("username taken");
            if (user.email && taken(db, "email", *user.email, "")) throw Conflict("email taken");
            if (taken(db, "id", user.id, "")) throw Conflict("user id taken");
            throw;  // a CHECK (role, ...) or NOT NULL failure: a caller's bug, not a conflict
        }
    });
}

boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::findUserById(std::string id) {
    return read([id = std::move(id)](Connection& db) { return selectUser(db, "id = ?1", id); });
}

boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::findUserByUsername(std::string username) {
    return read([username = std::move(username)](Connection& db) {
        return selectUser(db, "username = ?1", username);  // NOCASE by the column's collation
    });
}

boost::asio::awaitable<std::vector<UserRecord>> SqliteStore::listUsers(std::string afterUsername, int limit) {
    // Checked on the reader thread so that a bad limit fails when awaited, like every other error.
    return read([afterUsername = std::move(afterUsername), limit](Connection& db) {
        if (limit < 1 || limit > kMaxUserPage) throw std::invalid_argument("user list limit must be 1..500");
        auto select = db.prepare(std::string("SELECT ") + std::string(kUserColumns) +
                                 " FROM users WHERE username > ?1 COLLATE NOCASE "
                                 "ORDER BY username COLLATE NOCASE LIMIT ?2");
        select.bindText(1, afterUsername).bindInt64(2, limit);
        std::vector<UserRecord> users;
        while (select.step()) users.push_back(userOf(select));
        return users;
    });
}

boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::updateUser(std::string id, UserPatch patch) {
    return write([id = std::move(id), patch = std::move(patch)](Connection& db) -> std::optional<UserRecord> {
        // Only fixed fragments go into the text; every value is bound. ?1 is the id.
        std::string sets;
        auto set = [&sets](std::string_view column, int index) {
            if (!sets.empty()) sets += ", ";
            sets += std::string(column) + " = ?" + std::to_string(index);
        };
        if (patch.email) set("email", 2);
        if (patch.role) set("role", 3);
        if (patch.active) set("active", 4);
        if (patch.passwordHash) set("password_hash", 5);
        if (patch.totpSecretSealed) set("totp_secret", 6);
        if (patch.totpEnabled) set("totp_enabled", 7);
        if (patch.totpLastStep) set("totp_last_step", 8);
        if (patch.lastLogin) set("last_login", 9);
        if (patch.failedLogins) set("failed_logins", 10);
        if (patch.lockedUntil) set("locked_until", 11);
        if (patch.credentialsRevokedAt) set("credentials_revoked_at", 12);
        if (!sets.empty()) {
            auto update = db.prepare("UPDATE users SET " + sets + " WHERE id = ?1");
            update.bindText(1, id);
            if (patch.email) bindOptional(update, 2, *patch.email);
            if (patch.role) update.bindText(3, *patch.role);
            if (patch.active) update.bindInt64(4, *patch.active ? 1 : 0);
            if (patch.passwordHash) update.bindText(5, *patch.passwordHash);
            if (patch.totpSecretSealed) update.bindText(6, *patch.totpSecretSealed);
            if (patch.totpEnabled) update.bindInt64(7, *patch.totpEnabled ? 1 : 0);
            if (patch.totpLastStep) bindOptional(update, 8, *patch.totpLastStep);
            if (patch.lastLogin) bindOptional(update, 9, *patch.lastLogin);
            if (patch.failedLogins) update.bindInt64(10, *patch.failedLogins);
            if (patch.lockedUntil) bindOptional(update, 11, *patch.lockedUntil);
            if (patch.credentialsRevokedAt) update.bindInt64(12, unixOf(*patch.credentialsRevokedAt));
            try {
                update.step();
            } catch (const SqliteError& error) {
                if (error.isConstraintViolation() && patch.email && *patch.email &&
                    taken(db, "email", **patch.email, id)) {
                    throw Conflict("email taken");
                }
                throw;
            }
        }
        return selectUser(db, "id = ?1", id);
    });
}

boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::recordLoginFailure(
    std::string userId, Seconds now, std::function<std::chrono::seconds(int failures)> lockout) {
    // One write request: no other failure can be counted between the increment and the lockout.
    return write([userId = std::move(userId), now, lockout](Connection& db) -> std::optional<UserRecord> {
        {
            auto increment = db.prepare("UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ?1");
            increment.bindText(1, userId);
            increment.step();
            if (db.changes() == 0) return std::nullopt;
        }
        auto user = selectUser(db, "id = ?1", userId);
        if (!user) return std::nullopt;
        const std::chrono::seconds wait = lockout ? lockout(user->failedLogins) : std::chrono::seconds{0};
        if (wait > std::chrono::seconds{0}) {
            const Seconds until = now + wait;
            updateWithTimeAndId(db, "UPDATE users SET locked_until = ?1 WHERE id = ?2", until, userId);
            user->lockedUntil = until;
        }
        return user;
    });
}

boost::asio::awaitable<LoginNameFailures> SqliteStore::recordLoginNameFailure(
    std::string nameKey, Seconds now, std::chrono::seconds forgetAfter,
    std::function<std::chrono::seconds(int failures)> lockout) {
    // One write request: no other failure of the name is counted between the upsert and the lockout.
    return write([nameKey = std::move(nameKey), now, forgetAfter, lockout](Connection& db) {
        auto upsert = db.prepare(
            "INSERT INTO login_name_failures (name_key, failures, last_failure) VALUES (?1, 1, ?2) "
            "ON CONFLICT (name_key) DO UPDATE SET failures = CASE WHEN last_failure < ?3 THEN 1 "
            "ELSE failures + 1 END, last_failure = ?2 RETURNING " +
            std::string(kLoginNameFailureColumns));
        upsert.bindText(1, nameKey).bindInt64(2, unixOf(now)).bindInt64(3, unixOf(now - forgetAfter));
        if (!upsert.step()) throw StoreUnavailable("login_name_failures: the upsert returned no row");
        LoginNameFailures row = loginNameFailuresOfRow(sqlite::Columns(upsert));
        upsert.reset();
        const std::chrono::seconds wait = lockout ? lockout(row.failures) : std::chrono::seconds{0};
        if (wait > std::chrono::seconds{0}) {
            row.lockedUntil = now + wait;
            updateWithTimeAndId(db, "UPDATE login_name_failures SET locked_until = ?1 WHERE name_key = ?2",
                                *row.lockedUntil, nameKey);
        }
        return row;
    });
}

boost::asio::awaitable<std::optional<LoginNameFailures>> SqliteStore::findLoginNameFailures(
    std::string nameKey) {
    return read([nameKey = std::move(nameKey)](Connection& db) -> std::optional<LoginNameFailures> {
        auto select = db.prepare("SELECT " + std::string(kLoginNameFailureColumns) +
                                 " FROM login_name_failures WHERE name_key = ?1");
        select.bindText(1, nameKey);
        if (!select.step()) return std::nullopt;
        return loginNameFailuresOfRow(sqlite::Columns(select));
    });
}

boost::asio::awaitable<void> SqliteStore::clearLoginNameFailures(std::string nameKey) {
    return write([nameKey = std::move(nameKey)](Connection& db) {
        auto remove = db.prepare("DELETE FROM login_name_failures WHERE name_key = ?1");
        remove.bindText(1, nameKey);
        remove.step();
    });
}

boost::asio::awaitable<std::int64_t> SqliteStore::pruneLoginNameFailures(Seconds quietBefore, Seconds now,
                                                                         std::int64_t keep) {
    return write([quietBefore, now, keep](Connection& db) -> std::int64_t {
        auto quiet = db.prepare(
            "DELETE FROM login_name_failures WHERE last_failure < ?1 "
            "AND (locked_until IS NULL OR locked_until <= ?2)");
        quiet.bindInt64(1, unixOf(quietBefore)).bindInt64(2, unixOf(now));
        quiet.step();
        std::int64_t deleted = db.changes();
        auto oldest = db.prepare(
            "DELETE FROM login_name_failures WHERE name_key IN (SELECT name_key FROM login_name_failures "
            "ORDER BY last_failure DESC, name_key LIMIT -1 OFFSET ?1)");
        oldest.bindInt64(1, std::max<std::int64_t>(keep, 0));
        oldest.step();
        return deleted + db.changes();
    });
}

boost::asio::awaitable<bool> SqliteStore::consumeTotpStep(std::string userId, std::int64_t step) {
    // One conditional UPDATE: whichever request reaches it second finds the step already taken.
    return write([userId = std::move(userId), step](Connection& db) {
        auto update = db.prepare(
            "UPDATE users SET totp_last_step = ?1 "
            "WHERE id = ?2 AND (totp_last_step IS NULL OR totp_last_step < ?1)");
        update.bindInt64(1, step).bindText(2, userId);
        update.step();
        return db.changes() == 1;
    });
}

std::int64_t SqliteStore::countUsersBlocking() {
    return runBlocking<std::int64_t>(
        reads_,
        [](Connection& db) {
            auto count = db.prepare("SELECT count(*) FROM users");
            count.step();
            return count.columnInt64(0);
        },
        false);
}

// --- personal API tokens ---

boost::asio::awaitable<void> SqliteStore::createApiToken(ApiTokenRecord token) {
    return write([token = std::move(token)](Connection& db) {
        auto insert = db.prepare(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, display_prefix, scopes, created, "
            "expires, last_used, revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
        insert.bindText(1, token.id)
            .bindText(2, token.userId)
            .bindText(3, token.name)
            .bindText(4, token.tokenHash)
            .bindText(5, token.displayPrefix)
            .bindText(6, joinScopes(token.scopes))
            .bindInt64(7, unixOf(token.created));
        bindOptional(insert, 8, token.expires);
        bindOptional(insert, 9, token.lastUsed);
        bindOptional(insert, 10, token.revoked);
        insert.step();
    });
}

boost::asio::awaitable<std::optional<ApiTokenRecord>> SqliteStore::findApiTokenByHash(std::string tokenHash) {
    return read([tokenHash = std::move(tokenHash)](Connection& db) -> std::optional<ApiTokenRecord> {
        auto select = db.prepare(std::string("SELECT ") + std::string(kTokenColumns) +
                                 " FROM api_tokens WHERE token_hash = ?1");
        select.bindText(1, tokenHash);
        if (!select.step()) return std::nullopt;
        return tokenOf(select);
    });
}

boost::asio::awaitable<std::optional<ApiTokenRecord>> SqliteStore::findApiTokenById(std::string tokenId) {
    return read([tokenId = std::move(tokenId)](Connection& db) -> std::optional<ApiTokenRecord> {
        auto select = db.prepare(std::string("SELECT ") + std::string(kTokenColumns) +
                                 " FROM api_tokens WHERE id = ?1");
        select.bindText(1, tokenId);
        if (!select.step()) return std::nullopt;
        return tokenOf(select);
    });
}

boost::asio::awaitable<std::vector<ApiTokenRecord>> SqliteStore::listApiTokens(std::string userId) {
    return read([userId = std::move(userId)](Connection& db) {
        // rowid breaks ties between tokens created in the same second: the later insert is newer.
        auto select = db.prepare(std::string("SELECT ") + std::string(kTokenColumns) +
                                 " FROM api_tokens WHERE user_id = ?1 AND revoked IS NULL "
                                 "ORDER BY created DESC, rowid DESC");
        select.bindText(1, userId);
        std::vector<ApiTokenRecord> tokens;
        while (select.step()) tokens.push_back(tokenOf(select));
        return tokens;
    });
}

boost::asio::awaitable<bool> SqliteStore::revokeApiToken(std::string userId, std::string tokenId,
                                                         Seconds now) {
    // The user's id is part of the match, so nobody revokes someone else's token by guessing its id.
    return write([userId = std::move(userId), tokenId = std::move(tokenId), now](Connection& db) {
        auto update = db.prepare(
            "UPDATE api_tokens SET revoked = ?1 WHERE id = ?2 AND user_id = ?3 AND revoked IS NULL");
        update.bindInt64(1, unixOf(now)).bindText(2, tokenId).bindText(3, userId);
        update.step();
        return db.changes() == 1;
    });
}

boost::asio::awaitable<void> SqliteStore::touchApiToken(std::string tokenId, Seconds now) {
    return write([tokenId = std::move(tokenId), now](Connection& db) {
        updateWithTimeAndId(db, "UPDATE api_tokens SET last_used = ?1 WHERE id = ?2", now, tokenId);
    });
}

// --- refresh-token families ---

boost::asio::awaitable<void> SqliteStore::createRefreshFamily(RefreshTokenRecord first) {
    return write([first = std::move(first)](Connection& db) {
        auto family = db.prepare(
            "INSERT INTO refresh_families (id, user_id, created, revoked) VALUES (?1, ?2, ?3, NULL)");
        family.bindText(1, first.familyId).bindText(2, first.userId).bindInt64(3, unixOf(first.issued));
        family.step();
        insertRefreshToken(db, first);
    });
}

boost::asio::awaitable<IdentityStore::RotateResult> SqliteStore::rotateRefreshToken(
    std::string presentedTokenId, RefreshTokenRecord next, Seconds now) {
    // One write request, so two requests presenting the same token cannot both rotate it: the second
    // finds it spent. Every outcome returns rather than throws, so a reuse's revocation commits.
    return write([presentedTokenId = std::move(presentedTokenId), next = std::move(next),
                  now](Connection& db) mutable {
        RotateResult result;
        auto select = db.prepare(
            "SELECT t.family_id, t.user_id, t.expires, t.spent, f.revoked "
            "FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.token_id = ?1");
        select.bindText(1, presentedTokenId);
        if (!select.step()) return result;
        result.familyId = select.columnText(0);
        result.userId = select.columnText(1);
        result.outcome =
            refreshOutcomeOf(select.columnInt64(2), !select.columnIsNull(3), !select.columnIsNull(4), now);
        if (result.outcome == RefreshOutcome::reused) revokeFamily(db, result.familyId, now);
        if (result.outcome != RefreshOutcome::rotated) return result;
        updateWithTimeAndId(db, "UPDATE refresh_tokens SET spent = ?1 WHERE token_id = ?2", now,
                            presentedTokenId);
        next.familyId = result.familyId;
        next.userId = result.userId;
        insertRefreshToken(db, next);
        return result;
    });
}

boost::asio::awaitable<bool> SqliteStore::revokeRefreshFamily(std::string familyId, Seconds now) {
    return write(
        [familyId = std::move(familyId), now](Connection& db) { return revokeFamily(db, familyId, now); });
}

boost::asio::awaitable<bool> SqliteStore::refreshFamilyLive(std::string familyId) {
    return read([familyId = std::move(familyId)](Connection& db) {
        auto select = db.prepare("SELECT 1 FROM refresh_families WHERE id = ?1 AND revoked IS NULL");
        select.bindText(1, familyId);
        return select.step();
    });
}

// --- browser sessions ---

boost::asio::awaitable<void> SqliteStore::createSession(SessionRecord session) {
    return write([session = std::move(session)](Connection& db) {
        auto insert = db.prepare(
            "INSERT INTO sessions (id_hash, user_id, created, expires, revoked) VALUES (?1, ?2, ?3, ?4, ?5)");
        insert.bindText(1, session.idHash)
            .bindText(2, session.userId)
            .bindInt64(3, unixOf(session.created))
            .bindInt64(4, unixOf(session.expires));
        bindOptional(insert, 5, session.revoked);
        insert.step();
    });
}

boost::asio::awaitable<std::optional<SessionRecord>> SqliteStore::findSession(std::string idHash) {
    return read([idHash = std::move(idHash)](Connection& db) -> std::optional<SessionRecord> {
        auto select =
            db.prepare("SELECT " + std::string(kSessionColumns) + " FROM sessions WHERE id_hash = ?1");
        select.bindText(1, idHash);
        if (!select.step()) return std::nullopt;
        return sessionOfRow(sqlite::Columns(select));
    });
}

boost::asio::awaitable<bool> SqliteStore::revokeSession(std::string idHash, Seconds now) {
    return write([idHash = std::move(idHash), now](Connection& db) {
        return updateWithTimeAndId(db,
                                   "UPDATE sessions SET revoked = ?1 WHERE id_hash = ?2 AND revoked IS NULL",
                                   now, idHash) == 1;
    });
}

boost::asio::awaitable<bool> SqliteStore::revokeAllCredentials(std::string userId, Seconds now,
                                                               bool deactivate) {
    // One write request: the user never has some credentials revoked and others still live.
    return write([userId = std::move(userId), now, deactivate](Connection& db) {
        {
            auto user = db.prepare(
                "UPDATE users SET credentials_revoked_at = ?1, "
                "active = CASE WHEN ?3 THEN 0 ELSE active END WHERE id = ?2");
            user.bindInt64(1, unixOf(now)).bindText(2, userId).bindInt64(3, deactivate ? 1 : 0);
            user.step();
            if (db.changes() == 0) return false;
        }
        updateWithTimeAndId(db, "UPDATE api_tokens SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL",
                            now, userId);
        updateWithTimeAndId(db, "UPDATE sessions SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL",
                            now, userId);
        updateWithTimeAndId(db,
                            "UPDATE refresh_families SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL",
                            now, userId);
        return true;
    });
}

boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::changePassword(
    std::string userId, std::string passwordHash, Seconds now, std::optional<KeptCredential> keep) {
    // One write request: the new password never meets a credential that should have died with the old one.
    return write([userId = std::move(userId), passwordHash = std::move(passwordHash), now,
                  keep = std::move(keep)](Connection& db) -> std::optional<UserRecord> {
        {
            auto user = db.prepare(
                "UPDATE users SET password_hash = ?2, failed_logins = 0, locked_until = NULL WHERE id = ?1");
            user.bindText(1, userId).bindText(2, passwordHash);
            user.step();
            if (db.changes() == 0) return std::nullopt;
        }
        using Kind = KeptCredential::Kind;
        // "IS NOT" is SQLite's null-safe inequality: with nothing kept (NULL) every row matches.
        const std::pair<std::string_view, Kind> tables[] = {
            {"UPDATE api_tokens SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL AND id IS NOT ?3",
             Kind::apiToken},
            {"UPDATE sessions SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL AND id_hash IS NOT ?3",
             Kind::session},
            {"UPDATE refresh_families SET revoked = ?1 WHERE user_id = ?2 AND revoked IS NULL AND id IS NOT "
             "?3",
             Kind::refreshFamily},
        };
        for (const auto& [sql, kind] : tables) {
            auto update = db.prepare(sql);
            update.bindInt64(1, unixOf(now)).bindText(2, userId);
            bindOptional(update, 3, keep && keep->kind == kind ? std::optional(keep->id) : std::nullopt);
            update.step();
        }
        return selectUser(db, "id = ?1", userId);
    });
}

// --- signing keys ---

std::vector<SigningKeyRecord> SqliteStore::loadSigningKeysBlocking() {
    return runBlocking<std::vector<SigningKeyRecord>>(
        reads_,
        [](Connection& db) {
            auto select = db.prepare(
                "SELECT kid, alg, public_key, encrypted_private_key, created, not_after, expires "
                "FROM signing_keys ORDER BY created, rowid");
            std::vector<SigningKeyRecord> keys;
            while (select.step()) {
                keys.push_back(SigningKeyRecord{
                    .kid = select.columnText(0),
                    .alg = select.columnText(1),
                    .publicKey = select.columnText(2),
                    .encryptedPrivateKey = select.columnText(3),
                    .created = secondsOf(select.columnInt64(4)),
                    .notAfter = secondsOf(select.columnInt64(5)),
                    .expires = secondsOf(select.columnInt64(6)),
                });
            }
            return keys;
        },
        false);
}

void SqliteStore::insertSigningKeyBlocking(SigningKeyRecord key) {
    // runBlocking carries a value back, so the work returns one.
    runBlocking<bool>(
        writes_,
        [key = std::move(key)](Connection& db) {
            auto insert = db.prepare(
                "INSERT INTO signing_keys (kid, alg, public_key, encrypted_private_key, created, not_after, "
                "expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
            insert.bindText(1, key.kid)
                .bindText(2, key.alg)
                .bindText(3, key.publicKey)
                .bindText(4, key.encryptedPrivateKey)
                .bindInt64(5, unixOf(key.created))
                .bindInt64(6, unixOf(key.notAfter))
                .bindInt64(7, unixOf(key.expires));
            insert.step();
            return true;
        },
        false);
}

void SqliteStore::deleteSigningKeysBlocking(std::vector<std::string> kids) {
    runBlocking<bool>(
        writes_,
        [kids = std::move(kids)](Connection& db) {
            auto remove = db.prepare("DELETE FROM signing_keys WHERE kid = ?1");
            for (const auto& kid : kids) {
                remove.bindText(1, kid);
                remove.step();
                remove.reset();
            }
            return true;
        },
        false);
}

}  // namespace rampart::store
