// Tests of the test PostgreSQL server (postgres_server.hpp): it starts, takes passwords over TCP only, hands
// out empty databases, restarts on its data and port, and leaves no process behind.
#include "testing/postgres_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rampart::testing {
namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Connects as a client would: "" on success, else libpq's message.
std::string connectionError(const std::string& url) {
    PGconn* connection = PQconnectdb(url.c_str());
    const std::string error = PQstatus(connection) == CONNECTION_OK ? "" : PQerrorMessage(connection);
    PQfinish(connection);
    return error;
}

std::string databaseOf(const std::string& url) {
    return url.substr(url.rfind('/') + 1);
}

// Every PostgreSQL process (postmaster, backends, checkpointer...) works in the data directory; a zombie
// has no working directory any more.
int processesWorkingIn(const std::filesystem::path& directory) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::error_code gone;
        if (std::filesystem::read_symlink(entry.path() / "cwd", gone) == directory && !gone) ++count;
    }
    return count;
}

// Tables, views, sequences... outside the system schemas.
constexpr const char* kCountUserRelations =
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";

TEST(PostgresServer, AnswersSelectOneOverTcpWithThePassword) {
    const auto started = Clock::now();
    auto& server = sharedPostgresServer();
    std::printf("[ timing   ] shared server ready after %.0f ms (initdb and start, on first use)\n",
                millisecondsSince(started));

    EXPECT_EQ(server.host(), "127.0.0.1");
    EXPECT_EQ(server.superuserUrl(), "postgresql://rampart_super:" + server.superuserPassword() +
                                         "@127.0.0.1:" + std::to_string(server.port()) + "/postgres");
    PGconn* connection = PQconnectdb(server.superuserUrl().c_str());
    ASSERT_EQ(PQstatus(connection), CONNECTION_OK) << PQerrorMessage(connection);
    PGresult* result = PQexec(connection, "SELECT 1");
    ASSERT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(connection);
    EXPECT_STREQ(PQgetvalue(result, 0, 0), "1");
    PQclear(result);
    PQfinish(connection);

    // inet_server_addr() is NULL over a Unix socket.
    EXPECT_EQ(server.exec("SELECT inet_server_addr()::text, 'two'"), (PostgresRows{{"127.0.0.1/32", "two"}}));
    EXPECT_THROW(server.exec("SELECT * FROM no_such_table"), std::runtime_error);
}

TEST(PostgresServer, RefusesAWrongPasswordAndTakesARolesOwn) {
    auto& server = sharedPostgresServer();
    EXPECT_THAT(connectionError(server.url(PostgresServer::kSuperuser, "wrong", "postgres")),
                ::testing::HasSubstr("password authentication failed"));

    // Unique per run, so that --gtest_repeat works on the shared server.
    static int run = 0;
    const std::string role = "tester_" + std::to_string(++run);
    const std::string password = "p@ss:w/rd %'\"?#";  // every part of it must be percent-encoded
    server.createRole(role, password);
    EXPECT_EQ(connectionError(server.url(role, password, "postgres")), "");
    EXPECT_THAT(connectionError(server.url(role, "p@ss", "postgres")),
                ::testing::HasSubstr("password authentication failed"));

    server.createRole(role + "_nologin", password, false);
    EXPECT_THAT(connectionError(server.url(role + "_nologin", password, "postgres")),
                ::testing::HasSubstr("not permitted to log in"));
}

TEST(PostgresServer, FreshDatabaseUrlsAreDistinctAndEmpty) {
    auto& server = sharedPostgresServer();
    const auto started = Clock::now();
    const std::string first = freshDatabaseUrl();
    std::printf("[ timing   ] freshDatabaseUrl() %.0f ms\n", millisecondsSince(started));

    // From several threads at once, as a parallel suite would.
    std::vector<std::string> urls(4);
    std::vector<std::thread> threads;
    const auto concurrent = Clock::now();
    for (std::size_t i = 0; i < urls.size(); ++i)
        threads.emplace_back([&urls, i] { urls[i] = freshDatabaseUrl(); });
    for (auto& thread : threads) thread.join();
    std::printf("[ timing   ] %zu more from %zu threads in %.0f ms\n", urls.size(), urls.size(),
                millisecondsSince(concurrent));
    urls.push_back(first);
    EXPECT_EQ(std::set<std::string>(urls.begin(), urls.end()).size(), urls.size());

    server.exec("CREATE TABLE only_in_first (id int)", databaseOf(first));
    EXPECT_EQ(server.exec(kCountUserRelations, databaseOf(first)), (PostgresRows{{"1"}}));
    for (std::size_t i = 0; i + 1 < urls.size(); ++i) {
        EXPECT_EQ(connectionError(urls[i]), "");
        EXPECT_EQ(server.exec(kCountUserRelations, databaseOf(urls[i])), (PostgresRows{{"0"}})) << urls[i];
    }
}

