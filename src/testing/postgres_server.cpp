// The test PostgreSQL server of postgres_server.hpp: initdb, a postgres child forked and exec'd directly
// (so its PID is ours to signal), readiness by PQping, SQL through libpq.
#include "testing/postgres_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace rampart::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 30s;
constexpr auto kStopTimeout = 10s;
constexpr auto kPollInterval = 10ms;
// Attempts at a free port: another process may bind the one we probed before postgres does.
constexpr int kStartAttempts = 5;
constexpr int kLogTailLines = 40;
constexpr const char* kSettingsFile = "rampart_test.conf";

std::runtime_error systemError(const std::string& what) {
    return std::runtime_error(what + ": " + std::system_category().message(errno));
}

class FileDescriptor {
  public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_;
};

struct ConnectionDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
};
using Connection = std::unique_ptr<PGconn, ConnectionDeleter>;
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Lower-case letters and digits: fine in a URL and in an unquoted SQL identifier.
std::string randomToken(std::size_t length) {
    static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::random_device random;
    std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
    std::string token(length, ' ');
    for (auto& c : token) c = kAlphabet[pick(random)];
    return token;
}

std::string percentEncode(std::string_view text) {
    static constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string encoded;
    for (const unsigned char c : text) {
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            encoded += static_cast<char>(c);
        } else {
            encoded += '%';
            encoded += kHex[c >> 4];
            encoded += kHex[c & 0xF];
        }
    }
    return encoded;
}

std::string quoteIdentifier(std::string_view name) {
    std::string quoted = "\"";
    for (const char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

// An SQL string literal (standard_conforming_strings is on, so a backslash is an ordinary character).
std::string quoteLiteral(std::string_view text) {
    std::string quoted = "'";
    for (const char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    return quoted + "'";
}

// A string in postgresql.conf, where a backslash does escape.
std::string quoteSetting(std::string_view text) {
    std::string quoted = "'";
    for (const char c : text) {
        if (c == '\'' || c == '\\') quoted += c;
        quoted += c;
    }
    return quoted + "'";
}

// The newest server installed the Debian way (/usr/lib/postgresql/<major>/bin), so that an upgrade of the
// postgresql package needs no change here.
std::filesystem::path findBinDirectory() {
    std::filesystem::path best;
    int bestMajor = -1;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
        const std::string name = entry.path().filename().string();
        int major = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), major).ec != std::errc{}) continue;
        if (major > bestMajor && std::filesystem::exists(entry.path() / "bin" / "initdb", error)) {
            bestMajor = major;
            best = entry.path() / "bin";
        }
    }
    if (bestMajor < 0)
        throw std::runtime_error(
            "no PostgreSQL server: no /usr/lib/postgresql/*/bin/initdb (`make deps` installs it)");
    return best;
}

