// The external worker API through the real binary: a worker leases a job, beats, reports progress the
// owner sees, and completes it; failures retry or end the job; a cancel reaches the worker through its
// heartbeat; nobody but workers may lease; another worker cannot report on the job (404); bodies are
// strict. The in-process workers are off (jobs.run_workers), so the jobs wait for these workers.
#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;

// The pointers of a problem document's "errors".
std::vector<std::string> pointers(const Response& r) {
    std::vector<std::string> out;
    auto body = parse(r);
    if (const auto* errors = body.if_contains("errors"); errors && errors->is_array())
        for (const auto& error : errors->get_array())
            if (error.is_object()) out.push_back(str(error.get_object(), "pointer"));
    return out;
}

class WorkerApiTest : public ::testing::Test {
  protected:
    void SetUp() override {
        secrets_ = {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey)};
        // Three queues: default; reports; internal, which external workers may not lease from.
        writeFile(dir_ / "queues.toml", R"([jobs]
queues = ["default", "reports", "internal"]
[jobs.queue.internal]
external_workers = false
)");
        Environment env = apiServerEnvironment(dir_);
        env["RAMPART_JOBS__RUN_WORKERS"] = "false";
        env["RAMPART_LOG_LEVEL"] = "debug";
        server_.start({"--config", (dir_ / "queues.toml").string()}, env);
        admin_ = login("admin", kAdminPassword);
        createUser("alice", "user");
        createUser("robot", "worker");
        createUser("rival", "worker");
        alice_ = login("alice", kUserPassword);
        robot_ = login("robot", kUserPassword);
        rival_ = login("rival", kUserPassword);
    }

    // Nothing handled as a secret may appear in what the server printed.
    void TearDown() override {
        server_.stop();
        expectNoSecretsIn(server_, secrets_);
    }

    Response call(std::string_view method, std::string_view target, const std::string& bearer,
                  std::string_view body = {}) {
        return apiCall(server_.port(), method, target, bearer, body);
    }
    Response post(std::string_view target, const std::string& bearer, const json::object& body) {
        return call("POST", target, bearer, json::serialize(body));
    }

    std::string login(std::string_view username, std::string_view password) {
        auto r = post("/api/v1/auth/login", {}, {{"username", username}, {"password", password}});
        EXPECT_EQ(r.status, 200) << r.body;
        auto body = parse(r);
        secrets_.push_back(str(body, "access_token"));
        secrets_.push_back(str(body, "refresh_token"));
        return str(body, "access_token");
    }

    void createUser(std::string_view username, std::string_view role) {
        auto r = post("/api/v1/users", admin_,
                      {{"username", username}, {"password", kUserPassword}, {"role", role}});
        ASSERT_EQ(r.status, 201) << r.body;
    }

    // A personal API token of `owner` with `scopes`; empty when refused.
    std::string token(const std::string& owner, std::vector<std::string> scopes, int* status = nullptr) {
        json::array list;
        for (auto& scope : scopes) list.emplace_back(scope);
        auto r = post("/api/v1/tokens", owner, {{"name", "t"}, {"scopes", list}});
        if (status) *status = r.status;
        auto value = str(parse(r), "token");
        if (!value.empty()) secrets_.push_back(value);
        return value;
    }

    std::string submit(const json::object& args = {{"n", 1}}, std::string_view task = "echo") {
        auto r = post("/api/v1/jobs", alice_, {{"task", task}, {"args", args}});
        EXPECT_EQ(r.status, 201) << r.body;
        return str(parse(r), "id");
    }

    json::object lease(const std::string& worker, int max = 10, int seconds = 60) {
        auto r = post("/api/v1/worker/lease", worker,
                      {{"queues", json::array{"default"}}, {"max", max}, {"lease_seconds", seconds}});
        EXPECT_EQ(r.status, 200) << r.body;
        return parse(r);
    }

    // Leases what is queued and returns the lease id under which `id` was leased (empty: it was not).
    std::string leaseJob(const std::string& worker, const std::string& id) {
        const auto leased = lease(worker, 100);  // (a local: the loop must not outlive it)
        for (const auto& item : leased.at("jobs").as_array())
            if (str(item.as_object(), "id") == id) return str(item.as_object(), "lease_id");
        return {};
    }

    Response report(const std::string& worker, const std::string& id, std::string_view what,
                    json::object body) {
        return post("/api/v1/worker/jobs/" + id + "/" + std::string(what), worker, body);
    }

    json::object jobAsOwner(const std::string& id) {
        auto r = call("GET", "/api/v1/jobs/" + id, alice_);
        EXPECT_EQ(r.status, 200) << r.body;
        return parse(r);
    }

    TempDir dir_;
    ServerProcess server_;
    std::vector<std::string> secrets_;
    std::string admin_, alice_, robot_, rival_;
};

