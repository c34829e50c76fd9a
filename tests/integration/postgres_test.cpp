// Least privilege on PostgreSQL through the real binary: the owner role migrates and grants, the server runs
// as an app role that does all its work over HTTP yet can neither change the schema nor rewrite the audit
// log; an app role's server on an unmigrated database refuses to start and says why.
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"
#include "core/secret_string.hpp"
#include "obs/audit.hpp"
#include "store/postgres/pg_connection.hpp"
#include "testing/postgres_server.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kOwnerPassword = "owner-Pw-3141-tangerine";
constexpr std::string_view kAppPassword = "app-Pw-2718-marigold";
constexpr std::string_view kDatabase = "rampart";
// Generous: the machine is shared; every wait ends as soon as its outcome is there.
constexpr auto kDeadline = 45s;

// What a command-line run of the binary left behind.
struct CommandRun {
    std::optional<int> exitStatus;  // nullopt: still running at the deadline (then killed)
    std::string output;             // stdout and stderr
};

class PostgresLeastPrivilegeTest : public ::testing::Test {
  protected:
    // The DBA's part of docs/deployment-postgresql.md, section 1.
    void SetUp() override {
        database_.createRole("rampart_owner", kOwnerPassword);
        database_.createRole("rampart_app", kAppPassword);
        database_.createDatabase(kDatabase, "rampart_owner");
        database_.exec(
            "ALTER ROLE rampart_app NOINHERIT; "
            "REVOKE ALL ON DATABASE rampart FROM PUBLIC; "
            "GRANT CONNECT ON DATABASE rampart TO rampart_owner, rampart_app");
        secrets_ = {std::string(kOwnerPassword), std::string(kAppPassword), std::string(kAdminPassword),
                    std::string(kUserPassword), std::string(kSecretKey)};
    }

    std::string ownerUrl() const { return database_.url("rampart_owner", kOwnerPassword, kDatabase); }
    std::string appUrl() const { return database_.url("rampart_app", kAppPassword, kDatabase); }

    // Runs `rampart <args>` against `databaseUrl` to its end, in a directory of its own.
    CommandRun runRampart(const std::vector<std::string>& args, const std::string& databaseUrl) {
        const auto directory = dir_ / ("run-" + std::to_string(++runs_));
        std::filesystem::create_directories(directory);
        std::vector<std::string> argv{RAMPART_BINARY};
        argv.insert(argv.end(), args.begin(), args.end());
        // The server's secret key: the audit chain's key derives from it.
        const Environment env{{"RAMPART_DATABASE_URL", databaseUrl},
                              {"RAMPART_DATA_DIR", (directory / "data").string()},
                              {"RAMPART_SECRET_KEY", std::string(kSecretKey)}};
        auto child = startProcess(argv, env, directory);
        CommandRun run;
        run.exitStatus = child.waitExit(kDeadline);
        if (!run.exitStatus) child.stop(2s);
        run.output = readFile(child.stdoutPath()) + readFile(child.stderrPath());
        return run;
    }

    void expectNoSecretsInOutput(const std::string& output) const { expectNoSecretsInText(output, secrets_); }

    Response call(std::string_view method, std::string_view target, const std::string& bearer,
                  std::string_view body = {}) {
        return apiCall(server_.port(), method, target, bearer, body);
    }
    Response post(std::string_view target, const std::string& bearer, const json::object& body) {
        return call("POST", target, bearer, json::serialize(body));
    }

    // Runs `sql` as the app role and returns the SQLSTATE it failed with, or "" if it succeeded.
    std::string sqlstateAsApp(const std::string& sql) const {
        store::pg::BlockingConnection app{SecretString(appUrl())};
        try {
            app.execScript(sql);
        } catch (const store::pg::QueryError& error) {
            return error.sqlstate();
        }
        return "";
    }

    PostgresServer database_;
    TempDir dir_;
    ServerProcess server_;
    std::vector<std::string> secrets_;
    int runs_ = 0;
};

