// Task types declared in the configuration ([tasks.NAME]) through the real binary: they are listed beside
// the built-ins as runs_on "external"; submits are checked against their schemas; the server's own
// in-process workers never take their jobs (while still running the built-ins of the same queue); a
// worker leases them, optionally naming the types it runs, and a token's task:NAME scopes narrow what it
// may lease; a result that does not fit the type's result_schema is refused and the job stays leased.
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;

class DeclaredTasksTest : public ::testing::Test {
  protected:
    void SetUp() override {
        secrets_ = {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey)};
        writeFile(dir_ / "report-result.json",
                  R"({"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}})");
        writeFile(dir_ / "tasks.toml", R"([tasks."reports.generate"]
description = "A monthly report, made by the reports team's Python workers"
priority = 7
max_attempts = 5
args_schema = { type = "object", required = ["month"], properties = { month = { type = "string", pattern = "^[0-9]{4}-[0-9]{2}$" } } }
result_schema_file = "report-result.json"
[tasks."scrape.page"]
args_schema = '{"type": "object", "properties": {"url": {"type": "string"}}}'
)");
        Environment env = apiServerEnvironment(dir_);
        server_.start({"--config", (dir_ / "tasks.toml").string()}, env);  // in-process workers on
        admin_ = login("admin", kAdminPassword);
        createUser("alice", "user");
        createUser("robot", "worker");
        alice_ = login("alice", kUserPassword);
        robot_ = login("robot", kUserPassword);
    }

    void TearDown() override {
        server_.stop();
        expectNoSecretsIn(server_, secrets_);
    }

    Response post(std::string_view target, const std::string& bearer, const json::object& body) {
        return apiCall(server_.port(), "POST", target, bearer, json::serialize(body));
    }
    Response get(std::string_view target, const std::string& bearer) {
        return apiCall(server_.port(), "GET", target, bearer, {});
    }
    std::string login(std::string_view username, std::string_view password) {
        auto r = post("/api/v1/auth/login", {}, {{"username", username}, {"password", password}});
        EXPECT_EQ(r.status, 200) << r.body;
        const auto body = parse(r);
        secrets_.push_back(str(body, "access_token"));
        secrets_.push_back(str(body, "refresh_token"));
        return str(body, "access_token");
    }
    void createUser(std::string_view username, std::string_view role) {
        auto r = post("/api/v1/users", admin_,
                      {{"username", username}, {"password", kUserPassword}, {"role", role}});
        ASSERT_EQ(r.status, 201) << r.body;
    }
    std::string submit(std::string_view task, const json::object& args) {
        auto r = post("/api/v1/jobs", alice_, {{"task", task}, {"args", args}});
        EXPECT_EQ(r.status, 201) << r.body;
        return str(parse(r), "id");
    }
    json::object job(const std::string& id) { return parse(get("/api/v1/jobs/" + id, alice_)); }

    TempDir dir_;
    ServerProcess server_;
    std::vector<std::string> secrets_;
    std::string admin_, alice_, robot_;
};