TEST_F(WorkerApiTest, AWorkerLeasesBeatsReportsProgressAndCompletes) {
    auto id = submit({{"greeting", "hello"}});
    auto leased = lease(robot_);
    const auto& jobs = leased.at("jobs").as_array();
    ASSERT_EQ(jobs.size(), 1u) << json::serialize(leased);
    const auto& job = jobs[0].as_object();
    EXPECT_EQ(str(job, "id"), id);
    EXPECT_EQ(str(job, "task"), "echo");
    EXPECT_EQ(job.at("args"), (json::object{{"greeting", "hello"}}));
    EXPECT_EQ(str(job, "state"), "running");
    EXPECT_EQ(job.at("attempts").as_int64(), 1);
    EXPECT_FALSE(job.contains("lease_holder")) << "the holder string is never shown";
    const std::string leaseId = str(job, "lease_id");
    EXPECT_EQ(leaseId.size(), 22u);
    EXPECT_TRUE(str(job, "lease_expires").ends_with("Z"));
    EXPECT_TRUE(lease(robot_).at("jobs").as_array().empty()) << "a leased job is not leased again";

    auto beat = report(robot_, id, "heartbeat", {{"lease_id", leaseId}, {"lease_seconds", 120}});
    ASSERT_EQ(beat.status, 200) << beat.body;
    EXPECT_EQ(parse(beat).at("cancel_requested"), false);
    // echo's timeout is 10 s: neither the 60 s lease nor the 120 s beat reaches more than 5 s past it.
    EXPECT_EQ(str(parse(beat), "lease_expires"), str(job, "lease_expires"));

    auto progress =
        report(robot_, id, "progress", {{"lease_id", leaseId}, {"percent", 50}, {"message", "halfway"}});
    EXPECT_EQ(progress.status, 204) << progress.body;
    auto seen = jobAsOwner(id);
    EXPECT_EQ(seen.at("progress").as_int64(), 50);
    EXPECT_EQ(str(seen, "progress_message"), "halfway");
    EXPECT_EQ(str(seen, "state"), "running");

    auto done = report(robot_, id, "complete", {{"lease_id", leaseId}, {"result", {{"echo", "hello"}}}});
    ASSERT_EQ(done.status, 200) << done.body;
    EXPECT_EQ(str(parse(done), "state"), "succeeded");
    seen = jobAsOwner(id);
    EXPECT_EQ(str(seen, "state"), "succeeded");
    EXPECT_EQ(seen.at("result"), (json::object{{"echo", "hello"}}));
    EXPECT_EQ(seen.at("progress").as_int64(), 100);

    auto again = report(robot_, id, "complete", {{"lease_id", leaseId}});
    EXPECT_EQ(again.status, 409) << "its lease ended with the job";
    EXPECT_EQ(str(parse(again), "type"), "urn:rampart:problem:lease-lost");
}

TEST_F(WorkerApiTest, FailuresRetryOrEndTheJobAndACancelReachesTheWorker) {
    auto retried = submit();
    auto leased = lease(robot_, 1);
    auto leaseId = str(leased.at("jobs").as_array().at(0).as_object(), "lease_id");
    auto failed = report(robot_, retried, "fail", {{"lease_id", leaseId}, {"error", "upstream timed out"}});
    ASSERT_EQ(failed.status, 200) << failed.body;
    EXPECT_EQ(str(parse(failed), "state"), "failed");
    EXPECT_FALSE(str(parse(failed), "retry_at").empty());
    EXPECT_EQ(str(jobAsOwner(retried), "error"), "upstream timed out");

    auto given = submit();
    // (The failed job may be due again at once, full jitter allowing a delay of 0, and leased too.)
    auto givenLease = leaseJob(robot_, given);
    ASSERT_FALSE(givenLease.empty());
    auto dead =
        report(robot_, given, "fail", {{"lease_id", givenLease}, {"error", "bad input"}, {"retry", false}});
    ASSERT_EQ(dead.status, 200) << dead.body;
    EXPECT_EQ(str(parse(dead), "state"), "dead");
    EXPECT_EQ(str(jobAsOwner(given), "state"), "dead");

    auto canceled = submit();
    auto cancelLease = leaseJob(robot_, canceled);
    ASSERT_FALSE(cancelLease.empty());
    ASSERT_EQ(call("POST", "/api/v1/jobs/" + canceled + "/cancel", alice_).status, 200);
    auto beat = report(robot_, canceled, "heartbeat", {{"lease_id", cancelLease}});
    ASSERT_EQ(beat.status, 200) << beat.body;
    EXPECT_EQ(parse(beat).at("cancel_requested"), true);
    auto stopped = report(robot_, canceled, "fail", {{"lease_id", cancelLease}, {"error", "canceled"}});
    ASSERT_EQ(stopped.status, 200) << stopped.body;
    EXPECT_EQ(str(parse(stopped), "state"), "canceled");
    EXPECT_EQ(str(jobAsOwner(canceled), "state"), "canceled");
}

