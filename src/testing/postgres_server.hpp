// A real PostgreSQL server for tests: initdb into a temporary directory, postgres on a free 127.0.0.1 port
// with password (SCRAM) authentication only (over TLS only, if asked); stopped and removed with the object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "testing/child_process.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::testing {

struct PostgresServerOptions {
    // false (tests): fsync and full_page_writes off, which only matters if the machine crashes, and a
    // test's data does not outlive the test. true (benchmarks): PostgreSQL's defaults.
    // synchronous_commit stays on either way, so that kill() keeps every committed transaction.
    bool durable = false;
    // true: ssl = on with a server certificate for localhost and 127.0.0.1 signed by a test CA (caPath()),
    // and pg_hba.conf takes only hostssl logins, so a connection that works is known to be encrypted.
    bool tls = false;
};

// The rows of the last statement's result, as text; NULL reads as "".
using PostgresRows = std::vector<std::vector<std::string>>;

// The server dies with the test process (PR_SET_PDEATHSIG), whichever thread started it: every fork happens
// on one helper thread that lives as long as the process. Construction, start, stop and kill are for one
// thread at a time; exec and the URL getters may be called from any thread.
class PostgresServer {
  public:
    static constexpr std::string_view kSuperuser = "rampart_super";
    static constexpr std::string_view kHost = "127.0.0.1";

    // Runs initdb and starts the server; returns once it accepts connections. Throws std::runtime_error
    // (with the end of the server's log) if it cannot.
    PostgresServer();
    explicit PostgresServer(PostgresServerOptions options);
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;
    ~PostgresServer();

    // Starts the server again on the same data directory and port (after stop() or kill()) and waits until
    // it accepts connections. Does nothing while it runs.
    void start();
    // Fast shutdown (SIGINT: sessions are cut, the server checkpoints and exits); SIGKILL after 10 s.
    // Idempotent.
    void stop();
    // A crash: SIGKILL, then waits until the server's backends have gone too, so that nothing of it runs
    // when this returns and start() can recover the data directory. Idempotent.
    void kill();

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string host() const { return std::string(kHost); }
    // The postmaster's PID, or -1 while the server is stopped.
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::filesystem::path dataDirectory() const { return directory_.path() / "data"; }
    // The postgres process's stderr, appended to across restarts.
    [[nodiscard]] std::filesystem::path logPath() const { return directory_.path() / "postgres.log"; }
    [[nodiscard]] const std::string& superuserPassword() const { return password_; }
    // The test CA that signed the server's certificate (PEM), for sslrootcert; with tls only.
    [[nodiscard]] std::filesystem::path caPath() const { return directory_.path() / "ca.crt"; }

    // postgresql://USER:PASSWORD@127.0.0.1:PORT/DATABASE, each part percent-encoded.
    [[nodiscard]] std::string url(std::string_view user, std::string_view password,
                                  std::string_view database) const;
    [[nodiscard]] std::string superuserUrl(std::string_view database = "postgres") const;

    // Runs `sql` (one statement or several separated by ';') as the superuser on a new connection and
    // returns the last result's rows. Throws std::runtime_error with PostgreSQL's message on failure.
    PostgresRows exec(std::string_view sql, std::string_view database = "postgres") const;
    // An empty database (a copy of template0, which nothing can change) owned by `owner`.
    void createDatabase(std::string_view name, std::string_view owner = kSuperuser) const;
    void createRole(std::string_view name, std::string_view password, bool login = true) const;

  private:
    // The Unix account initdb and postgres run as: the postgres user when the tests run as root
    // (PostgreSQL refuses to run as root), otherwise the current user (switchUser false).
    using Account = ChildAccount;

    enum class Launch { kReady, kPortTaken };

    void initialize();
    void writeCertificates() const;
    void writeSettings() const;
    // Forks and execs `arguments` (an absolute program path first) as account_, with stdout and stderr
    // appended to `output`.
    pid_t spawn(const std::vector<std::string>& arguments, const std::filesystem::path& output) const;
    Launch launch();
    void throwWithLog(const std::string& what, std::uintmax_t logOffset) const;
    void releaseSharedMemory() const;

    TempDirectory directory_;  // first: removed only after the server has stopped
    PostgresServerOptions options_;
    std::filesystem::path binDirectory_;
    Account account_;
    std::string password_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// One server for the whole test process, started on first use and stopped at exit, for suites that only
// need a database of their own.
PostgresServer& sharedPostgresServer();

// Creates a new empty database on the shared server (t_<counter>_<random>) and returns its superuser URL.
// Thread-safe. About 40 ms on an idle machine (connection included), 100 ms on a busy one.
std::string freshDatabaseUrl();

}  // namespace rampart::testing
