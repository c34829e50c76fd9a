// The test PostgreSQL server of postgres_server.hpp: initdb, a postgres child forked and exec'd directly
// (so its PID is ours to signal), readiness by PQping, SQL through libpq.
#include "testing/postgres_server.hpp"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/shm.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "testing/child_process.hpp"
#include "testing/test_certificates.hpp"

namespace rampart::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 30s;
constexpr auto kStopTimeout = 10s;
constexpr auto kPollInterval = 10ms;
// Attempts at a free port: another process may bind the one we probed before postgres does.
constexpr int kStartAttempts = 5;
constexpr const char* kSettingsFile = "rampart_test.conf";

struct ConnectionDeleter {
    void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
};
using Connection = std::unique_ptr<PGconn, ConnectionDeleter>;
using Result = std::unique_ptr<PGresult, ResultDeleter>;

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

    if (options_.tls) writeCertificates();
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
    // Password logins over TCP only, as in production: no trust, and no logins over the Unix socket. With
    // TLS, hostssl alone: a plain connection finds no line and is refused.
    std::ofstream access(dataDirectory() / "pg_hba.conf", std::ios::trunc);
    access << (options_.tls ? "hostssl" : "host") << " all all 127.0.0.1/32 scram-sha-256\n";
    if (!configuration.flush() || !access.flush())
        throw std::runtime_error("cannot write the configuration in " + dataDirectory().string());
}

void PostgresServer::writeCertificates() const {
    const auto certificates = makeTestCertificates();
    directory_.write("ca.crt", certificates.caPem, 0644);
    const auto certificate = directory_.write("server.crt", certificates.certificatePem, 0644);
    const auto key = directory_.write("server.key", certificates.keyPem);
    // PostgreSQL refuses a key file that is not its user's (or root's with group access) or that others
    // may read; write() made it 0600.
    for (const auto& path : {certificate, key})
        if (account_.switchUser && ::chown(path.c_str(), account_.uid, account_.gid) != 0)
            throw systemError("chown " + path.string());
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
    if (options_.tls)
        settings += "ssl = on\nssl_cert_file = " + quoteSetting((directory_.path() / "server.crt").string()) +
                    "\nssl_key_file = " + quoteSetting((directory_.path() / "server.key").string()) + "\n";
    const auto path = dataDirectory() / kSettingsFile;
    std::ofstream(path, std::ios::trunc) << settings;
    if (fileSize(path) != settings.size()) throw std::runtime_error("cannot write " + path.string());
    // Created by root when we run as root: the server must read it.
    if (account_.switchUser && ::chown(path.c_str(), account_.uid, account_.gid) != 0)
        throw systemError("chown " + path.string());
}

pid_t PostgresServer::spawn(const std::vector<std::string>& arguments,
                            const std::filesystem::path& output) const {
    // A fixed environment: the server must not depend on the developer's shell (PGDATA, LANG, LC_ALL...).
    const std::vector<std::string> environment{"PATH=" + binDirectory_.string() + ":/usr/bin:/bin",
                                               "LC_ALL=C"};
    return spawnChild(arguments, environment, directory_.path(), output, account_);
}

void PostgresServer::start() {
    if (pid_ > 0) return;
    // The first start picks a free port, and picks again if another process binds it between our probe and
    // postgres's bind. Later starts keep it: restart tests reconnect to the same URL.
    const bool choosePort = port_ == 0;
    for (int attempt = 1;; ++attempt) {
        if (choosePort) {
            port_ = probeFreePort();
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