TEST_F(WorkerApiTest, OnlyWorkersMayLease) {
    submit();
    const json::object body{{"queues", json::array{"default"}}};
    EXPECT_EQ(post("/api/v1/worker/lease", alice_, body).status, 403) << "a user";
    EXPECT_EQ(post("/api/v1/worker/lease", admin_, body).status, 403) << "an admin: workers only";
    EXPECT_EQ(post("/api/v1/worker/lease", {}, body).status, 401);

    // A user cannot give a token the worker scope at all; an admin can, but the role still decides.
    int status = 0;
    EXPECT_TRUE(token(alice_, {"worker"}, &status).empty());
    EXPECT_EQ(status, 400);
    auto adminWorkerToken = token(admin_, {"worker"});
    ASSERT_FALSE(adminWorkerToken.empty());
    EXPECT_EQ(post("/api/v1/worker/lease", adminWorkerToken, body).status, 403);
    // A worker's token needs the worker scope.
    auto unscoped = token(robot_, {"tokens"});
    ASSERT_FALSE(unscoped.empty());
    EXPECT_EQ(post("/api/v1/worker/lease", unscoped, body).status, 403);
    auto scoped = token(robot_, {"worker"});
    ASSERT_FALSE(scoped.empty());
    auto leased = post("/api/v1/worker/lease", scoped, body);
    EXPECT_EQ(leased.status, 200) << leased.body;
    EXPECT_EQ(parse(leased).at("jobs").as_array().size(), 1u);
    // Workers do nothing else with jobs.
    EXPECT_EQ(call("GET", "/api/v1/jobs", robot_).status, 403);
    EXPECT_EQ(post("/api/v1/jobs", robot_, {{"task", "noop"}}).status, 403);

    // Queues the worker may not lease from, one not configured and one closed to external workers:
    // 403 alike, each named by its pointer, and nothing is leased.
    submit();
    auto refused =
        post("/api/v1/worker/lease", robot_, {{"queues", json::array{"payroll", "default", "internal"}}});
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(str(parse(refused), "type"), "urn:rampart:problem:queue-not-allowed");
    EXPECT_EQ(pointers(refused), (std::vector<std::string>{"/queues/0", "/queues/2"}));
    // A worker token narrowed to one queue leases only there.
    auto reportsOnly = token(robot_, {"worker", "queue:reports"});
    ASSERT_FALSE(reportsOnly.empty());
    EXPECT_EQ(post("/api/v1/worker/lease", reportsOnly, body).status, 403);
    EXPECT_EQ(post("/api/v1/worker/lease", reportsOnly, {{"queues", json::array{"reports"}}}).status, 200);
    EXPECT_EQ(lease(robot_).at("jobs").as_array().size(), 1u) << "the refused calls leased nothing";
}

TEST_F(WorkerApiTest, APausedQueueLeasesNothingUntilResumed) {
    auto id = submit();
    ASSERT_EQ(call("POST", "/api/v1/queues/default/pause", admin_).status, 200);
    EXPECT_TRUE(lease(robot_).at("jobs").as_array().empty());
    ASSERT_EQ(call("POST", "/api/v1/queues/default/resume", admin_).status, 200);
    EXPECT_FALSE(leaseJob(robot_, id).empty());
}

