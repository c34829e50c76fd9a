// Child processes for test servers (child_process.hpp): the launcher thread, the async-signal-safe setup
// between fork and exec, and the helpers the servers share.
#include "testing/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

namespace rampart::testing {
namespace {

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
    constexpr char kPrefix[] = "child_process.cpp: child setup failed: ";
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

}  // namespace

std::runtime_error systemError(const std::string& what) {
    return std::runtime_error(what + ": " + std::system_category().message(errno));
}

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

std::uint16_t probeFreePort() {
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
    constexpr std::size_t kLogTailLines = 40;
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
bool reap(pid_t pid, bool wait, int* status) {
    int ignored = 0;
    for (;;) {
        const pid_t reaped = ::waitpid(pid, status != nullptr ? status : &ignored, wait ? 0 : WNOHANG);
        if (reaped == pid) return true;
        if (reaped == 0) return false;
        if (errno == EINTR) continue;
        return errno == ECHILD;  // someone else reaped it: gone all the same
    }
}

pid_t spawnChild(const std::vector<std::string>& arguments, const std::vector<std::string>& environment,
                 const std::filesystem::path& workingDirectory, const std::filesystem::path& output,
                 const ChildAccount& account) {
    std::vector<char*> argv;
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& variable : environment) envp.push_back(const_cast<char*>(variable.c_str()));
    envp.push_back(nullptr);

    FileDescriptor input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    FileDescriptor log(::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (input.get() < 0 || log.get() < 0) throw systemError("open " + output.string());
    const std::string directory = workingDirectory.string();
    const ChildSetup setup{
        argv.data(),          envp.data(),        directory.c_str(), input.get(), log.get(),
        ::getpid(),           account.switchUser, account.uid,       account.gid, account.groups.data(),
        account.groups.size()};
    const pid_t child = Launcher::instance().run([&setup]() -> pid_t {
        const pid_t pid = ::fork();
        if (pid == 0) runChild(setup);
        return pid;
    });
    if (child < 0) throw systemError("fork");
    return child;
}

}  // namespace rampart::testing
