// Integration-test harness: starts the rampart binary (or nginx, postgres, ...) as a child process
// in a temporary directory and talks HTTP, HTTPS, raw bytes and openssl s_client to it.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rampart::testing {

using namespace std::chrono_literals;

// Thrown when the harness itself cannot do its job (a server that never came up, a failed openssl
// command). GoogleTest reports it, with its message, as a failure of the running test.
class HarnessError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A fresh directory under /tmp, removed with everything in it when the object goes away.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

using Environment = std::map<std::string, std::string>;

// Whole-file helpers for configs written by tests and logs read back.
void writeFile(const std::filesystem::path& path, std::string_view content);
std::string readFile(const std::filesystem::path& path);

// A child process started by startProcess(). Stops it (SIGTERM, then SIGKILL) when destroyed.
// Exit statuses follow the shell: the exit code, or 128 + signal number when a signal ended it.
class ChildProcess {
  public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    // True until the process has been seen to exit (reaps it if it has).
    bool running();
    void signal(int signalNumber) const;
    std::optional<int> waitExit(std::chrono::milliseconds timeout);
    // SIGTERM, wait up to `grace`, then SIGKILL to the process and its process group.
    std::optional<int> stop(std::chrono::milliseconds grace = 10s);
    std::optional<int> exitStatus() const { return exitStatus_; }
    std::filesystem::path stdoutPath() const { return dir_ / "stdout.log"; }
    std::filesystem::path stderrPath() const { return dir_ / "stderr.log"; }

  private:
    friend ChildProcess startProcess(const std::vector<std::string>& argv, const Environment& env,
                                     const std::filesystem::path& dir);
    pid_t pid_ = -1;
    std::filesystem::path dir_;
    std::optional<int> exitStatus_;
    bool groupKilled_ = false;
};

// Starts argv[0] (a path, or a name looked up in PATH) with working directory `dir`, stdin from
// /dev/null, stdout and stderr into dir/stdout.log and dir/stderr.log. The environment holds only
// PATH and HOME from ours plus `env`. The child gets its own process group and is SIGKILLed when
// the starting thread ends (so a crashed test leaves no servers behind): start it from the test's
// own thread, not from a short-lived helper thread.
ChildProcess startProcess(const std::vector<std::string>& argv, const Environment& env,
                          const std::filesystem::path& dir);

// A port that was free a moment ago on 127.0.0.1 (for programs that cannot bind port 0). Never the
// same port twice in one run, so several calls give several ports.
std::uint16_t freePort();
// Waits until something accepts TCP connections on address:port (127.0.0.1 unless given).
bool waitForPort(std::uint16_t port, std::chrono::milliseconds timeout = 10s, std::string_view address = {});

// The rampart binary under test, run as
// `rampart serve --listen 127.0.0.1:0 --port-file <dir>/port <args...>`.
class ServerProcess {
  public:
    ServerProcess();                                       // runs RAMPART_BINARY
    explicit ServerProcess(std::filesystem::path binary);  // a stand-in, for the harness's own tests
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Throws HarnessError, with the server's stderr, if the process exits or has not written its
    // port file within `readyTimeout`. RAMPART_DATA_DIR defaults to a temporary directory that is
    // kept across restarts of this object. Logs are truncated on each start.
    void start(std::vector<std::string> args = {}, Environment env = {},
               std::chrono::milliseconds readyTimeout = 15s);

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return process_.pid(); }
    bool running() { return process_.running(); }
    void signal(int signalNumber) const { process_.signal(signalNumber); }
    std::optional<int> waitExit(std::chrono::milliseconds timeout) { return process_.waitExit(timeout); }
    std::optional<int> stop(std::chrono::milliseconds grace = 10s) { return process_.stop(grace); }

    std::string stdoutText() const;
    std::string stderrText() const;
    const std::filesystem::path& dir() const { return dir_.path(); }
    // The RAMPART_DATA_DIR of the last start().
    const std::filesystem::path& dataDir() const { return dataDirPath_; }

  private:
    std::filesystem::path binary_;
    TempDir dir_;
    std::optional<TempDir> defaultDataDir_;
    std::filesystem::path dataDirPath_;
    ChildProcess process_;
    std::uint16_t port_ = 0;
};

