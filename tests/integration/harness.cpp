// Integration-test harness: child processes, temporary directories, HTTP(S) and raw-socket clients,
// and a throw-away PKI built with the openssl command.
#include "harness.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

namespace rampart::testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kResponseBodyLimit = 64 * 1024 * 1024;
constexpr std::size_t kResponseHeaderLimit = 1024 * 1024;
constexpr auto kPollInterval = 10ms;

std::string errnoText(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

int decodeWaitStatus(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// execve needs a path; looking it up here keeps the forked child to async-signal-safe calls.
std::string resolveProgram(const std::string& program, const std::string& searchPath) {
    if (program.find('/') != std::string::npos) return program;
    std::stringstream dirs(searchPath);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) continue;
        auto candidate = std::filesystem::path(dir) / program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    throw HarnessError("startProcess: " + program + " not found in PATH=" + searchPath);
}

int openOrThrow(const std::filesystem::path& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) throw HarnessError(errnoText("open " + path.string()));
    return fd;
}

struct Completed {
    std::optional<int> status;  // empty: killed after the timeout
    std::string output;         // stdout then stderr
};

Completed runToCompletion(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    TempDir scratch;
    ChildProcess child = startProcess(argv, {}, scratch.path());
    Completed result;
    result.status = child.waitExit(timeout);
    if (!result.status) child.stop(1s);
    result.output = readFile(child.stdoutPath()) + readFile(child.stderrPath());
    return result;
}

std::string describeCommand(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& arg : argv) text += (text.empty() ? "" : " ") + arg;
    return text;
}

void runOrThrow(const std::vector<std::string>& argv) {
    auto done = runToCompletion(argv, 30s);
    if (done.status != 0) {
        throw HarnessError("command failed (" + (done.status ? std::to_string(*done.status) : "timeout") +
                           "): " + describeCommand(argv) + "\n" + done.output);
    }
}

// Runs the coroutine that `makeTask(io)` returns on a private io_context, on the caller's thread.
template <class T, class MakeTask>
T runToEnd(MakeTask makeTask) {
    asio::io_context io;
    std::optional<T> result;
    std::exception_ptr failure;
    asio::co_spawn(io, makeTask(io), [&](std::exception_ptr e, T value) {
        failure = e;
        if (!e) result = std::move(value);
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*result);
}

tcp::endpoint loopback(std::uint16_t port) {
    return {asio::ip::address_v4::loopback(), port};
}

tcp::endpoint endpoint(std::string_view address, std::uint16_t port) {
    return address.empty() ? loopback(port) : tcp::endpoint(asio::ip::make_address(address), port);
}

http::request<http::string_body> buildRequest(std::string_view method, std::string_view target,
                                              const Headers& headers, std::string_view body,
                                              const RequestOptions& options) {
    bool hasHost = false;
    bool hasLength = false;
    for (const auto& [name, value] : headers) {
        hasHost = hasHost || equalsIgnoreCase(name, "host");
        hasLength = hasLength || equalsIgnoreCase(name, "content-length") ||
                    equalsIgnoreCase(name, "transfer-encoding");
    }
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(options.version);
    if (!hasHost && !options.omitHost) req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.insert(name, value);
    req.body() = std::string(body);
    if (!hasLength) req.prepare_payload();
    return req;
}

Response failedResponse(std::string error) {
    Response failed;
    failed.error = std::move(error);
    return failed;
}

Response toResponse(const http::response<http::string_body>& res) {
    Response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = res.body();
    return out;
}

// Writes the request and reads one response. A failed write still tries to read, because a server
// that rejects a request early (413, 431) often answers before it stops reading.
template <class Stream>
asio::awaitable<Response> exchange(Stream& stream, http::request<http::string_body>& req) {
    auto [writeError, written] = co_await http::async_write(stream, req, kNoThrow);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kResponseBodyLimit);
    parser.header_limit(kResponseHeaderLimit);
    if (req.method() == http::verb::head) parser.skip(true);
    auto [readError, read] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (readError) {
        co_return failedResponse(writeError
                                     ? "write: " + writeError.message() + "; read: " + readError.message()
                                     : "read: " + readError.message());
    }
    co_return toResponse(parser.get());
}