std::uint16_t freePort() {
    FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (socket.get() < 0) throw systemError("socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw systemError("bind");
    socklen_t length = sizeof address;
    if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw systemError("getsockname");
    return ntohs(address.sin_port);
}

std::vector<std::string> readLines(const std::filesystem::path& path) {
    std::ifstream file(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(std::move(line));
    return lines;
}

// The last lines of `path` written after byte `offset`, for error messages.
std::string logTail(const std::filesystem::path& path, std::uintmax_t offset) {
    std::ifstream file(path, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(std::move(line));
    std::string tail;
    const std::size_t first = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
    for (std::size_t i = first; i < lines.size(); ++i) tail += "    " + lines[i] + "\n";
    return tail.empty() ? "    (" + path.string() + " is empty)\n" : tail;
}

std::uintmax_t fileSize(const std::filesystem::path& path) {
    std::error_code missing;
    const auto size = std::filesystem::file_size(path, missing);
    return missing ? 0 : size;
}

std::string describeExit(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// True once `pid` has exited and been reaped; `wait` blocks until then.
bool reap(pid_t pid, bool wait, int* status = nullptr) {
    int ignored = 0;
    for (;;) {
        const pid_t reaped = ::waitpid(pid, status != nullptr ? status : &ignored, wait ? 0 : WNOHANG);
        if (reaped == pid) return true;
        if (reaped == 0) return false;
        if (errno == EINTR) continue;
        return errno == ECHILD;  // someone else reaped it: gone all the same
    }
}

// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not when the process does: a server
// forked from a short-lived thread (a Race helper, an io_context pool thread, the first user of the shared
// server) would be SIGKILLed as soon as that thread ended. So every fork happens on this one thread, which
// lives as long as the process. It is leaked on purpose: it must outlive the shared server's destructor,
// which runs among the static destructors at exit.
class Launcher {
  public:
    static Launcher& instance() {
        static auto* launcher = new Launcher;
        return *launcher;
    }

    pid_t run(std::function<pid_t()> fork) {
        std::packaged_task<pid_t()> task(std::move(fork));
        auto pid = task.get_future();
        {
            std::lock_guard lock(mutex_);
            tasks_.push_back(std::move(task));
        }
        wake_.notify_one();
        return pid.get();
    }

  private:
    Launcher() {
        // The thread blocks every signal, so that none meant for the process lands on it; children
        // unblock them all before exec.
        sigset_t all;
        sigset_t previous;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &previous);
        std::thread([this] { loop(); }).detach();
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }

    [[noreturn]] void loop() {
        for (;;) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return !tasks_.empty(); });
            auto task = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            task();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::packaged_task<pid_t()>> tasks_;
};

// What the child needs, prepared before fork: between fork and exec in a multi-threaded process only
// async-signal-safe calls are allowed (no malloc, hence no getpwnam or initgroups there).
struct ChildSetup {
    char* const* argv;
    char* const* envp;
    const char* workingDirectory;
    int input;
    int output;
    pid_t parent;
    bool switchUser;
    uid_t uid;
    gid_t gid;
    const gid_t* groups;
    std::size_t groupCount;
};

// write() and _exit() are async-signal-safe; the message lands in the log that the parent reports.
[[noreturn]] void failInChild(const char* what) {
    const int error = errno;
    char digits[16];
    int length = 0;
    for (int value = error; length == 0 || value > 0; value /= 10)
        digits[length++] = static_cast<char>('0' + value % 10);
    constexpr char kPrefix[] = "postgres_server.cpp: child setup failed: ";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, kPrefix, sizeof kPrefix - 1);
    written = ::write(STDERR_FILENO, what, std::char_traits<char>::length(what));
    written = ::write(STDERR_FILENO, " errno ", 7);
    while (length > 0) written = ::write(STDERR_FILENO, &digits[--length], 1);
    written = ::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
}

[[noreturn]] void runChild(const ChildSetup& setup) {
    if (::dup2(setup.input, STDIN_FILENO) < 0 || ::dup2(setup.output, STDOUT_FILENO) < 0 ||
        ::dup2(setup.output, STDERR_FILENO) < 0)
        ::_exit(127);
    // Descriptors the test process opened without O_CLOEXEC (listening sockets of a server under test, say)
    // must not live on in postgres. ENOSYS on kernels before 5.9 leaves them open, which is harmless.
    ::close_range(3, ~0U, 0);
    if (setup.switchUser) {
        // EPERM: a user namespace that denies setgroups (rootless containers). The groups stay root's
        // then; PostgreSQL only checks that the user is not root.
        if (::setgroups(setup.groupCount, setup.groups) != 0 && errno != EPERM) failInChild("setgroups");
        if (::setgid(setup.gid) != 0) failInChild("setgid");
        if (::setuid(setup.uid) != 0) failInChild("setuid");
    }
    // After setuid, which clears it. If the test process dies (a crash, a SIGKILL from a CI timeout), the
    // kernel kills the server too; its backends notice the postmaster's death and exit on their own.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) failInChild("prctl");
    if (::getppid() != setup.parent) ::_exit(127);  // the test process died before prctl
    // Signals ignored or blocked by the test process would stay so across exec.
    for (int number = 1; number < NSIG; ++number) ::signal(number, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir(setup.workingDirectory) != 0) failInChild("chdir");
    ::execve(setup.argv[0], setup.argv, setup.envp);
    failInChild("execve");
}

Connection connect(const std::string& url) {
    Connection connection(PQconnectdb(url.c_str()));
    if (!connection) throw std::runtime_error("PQconnectdb: out of memory");
    if (PQstatus(connection.get()) != CONNECTION_OK)
        throw std::runtime_error(std::string("cannot connect to the test PostgreSQL: ") +
                                 PQerrorMessage(connection.get()));
    // NOTICEs ("relation already exists, skipping") would go to stderr; tests have no use for them.
    PQsetNoticeProcessor(
        connection.get(), [](void*, const char*) {}, nullptr);
    return connection;
}

}  // namespace