TEST_F(PostgresLeastPrivilegeTest, TheAppRoleServesEverythingButCanNeitherAlterTheSchemaNorRewriteHistory) {
    // The owner migrates and grants (section 2 and 3 of the deployment page, in one command).
    const auto migrate = runRampart({"migrate", "--grant-to", "rampart_app"}, ownerUrl());
    ASSERT_EQ(migrate.exitStatus, 0) << migrate.output;
    EXPECT_NE(migrate.output.find("granted data privileges to rampart_app"), std::string::npos)
        << migrate.output;
    expectNoSecretsInOutput(migrate.output);

    // The server logs in as the app role; with the schema current, start-up runs no DDL.
    Environment env = apiServerEnvironment(dir_);
    env["RAMPART_DATABASE_URL"] = appUrl();
    server_.start({}, env, kDeadline);

    auto login = post("/api/v1/auth/login", {}, {{"username", "admin"}, {"password", kAdminPassword}});
    ASSERT_EQ(login.status, 200) << login.body;
    const std::string admin = str(parse(login), "access_token");
    secrets_.push_back(admin);
    secrets_.push_back(str(parse(login), "refresh_token"));

    auto user =
        post("/api/v1/users", admin, {{"username", "alice"}, {"password", kUserPassword}, {"role", "user"}});
    ASSERT_EQ(user.status, 201) << user.body;
    auto aliceLogin = post("/api/v1/auth/login", {}, {{"username", "alice"}, {"password", kUserPassword}});
    ASSERT_EQ(aliceLogin.status, 200) << aliceLogin.body;
    const std::string alice = str(parse(aliceLogin), "access_token");
    secrets_.push_back(alice);
    secrets_.push_back(str(parse(aliceLogin), "refresh_token"));
    auto token =
        post("/api/v1/tokens", alice, {{"name", "ci"}, {"scopes", json::array{"jobs:read", "jobs:write"}}});
    ASSERT_EQ(token.status, 201) << token.body;
    const std::string apiToken = str(parse(token), "token");
    secrets_.push_back(apiToken);

    auto submitted = post("/api/v1/jobs", apiToken, {{"task", "noop"}});
    ASSERT_EQ(submitted.status, 201) << submitted.body;
    const std::string id = str(parse(submitted), "id");
    std::string state;
    for (const auto deadline = Clock::now() + kDeadline; Clock::now() < deadline;) {
        state = str(parse(call("GET", "/api/v1/jobs/" + id, apiToken)), "state");
        if (state == "succeeded" || state == "dead" || state == "canceled") break;
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(state, "succeeded");

    // What the server appended to the audit log on the way checks out, read by the app role.
    const auto verify = runRampart({"audit", "verify"}, appUrl());
    EXPECT_EQ(verify.exitStatus, 0) << verify.output;
    EXPECT_NE(verify.output.find("audit log intact"), std::string::npos) << verify.output;
    expectNoSecretsInOutput(verify.output);

    // The app role reads the history, and that is all it may do to it.
    {
        store::pg::BlockingConnection app{SecretString(appUrl())};
        EXPECT_GT(app.exec("SELECT count(*) FROM audit_log").int64(0, 0), 0);
    }
    EXPECT_EQ(sqlstateAsApp("UPDATE audit_log SET actor = 'someone else'"), "42501");
    EXPECT_EQ(sqlstateAsApp("DELETE FROM audit_log"), "42501");
    EXPECT_EQ(sqlstateAsApp("TRUNCATE audit_log"), "42501");
    EXPECT_EQ(sqlstateAsApp("CREATE TABLE intruder (x int)"), "42501");
    EXPECT_EQ(sqlstateAsApp("DROP TABLE jobs"), "42501");
    EXPECT_EQ(sqlstateAsApp("ALTER TABLE audit_log DISABLE TRIGGER USER"), "42501");
    // Nor may it declare the keyed rows older than the keyed chain (they would verify as plain SHA-256).
    EXPECT_EQ(sqlstateAsApp("UPDATE audit_head SET keyed_from = 1000000"), "42501");

    server_.stop();
    expectNoSecretsIn(server_, secrets_);
}

// What the app role may do to the audit log is append: a row chained to the head with the plain SHA-256
// anyone can compute, the head moved to match. Without the secret key the row's hash is not the keyed
// chain's, and verify says so.
TEST_F(PostgresLeastPrivilegeTest, AnEventTheAppRoleAppendsWithoutTheKeyIsReportedAsForged) {
    const auto migrate = runRampart({"migrate", "--grant-to", "rampart_app"}, ownerUrl());
    ASSERT_EQ(migrate.exitStatus, 0) << migrate.output;
    Environment env = apiServerEnvironment(dir_);
    env["RAMPART_DATABASE_URL"] = appUrl();
    server_.start({}, env, kDeadline);  // appends server.start, keyed
    server_.stop();
    const auto intact = runRampart({"audit", "verify"}, appUrl());
    ASSERT_EQ(intact.exitStatus, 0) << intact.output;

    {
        store::pg::BlockingConnection app{SecretString(appUrl())};
        app.execScript("BEGIN");
        const auto head = app.exec("SELECT id, hash FROM audit_head FOR UPDATE");
        const std::int64_t id = head.int64(0, 0) + 1;
        const auto previous = head.bytes(0, 1);
        const obs::AuditFields fields{
            "2026-01-01T00:00:00.000000Z", "auth.login", "mallory", "", "", "", "success", "{}"};
        const obs::AuditHash hash = obs::auditRowHash(previous, obs::canonicalAuditContent(fields));
        store::pg::Params row(id, fields.time, fields.action, fields.actor, fields.client, fields.requestId,
                              fields.target, fields.outcome, fields.details);
        row.addBytes(previous).addBytes(hash);
        app.exec(
            "INSERT INTO audit_log (id, time, action, actor, client, request_id, target, outcome, details, "
            "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            std::move(row));
        store::pg::Params moved(id);
        moved.addBytes(hash);
        app.exec("UPDATE audit_head SET id = $1, hash = $2, rows = rows + 1", std::move(moved));
        app.execScript("COMMIT");
    }
    const auto forged = runRampart({"audit", "verify"}, appUrl());
    EXPECT_EQ(forged.exitStatus, 1) << forged.output;
    EXPECT_NE(forged.output.find("forged"), std::string::npos) << forged.output;
    expectNoSecretsInOutput(forged.output);
}

TEST_F(PostgresLeastPrivilegeTest, TheAppRoleCannotStartOnAnUnmigratedSchemaAndSaysSo) {
    Environment env = apiServerEnvironment(dir_);
    env["RAMPART_DATABASE_URL"] = appUrl();
    EXPECT_THROW(server_.start({}, env, kDeadline), HarnessError);
    const auto status = server_.waitExit(kDeadline);
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(*status, 0);
    const std::string stderrText = server_.stderrText();
    EXPECT_NE(stderrText.find("migrate"), std::string::npos) << stderrText;
    EXPECT_NE(stderrText.find("permission"), std::string::npos) << stderrText;
    expectNoSecretsIn(server_, secrets_);
    // Nothing was created on the way.
    const auto tables =
        database_.exec("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", kDatabase);
    EXPECT_EQ(tables.at(0).at(0), "0");
}

}  // namespace
}  // namespace rampart::testing
