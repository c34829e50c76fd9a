// One libpq connection driven by Asio without blocking its thread: every query goes through pipeline
// mode as prepared statements, so a call is one round trip and a batch of statements is one too.
// Plus a plain blocking connection for start-up work (migrations, key loading, `rampart migrate`).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "core/secret_string.hpp"
#include "store/store.hpp"

namespace rampart::store::pg {

// The server answered a statement with an error. A StoreUnavailable (503) unless the store code
// catches the SQLSTATEs it expects (unique violations, serialization failures). The message names the
// SQLSTATE and, for constraint and trigger errors, PostgreSQL's primary message; never the SQL, the
// parameters or the connection string.
class QueryError : public StoreUnavailable {
  public:
    QueryError(std::string sqlstate, const std::string& message)
        : StoreUnavailable(message), sqlstate_(std::move(sqlstate)) {}
    [[nodiscard]] const std::string& sqlstate() const { return sqlstate_; }
    [[nodiscard]] bool uniqueViolation() const { return sqlstate_ == "23505"; }
    // Worth running the transaction again: serialization failure or deadlock.
    [[nodiscard]] bool retryable() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }
    // Connection exceptions (08), transaction rollbacks (40), insufficient resources (53), a lock not
    // available (55P03), operator intervention such as a shutdown (57), system errors (58) and internal
    // errors (XX, also what a result without a SQLSTATE is given: the connection broke). Everything else
    // (syntax, undefined table, privilege, constraint, data, our triggers' own exceptions) is the
    // statement's own fault: a retry would fail the same way.
    [[nodiscard]] bool transient() const noexcept override;

  private:
    std::string sqlstate_;
};

// Statement parameters, sent as text (the server casts them to the column types). Integers and
// booleans are spelled the way PostgreSQL reads them; bytes go as bytea hex.
class Params {
  public:
    Params() = default;
    template <class... Values>
    explicit Params(const Values&... values) {
        (add(values), ...);
    }

    Params& add(std::string_view value);
    Params& add(const std::string& value) { return add(std::string_view(value)); }
    Params& add(const char* value) { return add(std::string_view(value)); }
    Params& add(std::int64_t value);
    Params& add(int value) { return add(static_cast<std::int64_t>(value)); }
    Params& add(bool value);
    Params& add(std::nullopt_t);
    template <class T>
    Params& add(const std::optional<T>& value) {
        return value ? add(*value) : add(std::nullopt);
    }
    // A text[] parameter ({"a","b"} with every element quoted).
    Params& addArray(std::span<const std::string> values);
    Params& addBytes(std::span<const unsigned char> bytes);

    [[nodiscard]] int size() const { return static_cast<int>(values_.size()); }
    // Pointers for PQsendQueryPrepared; valid while this object is unchanged.
    [[nodiscard]] std::vector<const char*> pointers() const;

  private:
    std::vector<std::optional<std::string>> values_;
};

// One statement of a pipeline.
struct Statement {
    std::string sql;
    Params params{};
};

// A query's rows in text format. Column accessors throw StoreUnavailable on a value that does not
// parse (it would mean the schema and the code disagree).
class Result {
  public:
    Result() = default;
    explicit Result(PGresult* result) : result_(result, &PQclear) {}

    [[nodiscard]] int rows() const { return result_ ? PQntuples(result_.get()) : 0; }
    [[nodiscard]] bool empty() const { return rows() == 0; }
    // Rows an INSERT, UPDATE or DELETE touched.
    [[nodiscard]] std::int64_t affected() const;

    [[nodiscard]] bool isNull(int row, int column) const;
    [[nodiscard]] std::string_view text(int row, int column) const;
    [[nodiscard]] std::string string(int row, int column) const { return std::string(text(row, column)); }
    [[nodiscard]] std::int64_t int64(int row, int column) const;
    [[nodiscard]] bool boolean(int row, int column) const;
    [[nodiscard]] std::vector<unsigned char> bytes(int row, int column) const;
    [[nodiscard]] std::optional<std::string> optionalString(int row, int column) const;
    [[nodiscard]] std::optional<std::int64_t> optionalInt64(int row, int column) const;