TEST_F(WorkerApiTest, AnotherWorkerCannotReportOnTheJob) {
    auto id = submit();
    auto leased = lease(robot_, 1);
    auto leaseId = str(leased.at("jobs").as_array().at(0).as_object(), "lease_id");
    // The rival, even with the robot's lease id, finds no such job; so does anyone for an unknown id.
    for (std::string_view what : {"heartbeat", "progress", "complete", "fail"}) {
        json::object body{{"lease_id", leaseId}};
        if (what == "progress") body["percent"] = 99;
        if (what == "fail") body["error"] = "sabotage";
        auto r = report(rival_, id, what, body);
        EXPECT_EQ(r.status, 404) << what << ' ' << r.body;
        EXPECT_EQ(report(robot_, "no-such-job", what, body).status, 404) << what;
    }
    auto seen = jobAsOwner(id);
    EXPECT_EQ(str(seen, "state"), "running");
    EXPECT_EQ(seen.at("progress").as_int64(), 0);
    // The robot with a lease id that is not this job's: its lease is lost, as far as it can tell.
    EXPECT_EQ(report(robot_, id, "heartbeat", {{"lease_id", "AAAAAAAAAAAAAAAAAAAAAA"}}).status, 409);
    EXPECT_EQ(report(robot_, id, "complete", {{"lease_id", leaseId}}).status, 200);
}

// A worker that dies: with no in-process workers and nobody leasing, the server itself takes the job
// back when the lease runs out; another worker then gets it, and the dead one's late report is refused.
TEST_F(WorkerApiTest, ADeadWorkersJobIsTakenBackAndLeasedByAnother) {
    auto id = submit();
    auto leased = lease(robot_, 1, 5);
    auto deadLease = str(leased.at("jobs").as_array().at(0).as_object(), "lease_id");
    std::string state = "running";
    for (int i = 0; i < 300 && state == "running"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        state = str(jobAsOwner(id), "state");
    }
    ASSERT_EQ(state, "queued") << "taken back without anyone calling lease";
    EXPECT_EQ(jobAsOwner(id).at("attempts").as_int64(), 1);

    auto again = lease(rival_, 1);
    ASSERT_EQ(again.at("jobs").as_array().size(), 1u);
    const auto& job = again.at("jobs").as_array().at(0).as_object();
    EXPECT_EQ(job.at("attempts").as_int64(), 2);
    EXPECT_EQ(report(robot_, id, "complete", {{"lease_id", deadLease}}).status, 409);
    EXPECT_EQ(report(rival_, id, "complete", {{"lease_id", str(job, "lease_id")}}).status, 200);
    EXPECT_EQ(str(jobAsOwner(id), "state"), "succeeded");
}

TEST_F(WorkerApiTest, BodiesAreStrict) {
    auto id = submit();
    auto unknown = post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"limit", 5}});
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    EXPECT_EQ(pointers(unknown), std::vector<std::string>{"/limit"});
    auto holder = post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"holder", "x"}});
    EXPECT_EQ(holder.status, 400);
    EXPECT_EQ(pointers(post("/api/v1/worker/lease", robot_, {})), std::vector<std::string>{"/queues"});
    EXPECT_EQ(post("/api/v1/worker/lease", robot_, {{"queues", json::array{}}}).status, 400);
    EXPECT_EQ(post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"max", 101}}).status,
              400);
    EXPECT_EQ(post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"lease_seconds", 4}})
                  .status,
              400);
    EXPECT_EQ(call("POST", "/api/v1/worker/lease", robot_, "[]").status, 400);

    auto leased = lease(robot_, 1);
    auto leaseId = str(leased.at("jobs").as_array().at(0).as_object(), "lease_id");
    auto extra = report(robot_, id, "complete", {{"lease_id", leaseId}, {"state", "succeeded"}});
    EXPECT_EQ(extra.status, 400);
    EXPECT_EQ(pointers(extra), std::vector<std::string>{"/state"});
    EXPECT_EQ(pointers(report(robot_, id, "progress", {{"lease_id", leaseId}})),
              std::vector<std::string>{"/percent"});
    EXPECT_EQ(pointers(report(robot_, id, "fail", {{"lease_id", leaseId}})),
              std::vector<std::string>{"/error"});
    EXPECT_EQ(pointers(report(robot_, id, "heartbeat", {})), std::vector<std::string>{"/lease_id"});
    EXPECT_EQ(pointers(report(robot_, id, "heartbeat", {{"lease_id", "not a lease"}})),
              std::vector<std::string>{"/lease_id"});
    EXPECT_EQ(report(robot_, id, "fail", {{"lease_id", leaseId}, {"error", std::string(2001, 'e')}}).status,
              400);
    EXPECT_EQ(str(jobAsOwner(id), "state"), "running") << "no refused report changed the job";
}

