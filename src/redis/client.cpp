// The Redis client of client.hpp. Everything that touches the connection runs on one strand: callers'
// commands are co_spawned onto it, so the pending-reply queue, the write buffer and the connection state
// need no locks. One reader coroutine per connection answers the pending commands in order; one writer
// coroutine at a time drains the write buffer, so commands issued together go out in one write.
#include "redis/client.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include <algorithm>
#include <deque>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "net/tls.hpp"

namespace rampart::redis {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// The strand of the executor, or the executor itself with callerThreadOnly.
using Strand = asio::any_io_executor;

constexpr std::size_t kReadChunk = 16 * 1024;
// Consumed bytes are dropped from the read buffer once this many have gathered at its front.
constexpr std::size_t kCompactAfter = 64 * 1024;

// A command waiting for its reply. The timer is both the command timeout and the wake-up: whoever
// settles the command (reader, failure) sets reply or failure and cancels the timer.
struct Pending {
    explicit Pending(const Strand& strand) : timer(strand) {}
    asio::steady_timer timer;
    std::optional<Reply> reply;
    std::optional<std::string> failure;
};

struct Connection {
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    bool writing = false;

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

// Received bytes and the parser over them; bytes before `start` are consumed.
struct ReadState {
    explicit ReadState(const ParserLimits& limits) : parser(limits) {}
    ReplyParser parser;
    std::string data;
    std::size_t start = 0;

    std::optional<Reply> next() {
        std::optional<Reply> reply;
        start += parser.parse(std::string_view(data).substr(start), reply);
        if (start == data.size()) {
            data.clear();
            start = 0;
        } else if (start >= kCompactAfter) {
            data.erase(0, start);
            start = 0;
        }
        return reply;
    }
};

asio::awaitable<void> writeAll(Connection& connection, const std::string& bytes) {
    if (connection.secure) {
        co_await asio::async_write(*connection.secure, asio::buffer(bytes), asio::use_awaitable);
    } else {
        co_await asio::async_write(*connection.plain, asio::buffer(bytes), asio::use_awaitable);
    }
}

asio::awaitable<void> readSome(Connection& connection, ReadState& state) {
    const std::size_t had = state.data.size();
    state.data.resize(had + kReadChunk);
    const auto into = asio::buffer(state.data.data() + had, kReadChunk);
    std::size_t got = 0;
    try {
        if (connection.secure) {
            got = co_await connection.secure->async_read_some(into, asio::use_awaitable);
        } else {
            got = co_await connection.plain->async_read_some(into, asio::use_awaitable);
        }
    } catch (...) {
        state.data.resize(had);
        throw;
    }
    state.data.resize(had + got);
}

std::string describe(const boost::system::error_code& error, std::chrono::milliseconds timeout) {
    if (error == beast::error::timeout) return fmt::format("no answer within {} ms", timeout.count());
    return error.message();
}

std::string hexOf(const unsigned char* bytes, std::size_t size) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string hex;
    for (std::size_t i = 0; i < size; ++i) {
        hex += kHex[bytes[i] >> 4];
        hex += kHex[bytes[i] & 0xF];
    }
    return hex;
}

}  // namespace

Script::Script(std::string scriptSource) : source(std::move(scriptSource)) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(source.data(), source.size(), digest, &length, EVP_sha1(), nullptr) != 1)
        throw std::runtime_error("redis: SHA-1 is not available");
    sha1 = hexOf(digest, length);
}

