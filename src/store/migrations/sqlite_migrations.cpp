// SQLite migrations. Jobs and the other tables arrive with the features that need them.
#include "store/migrations/sqlite_migrations.hpp"

#include <array>

namespace rampart::store::sqlite {
namespace {

constexpr std::array kMigrations{
    Migration{1, "instance", R"sql(
        CREATE TABLE instance_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
    )sql"},
    // The hash-chained audit log. audit_head holds the newest row's id and hash and the row count,
    // moved in the same transaction as every append, so removing the newest rows is detectable.
    // The triggers stop the server's own bugs from rewriting history; verifyAudit() catches whoever
    // drops them and edits the file.
    Migration{2, "audit", R"sql(
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            client TEXT NOT NULL,
            request_id TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL
        );
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        CREATE INDEX audit_log_outcome ON audit_log (outcome, id);
        CREATE INDEX audit_log_time ON audit_log (time);
        CREATE TABLE audit_head (
            id INTEGER NOT NULL,
            hash BLOB NOT NULL,
            rows INTEGER NOT NULL
        );
        INSERT INTO audit_head (id, hash, rows) VALUES (0, zeroblob(32), 0);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit_head has exactly one row'); END;
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit_head has exactly one row'); END;
    )sql"},
    // Identity: users and every credential they hold. Times are Unix seconds. Users are never
    // deleted (ids are never reused; disabling sets active = 0), so credentials reference them.
    // Usernames and emails compare case-insensitively (ASCII) through the column collation, so
    // "Alice" and "alice" cannot both exist; several users may have no email (NULLs never clash).
    // Tokens and session ids are stored only as hashes.
    Migration{3, "identity", R"sql(
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            email TEXT UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'auditor', 'worker')),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            password_hash TEXT NOT NULL,
            totp_secret TEXT NOT NULL,
            totp_enabled INTEGER NOT NULL CHECK (totp_enabled IN (0, 1)),
            totp_last_step INTEGER,
            created INTEGER NOT NULL,
            last_login INTEGER,
            failed_logins INTEGER NOT NULL CHECK (failed_logins >= 0),
            locked_until INTEGER,
            credentials_revoked_at INTEGER
        );
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            display_prefix TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created INTEGER NOT NULL,
            expires INTEGER,
            last_used INTEGER,
            revoked INTEGER
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_id);
        CREATE TABLE refresh_families (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created INTEGER NOT NULL,
            revoked INTEGER
        );
        CREATE INDEX refresh_families_user ON refresh_families (user_id);
        CREATE TABLE refresh_tokens (
            token_id TEXT PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES refresh_families (id),
            user_id TEXT NOT NULL REFERENCES users (id),
            issued INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            spent INTEGER
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            revoked INTEGER
        );
        CREATE INDEX sessions_user ON sessions (user_id);
        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            alg TEXT NOT NULL,
            public_key TEXT NOT NULL,
            encrypted_private_key TEXT NOT NULL,
            created INTEGER NOT NULL,
            not_after INTEGER NOT NULL,
            expires INTEGER NOT NULL
        );
    )sql"},
};

}  // namespace

std::span<const Migration> sqliteMigrations() {
    return kMigrations;
}

}  // namespace rampart::store::sqlite