// The request and everything else passed by reference outlive the coroutine (see runToEnd).
asio::awaitable<Response> plainCall(asio::io_context& io, std::uint16_t port,
                                    http::request<http::string_body>& req, const RequestOptions& options) {
    beast::tcp_stream stream(io);
    stream.expires_after(options.timeout);  // one deadline for connect, write and read together
    auto [connectError] = co_await stream.async_connect(endpoint(options.address, port), kNoThrow);
    if (connectError) co_return failedResponse("connect: " + connectError.message());
    auto response = co_await exchange(stream, req);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return response;
}

asio::awaitable<Response> tlsCall(asio::io_context& io, std::uint16_t port,
                                  http::request<http::string_body>& req, ssl::context& tls,
                                  const RequestOptions& options) {
    beast::ssl_stream<beast::tcp_stream> stream(io, tls);
    beast::get_lowest_layer(stream).expires_after(options.timeout);
    const std::string& name = options.tlsServerName;
    boost::system::error_code notAnAddress;
    asio::ip::make_address(name, notAnAddress);
    if (!name.empty() && notAnAddress) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
    if (!name.empty()) stream.set_verify_callback(ssl::host_name_verification(name));
    auto [connectError] =
        co_await beast::get_lowest_layer(stream).async_connect(endpoint(options.address, port), kNoThrow);
    if (connectError) co_return failedResponse("connect: " + connectError.message());
    auto [handshakeError] = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
    if (handshakeError) co_return failedResponse("handshake: " + handshakeError.message());
    auto response = co_await exchange(stream, req);
    // A peer that never answers close_notify must not cost the test its whole timeout.
    beast::get_lowest_layer(stream).expires_after(1s);
    co_await stream.async_shutdown(kNoThrow);
    co_return response;
}

asio::awaitable<std::string> rawCall(asio::io_context& io, std::uint16_t port, std::string_view bytes,
                                     std::chrono::milliseconds timeout) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    std::string received;
    auto [connectError] = co_await stream.async_connect(loopback(port), kNoThrow);
    if (connectError) co_return received;
    // Even if the write fails part-way (the server gave up on us), read what it sent.
    co_await asio::async_write(stream, asio::buffer(bytes), kNoThrow);
    char chunk[4096];
    for (;;) {
        auto [readError, n] = co_await stream.async_read_some(asio::buffer(chunk), kNoThrow);
        received.append(chunk, n);
        if (readError) break;
    }
    co_return received;
}

}  // namespace

