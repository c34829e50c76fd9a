// The test Redis server of redis_server.hpp: a configuration file (mode 0600: it holds the passwords),
// redis-server forked and exec'd directly (so its PID is ours to signal), readiness from its log.
#include "testing/redis_server.hpp"

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "testing/child_process.hpp"
#include "testing/test_certificates.hpp"

namespace rampart::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 30s;
constexpr auto kStopTimeout = 10s;
constexpr auto kPollInterval = 10ms;
constexpr int kStartAttempts = 5;

std::filesystem::path findRedisServer() {
    for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
        std::error_code error;
        if (std::filesystem::exists(candidate, error)) return candidate;
    }
    throw std::runtime_error("no Redis server: no /usr/bin/redis-server (`make deps` installs it)");
}

// A string in redis.conf, double-quoted (the passwords and paths here need no escapes, but a
// temporary directory could hold a space).
std::string quoteSetting(const std::string& text) {
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return quoted + "\"";
}

}  // namespace

RedisServer::RedisServer() : RedisServer(RedisServerOptions{}) {}

RedisServer::RedisServer(RedisServerOptions options)
    : options_(std::move(options)),
      program_(findRedisServer()),
      userPassword_(randomToken(32)),
      defaultPassword_(randomToken(32)) {
    if (options_.tls) {
        const auto certificates = makeTestCertificates(options_.certificateNames.c_str());
        directory_.write("ca.crt", certificates.caPem, 0644);
        directory_.write("server.crt", certificates.certificatePem, 0644);
        directory_.write("server.key", certificates.keyPem);
    }
    start();
}

RedisServer::~RedisServer() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);  // a paused server cannot act on SIGTERM
    stop();
}

void RedisServer::writeConfiguration() const {
    const auto& dir = directory_.path();
    std::string settings =
        "bind 127.0.0.1\n"
        "daemonize no\n"
        "logfile \"\"\n"
        "dir " +
        quoteSetting(dir.string()) + "\n" +
        "save \"\"\nappendonly no\n"
        "requirepass " +
        defaultPassword_ + "\n" + "user " + std::string(kUser) + " on >" + userPassword_ + " " +
        std::string(kUserRules) + "\n" + "user " + std::string(kTestUser) + " on >" + userPassword_ +
        " ~* &* +@all\n";
    if (options_.tls) {
        settings += "port 0\ntls-port " + std::to_string(port_) + "\n" + "tls-cert-file " +
                    quoteSetting((dir / "server.crt").string()) + "\n" + "tls-key-file " +
                    quoteSetting((dir / "server.key").string()) + "\n" + "tls-ca-cert-file " +
                    quoteSetting((dir / "ca.crt").string()) + "\n" + "tls-auth-clients no\n";
    } else {
        settings += "port " + std::to_string(port_) + "\n";
    }
    directory_.write("redis.conf", settings);
}

void RedisServer::start() {
    if (pid_ > 0) return;
    const bool choosePort = port_ == 0;
    for (int attempt = 1;; ++attempt) {
        if (choosePort) {
            port_ = probeFreePort();
            writeConfiguration();
        }
        if (launch() == Launch::kReady) return;
        if (!choosePort || attempt == kStartAttempts)
            throwWithLog("Redis cannot listen on 127.0.0.1:" + std::to_string(port_) + ", which is taken", 0);
    }
}

RedisServer::Launch RedisServer::launch() {
    const auto logOffset = fileSize(logPath());
    const std::vector<std::string> arguments{program_.string(), (directory_.path() / "redis.conf").string()};
    const std::vector<std::string> environment{"PATH=/usr/bin:/bin", "LC_ALL=C"};
    pid_ = spawnChild(arguments, environment, directory_.path(), logPath());
    const auto deadline = Clock::now() + kReadyTimeout;
    for (;;) {
        int status = 0;
        if (reap(pid_, false, &status)) {
            pid_ = -1;
            if (logTail(logPath(), logOffset).find("Address already in use") != std::string::npos)
                return Launch::kPortTaken;
            throwWithLog("Redis exited while starting (" + describeExit(status) + ")", logOffset);
        }
        // Logged by this process (its own PID starts each line) once every listener is bound.
        const std::string tail = logTail(logPath(), logOffset);
        if (tail.find(std::to_string(pid_) + ":M") != std::string::npos &&
            tail.find("Ready to accept connections") != std::string::npos)
            return Launch::kReady;
        if (Clock::now() > deadline) {
            kill();
            throwWithLog("Redis did not accept connections within 30 s", logOffset);
        }
        std::this_thread::sleep_for(kPollInterval);
    }
}

void RedisServer::throwWithLog(const std::string& what, std::uintmax_t logOffset) const {
    throw std::runtime_error(what + "; the end of " + logPath().string() + ":\n" +
                             logTail(logPath(), logOffset));
}

void RedisServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (const auto deadline = Clock::now() + kStopTimeout; Clock::now() < deadline;) {
        if (reap(pid_, false)) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    kill();
}

void RedisServer::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, true);
    pid_ = -1;
}

void RedisServer::pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisServer::url() const {
    return std::string(options_.tls ? "rediss://" : "redis://") + std::string(kUser) + ":" +
           percentEncode(userPassword_) + "@" + std::string(kHost) + ":" + std::to_string(port_);
}

std::string RedisServer::testUrl(unsigned database) const {
    std::string text = std::string(options_.tls ? "rediss://" : "redis://") + std::string(kTestUser) + ":" +
                       percentEncode(userPassword_) + "@" + std::string(kHost) + ":" + std::to_string(port_);
    if (database != 0) text += "/" + std::to_string(database);
    return text;
}

std::string RedisServer::defaultUserUrl() const {
    return std::string(options_.tls ? "rediss://" : "redis://") + ":" + percentEncode(defaultPassword_) +
           "@" + std::string(kHost) + ":" + std::to_string(port_);
}

RedisServer& sharedRedisServer() {
    static RedisServer server;
    return server;
}

}  // namespace rampart::testing
