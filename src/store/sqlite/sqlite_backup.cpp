// Online copies with sqlite3_backup_step and the integrity check a restore runs before use.
#include "store/sqlite/sqlite_backup.hpp"

#include <chrono>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "store/store_errors.hpp"

namespace rampart::store::sqlite {
namespace {

struct DatabaseCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, DatabaseCloser>;

// Pages per step: a step is cheap and short, and the loop can say how far it got between steps.
constexpr int kPagesPerStep = 256;
// A step answers BUSY while another process holds an exclusive lock (a checkpoint that truncates the
// WAL, a rollback-journal writer); retry for this long before giving up.
constexpr auto kBusyPatience = std::chrono::seconds(30);

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
    spdlog::warn("sqlite backup: {} failed: {} (code {})", what, db != nullptr ? sqlite3_errmsg(db) : "",
                 db != nullptr ? sqlite3_extended_errcode(db) : rc);
    throw StoreUnavailable(std::string("database backup failed: could not ") + std::string(what));
}

Database open(const std::filesystem::path& path, int flags, std::string_view what) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    Database db(raw);
    if (rc != SQLITE_OK) fail(db.get(), rc, what);
    sqlite3_extended_result_codes(db.get(), 1);
    // As the store opens it: a crafted file cannot write its own schema or run functions from it.
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_busy_timeout(db.get(), 5000);
    return db;
}

void execute(sqlite3* db, const char* sql, std::string_view what) {
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(db, rc, what);
}

}  // namespace

void copyLiveDatabase(const std::filesystem::path& source, const std::filesystem::path& destination) {
    // Read-write without CREATE: a missing file is an error, and a WAL database nobody has open still
    // opens (reading it may need its -shm file created). Nothing is written through this connection.
    Database from = open(source, SQLITE_OPEN_READWRITE, "open the database");
    Database to = open(destination, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "create the copy");

    // One read transaction over every step. Without it each step takes a fresh snapshot, and SQLite
    // starts the copy over whenever another connection has written since the last step: on a busy
    // server a large database could be copied again and again.
    execute(from.get(), "BEGIN", "begin a read transaction");
    execute(from.get(), "SELECT count(*) FROM sqlite_schema", "read the database");

    sqlite3_backup* backup = sqlite3_backup_init(to.get(), "main", from.get(), "main");
    if (backup == nullptr) fail(to.get(), SQLITE_ERROR, "start the copy");
    auto busySince = std::chrono::steady_clock::time_point{};
    int rc = SQLITE_OK;
    for (;;) {
        rc = sqlite3_backup_step(backup, kPagesPerStep);
        if (rc == SQLITE_DONE) break;
        if (rc == SQLITE_OK) {
            busySince = {};
            continue;
        }
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        const auto now = std::chrono::steady_clock::now();
        if (busySince == std::chrono::steady_clock::time_point{}) busySince = now;
        if (now - busySince > kBusyPatience) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int finished = sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) fail(to.get(), rc, "copy the pages");
    if (finished != SQLITE_OK) fail(to.get(), finished, "finish the copy");
    execute(from.get(), "COMMIT", "end the read transaction");
}

std::string integrityProblem(const std::filesystem::path& path) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    const Database db(raw);
    if (rc != SQLITE_OK) return "cannot open the database file";
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_stmt* raw_statement = nullptr;
    if (sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &raw_statement, nullptr) != SQLITE_OK) {
        return "not a SQLite database";
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> statement(raw_statement, sqlite3_finalize);
    const int stepped = sqlite3_step(statement.get());
    if (stepped != SQLITE_ROW) return "the integrity check could not run";
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), 0));
    const std::string first = text != nullptr ? text : "";
    return first == "ok" ? std::string() : "integrity check: " + first;
}

}  // namespace rampart::store::sqlite