TEST(PostgresServer, StopThenStartKeepsTheDataAndThePort) {
    auto started = Clock::now();
    PostgresServer server;
    std::printf("[ timing   ] own server: initdb and start %.0f ms\n", millisecondsSince(started));
    const auto port = server.port();
    const auto url = server.superuserUrl();
    server.exec("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('before the restart')");

    started = Clock::now();
    server.stop();
    std::printf("[ timing   ] stop %.0f ms\n", millisecondsSince(started));
    EXPECT_EQ(server.pid(), -1);
    EXPECT_NE(connectionError(url), "");
    server.stop();  // idempotent

    {
        // Someone else took the port meanwhile: a restart keeps its port, so it fails and says why.
        const int squatter = ::socket(AF_INET, SOCK_STREAM, 0);
        // The stopped server's side of a closed connection may linger in TIME_WAIT on the port; that
        // must not keep the squatter out (a listener on it would: that is what PostgreSQL meets).
        const int reuse = 1;
        ASSERT_EQ(::setsockopt(squatter, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse), 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        ASSERT_EQ(::bind(squatter, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        ASSERT_EQ(::listen(squatter, 1), 0);
        EXPECT_THAT([&] { server.start(); },
                    ::testing::ThrowsMessage<std::runtime_error>(::testing::HasSubstr("which is taken")));
        EXPECT_EQ(server.pid(), -1);
        ::close(squatter);
    }

    started = Clock::now();
    server.start();
    std::printf("[ timing   ] start again %.0f ms\n", millisecondsSince(started));
    EXPECT_EQ(server.port(), port);
    EXPECT_EQ(server.superuserUrl(), url);
    EXPECT_EQ(server.exec("SELECT value FROM kept"), (PostgresRows{{"before the restart"}}));
}

TEST(PostgresServer, KillLeavesNoProcessAndStartRecovers) {
    PostgresServer server;
    server.exec("CREATE TABLE committed (n int); INSERT INTO committed VALUES (1)");
    const pid_t pid = server.pid();
    ASSERT_GT(pid, 0);
    EXPECT_GE(processesWorkingIn(server.dataDirectory()), 5);  // postmaster, checkpointer, walwriter...

    server.kill();
    EXPECT_EQ(server.pid(), -1);
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(processesWorkingIn(server.dataDirectory()), 0);  // the backends went with it
    server.kill();                                             // idempotent

    // Crash recovery on the same data directory: what was committed before the SIGKILL is there.
    const auto started = Clock::now();
    server.start();
    std::printf("[ timing   ] start after kill (crash recovery) %.0f ms\n", millisecondsSince(started));
    EXPECT_EQ(server.exec("SELECT count(*) FROM committed"), (PostgresRows{{"1"}}));
}

TEST(PostgresServer, RunsAsAnUnprivilegedUserWhenTestsRunAsRoot) {
    auto& server = sharedPostgresServer();
    std::ifstream status("/proc/" + std::to_string(server.pid()) + "/status");
    std::vector<uid_t> uids;  // real, effective, saved, filesystem
    for (std::string line; std::getline(status, line);) {
        if (!line.starts_with("Uid:")) continue;
        std::istringstream fields(line.substr(4));
        for (uid_t uid = 0; fields >> uid;) uids.push_back(uid);
    }
    ASSERT_EQ(uids.size(), 4u);
    struct stat data {};
    ASSERT_EQ(::stat(server.dataDirectory().c_str(), &data), 0);
    for (const uid_t uid : uids) {
        if (::geteuid() == 0) {
            EXPECT_NE(uid, 0u);
        } else {
            EXPECT_EQ(uid, ::geteuid());
        }
        EXPECT_EQ(uid, data.st_uid);  // postgres insists on owning its data directory
    }
}

}  // namespace
}  // namespace rampart::testing
