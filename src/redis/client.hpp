// A small Redis client on Asio: one connection (plain or TLS with certificate and host name verification),
// AUTH (ACL user or default user) and SELECT on every connect, pipelined commands with a timeout each,
// reconnection with exponential back-off, and scripts run by EVALSHA with an EVAL fallback.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "redis/redis_url.hpp"
#include "redis/resp.hpp"

namespace rampart::redis {

// Redis cannot be used right now: not connected (and the back-off has not elapsed), the connection broke,
// the connection or AUTH failed, a reply timed out, or the server broke the protocol. The message names the
// server by its redacted URL and never holds the password; it is safe to log.
class Unavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ClientOptions {
    // TCP connect, TLS handshake, AUTH and SELECT together.
    std::chrono::milliseconds connectTimeout{2000};
    // From the call to the reply, including the wait for a connection. A timeout closes the connection
    // (the late reply would otherwise answer the next command), which fails every command in flight.
    std::chrono::milliseconds commandTimeout{1000};
    // rediss:// only: the CA certificates (PEM) that may sign the server's certificate; empty: the system's.
    std::filesystem::path caFile;
    // After a failed connection attempt, calls fail at once with Unavailable until the back-off has
    // elapsed; it doubles from the first to the last value on each failed attempt and resets on success.
    // A connection that breaks after it was up is retried at once by the next call.
    std::chrono::milliseconds firstBackoff{100};
    std::chrono::milliseconds maxBackoff{5000};
    ParserLimits limits;
    // true: every call comes from the one thread that runs the executor (an io_context run by one thread,
    // as each HTTP I/O thread's is), so the client needs no strand and a call runs inline on the caller's
    // coroutine: no hop to another thread and back. false: calls may come from any thread.
    bool callerThreadOnly = false;
};

// A Lua script, identified by the SHA-1 of its source (computed here, as Redis does).
struct Script {
    explicit Script(std::string source);
    std::string source;
    std::string sha1;  // lower-case hex
};

// Owns one connection on a strand of the executor it is given (on the executor itself with
// callerThreadOnly); connects on first use. Every method may be called from any thread and any executor
// (with callerThreadOnly: only from the thread running the executor); many calls may be in flight at once:
// they are pipelined on the one connection and answered in order. Destroy the client (or call close()) before
// its executor's io_context.
//
// Server errors (-ERR, -WRONGTYPE, -NOSCRIPT...) are not exceptions: they come back as a Reply whose type
// is ReplyType::kError. Everything that leaves the server's answer unknown throws Unavailable.
class Client {
  public:
    // Throws InvalidRedisUrl for a bad URL and std::runtime_error for an unreadable CA file.
    Client(boost::asio::any_io_executor executor, std::string_view url, ClientOptions options = {});
    Client(boost::asio::any_io_executor executor, RedisUrl url, ClientOptions options = {});
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

    // Sends one command (its name first, e.g. {"INCRBY", key, "1"}) and returns the reply.
    boost::asio::awaitable<Reply> command(std::vector<std::string> arguments);

    // EVALSHA; if the server answers NOSCRIPT (a restart, SCRIPT FLUSH), EVAL once, which also loads the
    // script so that the next call's EVALSHA finds it.
    boost::asio::awaitable<Reply> eval(const Script& script, std::vector<std::string> keys,
                                       std::vector<std::string> arguments);

    // True if the server answers PING with PONG (connecting first if needed); never throws.
    boost::asio::awaitable<bool> ping();

    // Closes the connection; calls in flight and later calls throw Unavailable. Idempotent.
    void close();

    // The URL without its password, for logs.
    [[nodiscard]] const std::string& redactedUrl() const;
    // The server's host (a name or an address) and port, for spans.
    [[nodiscard]] const std::string& host() const;
    [[nodiscard]] std::uint16_t port() const;

  private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace rampart::redis
