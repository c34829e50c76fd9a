// SQLite migrations. Users, jobs and the other tables arrive with the features that need them.
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
};

}  // namespace

std::span<const Migration> sqliteMigrations() {
    return kMigrations;
}

}  // namespace rampart::store::sqlite