  private:
    std::shared_ptr<PGresult> result_;
};

// One row of a Result, as the mappings both stores share read it (store/job_columns.hpp,
// store/schedule_columns.hpp).
class Row {
  public:
    Row(const Result& rows, int row) : rows_(rows), row_(row) {}
    [[nodiscard]] std::string text(int column) const { return rows_.string(row_, column); }
    [[nodiscard]] std::int64_t int64(int column) const { return rows_.int64(row_, column); }
    [[nodiscard]] std::optional<std::string> optionalText(int column) const {
        return rows_.optionalString(row_, column);
    }
    [[nodiscard]] std::optional<std::int64_t> optionalInt64(int column) const {
        return rows_.optionalInt64(row_, column);
    }
    [[nodiscard]] bool flag(int column) const { return rows_.boolean(row_, column); }

  private:
    const Result& rows_;
    int row_;
};

// A NOTIFY received on a connection that LISTENs.
struct Notification {
    std::string channel;
    std::string payload;
};

// A connection in pipeline mode on one executor (the store's event loop); use it only from there, one
// call at a time. A call that fails with anything but a QueryError leaves the connection broken().
class Connection {
  public:
    // Connects (TLS and authentication included) without blocking the thread. Throws StoreUnavailable
    // with libpq's reason, which names host and user but never the password.
    static boost::asio::awaitable<std::unique_ptr<Connection>> open(boost::asio::any_io_executor executor,
                                                                    SecretString conninfo,
                                                                    std::chrono::milliseconds timeout);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // Runs one statement (prepared on first use) in one round trip.
    boost::asio::awaitable<Result> query(std::string sql, Params params);
    boost::asio::awaitable<Result> query(std::string sql) { return query(std::move(sql), Params{}); }
    // Sends every statement, then one Sync, and reads all results: one round trip. Outside BEGIN the
    // statements form one implicit transaction (all or none); the first error is thrown after the
    // whole pipeline is read, so the connection stays usable.
    boost::asio::awaitable<std::vector<Result>> pipeline(std::vector<Statement> statements);

    // False once the socket or the protocol failed; the pool drops such connections.
    [[nodiscard]] bool healthy() const;
    // Healthy and outside any transaction: safe to hand to the next caller.
    [[nodiscard]] bool reusable() const;
    // Reads what arrived while idle (a server shutdown notice, notifications) without waiting.
    void poll();
    // Waits until something arrives (for LISTEN connections), or `timeout` passes.
    boost::asio::awaitable<void> waitReadable(std::chrono::milliseconds timeout);
    std::vector<Notification> takeNotifications();

  private:
    Connection(boost::asio::any_io_executor executor, PGconn* connection);
    boost::asio::awaitable<void> flush();
    boost::asio::awaitable<void> waitFor(boost::asio::posix::descriptor_base::wait_type what);
    // The prepared statement's name for `sql`, and whether it must be prepared in this pipeline.
    std::pair<std::string, bool> statementName(const std::string& sql);
    [[noreturn]] void fail(std::string_view what);

    PGconn* connection_;
    boost::asio::posix::stream_descriptor socket_;
    std::unordered_map<std::string, std::string> prepared_;
    std::uint64_t nextStatement_ = 0;
    bool broken_ = false;
};

// A blocking connection for start-up and command-line work (migrations run many statements per
// string, which pipeline mode cannot).
class BlockingConnection {
  public:
    explicit BlockingConnection(const SecretString& conninfo);
    BlockingConnection(const BlockingConnection&) = delete;
    BlockingConnection& operator=(const BlockingConnection&) = delete;
    ~BlockingConnection();

    // Simple protocol: several statements may share the string; no parameters.
    void execScript(const std::string& sql);
    Result exec(const std::string& sql, const Params& params);
    Result exec(const std::string& sql) { return exec(sql, Params{}); }

  private:
    PGconn* connection_;
};

// The error a failed PGresult stands for.
QueryError queryErrorOf(const PGresult* result);

}  // namespace rampart::store::pg