// ---- TempDir ------------------------------------------------------------------------------------

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rampart-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw HarnessError(errnoText("mkdtemp " + pattern));
    path_ = pattern;
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
    if (this != &other) {
        TempDir old(std::move(*this));
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

void writeFile(const std::filesystem::path& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw HarnessError("cannot write " + path.string());
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// ---- Child processes ----------------------------------------------------------------------------

// The sanitizer runtimes' settings, passed on to every child (they mean nothing to other programs).
constexpr std::array<const char*, 4> kSanitizerVariables = {"ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
                                                            "TSAN_OPTIONS"};

ChildProcess startProcess(const std::vector<std::string>& argv, const Environment& env,
                          const std::filesystem::path& dir) {
    if (argv.empty()) throw HarnessError("startProcess: empty argv");
    Environment childEnv;
    const char* path = std::getenv("PATH");
    const char* home = std::getenv("HOME");
    childEnv["PATH"] = path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
    childEnv["HOME"] = home ? home : dir.string();
    // Under `make sanitize` / `make tsan` the rampart children must report where the test run looks
    // (log_path) and stop at the first report, exactly like the test process.
    for (const char* name : kSanitizerVariables) {
        if (const char* value = std::getenv(name)) childEnv[name] = value;
    }
    for (const auto& [name, value] : env) childEnv[name] = value;

    // Everything the child needs is built before fork: after it, only async-signal-safe calls.
    const std::string program = resolveProgram(argv[0], childEnv["PATH"]);
    std::vector<std::string> envStrings;
    for (const auto& [name, value] : childEnv) envStrings.push_back(name + "=" + value);
    std::vector<char*> argPointers;
    for (const auto& arg : argv) argPointers.push_back(const_cast<char*>(arg.c_str()));
    argPointers.push_back(nullptr);
    std::vector<char*> envPointers;
    for (auto& entry : envStrings) envPointers.push_back(entry.data());
    envPointers.push_back(nullptr);

    ChildProcess child;
    child.dir_ = dir;
    int stdinFd = openOrThrow("/dev/null", O_RDONLY);
    int stdoutFd = openOrThrow(child.stdoutPath(), O_WRONLY | O_CREAT | O_TRUNC);
    int stderrFd = openOrThrow(child.stderrPath(), O_WRONLY | O_CREAT | O_TRUNC);
    int execFailure[2];  // carries errno if execve fails; closes on success (O_CLOEXEC)
    if (::pipe2(execFailure, O_CLOEXEC) != 0) throw HarnessError(errnoText("pipe2"));
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) throw HarnessError(errnoText("fork"));
    if (pid == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
        ::dup2(stdinFd, 0);
        ::dup2(stdoutFd, 1);
        ::dup2(stderrFd, 2);
        // Sockets and files the test holds open must not leak into the child.
        if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            for (int fd = 3; fd < 65536; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (::chdir(dir.c_str()) == 0) ::execve(program.c_str(), argPointers.data(), envPointers.data());
        int error = errno;
        [[maybe_unused]] auto ignored = ::write(execFailure[1], &error, sizeof error);
        ::_exit(127);
    }
    ::setpgid(pid, pid);  // also from this side, so no race with an immediate stop()
    ::close(stdinFd);
    ::close(stdoutFd);
    ::close(stderrFd);
    ::close(execFailure[1]);
    child.pid_ = pid;
    int childErrno = 0;
    ssize_t n;
    do {
        n = ::read(execFailure[0], &childErrno, sizeof childErrno);
    } while (n < 0 && errno == EINTR);
    ::close(execFailure[0]);
    if (n > 0) {
        child.waitExit(5s);
        child.pid_ = -1;
        throw HarnessError("startProcess: cannot run " + program + " in " + dir.string() + ": " +
                           std::strerror(childErrno));
    }
    return child;
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0) stop(10s);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      dir_(std::move(other.dir_)),
      exitStatus_(std::exchange(other.exitStatus_, std::nullopt)),
      groupKilled_(std::exchange(other.groupKilled_, false)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0) stop(10s);
        pid_ = std::exchange(other.pid_, -1);
        dir_ = std::move(other.dir_);
        exitStatus_ = std::exchange(other.exitStatus_, std::nullopt);
        groupKilled_ = std::exchange(other.groupKilled_, false);
    }
    return *this;
}

bool ChildProcess::running() {
    if (pid_ <= 0 || exitStatus_) return false;
    int status = 0;
    pid_t reaped;
    do {
        reaped = ::waitpid(pid_, &status, WNOHANG);
    } while (reaped < 0 && errno == EINTR);
    if (reaped == 0) return true;
    exitStatus_ = reaped == pid_ ? decodeWaitStatus(status) : -1;
    return false;
}

void ChildProcess::signal(int signalNumber) const {
    // An exited but unreaped child keeps its pid, so this cannot hit a stranger.
    if (pid_ > 0 && !exitStatus_) ::kill(pid_, signalNumber);
}

std::optional<int> ChildProcess::waitExit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(kPollInterval);
    }
    return exitStatus_;
}

