// SQLite connection and statement wrappers: opening with the house PRAGMAs, binding, stepping and
// turning SQLite errors into SqliteError while the details go to the log only.
#include "store/sqlite/connection.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace rampart::store::sqlite {
namespace {

// SQLite's own text can quote SQL fragments, so it goes to the log (never the database path, which
// SQLite does not put in its messages either) and the exception carries a generic message.
[[noreturn]] void throwSqliteError(sqlite3* db, int rc, std::string_view operation,
                                   const std::string& publicMessage = "database error") {
    const int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
    const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    spdlog::warn("sqlite {} failed: {} (code {})", operation, detail, code);
    throw SqliteError(publicMessage, code);
}

struct StatementFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using OwnedStatement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

bool onlyWhitespace(std::string_view text) {
    return text.find_first_not_of(" \t\r\n;") == std::string_view::npos;
}

// Before the first connection: SQLite reads its global settings only until it initialises.
// The writer runs each request in a savepoint, and each statement that fires a trigger or checks a
// foreign key (every job insert and state change) in a statement savepoint of its own; each keeps the
// original of every page it changes in the sub-journal. SQLite keeps that journal in memory, in chunks
// of the spill size, until it outgrows the spill size, then in a temporary file: with the default
// 64 KiB a batch of jobs went to the file, one write() per page, a third of the writer's time. It only
// serves ROLLBACK TO inside the open transaction, never crash recovery (the WAL does), so memory is
// enough. (temp_store=MEMORY is no substitute: its 1 KiB chunks are walked from the first at the end
// of every statement, quadratic in a batch.)
constexpr int kStatementJournalSpillBytes = 16 * 1024 * 1024;

void configureSqliteOnce() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kStatementJournalSpillBytes) != SQLITE_OK) {
            spdlog::warn(
                "sqlite was initialised before the store configured it; sub-journals spill at 64 KiB");
        }
        // No memory statistics: they take a process-wide mutex on every allocation SQLite makes (7 % of
        // the writer's time under load), and nothing reads them.
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    });
}

// A string_view or span may hold a null pointer when empty; SQLite would bind that as NULL.
constexpr char kEmptyText[] = "";

}  // namespace

bool SqliteError::isConstraintViolation() const {
    return (code_ & 0xff) == SQLITE_CONSTRAINT;
}

// --- Statement ---

Statement::Statement(sqlite3* db, std::string_view sql) {
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, &tail);
    if (rc != SQLITE_OK) throwSqliteError(db, rc, "prepare");
    // One statement per prepare: a second one would be silently ignored, which hides bugs.
    if (stmt_ == nullptr || !onlyWhitespace(std::string_view(tail, sql.data() + sql.size() - tail))) {
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
        throw std::logic_error("prepare expects exactly one SQL statement");
    }
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), cache_(std::exchange(other.cache_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        release();
        stmt_ = std::exchange(other.stmt_, nullptr);
        cache_ = std::exchange(other.cache_, nullptr);
    }
    return *this;
}

Statement::~Statement() {
    release();
}

void Statement::release() noexcept {
    if (stmt_ == nullptr) return;
    if (cache_ != nullptr) {
        cache_->giveBack(std::exchange(stmt_, nullptr));
    } else {
        sqlite3_finalize(std::exchange(stmt_, nullptr));
    }
}

void Statement::check(int rc, std::string_view operation) const {
    if (rc != SQLITE_OK) throwSqliteError(sqlite3_db_handle(stmt_), rc, operation);
}

Statement& Statement::bindInt64(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value), "bind");
    return *this;
}

Statement& Statement::bindDouble(int index, double value) {
    check(sqlite3_bind_double(stmt_, index, value), "bind");
    return *this;
}

Statement& Statement::bindText(int index, std::string_view value) {
    const char* data = value.empty() ? kEmptyText : value.data();
    check(sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8), "bind");
    return *this;
}

Statement& Statement::bindBlob(int index, std::span<const std::uint8_t> value) {
    if (value.empty()) {
        check(sqlite3_bind_zeroblob(stmt_, index, 0), "bind");
    } else {
        check(sqlite3_bind_blob64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT), "bind");
    }
    return *this;
}

Statement& Statement::bindNull(int index) {
    check(sqlite3_bind_null(stmt_, index), "bind");
    return *this;
}

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throwSqliteError(sqlite3_db_handle(stmt_), rc, "step");
}

void Statement::reset() {
    // sqlite3_reset repeats the last step's error, which step() has already reported.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool Statement::columnIsNull(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::int64_t Statement::columnInt64(int index) const {
    return sqlite3_column_int64(stmt_, index);
}

double Statement::columnDouble(int index) const {
    return sqlite3_column_double(stmt_, index);
}

std::string Statement::columnText(int index) const {
    const auto* text = sqlite3_column_text(stmt_, index);
    if (text == nullptr) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))};
}

std::vector<std::uint8_t> Statement::columnBlob(int index) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, index));
    if (data == nullptr) return {};
    return {data, data + sqlite3_column_bytes(stmt_, index)};
}

// --- Connection ---