// Request headers in the order they are sent; a name may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
    int status = 0;  // 0: no response was read; see `error`
    Headers headers;
    std::string body;
    std::string error;  // empty on success, else what went wrong on the network

    // Header lookups ignore the case of the name.
    std::optional<std::string> header(std::string_view name) const;
    std::vector<std::string> headerValues(std::string_view name) const;
    bool hasHeader(std::string_view name) const { return header(name).has_value(); }
};

struct RequestOptions {
    std::chrono::milliseconds timeout = 10s;
    // Host is "127.0.0.1" unless `headers` holds one; omitHost sends none at all.
    bool omitHost = false;
    int version = 11;
    // TLS only: the SNI name and, if the context verifies peers, the name checked in the certificate.
    std::string tlsServerName = "localhost";
    // The address to connect to; 127.0.0.1 when empty (another local address makes the connection come
    // from a non-loopback address, as a remote client's would).
    std::string address = {};
};

// One request on a fresh connection. Content-Length is computed unless `headers` sets
// Content-Length or Transfer-Encoding.
Response request(std::uint16_t port, std::string_view method, std::string_view target,
                 const Headers& headers = {}, std::string_view body = {}, const RequestOptions& options = {});
Response requestTls(std::uint16_t port, std::string_view method, std::string_view target,
                    const Headers& headers, std::string_view body, boost::asio::ssl::context& tls,
                    const RequestOptions& options = {});

// Writes `bytes` as they are and returns everything received until the peer closed or `timeout`.
std::string sendRaw(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout = 5s);

namespace detail {
struct SlowClientState;
}

// A slowloris client: sends `payload` one byte per `interval`, then keeps sending 'a' (which extends
// a header value or a body) until the server closes the connection or the object is destroyed.
class SlowClient {
  public:
    static constexpr std::string_view kUnfinishedHead =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

    SlowClient(std::uint16_t port, std::chrono::milliseconds interval,
               std::string payload = std::string(kUnfinishedHead));
    ~SlowClient();
    SlowClient(const SlowClient&) = delete;
    SlowClient& operator=(const SlowClient&) = delete;

    // True once the server has closed (or reset) the connection; waits up to `timeout` for it.
    bool waitClosed(std::chrono::milliseconds timeout);
    bool closed() const;
    // Time from connect to the close, once closed.
    std::optional<std::chrono::milliseconds> closedAfter() const;
    std::size_t bytesSent() const;
    // What the server sent before closing (e.g. a 408 response).
    std::string received() const;
    // Empty unless connecting failed.
    std::string connectError() const;

  private:
    std::shared_ptr<detail::SlowClientState> state_;
    // Owns the coroutines (and through them the socket); destroyed after the thread has stopped.
    std::unique_ptr<boost::asio::io_context> io_;
    std::thread thread_;
};

struct TestPki {
    std::filesystem::path ca;    // CA certificate (PEM)
    std::filesystem::path cert;  // server certificate for localhost and 127.0.0.1, signed by ca
    std::filesystem::path key;   // server private key (PEM, unencrypted)
};

// Creates a test CA and a server certificate in `dir` with the openssl command.
TestPki makeTestPki(const std::filesystem::path& dir);
// A client context that trusts only the test CA and verifies the peer.
boost::asio::ssl::context makeClientTlsContext(const TestPki& pki);

// Whether `openssl s_client` completes a handshake with 127.0.0.1:port using `protocolFlag`
// ("-tls1", "-tls1_1", "-tls1_2", "-tls1_3"). For TLS 1.0/1.1 the client's own security level is
// lowered to 0, so a failure means the server refused.
bool opensslHandshakes(std::uint16_t port, const std::string& protocolFlag,
                       std::chrono::milliseconds timeout = 10s, const std::string& address = "127.0.0.1");

}  // namespace rampart::testing
