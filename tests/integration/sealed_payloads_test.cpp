// Job payloads sealed at rest, through the real binary on SQLite: the database files (and the WAL) hold
// none of a job's args, progress message, result or error, while the API shows them in clear; with
// store.encrypt_payloads off they are plaintext, and turning it on later reads them; `rampart admin keys
// rotate` and `rampart admin reencrypt` leave no payload of an older generation.
#include <filesystem>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;

constexpr std::string_view kArgsMarker = "ARGS-MARKER-4c1d9e";
constexpr std::string_view kProgressMarker = "PROGRESS-MARKER-77ab";
constexpr std::string_view kResultMarker = "RESULT-MARKER-0f3e";
constexpr std::string_view kErrorMarker = "ERROR-MARKER-a5c2";

// Every byte of the database and its WAL and shared-memory files.
std::string databaseBytes(const std::filesystem::path& dataDir) {
    std::string bytes;
    for (const auto& entry : std::filesystem::directory_iterator(dataDir))
        if (entry.path().filename().string().starts_with("rampart.db")) bytes += readFile(entry.path());
    return bytes;
}

class SealedPayloadsTest : public ::testing::Test {
  protected:
    void start(bool encrypt) {
        Environment env = apiServerEnvironment(dir_);
        env["RAMPART_DATA_DIR"] = data_.path().string();
        env["RAMPART_JOBS__RUN_WORKERS"] = "false";  // the test is the worker
        env["RAMPART_STORE__ENCRYPT_PAYLOADS"] = encrypt ? "true" : "false";
        env_ = env;
        server_.start({}, env);
        admin_ = adminAccessToken(server_.port());
        if (!usersMade_) {
            createUser("alice", "user");
            createUser("robot", "worker");
            usersMade_ = true;
        }
        alice_ = login("alice");
        robot_ = login("robot");
    }
    void TearDown() override {
        server_.stop();
        expectNoSecretsIn(server_,
                          {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey)});
    }

    Response post(std::string_view target, const std::string& bearer, const json::object& body) {
        return apiCall(server_.port(), "POST", target, bearer, json::serialize(body));
    }
    std::string login(std::string_view username) {
        auto r = post("/api/v1/auth/login", {}, {{"username", username}, {"password", kUserPassword}});
        EXPECT_EQ(r.status, 200) << r.body;
        return str(parse(r), "access_token");
    }
    void createUser(std::string_view username, std::string_view role) {
        auto r = post("/api/v1/users", admin_,
                      {{"username", username}, {"password", kUserPassword}, {"role", role}});
        ASSERT_EQ(r.status, 201) << r.body;
    }
    json::object job(const std::string& id) {
        auto r = apiCall(server_.port(), "GET", "/api/v1/jobs/" + id, alice_);
        EXPECT_EQ(r.status, 200) << r.body;
        return parse(r);
    }

    // Submits one job that a worker runs with progress to success, and one it fails; returns their ids.
    std::pair<std::string, std::string> runJobs() {
        auto submitted =
            post("/api/v1/jobs", alice_, {{"task", "echo"}, {"args", {{"marker", kArgsMarker}}}});
        EXPECT_EQ(submitted.status, 201) << submitted.body;
        auto failing = post("/api/v1/jobs", alice_, {{"task", "echo"}, {"args", {{"marker", kArgsMarker}}}});
        EXPECT_EQ(failing.status, 201) << failing.body;
        const std::string ok = str(parse(submitted), "id");
        const std::string bad = str(parse(failing), "id");
        auto leased = post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"max", 10}});
        EXPECT_EQ(leased.status, 200) << leased.body;
        const json::object body = parse(leased);
        EXPECT_EQ(body.at("jobs").as_array().size(), 2u) << leased.body;
        for (const auto& item : body.at("jobs").as_array()) {
            const auto& leasedJob = item.as_object();
            EXPECT_EQ(leasedJob.at("args"), (json::object{{"marker", kArgsMarker}}))
                << "the worker reads args";
            const std::string id = str(leasedJob, "id");
            const std::string leaseId = str(leasedJob, "lease_id");
            const std::string base = "/api/v1/worker/jobs/" + id + "/";
            if (id == ok) {
                EXPECT_EQ(post(base + "progress", robot_,
                               {{"lease_id", leaseId}, {"percent", 50}, {"message", kProgressMarker}})
                              .status,
                          204);
                EXPECT_EQ(post(base + "complete", robot_,
                               {{"lease_id", leaseId}, {"result", {{"out", kResultMarker}}}})
                              .status,
                          200);
            } else {
                EXPECT_EQ(post(base + "fail", robot_,
                               {{"lease_id", leaseId}, {"error", kErrorMarker}, {"retry", false}})
                              .status,
                          200);
            }
        }
        return {ok, bad};
    }

    void expectClear(const std::string& ok, const std::string& bad) {
        const auto done = job(ok);
        EXPECT_EQ(str(done, "state"), "succeeded");
        EXPECT_EQ(done.at("args"), (json::object{{"marker", kArgsMarker}}));
        EXPECT_EQ(done.at("result"), (json::object{{"out", kResultMarker}}));
        EXPECT_EQ(str(done, "progress_message"), kProgressMarker);
        const auto dead = job(bad);
        EXPECT_EQ(str(dead, "state"), "dead");
        EXPECT_EQ(str(dead, "error"), kErrorMarker);
    }

    // Whether any marker is in the database files.
    std::vector<std::string_view> markersOnDisk() {
        const std::string bytes = databaseBytes(data_.path());
        EXPECT_FALSE(bytes.empty());
        std::vector<std::string_view> found;
        for (auto marker : {kArgsMarker, kProgressMarker, kResultMarker, kErrorMarker})
            if (bytes.find(marker) != std::string::npos) found.push_back(marker);
        return found;
    }

    int admin(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {RAMPART_BINARY, "admin"};
        argv.insert(argv.end(), args.begin(), args.end());
        TempDir processDir;
        auto child = startProcess(argv, env_, processDir.path());
        const auto status = child.waitExit(30s);
        EXPECT_TRUE(status) << "rampart admin did not exit";
        lastOutput_ = readFile(child.stdoutPath()) + readFile(child.stderrPath());
        return status.value_or(-1);
    }

    TempDir dir_;
    TempDir data_;
    Environment env_;
    ServerProcess server_;
    bool usersMade_ = false;
    std::string admin_, alice_, robot_, lastOutput_;
};

