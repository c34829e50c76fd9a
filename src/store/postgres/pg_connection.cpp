// libpq in non-blocking pipeline mode on an Asio executor. The socket is watched through a dup of
// libpq's descriptor, so libpq keeps sole ownership of its own; readiness is checked with poll()
// before each wait because Asio's epoll reactor is edge-triggered and an edge seen while no wait was
// pending (data that arrived while the connection sat idle) is not reported again.
#include "store/postgres/pg_connection.hpp"

#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rampart::store::pg {
namespace {

namespace asio = boost::asio;
using Wait = asio::posix::descriptor_base::wait_type;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// libpq's messages end in newlines and may span lines; a log line should not.
std::string oneLine(const char* message) {
    std::string text = message == nullptr ? "" : message;
    std::replace(text.begin(), text.end(), '\n', ' ');
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

// Server notices (e.g. "relation already exists, skipping") would go to stderr; they say nothing an
// operator needs.
void ignoreNotice(void*, const char*) {}

bool readyNow(int fd, Wait what) {
    pollfd entry{
        .fd = fd, .events = static_cast<short>(what == Wait::wait_write ? POLLOUT : POLLIN), .revents = 0};
    return ::poll(&entry, 1, 0) > 0;
}

constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

QueryError queryErrorOf(const PGresult* result) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    std::string sqlstate = state == nullptr ? "XX000" : state;
    std::string message = "database error " + sqlstate;
    // Data exceptions (class 22) may quote the offending input; every other primary message names
    // only objects of the schema (constraints, tables, our triggers' own text).
    if (!sqlstate.starts_with("22")) {
        message += ": " + oneLine(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
    }
    return QueryError(std::move(sqlstate), message);
}

bool QueryError::transient() const noexcept {
    const std::string_view state = sqlstate_;
    if (state == "55P03") return true;
    const std::string_view category = state.substr(0, 2);
    return category == "08" || category == "40" || category == "53" || category == "57" || category == "58" ||
           category == "XX";
}

// --- Params ---

Params& Params::add(std::string_view value) {
    values_.emplace_back(std::string(value));
    return *this;
}

Params& Params::add(std::int64_t value) {
    values_.emplace_back(std::to_string(value));
    return *this;
}

Params& Params::add(bool value) {
    values_.emplace_back(value ? "t" : "f");
    return *this;
}

Params& Params::add(std::nullopt_t) {
    values_.emplace_back(std::nullopt);
    return *this;
}

Params& Params::addArray(std::span<const std::string> values) {
    std::string literal = "{";
    for (const auto& value : values) {
        if (literal.size() > 1) literal += ',';
        literal += '"';
        for (char c : value) {
            if (c == '"' || c == '\\') literal += '\\';
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    values_.emplace_back(std::move(literal));
    return *this;
}

Params& Params::addBytes(std::span<const unsigned char> bytes) {
    std::string hex = "\\x";
    hex.reserve(2 + bytes.size() * 2);
    for (unsigned char b : bytes) {
        hex += kHex[b >> 4];
        hex += kHex[b & 0xf];
    }
    values_.emplace_back(std::move(hex));
    return *this;
}

std::vector<const char*> Params::pointers() const {
    std::vector<const char*> pointers;
    pointers.reserve(values_.size());
    for (const auto& value : values_) pointers.push_back(value ? value->c_str() : nullptr);
    return pointers;
}

// --- Result ---

std::int64_t Result::affected() const {
    const char* count = result_ ? PQcmdTuples(result_.get()) : "";
    std::int64_t value = 0;
    std::from_chars(count, count + std::char_traits<char>::length(count), value);
    return value;
}

bool Result::isNull(int row, int column) const {
    return PQgetisnull(result_.get(), row, column) != 0;
}

std::string_view Result::text(int row, int column) const {
    return {PQgetvalue(result_.get(), row, column),
            static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

std::int64_t Result::int64(int row, int column) const {
    const auto value = text(row, column);
    std::int64_t number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc{} || end != value.data() + value.size()) {
        throw StoreUnavailable("database returned a malformed integer");
    }
    return number;
}

bool Result::boolean(int row, int column) const {
    const auto value = text(row, column);
    if (value == "t") return true;
    if (value == "f") return false;
    throw StoreUnavailable("database returned a malformed boolean");
}

std::vector<unsigned char> Result::bytes(int row, int column) const {
    const auto value = text(row, column);
    if (!value.starts_with("\\x") || value.size() % 2 != 0) {
        throw StoreUnavailable("database returned malformed bytes");
    }
    std::vector<unsigned char> bytes;
    bytes.reserve((value.size() - 2) / 2);
    for (std::size_t i = 2; i < value.size(); i += 2) {
        const int high = hexValue(value[i]);
        const int low = hexValue(value[i + 1]);
        if (high < 0 || low < 0) throw StoreUnavailable("database returned malformed bytes");
        bytes.push_back(static_cast<unsigned char>(high << 4 | low));
    }
    return bytes;
}

std::optional<std::string> Result::optionalString(int row, int column) const {
    if (isNull(row, column)) return std::nullopt;
    return string(row, column);
}

std::optional<std::int64_t> Result::optionalInt64(int row, int column) const {
    if (isNull(row, column)) return std::nullopt;
    return int64(row, column);
}

// --- Connection ---

asio::awaitable<std::unique_ptr<Connection>> Connection::open(asio::any_io_executor executor,
                                                              SecretString conninfo,
                                                              std::chrono::milliseconds timeout) {
    std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectStart(conninfo.reveal().c_str()),
                                                            &PQfinish);
    if (!connection) throw StoreUnavailable("database connection: out of memory");
    if (PQstatus(connection.get()) == CONNECTION_BAD) {
        throw StoreUnavailable("database connection failed: " + oneLine(PQerrorMessage(connection.get())));
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
        if (status == PGRES_POLLING_FAILED) {
            throw StoreUnavailable("database connection failed: " +
                                   oneLine(PQerrorMessage(connection.get())));
        }
        const Wait what = status == PGRES_POLLING_READING ? Wait::wait_read : Wait::wait_write;
        // The socket may change between attempts (several hosts, TLS then plain): watch it afresh.
        const int fd = PQsocket(connection.get());
        if (!readyNow(fd, what)) {
            auto socket = std::make_shared<asio::posix::stream_descriptor>(executor, ::dup(fd));
            auto timer = std::make_shared<asio::steady_timer>(executor, deadline);
            auto expired = std::make_shared<bool>(false);
            timer->async_wait([socket, expired](boost::system::error_code error) {
                if (error) return;
                *expired = true;
                socket->cancel();
            });
            auto [error] = co_await socket->async_wait(what, kAsTuple);
            timer->cancel();
            if (*expired) throw StoreUnavailable("database connection timed out");
            if (error) throw StoreUnavailable("database connection failed: " + error.message());
        }
        status = PQconnectPoll(connection.get());
    }
    PQsetNoticeProcessor(connection.get(), ignoreNotice, nullptr);
    if (PQsetnonblocking(connection.get(), 1) != 0 || PQenterPipelineMode(connection.get()) != 1) {
        throw StoreUnavailable("database connection failed: " + oneLine(PQerrorMessage(connection.get())));
    }
    co_return std::unique_ptr<Connection>(new Connection(std::move(executor), connection.release()));
}

Connection::Connection(asio::any_io_executor executor, PGconn* connection)
    : connection_(connection), socket_(executor, ::dup(PQsocket(connection))) {}

Connection::~Connection() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    PQfinish(connection_);
}

bool Connection::healthy() const {
    return !broken_ && PQstatus(connection_) == CONNECTION_OK;
}

bool Connection::reusable() const {
    return healthy() && PQtransactionStatus(connection_) == PQTRANS_IDLE;
}

void Connection::fail(std::string_view what) {
    broken_ = true;
    throw StoreUnavailable("database connection failed (" + std::string(what) +
                           "): " + oneLine(PQerrorMessage(connection_)));
}

void Connection::poll() {
    // A server that is shutting down sends an error, then closes: the second read sees the end.
    for (int reads = 0; reads < 4 && !broken_ && readyNow(PQsocket(connection_), Wait::wait_read); ++reads) {
        if (PQconsumeInput(connection_) == 0) broken_ = true;
    }
    if (PQstatus(connection_) != CONNECTION_OK) broken_ = true;
}

// Bytes OpenSSL already decrypted but libpq has not read: the socket shows nothing, yet there is
// input. libpq 15 drains them itself; older releases may not (async clients hung on that), so a read
// wait counts them as readable, as libpq's own blocking waits do.
namespace {
bool tlsBytesPending(PGconn* connection) {
    auto* ssl = static_cast<SSL*>(PQsslStruct(connection, "OpenSSL"));
    return ssl != nullptr && SSL_pending(ssl) > 0;
}
}  // namespace

asio::awaitable<void> Connection::waitFor(Wait what) {
    if (what == Wait::wait_read && tlsBytesPending(connection_)) co_return;
    if (readyNow(PQsocket(connection_), what)) co_return;
    auto [error] = co_await socket_.async_wait(what, kAsTuple);
    if (error) fail(error.message());
}

asio::awaitable<void> Connection::waitReadable(std::chrono::milliseconds timeout) {
    if (!readyNow(PQsocket(connection_), Wait::wait_read)) {
        asio::steady_timer timer(socket_.get_executor(), timeout);
        // Shared: the handler may run after this frame is gone (it then only sees the cancel).
        auto expired = std::make_shared<bool>(false);
        timer.async_wait([this, expired](boost::system::error_code error) {
            if (error) return;
            *expired = true;
            socket_.cancel();
        });
        auto [error] = co_await socket_.async_wait(Wait::wait_read, kAsTuple);
        timer.cancel();
        if (*expired) co_return;
        if (error) fail(error.message());
    }
    poll();
}

std::vector<Notification> Connection::takeNotifications() {
    std::vector<Notification> notifications;
    while (PGnotify* notify = PQnotifies(connection_)) {
        notifications.push_back({notify->relname, notify->extra == nullptr ? "" : notify->extra});
        PQfreemem(notify);
    }
    return notifications;
}

asio::awaitable<void> Connection::flush() {
    while (true) {
        // Reading what the server already answered keeps both sides' buffers moving on big pipelines.
        if (PQconsumeInput(connection_) == 0) fail("read");
        const int pending = PQflush(connection_);
        if (pending == 0) co_return;
        if (pending < 0) fail("write");
        co_await waitFor(Wait::wait_write);
    }
}

std::pair<std::string, bool> Connection::statementName(const std::string& sql) {
    if (auto found = prepared_.find(sql); found != prepared_.end()) return {found->second, false};
    return {"s" + std::to_string(nextStatement_++), true};
}

asio::awaitable<Result> Connection::query(std::string sql, Params params) {
    std::vector<Statement> one;
    one.push_back(Statement{.sql = std::move(sql), .params = std::move(params)});
    auto results = co_await pipeline(std::move(one));
    co_return std::move(results.front());
}

asio::awaitable<std::vector<Result>> Connection::pipeline(std::vector<Statement> statements) {
    if (broken_) throw StoreUnavailable("database connection lost");
    // What each command sent stands for: a statement's index, or a prepare (the SQL it prepares).
    struct Command {
        std::size_t statement;
        const std::string* prepares = nullptr;
        std::string name{};
    };
    std::vector<Command> commands;
    commands.reserve(statements.size() * 2);
    for (std::size_t i = 0; i < statements.size(); ++i) {
        const auto& statement = statements[i];
        auto [name, mustPrepare] = statementName(statement.sql);
        if (mustPrepare) {
            if (PQsendPrepare(connection_, name.c_str(), statement.sql.c_str(), 0, nullptr) == 0)
                fail("send");
            commands.push_back({.statement = i, .prepares = &statement.sql, .name = name});
        }
        const auto values = statement.params.pointers();
        if (PQsendQueryPrepared(connection_, name.c_str(), statement.params.size(), values.data(), nullptr,
                                nullptr, 0) == 0) {
            fail("send");
        }
        commands.push_back({.statement = i});
    }
    if (PQpipelineSync(connection_) == 0) fail("send");
    co_await flush();

    std::vector<Result> results(statements.size());
    std::optional<QueryError> firstError;
    std::size_t command = 0;  // whose results arrive now; each command's end is a null result
    while (true) {
        while (PQisBusy(connection_) != 0) {
            co_await waitFor(Wait::wait_read);
            if (PQconsumeInput(connection_) == 0) fail("read");
        }
        PGresult* raw = PQgetResult(connection_);
        if (raw == nullptr) {
            ++command;
            continue;
        }
        Result result(raw);
        const auto status = PQresultStatus(raw);
        if (status == PGRES_PIPELINE_SYNC) break;
        if (command >= commands.size()) fail("protocol");
        const auto& sent = commands[command];
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
            if (sent.prepares != nullptr) {
                prepared_.emplace(*sent.prepares, sent.name);
            } else {
                results[sent.statement] = std::move(result);
            }
        } else if (status == PGRES_PIPELINE_ABORTED) {
            // Skipped because an earlier command failed: that one's error is thrown below.
        } else if (status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR) {
            if (!firstError) firstError = queryErrorOf(raw);
        } else {
            fail("unexpected result");
        }
    }
    if (PQstatus(connection_) != CONNECTION_OK) broken_ = true;
    if (firstError) throw std::move(*firstError);
    co_return results;
}

// --- BlockingConnection ---

BlockingConnection::BlockingConnection(const SecretString& conninfo)
    : connection_(PQconnectdb(conninfo.reveal().c_str())) {
    if (connection_ == nullptr) throw StoreUnavailable("database connection: out of memory");
    if (PQstatus(connection_) != CONNECTION_OK) {
        std::string reason = oneLine(PQerrorMessage(connection_));
        PQfinish(connection_);
        throw StoreUnavailable("database connection failed: " + reason);
    }
    PQsetNoticeProcessor(connection_, ignoreNotice, nullptr);
}

BlockingConnection::~BlockingConnection() {
    PQfinish(connection_);
}

void BlockingConnection::execScript(const std::string& sql) {
    PGresult* raw = PQexec(connection_, sql.c_str());
    if (raw == nullptr)
        throw StoreUnavailable("database connection failed: " + oneLine(PQerrorMessage(connection_)));
    const Result result(raw);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw queryErrorOf(raw);
}

Result BlockingConnection::exec(const std::string& sql, const Params& params) {
    const auto values = params.pointers();
    PGresult* raw =
        PQexecParams(connection_, sql.c_str(), params.size(), nullptr, values.data(), nullptr, nullptr, 0);
    if (raw == nullptr)
        throw StoreUnavailable("database connection failed: " + oneLine(PQerrorMessage(connection_)));
    Result result(raw);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw queryErrorOf(raw);
    return result;
}

}  // namespace rampart::store::pg