// timeout_seconds means for an external worker what it means in-process: the attempt ends with it. A
// worker still busy (and beating) 5 s after the timeout has lost the job, which runs again.
TEST_F(WorkerApiTest, AWorkerPastTheJobsTimeoutLosesItAndTheJobRunsAgain) {
    auto r = post("/api/v1/jobs", alice_, {{"task", "echo"}, {"args", {{"n", 1}}}, {"timeout_seconds", 1}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = str(parse(r), "id");
    const std::string leaseId = leaseJob(robot_, id);
    ASSERT_FALSE(leaseId.empty());
    auto beat = report(robot_, id, "heartbeat", {{"lease_id", leaseId}, {"lease_seconds", 300}});
    ASSERT_EQ(beat.status, 200) << "within the timeout (and its 5 s of grace) the lease holds";
    std::this_thread::sleep_for(std::chrono::milliseconds(6500));
    auto late = report(robot_, id, "heartbeat", {{"lease_id", leaseId}, {"lease_seconds", 300}});
    EXPECT_EQ(late.status, 409) << late.body;
    EXPECT_EQ(str(parse(late), "type"), "urn:rampart:problem:lease-lost");
    EXPECT_EQ(report(robot_, id, "complete", {{"lease_id", leaseId}}).status, 409);
    const std::string again = leaseJob(rival_, id);  // taken back, leased to the next worker
    EXPECT_FALSE(again.empty());
    EXPECT_EQ(jobAsOwner(id).at("attempts").as_int64(), 2);
}

// Long-poll leasing: a lease call with wait_seconds is answered when a job comes, not at its deadline;
// a call still waiting when the server stops is answered at once; and workers count under `worker`.
TEST_F(WorkerApiTest, ALongPollLeaseGetsAJobSubmittedWhileItWaits) {
    Response waited;
    const auto start = std::chrono::steady_clock::now();
    std::thread call([&] {
        waited = post("/api/v1/worker/lease", robot_,
                      {{"queues", json::array{"default"}}, {"max", 5}, {"wait_seconds", 25}});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto id = submit();
    call.join();
    ASSERT_EQ(waited.status, 200) << waited.body;
    const auto jobs = parse(waited).at("jobs").as_array();
    ASSERT_EQ(jobs.size(), 1u) << waited.body;
    EXPECT_EQ(str(jobs[0].as_object(), "id"), id);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20))
        << "the submit woke the call; the 25 s deadline did not end it";
    // A worker account is counted under its own policy, not a person's.
    const std::string policy = waited.header("RateLimit-Policy").value_or("");
    EXPECT_NE(policy.find("\"worker\""), std::string::npos) << policy;

    // Nothing comes: the call ends at its deadline, with no job and a 200.
    auto empty =
        post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"wait_seconds", 1}});
    ASSERT_EQ(empty.status, 200) << empty.body;
    EXPECT_TRUE(parse(empty).at("jobs").as_array().empty());

    for (int bad : {-1, 31}) {
        auto refused =
            post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"wait_seconds", bad}});
        EXPECT_EQ(refused.status, 400) << refused.body;
        EXPECT_EQ(pointers(refused), std::vector<std::string>{"/wait_seconds"});
    }
}

TEST_F(WorkerApiTest, WaitingLeaseCallsAreAnsweredAtOnceWhenTheServerStops) {
    Response waited;
    std::thread call([&] {
        waited =
            post("/api/v1/worker/lease", robot_, {{"queues", json::array{"default"}}, {"wait_seconds", 30}});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto start = std::chrono::steady_clock::now();
    server_.signal(SIGTERM);
    call.join();
    EXPECT_EQ(waited.status, 200) << waited.body;
    EXPECT_TRUE(parse(waited).at("jobs").as_array().empty()) << waited.body;
    EXPECT_EQ(server_.stop(std::chrono::seconds(20)), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8))
        << "neither the 30 s wait nor the 10 s shutdown grace held the stop";
}

}  // namespace
}  // namespace rampart::testing