class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
  public:
    Impl(asio::any_io_executor executor, RedisUrl url, ClientOptions options)
        : strand_(options.callerThreadOnly ? std::move(executor) : asio::make_strand(std::move(executor))),
          url_(std::move(url)),
          redacted_(url_.redacted()),
          options_(std::move(options)),
          backoff_(options_.firstBackoff) {
        if (url_.tls) tls_ = net::makeClientTlsContext(options_.caFile, "redis");
    }

    const Strand& strand() const { return strand_; }
    bool callerThreadOnly() const { return options_.callerThreadOnly; }
    const std::string& redacted() const { return redacted_; }
    const RedisUrl& url() const { return url_; }

    // On the strand: queues one encoded command and waits for its reply.
    static asio::awaitable<Reply> execute(std::shared_ptr<Impl> self, std::string encoded) {
        if (self->closed_) throw Unavailable("the Redis client for " + self->redacted_ + " is closed");
        if (self->state_ == State::kIdle) {
            const auto wait = self->retryAt_ - Clock::now();
            if (wait > Clock::duration::zero()) {
                const auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
                throw Unavailable(fmt::format("{} (next attempt in {} ms)", self->lastFailure_, ms));
            }
            self->startConnect();
        }
        auto pending = std::make_shared<Pending>(self->strand_);
        pending->timer.expires_after(self->options_.commandTimeout);
        self->pending_.push_back(pending);
        self->writeBuffer_ += encoded;
        if (self->state_ == State::kConnected) self->startWriter(self->connection_);
        co_await pending->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (pending->reply) co_return std::move(*pending->reply);
        if (!pending->failure) {
            // The reply would still come, and answer the wrong command: the connection has to go.
            self->fail(fmt::format("Redis at {} did not answer within {} ms", self->redacted_,
                                   self->options_.commandTimeout.count()));
        }
        throw Unavailable(*pending->failure);
    }

    void close() {
        closed_ = true;
        fail("the Redis client for " + redacted_ + " is closed");
    }

  private:
    enum class State { kIdle, kConnecting, kConnected };

    void startConnect() {
        state_ = State::kConnecting;
        auto connection = std::make_shared<Connection>();
        if (url_.tls) {
            connection->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(strand_, *tls_);
        } else {
            connection->plain = std::make_unique<beast::tcp_stream>(strand_);
        }
        connection_ = connection;
        asio::co_spawn(strand_, connect(shared_from_this(), std::move(connection)), asio::detached);
    }

    // Connects, handshakes, authenticates and selects the database, then starts the reader and, if
    // commands wait, the writer. Failures settle every waiting command with Unavailable.
    static asio::awaitable<void> connect(std::shared_ptr<Impl> self, std::shared_ptr<Connection> connection) {
        const RedisUrl& url = self->url_;
        ReadState state(self->options_.limits);
        std::string failure;
        try {
            tcp::resolver resolver(self->strand_);
            auto& lowest = connection->lowest();
            lowest.expires_after(self->options_.connectTimeout);
            const auto endpoints =
                co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::use_awaitable);
            if (connection != self->connection_) co_return;
            co_await lowest.async_connect(endpoints, asio::use_awaitable);
            lowest.socket().set_option(tcp::no_delay(true));
            if (connection->secure) {
                if (!net::expectPeerName(connection->secure->native_handle(), url.host))
                    throw ProtocolError("cannot set the expected certificate name");
                co_await connection->secure->async_handshake(asio::ssl::stream_base::client,
                                                             asio::use_awaitable);
            }
            failure = co_await greet(*self, *connection, state);
            lowest.expires_never();
        } catch (const boost::system::system_error& error) {
            failure = describe(error.code(), self->options_.connectTimeout);
            // OpenSSL's first queued error may be a detail (a signature that did not check out with a CA of
            // the same name); the verification result says what went wrong.
            const long verified =
                connection->secure ? SSL_get_verify_result(connection->secure->native_handle()) : X509_V_OK;
            if (verified != X509_V_OK)
                failure = std::string("the server's TLS certificate was refused: ") +
                          X509_verify_cert_error_string(verified);
        } catch (const ProtocolError& error) {
            failure = error.what();
        }
        if (connection != self->connection_) co_return;  // failed or closed meanwhile; already settled
        if (!failure.empty()) {
            self->fail("cannot connect to Redis at " + self->redacted_ + ": " + failure);
            co_return;
        }
        if (!self->lastFailure_.empty()) spdlog::info("redis: connected to {} again", self->redacted_);
        self->lastFailure_.clear();
        self->state_ = State::kConnected;
        self->backoff_ = self->options_.firstBackoff;
        self->retryAt_ = {};
        asio::co_spawn(self->strand_, readLoop(self, connection, std::move(state)), asio::detached);
        self->startWriter(connection);
    }

    // AUTH and SELECT, pipelined. Returns what the server refused ("" when all went well).
    static asio::awaitable<std::string> greet(Impl& self, Connection& connection, ReadState& state) {
        const RedisUrl& url = self.url_;
        std::string hello;
        std::vector<std::string> steps;
        if (!url.password.empty()) {
            std::vector<std::string> auth{"AUTH"};
            if (!url.user.empty()) auth.push_back(url.user);
            auth.push_back(url.password.reveal());
            appendCommand(hello, auth);
            sodium_memzero(auth.back().data(), auth.back().size());
            steps.emplace_back("AUTH");
        }
        if (url.database != 0) {
            const std::vector<std::string> select{"SELECT", std::to_string(url.database)};
            appendCommand(hello, select);
            steps.emplace_back("SELECT");
        }
        if (steps.empty()) co_return std::string();
        std::exception_ptr writeFailure;
        try {
            co_await writeAll(connection, hello);
        } catch (...) {
            writeFailure = std::current_exception();
        }
        sodium_memzero(hello.data(), hello.size());
        if (writeFailure) std::rethrow_exception(writeFailure);
        std::string refused;
        for (const auto& step : steps) {
            std::optional<Reply> reply = state.next();
            while (!reply) {
                co_await readSome(connection, state);
                reply = state.next();
            }
            // Redis's errors never repeat the password (WRONGPASS invalid username-password pair...).
            if (reply->isError() && refused.empty()) refused = "Redis refused " + step + ": " + reply->text;
        }
        co_return refused;
    }

    static asio::awaitable<void> readLoop(std::shared_ptr<Impl> self, std::shared_ptr<Connection> connection,
                                          ReadState state) {
        std::string failure;
        try {
            for (;;) {
                for (std::optional<Reply> reply = state.next(); reply; reply = state.next()) {
                    if (self->pending_.empty()) throw ProtocolError("Redis sent a reply to no command");
                    const auto pending = std::move(self->pending_.front());
                    self->pending_.pop_front();
                    pending->reply = std::move(*reply);
                    pending->timer.cancel();
                }
                co_await readSome(*connection, state);
                if (connection != self->connection_) co_return;
            }
        } catch (const boost::system::system_error& error) {
            failure = describe(error.code(), self->options_.commandTimeout);
        } catch (const ProtocolError& error) {
            failure = error.what();
        }
        if (connection != self->connection_) co_return;
        self->fail("the connection to Redis at " + self->redacted_ + " was lost: " + failure);
    }

    void startWriter(const std::shared_ptr<Connection>& connection) {
        if (connection->writing || writeBuffer_.empty()) return;
        connection->writing = true;
        asio::co_spawn(strand_, writeLoop(shared_from_this(), connection), asio::detached);
    }

    static asio::awaitable<void> writeLoop(std::shared_ptr<Impl> self,
                                           std::shared_ptr<Connection> connection) {
        std::string failure;
        std::string out;
        try {
            while (connection == self->connection_ && !self->writeBuffer_.empty()) {
                out.clear();
                std::swap(out, self->writeBuffer_);
                co_await writeAll(*connection, out);
            }
        } catch (const boost::system::system_error& error) {
            failure = describe(error.code(), self->options_.commandTimeout);
        }
        connection->writing = false;
        if (failure.empty() || connection != self->connection_) co_return;
        self->fail("the connection to Redis at " + self->redacted_ + " was lost: " + failure);
    }

    // Drops the connection and settles every waiting command with Unavailable(message). A failure while
    // connecting starts (or lengthens) the back-off.
    void fail(const std::string& message) {
        if (connection_) {
            boost::system::error_code ignored;
            connection_->lowest().socket().close(ignored);
            connection_.reset();
        }
        if (state_ == State::kConnecting) {
            retryAt_ = Clock::now() + backoff_;
            backoff_ = std::min(backoff_ * 2, options_.maxBackoff);
        }
        if (state_ != State::kIdle && !closed_) spdlog::warn("redis: {}", message);
        state_ = State::kIdle;
        lastFailure_ = message;
        writeBuffer_.clear();
        auto settled = std::move(pending_);
        pending_.clear();
        for (const auto& pending : settled) {
            if (pending->reply || pending->failure) continue;
            pending->failure = message;
            pending->timer.cancel();
        }
    }

    Strand strand_;
    RedisUrl url_;
    std::string redacted_;
    ClientOptions options_;
    std::shared_ptr<asio::ssl::context> tls_;

    State state_ = State::kIdle;
    bool closed_ = false;
    std::shared_ptr<Connection> connection_;  // while connecting or connected
    std::deque<std::shared_ptr<Pending>> pending_;
    std::string writeBuffer_;
    Clock::time_point retryAt_{};
    std::chrono::milliseconds backoff_;
    std::string lastFailure_;
};