std::optional<int> ChildProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) return exitStatus_;
    if (running()) {
        ::kill(pid_, SIGTERM);
        if (!waitExit(grace)) {
            ::kill(-pid_, SIGKILL);
            ::kill(pid_, SIGKILL);
            waitExit(10s);
        }
    }
    // Helpers the child started in its process group (nginx workers) must not outlive the test.
    if (!groupKilled_) ::kill(-pid_, SIGKILL);
    groupKilled_ = true;
    return exitStatus_;
}

std::uint16_t freePort() {
    static std::mutex mutex;
    static std::set<std::uint16_t> handedOut;
    asio::io_context io;
    std::lock_guard lock(mutex);
    for (int attempt = 0; attempt < 100; ++attempt) {
        tcp::acceptor acceptor(io, loopback(0));
        const auto port = acceptor.local_endpoint().port();
        if (handedOut.insert(port).second) return port;
    }
    throw HarnessError("freePort: the kernel keeps offering ports already handed out");
}

bool waitForPort(std::uint16_t port, std::chrono::milliseconds timeout, std::string_view address) {
    const auto deadline = Clock::now() + timeout;
    asio::io_context io;
    for (;;) {
        tcp::socket socket(io);
        boost::system::error_code error;
        socket.connect(endpoint(address, port), error);
        if (!error) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

// ---- ServerProcess ------------------------------------------------------------------------------

ServerProcess::ServerProcess() : binary_(RAMPART_BINARY) {}

ServerProcess::ServerProcess(std::filesystem::path binary) : binary_(std::move(binary)) {}

void ServerProcess::start(std::vector<std::string> args, Environment env,
                          std::chrono::milliseconds readyTimeout) {
    if (process_.running()) throw HarnessError("ServerProcess::start: already running");
    const auto portFile = dir_ / "port";
    std::error_code ignored;
    std::filesystem::remove(portFile, ignored);
    port_ = 0;
    if (!env.contains("RAMPART_DATA_DIR")) {
        if (!defaultDataDir_) defaultDataDir_.emplace();
        env["RAMPART_DATA_DIR"] = defaultDataDir_->path().string();
    }
    dataDirPath_ = env["RAMPART_DATA_DIR"];

    std::vector<std::string> argv = {binary_.string(), "serve",       "--listen",
                                     "127.0.0.1:0",    "--port-file", portFile.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = startProcess(argv, env, dir_.path());

    const auto deadline = Clock::now() + readyTimeout;
    for (;;) {
        // The server renames the file into place, so whatever is there is complete.
        const std::string text = readFile(portFile);
        if (!text.empty()) {
            char* end = nullptr;
            const long value = std::strtol(text.c_str(), &end, 10);
            if (value <= 0 || value > 65535 || std::string_view(end) != "\n") {
                process_.stop(2s);
                throw HarnessError(binary_.filename().string() + " wrote a malformed port file: '" + text +
                                   "'\nstderr:\n" + stderrText());
            }
            port_ = static_cast<std::uint16_t>(value);
            return;
        }
        if (!process_.running()) {
            throw HarnessError(binary_.filename().string() + " exited with status " +
                               std::to_string(*process_.exitStatus()) +
                               " before writing its port file\ncommand: " + describeCommand(argv) +
                               "\nstderr:\n" + stderrText());
        }
        if (Clock::now() >= deadline) {
            process_.stop(2s);
            throw HarnessError(binary_.filename().string() + " wrote no port file within " +
                               std::to_string(readyTimeout.count()) +
                               " ms\ncommand: " + describeCommand(argv) + "\nstderr:\n" + stderrText());
        }
        std::this_thread::sleep_for(kPollInterval);
    }
}

std::string ServerProcess::stdoutText() const {
    return readFile(dir_ / "stdout.log");
}
std::string ServerProcess::stderrText() const {
    return readFile(dir_ / "stderr.log");
}

// ---- HTTP clients -------------------------------------------------------------------------------

std::optional<std::string> Response::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (equalsIgnoreCase(key, name)) return value;
    }
    return std::nullopt;
}

std::vector<std::string> Response::headerValues(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : headers) {
        if (equalsIgnoreCase(key, name)) values.push_back(value);
    }
    return values;
}