TEST_F(SealedPayloadsTest, TheDatabaseFilesHoldNoPayloadWhileTheApiShowsThemInClear) {
    start(true);
    const auto [ok, bad] = runJobs();
    expectClear(ok, bad);
    EXPECT_EQ(markersOnDisk(), std::vector<std::string_view>{}) << "while the server runs (WAL included)";
    server_.stop();
    EXPECT_EQ(markersOnDisk(), std::vector<std::string_view>{}) << "after the WAL was checkpointed";
}

TEST_F(SealedPayloadsTest, PlaintextFromBeforeReadsOnceSealingIsOnAndReencryptSealsIt) {
    start(false);
    const auto [ok, bad] = runJobs();
    expectClear(ok, bad);
    server_.stop();
    EXPECT_EQ(markersOnDisk().size(), 4u) << "with sealing off the payloads are plaintext";

    start(true);
    expectClear(ok, bad);
    // A rotation, then reencrypt while the server runs: every payload sealed under the new generation.
    ASSERT_EQ(admin({"keys", "rotate"}), 0) << lastOutput_;
    EXPECT_NE(lastOutput_.find("payload key generation 2"), std::string::npos) << lastOutput_;
    ASSERT_EQ(admin({"reencrypt", "--batch", "1"}), 0) << lastOutput_;
    EXPECT_NE(lastOutput_.find("2 re-sealed"), std::string::npos) << lastOutput_;
    expectClear(ok, bad);
    server_.stop();
    // Nothing of the plaintext is left in the files (a large database may keep old row versions in
    // free pages until VACUUM: security.md says so).
    EXPECT_EQ(markersOnDisk(), std::vector<std::string_view>{});
}

}  // namespace
}  // namespace rampart::testing
