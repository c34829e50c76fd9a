// A real Redis server for tests: Debian's redis-server on a free 127.0.0.1 port in a temporary directory,
// with a password for the default user, the `rampart` ACL user that docs/deployment-cluster.md gives
// operators (so every test of the server's use of Redis runs under it) and a `tester` user allowed
// everything (for tests of the Redis client itself), no persistence, and TLS (a test CA) if asked; a
// child process of the test, stopped by its PID with the object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "testing/temp_directory.hpp"

namespace rampart::testing {

struct RedisServerOptions {
    // true: only a TLS port (`port 0`, `tls-port`), with a certificate signed by a test CA (caPath()) for
    // the names in certificateNames.
    bool tls = false;
    std::string certificateNames = "DNS:localhost,IP:127.0.0.1";
};

// Construction, start, stop, kill, pause and resume are for one thread at a time; the getters may be
// called from any thread.
class RedisServer {
  public:
    // The ACL user the server connects as, with exactly the rules docs/deployment-cluster.md documents:
    // the rate limiter's commands on its own key prefix, nothing else. The default user has a password
    // of its own (requirepass); `tester` may run every command on every key.
    static constexpr std::string_view kUser = "rampart";
    static constexpr std::string_view kUserRules =
        "resetkeys ~rampart:rl:* resetchannels -@all +eval +evalsha +ping +time +get +set";
    static constexpr std::string_view kTestUser = "tester";
    static constexpr std::string_view kHost = "127.0.0.1";

    // Starts the server; returns once it accepts connections. Throws std::runtime_error (with the end of
    // the server's log) if it cannot.
    RedisServer();
    explicit RedisServer(RedisServerOptions options);
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer();

    // Starts the server again on the same port (after stop() or kill()); it comes back empty, scripts
    // included. Does nothing while it runs.
    void start();
    // SIGTERM (Redis exits at once: nothing to save); SIGKILL after 10 s. Idempotent.
    void stop();
    // SIGKILL. Idempotent.
    void kill();
    // SIGSTOP and SIGCONT: the server keeps its connections but answers nothing until resumed.
    void pause();
    void resume();

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] const std::string& userPassword() const { return userPassword_; }
    [[nodiscard]] const std::string& defaultPassword() const { return defaultPassword_; }
    // The test CA (PEM) that signed the server's certificate; with tls only.
    [[nodiscard]] std::filesystem::path caPath() const { return directory_.path() / "ca.crt"; }
    // The server's stdout and stderr, appended to across restarts.
    [[nodiscard]] std::filesystem::path logPath() const { return directory_.path() / "redis.log"; }

    // redis[s]://rampart:PASSWORD@127.0.0.1:PORT (the server's ACL user), percent-encoded.
    [[nodiscard]] std::string url() const;
    // redis[s]://tester:PASSWORD@127.0.0.1:PORT[/db] (the user allowed everything), percent-encoded.
    [[nodiscard]] std::string testUrl(unsigned database = 0) const;
    // redis[s]://:PASSWORD@127.0.0.1:PORT (AUTH with the default user's password alone).
    [[nodiscard]] std::string defaultUserUrl() const;

  private:
    enum class Launch { kReady, kPortTaken };

    void writeConfiguration() const;
    Launch launch();
    [[noreturn]] void throwWithLog(const std::string& what, std::uintmax_t logOffset) const;

    TempDirectory directory_;  // first: removed only after the server has stopped
    RedisServerOptions options_;
    std::filesystem::path program_;
    std::string userPassword_;
    std::string defaultPassword_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// One plain (no TLS) server for the whole test process, started on first use and stopped at exit.
RedisServer& sharedRedisServer();

}  // namespace rampart::testing