Response request(std::uint16_t port, std::string_view method, std::string_view target, const Headers& headers,
                 std::string_view body, const RequestOptions& options) {
    auto req = buildRequest(method, target, headers, body, options);
    return runToEnd<Response>([&](asio::io_context& io) { return plainCall(io, port, req, options); });
}

Response requestTls(std::uint16_t port, std::string_view method, std::string_view target,
                    const Headers& headers, std::string_view body, ssl::context& tls,
                    const RequestOptions& options) {
    auto req = buildRequest(method, target, headers, body, options);
    return runToEnd<Response>([&](asio::io_context& io) { return tlsCall(io, port, req, tls, options); });
}

std::string sendRaw(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout) {
    return runToEnd<std::string>([&](asio::io_context& io) { return rawCall(io, port, bytes, timeout); });
}

// ---- SlowClient ---------------------------------------------------------------------------------

namespace detail {

// Shared between the test's thread and the client's I/O thread.
struct SlowClientState {
    mutable std::mutex mutex;
    std::condition_variable changed;
    bool closed = false;
    std::size_t bytesSent = 0;
    std::string received;
    std::string connectError;
    Clock::time_point connectedAt;
    Clock::time_point closedAt;

    void markClosed() {
        {
            std::lock_guard lock(mutex);
            if (closed) return;
            closed = true;
            closedAt = Clock::now();
        }
        changed.notify_all();
    }
};

}  // namespace detail

namespace {

using detail::SlowClientState;

asio::awaitable<void> readUntilClosed(std::shared_ptr<tcp::socket> socket,
                                      std::shared_ptr<SlowClientState> state) {
    char chunk[4096];
    for (;;) {
        auto [readError, n] = co_await socket->async_read_some(asio::buffer(chunk), kNoThrow);
        if (n > 0) {
            std::lock_guard lock(state->mutex);
            state->received.append(chunk, n);
        }
        if (readError) {
            state->markClosed();
            co_return;
        }
    }
}

asio::awaitable<void> trickle(std::shared_ptr<SlowClientState> state, std::uint16_t port,
                              std::chrono::milliseconds interval, std::string payload) {
    auto executor = co_await asio::this_coro::executor;
    auto socket = std::make_shared<tcp::socket>(executor);
    auto [connectError] = co_await socket->async_connect(loopback(port), kNoThrow);
    if (connectError) {
        {
            std::lock_guard lock(state->mutex);
            state->connectError = connectError.message();
        }
        state->changed.notify_all();
        co_return;
    }
    {
        std::lock_guard lock(state->mutex);
        state->connectedAt = Clock::now();
    }
    asio::co_spawn(executor, readUntilClosed(socket, state), asio::detached);
    asio::steady_timer timer(executor);
    for (std::size_t i = 0;; ++i) {
        const char byte = i < payload.size() ? payload[i] : 'a';
        auto [writeError, n] = co_await asio::async_write(*socket, asio::buffer(&byte, 1), kNoThrow);
        if (writeError) {
            state->markClosed();
            co_return;
        }
        {
            std::lock_guard lock(state->mutex);
            ++state->bytesSent;
            if (state->closed) co_return;
        }
        timer.expires_after(interval);
        co_await timer.async_wait(kNoThrow);
    }
}

}  // namespace

SlowClient::SlowClient(std::uint16_t port, std::chrono::milliseconds interval, std::string payload)
    : state_(std::make_shared<detail::SlowClientState>()), io_(std::make_unique<asio::io_context>()) {
    asio::co_spawn(*io_, trickle(state_, port, interval, std::move(payload)), asio::detached);
    thread_ = std::thread([io = io_.get()] { io->run(); });
}

SlowClient::~SlowClient() {
    io_->stop();
    thread_.join();
    io_.reset();  // destroys the suspended coroutines, which closes the socket
}