TEST_F(DeclaredTasksTest, ListedSubmittedCheckedAndLeftToExternalWorkers) {
    const auto tasks = parse(get("/api/v1/tasks", alice_)).at("items").as_array();
    std::map<std::string, json::object> byName;
    for (const auto& item : tasks) byName[str(item.as_object(), "name")] = item.as_object();
    ASSERT_TRUE(byName.contains("reports.generate")) << json::serialize(tasks);
    EXPECT_EQ(str(byName["reports.generate"], "runs_on"), "external");
    EXPECT_EQ(byName["reports.generate"].at("priority").as_int64(), 7);
    EXPECT_EQ(byName["reports.generate"].at("max_attempts").as_int64(), 5);
    EXPECT_EQ(str(byName["echo"], "runs_on"), "in-process");

    // The declared schema, exactly as for a built-in: 422 with the pointer.
    auto refused =
        post("/api/v1/jobs", alice_, {{"task", "reports.generate"}, {"args", {{"month", "November"}}}});
    EXPECT_EQ(refused.status, 422) << refused.body;
    EXPECT_NE(refused.body.find("/args/month"), std::string::npos) << refused.body;
    auto unknownField = post("/api/v1/jobs", alice_,
                             {{"task", "reports.generate"}, {"args", {{"month", "2026-11"}, {"x", 1}}}});
    EXPECT_EQ(unknownField.status, 422) << unknownField.body;

    const std::string report = submit("reports.generate", {{"month", "2026-11"}});
    const std::string echo = submit("echo", {{"n", 1}});
    EXPECT_EQ(job(report).at("priority").as_int64(), 7) << "the type's priority when the submit names none";
    // The in-process workers run the echo job of the same queue and leave the report alone.
    for (int i = 0; i < 100 && str(job(echo), "state") != "succeeded"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(str(job(echo), "state"), "succeeded");
    EXPECT_EQ(str(job(report), "state"), "queued");

    // A worker that names the types it runs gets only those.
    const std::string scrape = submit("scrape.page", {{"url", "https://example.com/"}});
    auto leased =
        parse(post("/api/v1/worker/lease", robot_,
                   {{"queues", json::array{"default"}}, {"tasks", json::array{"scrape.page"}}, {"max", 10}}));
    ASSERT_EQ(leased.at("jobs").as_array().size(), 1u) << json::serialize(leased);
    EXPECT_EQ(str(leased.at("jobs").as_array()[0].as_object(), "id"), scrape);
    auto unknownType = post("/api/v1/worker/lease", robot_,
                            {{"queues", json::array{"default"}}, {"tasks", json::array{"no.such.type"}}});
    EXPECT_EQ(unknownType.status, 403) << unknownType.body;
    EXPECT_NE(unknownType.body.find("/tasks/0"), std::string::npos) << unknownType.body;

    // The report: a result that does not fit result_schema is refused and the job stays leased.
    leased = parse(post("/api/v1/worker/lease", robot_,
                        {{"queues", json::array{"default"}}, {"tasks", json::array{"reports.generate"}}}));
    ASSERT_EQ(leased.at("jobs").as_array().size(), 1u) << json::serialize(leased);
    const std::string leaseId = str(leased.at("jobs").as_array()[0].as_object(), "lease_id");
    auto bad = post("/api/v1/worker/jobs/" + report + "/complete", robot_,
                    {{"lease_id", leaseId}, {"result", {{"url", 42}}}});
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_NE(bad.body.find("/result/url"), std::string::npos) << bad.body;
    EXPECT_EQ(str(job(report), "state"), "running");
    auto good = post("/api/v1/worker/jobs/" + report + "/complete", robot_,
                     {{"lease_id", leaseId}, {"result", {{"url", "s3://reports/2026-11.pdf"}}}});
    EXPECT_EQ(good.status, 200) << good.body;
    EXPECT_EQ(str(job(report), "state"), "succeeded");
}

TEST_F(DeclaredTasksTest, ATaskScopedTokenLeasesOnlyItsTypes) {
    auto r = post("/api/v1/tokens", robot_,
                  {{"name", "scraper"}, {"scopes", json::array{"worker", "tokens", "task:scrape.page"}}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string scraper = str(parse(r), "token");
    secrets_.push_back(scraper);
    // A narrowed credential cannot mint a token that reaches every type.
    auto wider = post("/api/v1/tokens", scraper, {{"name", "wider"}, {"scopes", json::array{"worker"}}});
    EXPECT_EQ(wider.status, 400) << wider.body;
    // Users lease nothing, so they may not hold task scopes either.
    auto userScope =
        post("/api/v1/tokens", alice_, {{"name", "x"}, {"scopes", json::array{"task:scrape.page"}}});
    EXPECT_EQ(userScope.status, 400) << userScope.body;

    const std::string report = submit("reports.generate", {{"month", "2026-11"}});
    const std::string scrape = submit("scrape.page", {{"url", "https://example.com/"}});
    auto leased =
        parse(post("/api/v1/worker/lease", scraper, {{"queues", json::array{"default"}}, {"max", 10}}));
    ASSERT_EQ(leased.at("jobs").as_array().size(), 1u) << json::serialize(leased);
    EXPECT_EQ(str(leased.at("jobs").as_array()[0].as_object(), "id"), scrape);
    auto outside = post("/api/v1/worker/lease", scraper,
                        {{"queues", json::array{"default"}}, {"tasks", json::array{"reports.generate"}}});
    EXPECT_EQ(outside.status, 403) << outside.body;
    EXPECT_EQ(str(job(report), "state"), "queued");
}

TEST_F(DeclaredTasksTest, ABadDeclarationNeverStartsAServer) {
    writeFile(dir_ / "bad.toml", "[tasks.broken]\nargs_schema = { type = 12 }\n");
    const auto checkDir = dir_ / "check";
    std::filesystem::create_directories(checkDir);
    for (const char* command : {"check", "serve"}) {
        std::vector<std::string> argv = {RAMPART_BINARY, "--config", (dir_ / "bad.toml").string(), command};
        if (std::string_view(command) == "check") argv.push_back("--deploy");
        auto child = startProcess(argv, apiServerEnvironment(dir_), checkDir);
        const auto status = child.waitExit(std::chrono::seconds(10));
        ASSERT_TRUE(status.has_value()) << command;
        EXPECT_NE(*status, 0) << command;
        const std::string output = readFile(child.stdoutPath()) + readFile(child.stderrPath());
        EXPECT_NE(output.find("[tasks.broken]"), std::string::npos) << command << ": " << output;
        EXPECT_NE(output.find("bad.toml"), std::string::npos) << command << ": " << output;
    }
}

}  // namespace
}  // namespace rampart::testing