PostgresServer::PostgresServer() : PostgresServer(PostgresServerOptions{}) {}

PostgresServer::PostgresServer(PostgresServerOptions options) : options_(options) {
    initialize();
    start();
}

PostgresServer::~PostgresServer() {
    stop();
}

void PostgresServer::initialize() {
    binDirectory_ = findBinDirectory();
    password_ = randomToken(32);
    if (::geteuid() == 0) {
        // PostgreSQL refuses to run as root. Debian's postgresql package creates the postgres user; nobody
        // is there on any system.
        for (const char* name : {"postgres", "nobody"}) {
            passwd entry{};
            passwd* found = nullptr;
            std::vector<char> buffer(16384);
            if (::getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr)
                continue;
            account_.switchUser = true;
            account_.uid = entry.pw_uid;
            account_.gid = entry.pw_gid;
            int count = 64;
            account_.groups.resize(count);
            if (::getgrouplist(name, entry.pw_gid, account_.groups.data(), &count) < 0) {
                account_.groups.resize(count);
                ::getgrouplist(name, entry.pw_gid, account_.groups.data(), &count);
            }
            account_.groups.resize(count);
            break;
        }
        if (!account_.switchUser)
            throw std::runtime_error(
                "running as root, and there is neither a postgres nor a nobody user to run "
                "PostgreSQL as");
        // mkdtemp made the directory root's, mode 0700. The server's user must create the data directory
        // in it and its Unix socket (unix_socket_directories points here, away from the system server's
        // /var/run/postgresql), so the directory becomes that user's; root still removes it all at the
        // end. Its parent (/tmp, or $TMPDIR) must be searchable by that user.
        if (::chown(directory_.path().c_str(), account_.uid, account_.gid) != 0)
            throw systemError("chown " + directory_.path().string());
    }

    const auto passwordFile = directory_.write("superuser-password", password_ + "\n");
    if (account_.switchUser && ::chown(passwordFile.c_str(), account_.uid, account_.gid) != 0)
        throw systemError("chown " + passwordFile.string());
    const auto initdbLog = directory_.path() / "initdb.log";
    const pid_t initdb =
        spawn({(binDirectory_ / "initdb").string(), "--pgdata=" + dataDirectory().string(),
               "--username=" + std::string(kSuperuser), "--pwfile=" + passwordFile.string(),
               "--encoding=UTF8", "--locale=C", "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
               // The data directory lives no longer than the test: flushing it to disk would only cost time.
               "--no-sync"},
              initdbLog);
    int status = 0;
    reap(initdb, true, &status);
    std::filesystem::remove(passwordFile);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("initdb failed (" + describeExit(status) + "):\n" + logTail(initdbLog, 0));

    // Our settings live in a file of their own, included last so that they win; start() rewrites it
    // when it picks another port.
    std::ofstream configuration(dataDirectory() / "postgresql.conf", std::ios::app);
    configuration << "\n# rampart::testing::PostgresServer (src/testing/postgres_server.cpp)\ninclude '"
                  << kSettingsFile << "'\n";
    // Password logins over TCP only, as in production: no trust, and no logins over the Unix socket.
    std::ofstream access(dataDirectory() / "pg_hba.conf", std::ios::trunc);
    access << "host all all 127.0.0.1/32 scram-sha-256\n";
    if (!configuration.flush() || !access.flush())
        throw std::runtime_error("cannot write the configuration in " + dataDirectory().string());
}

