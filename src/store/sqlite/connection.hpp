// A thin RAII layer over one SQLite connection and its prepared statements. Values only ever reach
// SQL through bind*(); errors surface as SqliteError, whose message never holds SQL or paths. Each
// connection keeps the statements it prepared, reset, for the next prepare of the same text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace rampart::store {
class SqliteStore;
}

namespace rampart::store::sqlite {

// SQLite answered with an error. code() is the extended result code (SQLITE_CONSTRAINT_UNIQUE, ...)
// so callers can tell a conflict from an outage; the message is generic and safe to show.
class SqliteError : public StoreUnavailable {
  public:
    SqliteError(const std::string& message, int code) : StoreUnavailable(message), code_(code) {}
    [[nodiscard]] int code() const { return code_; }
    [[nodiscard]] bool isConstraintViolation() const;

  private:
    int code_;
};

class Connection;

// One prepared statement. Parameter indexes start at 1 and column indexes at 0, as in SQLite. One made
// by Connection::prepare goes back to its connection's cache, reset and unbound, when destroyed.
class Statement {
  public:
    Statement(sqlite3* db, std::string_view sql);
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    Statement& bindInt64(int index, std::int64_t value);
    Statement& bindDouble(int index, double value);
    Statement& bindText(int index, std::string_view value);
    Statement& bindBlob(int index, std::span<const std::uint8_t> value);
    Statement& bindNull(int index);

    // Advances to the next row: true while a row is available, false once the statement is done.
    bool step();
    // Makes the statement runnable again and clears its bindings.
    void reset();

    [[nodiscard]] bool columnIsNull(int index) const;
    [[nodiscard]] std::int64_t columnInt64(int index) const;
    [[nodiscard]] double columnDouble(int index) const;
    [[nodiscard]] std::string columnText(int index) const;
    [[nodiscard]] std::vector<std::uint8_t> columnBlob(int index) const;

  private:
    friend class Connection;
    Statement(sqlite3_stmt* stmt, Connection* cache) : stmt_(stmt), cache_(cache) {}
    void check(int rc, std::string_view operation) const;
    void release() noexcept;

    sqlite3_stmt* stmt_ = nullptr;
    Connection* cache_ = nullptr;  // where it goes back to when done; null: finalized instead
};

// One connection, used by one thread at a time. Transactions belong to the store (the writer wraps
// every request in its own savepoint), so SQL run through a Connection may not BEGIN, COMMIT,
// SAVEPOINT, ATTACH or DETACH: an authorizer refuses those statements.
class Connection {
  public:
    enum class Mode { readWrite, readOnly };

    // Opens (creating when readWrite) the database file and applies the connection PRAGMAs:
    // WAL, synchronous=FULL, foreign keys, busy timeout, defensive mode. Throws StoreUnavailable.
    Connection(const std::filesystem::path& path, Mode mode);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // A statement for `sql`: a cached one when an idle one with the same text is kept, else a new one
    // (authorized like any other) that is kept once its Statement is destroyed.
    [[nodiscard]] Statement prepare(std::string_view sql);
    // Runs fixed SQL (one or more statements, no parameters) to completion, discarding rows. For DDL
    // and migrations; never build the text from values.
    void execute(std::string_view sql);

    // Rows changed by the last INSERT, UPDATE or DELETE, and the rowid of the last INSERT.
    [[nodiscard]] std::int64_t changes() const;
    [[nodiscard]] std::int64_t lastInsertRowId() const;
    [[nodiscard]] bool inTransaction() const;
    // How many idle prepared statements the cache holds (for tests).
    [[nodiscard]] std::size_t cachedStatements() const { return idle_; }

    // Bounds the cache: SQL built from optional filters has many texts, the hot paths a few dozen.
    static constexpr std::size_t kMaxCachedStatements = 64;

  private:
    friend class rampart::store::SqliteStore;
    friend class Statement;

    struct TextHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
    };
    using StatementCache = std::unordered_map<std::string, sqlite3_stmt*, TextHash, std::equal_to<>>;
    // prepare()'s statements by text, one per text, handed out and taken back in place: the hot paths
    // allocate nothing for the cache once their statements are in it.
    struct CachedStatement {
        sqlite3_stmt* stmt = nullptr;
        bool idle = false;
    };
    using PreparedCache = std::unordered_map<std::string, CachedStatement, TextHash, std::equal_to<>>;

    static int authorize(void* self, int action, const char*, const char*, const char*, const char*);
    // Runs BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE on behalf of the store, past the authorizer. These
    // are cached apart from prepare()'s statements, so prepare() can never hand one out.
    void executeTransactionControl(std::string_view sql);
    // Takes back a statement prepare() handed out: reset, unbound, and kept (a full cache finalizes an
    // idle statement of another text to make room) unless another statement of its text is kept.
    void giveBack(sqlite3_stmt* stmt) noexcept;

    sqlite3* db_ = nullptr;
    bool transactionControlAllowed_ = false;
    PreparedCache prepared_;
    std::size_t idle_ = 0;  // statements of prepared_ not handed out
    StatementCache transactionControl_;
};

}  // namespace rampart::store::sqlite