bool SlowClient::waitClosed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_->mutex);
    state_->changed.wait_for(lock, timeout, [&] { return state_->closed || !state_->connectError.empty(); });
    return state_->closed;
}

bool SlowClient::closed() const {
    std::lock_guard lock(state_->mutex);
    return state_->closed;
}

std::optional<std::chrono::milliseconds> SlowClient::closedAfter() const {
    std::lock_guard lock(state_->mutex);
    if (!state_->closed) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(state_->closedAt - state_->connectedAt);
}

std::size_t SlowClient::bytesSent() const {
    std::lock_guard lock(state_->mutex);
    return state_->bytesSent;
}

std::string SlowClient::received() const {
    std::lock_guard lock(state_->mutex);
    return state_->received;
}

std::string SlowClient::connectError() const {
    std::lock_guard lock(state_->mutex);
    return state_->connectError;
}

// ---- TLS ----------------------------------------------------------------------------------------

TestPki makeTestPki(const std::filesystem::path& dir) {
    TestPki pki{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
    const auto caKey = dir / "ca.key";
    const auto csr = dir / "server.csr";
    const auto extensions = dir / "server.ext";
    writeFile(extensions,
              "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
              "basicConstraints = critical, CA:FALSE\n"
              "keyUsage = critical, digitalSignature\n"
              "extendedKeyUsage = serverAuth\n");
    runOrThrow({"openssl",
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-noenc",
                "-keyout",
                caKey.string(),
                "-out",
                pki.ca.string(),
                "-days",
                "7",
                "-subj",
                "/CN=Rampart Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"});
    runOrThrow({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-noenc", "-keyout", pki.key.string(), "-out", csr.string(), "-subj", "/CN=localhost"});
    std::random_device random;
    runOrThrow({"openssl", "x509", "-req", "-in", csr.string(), "-CA", pki.ca.string(), "-CAkey",
                caKey.string(), "-set_serial", std::to_string(random() | 1U), "-days", "7", "-sha256",
                "-extfile", extensions.string(), "-out", pki.cert.string()});
    return pki;
}

ssl::context makeClientTlsContext(const TestPki& pki) {
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(pki.ca.string());
    tls.set_verify_mode(ssl::verify_peer);
    return tls;
}

bool opensslHandshakes(std::uint16_t port, const std::string& protocolFlag, std::chrono::milliseconds timeout,
                       const std::string& address) {
    std::vector<std::string> argv = {
        "openssl",    "s_client",    "-connect", address + ":" + std::to_string(port),
        protocolFlag, "-servername", "localhost"};
    // Debian's OpenSSL 3 refuses TLS 1.0/1.1 itself at the default level; lower it so only the
    // server can say no.
    if (protocolFlag == "-tls1" || protocolFlag == "-tls1_1") {
        argv.insert(argv.end(), {"-cipher", "DEFAULT@SECLEVEL=0"});
    }
    const auto done = runToCompletion(argv, timeout);
    if (done.status != 0) return false;
    const std::string& out = done.output;
    if (out.find("Cipher is (NONE)") != std::string::npos ||
        out.find("no protocols available") != std::string::npos ||
        out.find("handshake failure") != std::string::npos) {
        return false;
    }
    // The session line names the protocol actually agreed, e.g. "New, TLSv1.2, Cipher is ...".
    static const std::map<std::string, std::string> kSessionLine = {
        {"-tls1", "New, TLSv1.0, "},
        {"-tls1_1", "New, TLSv1.1, "},
        {"-tls1_2", "New, TLSv1.2, "},
        {"-tls1_3", "New, TLSv1.3, "},
    };
    const auto expected = kSessionLine.find(protocolFlag);
    const std::string marker = expected != kSessionLine.end() ? expected->second : "Cipher is ";
    return out.find(marker) != std::string::npos && out.find("Cipher is ") != std::string::npos;
}

}  // namespace rampart::testing