Connection::Connection(const std::filesystem::path& path, Mode mode) {
    configureSqliteOnce();
    // NOMUTEX: a connection is only ever used by the one store thread that owns it.
    const int flags =
        SQLITE_OPEN_NOMUTEX |
        (mode == Mode::readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3* failed = std::exchange(db_, nullptr);
        try {
            throwSqliteError(failed, rc, "open", "database unavailable");
        } catch (...) {
            sqlite3_close_v2(failed);
            throw;
        }
    }
    try {
        sqlite3_extended_result_codes(db_, 1);
        // Defensive mode and an untrusted schema stop a tampered database file from corrupting
        // itself through writable_schema or running functions from its views and triggers.
        sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
        sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
        sqlite3_set_authorizer(db_, &Connection::authorize, this);

        // busy_timeout first, so switching the journal mode waits for another process's lock.
        execute("PRAGMA busy_timeout=5000");
        {
            Statement journal = prepare("PRAGMA journal_mode=WAL");
            if (!journal.step() || journal.columnText(0) != "wal") {
                spdlog::warn("sqlite could not switch the database to WAL journal mode");
                throw StoreUnavailable("database unavailable");
            }
        }
        // FULL: in WAL mode NORMAL may lose the last commits on power loss; an acknowledged job must not.
        execute("PRAGMA synchronous=FULL");
        execute("PRAGMA foreign_keys=ON");
    } catch (...) {
        sqlite3_close_v2(std::exchange(db_, nullptr));
        throw;
    }
}

Connection::~Connection() {
    for (auto& [sql, cached] : prepared_) sqlite3_finalize(cached.stmt);
    prepared_.clear();
    for (auto& [sql, stmt] : transactionControl_) sqlite3_finalize(stmt);
    transactionControl_.clear();
    sqlite3_close_v2(db_);
}

// Parsing and planning cost more than running most of the store's statements, so the text's last
// statement is reused. The authorizer ran when it was first prepared; the schema is re-checked by
// SQLite itself at each step (prepare_v2 statements re-prepare, and re-authorize, after a change).
Statement Connection::prepare(std::string_view sql) {
    if (auto found = prepared_.find(sql); found != prepared_.end() && found->second.idle) {
        found->second.idle = false;
        --idle_;
        return Statement(found->second.stmt, this);
    }
    Statement fresh(db_, sql);
    fresh.cache_ = this;
    return fresh;
}

void Connection::giveBack(sqlite3_stmt* stmt) noexcept {
    // sqlite3_reset repeats the last step's error, which step() has already reported.
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    const std::string_view sql = sqlite3_sql(stmt);
    if (auto found = prepared_.find(sql); found != prepared_.end()) {
        if (found->second.stmt == stmt) {
            found->second.idle = true;
            ++idle_;
            return;
        }
        sqlite3_finalize(stmt);  // a second statement of a text whose first is kept
        return;
    }
    if (prepared_.size() >= kMaxCachedStatements) {
        const auto idle = std::find_if(prepared_.begin(), prepared_.end(),
                                       [](const auto& entry) { return entry.second.idle; });
        if (idle == prepared_.end()) {
            sqlite3_finalize(stmt);  // every kept statement is in use
            return;
        }
        sqlite3_finalize(idle->second.stmt);
        prepared_.erase(idle);
        --idle_;
    }
    try {
        prepared_.emplace(std::string(sql), CachedStatement{.stmt = stmt, .idle = true});
        ++idle_;
    } catch (...) {
        sqlite3_finalize(stmt);  // out of memory for the key: finalize instead of keeping it
    }
}

void Connection::execute(std::string_view sql) {
    const char* next = sql.data();
    const char* const end = sql.data() + sql.size();
    while (next < end) {
        sqlite3_stmt* raw = nullptr;
        const int rc = sqlite3_prepare_v2(db_, next, static_cast<int>(end - next), &raw, &next);
        if (rc != SQLITE_OK) throwSqliteError(db_, rc, "prepare");
        if (raw == nullptr) break;  // only whitespace or comments were left
        const OwnedStatement stmt(raw);
        int stepRc = SQLITE_ROW;
        while (stepRc == SQLITE_ROW) stepRc = sqlite3_step(stmt.get());
        if (stepRc != SQLITE_DONE) throwSqliteError(db_, stepRc, "execute");
    }
}

std::int64_t Connection::changes() const {
    return sqlite3_changes64(db_);
}

std::int64_t Connection::lastInsertRowId() const {
    return sqlite3_last_insert_rowid(db_);
}

bool Connection::inTransaction() const {
    return sqlite3_get_autocommit(db_) == 0;
}

int Connection::authorize(void* self, int action, const char*, const char*, const char*, const char*) {
    switch (action) {
        case SQLITE_TRANSACTION:
        case SQLITE_SAVEPOINT:
            return static_cast<Connection*>(self)->transactionControlAllowed_ ? SQLITE_OK : SQLITE_DENY;
        case SQLITE_ATTACH:
        case SQLITE_DETACH:
            return SQLITE_DENY;  // no SQL may reach other files through the store
        default:
            return SQLITE_OK;
    }
}

void Connection::executeTransactionControl(std::string_view sql) {
    // Allowed while preparing and while stepping: a step may re-prepare after a schema change.
    transactionControlAllowed_ = true;
    try {
        auto found = transactionControl_.find(sql);
        if (found == transactionControl_.end()) {
            Statement fresh(db_, sql);
            found = transactionControl_.emplace(std::string(sql), std::exchange(fresh.stmt_, nullptr)).first;
        }
        sqlite3_stmt* stmt = found->second;
        const int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            try {
                throwSqliteError(db_, rc, "execute");  // reads the error before the reset
            } catch (...) {
                sqlite3_reset(stmt);
                throw;
            }
        }
        sqlite3_reset(stmt);
    } catch (...) {
        transactionControlAllowed_ = false;
        throw;
    }
    transactionControlAllowed_ = false;
}

}  // namespace rampart::store::sqlite