Client::Client(asio::any_io_executor executor, std::string_view url, ClientOptions options)
    : Client(std::move(executor), parseRedisUrl(url), std::move(options)) {}

Client::Client(asio::any_io_executor executor, RedisUrl url, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(url), std::move(options))) {}

Client::~Client() {
    close();
}

void Client::close() {
    asio::post(impl_->strand(), [impl = impl_] { impl->close(); });
}

const std::string& Client::redactedUrl() const {
    return impl_->redacted();
}

const std::string& Client::host() const {
    return impl_->url().host;
}

std::uint16_t Client::port() const {
    return impl_->url().port;
}

asio::awaitable<Reply> Client::command(std::vector<std::string> arguments) {
    auto impl = impl_;
    std::string encoded = encodeCommand(arguments);
    auto work = Impl::execute(std::move(impl), std::move(encoded));
    if (impl_->callerThreadOnly()) co_return co_await std::move(work);  // already on the client's thread
    co_return co_await asio::co_spawn(impl_->strand(), std::move(work), asio::use_awaitable);
}

asio::awaitable<Reply> Client::eval(const Script& script, std::vector<std::string> keys,
                                    std::vector<std::string> arguments) {
    std::vector<std::string> call{"EVALSHA", script.sha1, std::to_string(keys.size())};
    call.insert(call.end(), keys.begin(), keys.end());
    call.insert(call.end(), arguments.begin(), arguments.end());
    Reply reply = co_await command(call);
    const bool missing = reply.isError() && reply.text.starts_with("NOSCRIPT");
    if (missing) {
        call[0] = "EVAL";
        call[1] = script.source;
        reply = co_await command(std::move(call));
    }
    co_return reply;
}

asio::awaitable<bool> Client::ping() {
    std::vector<std::string> ping{"PING"};
    bool pong = false;
    try {
        const Reply reply = co_await command(std::move(ping));
        pong = reply.isString("PONG");
    } catch (const Unavailable&) {
        pong = false;
    }
    co_return pong;
}

}  // namespace rampart::redis