void PostgresServer::writeSettings() const {
    std::string settings = "listen_addresses = '127.0.0.1'\nport = " + std::to_string(port_) +
                           "\nunix_socket_directories = " + quoteSetting(directory_.path().string()) +
                           "\nmax_connections = 200\nshared_buffers = 128MB\n"
                           // stderr goes to postgres.log, which spawn() opens for the server.
                           "logging_collector = off\n";
    // fsync and full_page_writes only protect against the machine crashing, which a test's data never
    // outlives. synchronous_commit stays on: off, a kill() loses the last commits (they wait in shared
    // memory for the WAL writer), which crash tests must not see; with fsync off it costs nothing
    // measurable (pgbench, 4 clients: the same tps either way).
    if (!options_.durable) settings += "fsync = off\nfull_page_writes = off\n";
    const auto path = dataDirectory() / kSettingsFile;
    std::ofstream(path, std::ios::trunc) << settings;
    if (fileSize(path) != settings.size()) throw std::runtime_error("cannot write " + path.string());
    // Created by root when we run as root: the server must read it.
    if (account_.switchUser && ::chown(path.c_str(), account_.uid, account_.gid) != 0)
        throw systemError("chown " + path.string());
}

pid_t PostgresServer::spawn(const std::vector<std::string>& arguments,
                            const std::filesystem::path& output) const {
    std::vector<char*> argv;
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    // A fixed environment: the server must not depend on the developer's shell (PGDATA, LANG, LC_ALL...).
    std::string path = "PATH=" + binDirectory_.string() + ":/usr/bin:/bin";
    std::string locale = "LC_ALL=C";
    std::array<char*, 3> envp{path.data(), locale.data(), nullptr};

    FileDescriptor input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    FileDescriptor log(::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (input.get() < 0 || log.get() < 0) throw systemError("open " + output.string());
    const std::string workingDirectory = directory_.path().string();
    const ChildSetup setup{argv.data(),
                           envp.data(),
                           workingDirectory.c_str(),
                           input.get(),
                           log.get(),
                           ::getpid(),
                           account_.switchUser,
                           account_.uid,
                           account_.gid,
                           account_.groups.data(),
                           account_.groups.size()};
    const pid_t child = Launcher::instance().run([&setup]() -> pid_t {
        const pid_t pid = ::fork();
        if (pid == 0) runChild(setup);
        return pid;
    });
    if (child < 0) throw systemError("fork");
    return child;
}

void PostgresServer::start() {
    if (pid_ > 0) return;
    // The first start picks a free port, and picks again if another process binds it between our probe and
    // postgres's bind. Later starts keep it: restart tests reconnect to the same URL.
    const bool choosePort = port_ == 0;
    for (int attempt = 1;; ++attempt) {
        if (choosePort) {
            port_ = freePort();
            writeSettings();
        }
        if (launch() == Launch::kReady) return;
        if (!choosePort || attempt == kStartAttempts)
            throwWithLog(
                "PostgreSQL cannot listen on 127.0.0.1:" + std::to_string(port_) + ", which is taken", 0);
    }
}

PostgresServer::Launch PostgresServer::launch() {
    const auto logOffset = fileSize(logPath());
    pid_ = spawn({(binDirectory_ / "postgres").string(), "-D", dataDirectory().string()}, logPath());
    const auto deadline = Clock::now() + kReadyTimeout;
    const std::string ping = superuserUrl() + "?connect_timeout=5";
    for (;;) {
        int status = 0;
        if (reap(pid_, false, &status)) {
            pid_ = -1;
            if (logTail(logPath(), logOffset).find("Address already in use") != std::string::npos)
                return Launch::kPortTaken;
            throwWithLog("PostgreSQL exited while starting (" + describeExit(status) + ")", logOffset);
        }
        // PQping alone could be answered by another server that holds our port; postmaster.pid names the
        // PID and says "ready" once *this* server accepts connections (pg_ctl waits on the same line).
        const auto pidFile = readLines(dataDirectory() / "postmaster.pid");
        const bool ready =
            pidFile.size() >= 8 && pidFile[0] == std::to_string(pid_) && pidFile[7].starts_with("ready");
        if (ready && PQping(ping.c_str()) == PQPING_OK) return Launch::kReady;
        if (Clock::now() > deadline) {
            kill();
            throwWithLog("PostgreSQL did not accept connections within 30 s", logOffset);
        }
        std::this_thread::sleep_for(kPollInterval);
    }
}

void PostgresServer::throwWithLog(const std::string& what, std::uintmax_t logOffset) const {
    throw std::runtime_error(what + "; the end of " + logPath().string() + ":\n" +
                             logTail(logPath(), logOffset));
}

void PostgresServer::stop() {
    if (pid_ <= 0) return;
    // SIGINT is PostgreSQL's fast shutdown: it ends the sessions, checkpoints and exits (SIGTERM would wait
    // for every client to disconnect).
    ::kill(pid_, SIGINT);
    for (const auto deadline = Clock::now() + kStopTimeout; Clock::now() < deadline;) {
        if (reap(pid_, false)) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    kill();
}

void PostgresServer::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    reap(pid_, true);
    pid_ = -1;
    releaseSharedMemory();
}

// A postmaster killed with SIGKILL leaves its small System V segment behind (the interlock that keeps two
// servers off one data directory), and its backends stay attached to it until they notice the death and
// exit, within milliseconds. Waiting until none is attached means nothing of the server runs when kill()
// returns; removing the segment means tests that kill servers leak no kernel memory. (start() would cope
// with the segment left in place, as PostgreSQL does after a real crash.)
void PostgresServer::releaseSharedMemory() const {
    const auto pidFile = readLines(dataDirectory() / "postmaster.pid");
    if (pidFile.size() < 7) return;  // killed before it got that far
    std::istringstream fields(pidFile[6]);
    unsigned long key = 0;
    int id = -1;
    if (!(fields >> key >> id)) return;
    for (const auto deadline = Clock::now() + kStopTimeout;;) {
        shmid_ds segment{};
        // Gone, or the id now belongs to someone else's segment.
        if (::shmctl(id, IPC_STAT, &segment) != 0 || segment.shm_perm.__key != static_cast<key_t>(key))
            return;
        if (segment.shm_nattch == 0) {
            ::shmctl(id, IPC_RMID, nullptr);
            return;
        }
        if (Clock::now() > deadline) return;
        std::this_thread::sleep_for(kPollInterval);
    }
}

std::string PostgresServer::url(std::string_view user, std::string_view password,
                                std::string_view database) const {
    return "postgresql://" + percentEncode(user) + ":" + percentEncode(password) + "@" + std::string(kHost) +
           ":" + std::to_string(port_) + "/" + percentEncode(database);
}

std::string PostgresServer::superuserUrl(std::string_view database) const {
    return url(kSuperuser, password_, database);
}

PostgresRows PostgresServer::exec(std::string_view sql, std::string_view database) const {
    const auto connection = connect(superuserUrl(database));
    const Result result(PQexec(connection.get(), std::string(sql).c_str()));
    const auto status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
        constexpr std::size_t kShown = 200;
        const auto shown =
            sql.size() > kShown ? std::string(sql.substr(0, kShown)) + "..." : std::string(sql);
        throw std::runtime_error("PostgreSQL refused `" + shown + "`: " + PQerrorMessage(connection.get()));
    }
    PostgresRows rows(PQntuples(result.get()));
    for (int row = 0; row < PQntuples(result.get()); ++row)
        for (int column = 0; column < PQnfields(result.get()); ++column)
            rows[row].emplace_back(PQgetvalue(result.get(), row, column));
    return rows;
}

void PostgresServer::createDatabase(std::string_view name, std::string_view owner) const {
    exec("CREATE DATABASE " + quoteIdentifier(name) + " OWNER " + quoteIdentifier(owner) +
         " TEMPLATE template0");
}

void PostgresServer::createRole(std::string_view name, std::string_view password, bool login) const {
    exec("CREATE ROLE " + quoteIdentifier(name) + (login ? " LOGIN" : " NOLOGIN") + " PASSWORD " +
         quoteLiteral(password));
}

PostgresServer& sharedPostgresServer() {
    // Destroyed among the static objects at exit, which stops the server and removes its directory.
    static PostgresServer server;
    return server;
}

std::string freshDatabaseUrl() {
    static std::atomic<std::uint64_t> counter{0};
    auto& server = sharedPostgresServer();
    // The counter keeps names unique within the process; the random part tells runs apart in a log.
    const std::string name = "t_" + std::to_string(++counter) + "_" + randomToken(8);
    server.createDatabase(name);
    return server.superuserUrl(name);
}

}  // namespace rampart::testing
