// A cluster on PostgreSQL through the real binary: two API nodes and two worker nodes on one database, one
// worker SIGKILLed mid-run (proved from the jobs' history, and again by a count the handlers keep
// themselves); and one server that rides out its database being stopped or killed under load.
#include <signal.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "api_client.hpp"
#include "testing/postgres_server.hpp"

namespace rampart::testing {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kDatabase = "rampart_cluster";
// Short leases, so that a dead worker's jobs come back within seconds.
constexpr std::string_view kLeaseSeconds = "2";
// Generous: the machine is shared and slow at times; each wait ends as soon as its outcome is there.
constexpr auto kStartTimeout = 30s;
constexpr auto kBatchTimeout = 60s;

std::int64_t nowMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Polls until `done` holds or `deadline` passes; whether it held.
bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline,
               std::chrono::milliseconds interval = 100ms) {
    const auto end = Clock::now() + deadline;
    for (;;) {
        if (done()) return true;
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(interval);
    }
}

json::object noop() {
    // Attempts to spare: a job whose worker or database went away runs again rather than dying.
    return {{"task", "noop"}, {"args", json::object{}}, {"max_attempts", 5}};
}

// One PostgreSQL server with one migrated database, and the environment every node of it gets.
class PostgresNodesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        postgres_.createDatabase(kDatabase);
        ASSERT_NO_FATAL_FAILURE(migrate());
    }

    [[nodiscard]] std::string databaseUrl() const { return postgres_.superuserUrl(kDatabase); }

    // Every node shares the database and the secret key (so a token from one node works on another);
    // each keeps its own data directory (ServerProcess makes one; workers get `dataDir`).
    [[nodiscard]] Environment nodeEnvironment() const {
        // Thousands of leases and submits through a few callers.
        Environment env = withHighRateLimits(apiServerEnvironment(dir_));
        env["RAMPART_DATABASE_URL"] = databaseUrl();
        env["RAMPART_JOBS__LEASE_SECONDS"] = std::string(kLeaseSeconds);
        return env;
    }

    // `rampart migrate`, once, as a deployment runs it before starting any node.
    void migrate() {
        Environment env = nodeEnvironment();
        env["RAMPART_DATA_DIR"] = (dir_ / "migrate").string();
        auto child = startProcess({RAMPART_BINARY, "migrate"}, env, dir_.path());
        const auto status = child.waitExit(60s);
        ASSERT_EQ(status, 0) << readFile(child.stdoutPath()) << readFile(child.stderrPath());
    }

    // A `rampart worker` node. It is ready once it says it runs (its /metrics listens by then).
    ChildProcess startWorker(Environment env, const TempDir& dir, std::vector<std::string> args = {}) const {
        env["RAMPART_DATA_DIR"] = (dir / "data").string();
        // Its own /metrics port: several workers run on this machine at once.
        if (!env.contains("RAMPART_JOBS__WORKER_METRICS_LISTEN"))
            env["RAMPART_JOBS__WORKER_METRICS_LISTEN"] = "127.0.0.1:" + std::to_string(freePort());
        std::vector<std::string> argv = {RAMPART_BINARY, "worker"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto worker = startProcess(argv, env, dir.path());
        const auto output = [&] { return readFile(worker.stdoutPath()) + readFile(worker.stderrPath()); };
        waitUntil([&] { return output().find("worker running") != std::string::npos || !worker.running(); },
                  kStartTimeout, 20ms);
        if (output().find("worker running") == std::string::npos)
            throw HarnessError("rampart worker did not start:\n" + output());
        return worker;
    }

    static std::string login(std::uint16_t port) { return adminAccessToken(port); }

    static Response call(std::uint16_t port, const std::string& token, std::string_view method,
                         std::string_view target, std::string_view body = {},
                         std::chrono::milliseconds timeout = 10s) {
        return apiCall(port, method, target, token, body, {}, RequestOptions{.timeout = timeout});
    }

    // The rows of `sql`, run as the superuser on the cluster's database.
    [[nodiscard]] PostgresRows sql(std::string_view statement) const {
        return postgres_.exec(statement, kDatabase);
    }
    [[nodiscard]] std::int64_t scalar(std::string_view statement) const {
        return std::stoll(sql(statement).at(0).at(0));
    }

    // "state=count, ..." of every job: what a failed wait shows.
    [[nodiscard]] std::string stateCounts() const {
        std::string text;
        for (const auto& row : sql("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state"))
            text += (text.empty() ? "" : ", ") + row.at(0) + "=" + row.at(1);
        return text.empty() ? "no jobs" : text;
    }

    PostgresServer postgres_;  // first: it outlives every node
    TempDir dir_;
};

// ---- A worker node for some queues only ------------------------------------------------------------

// `rampart worker --queues reports` runs the reports queue's jobs and leaves the others queued; a queue
// name that is not configured stops it before it runs anything.
TEST_F(PostgresNodesTest, AWorkerNodeWithQueuesRunsOnlyThose) {
    Environment env = nodeEnvironment();
    env["RAMPART_JOBS__QUEUES"] = "default,reports";
    ServerProcess api;
    api.start({"--no-workers"}, env, kStartTimeout);
    const std::string token = login(api.port());
    for (const std::string queue : {"default", "reports"})
        for (int i = 0; i < 5; ++i) {
            const auto created = call(api.port(), token, "POST", "/api/v1/jobs",
                                      R"({"task":"noop","args":{},"queue":")" + queue + R"("})");
            ASSERT_EQ(created.status, 201) << created.body;
        }

    TempDir unknownDir;
    Environment unknownEnv = env;
    unknownEnv["RAMPART_DATA_DIR"] = (unknownDir / "data").string();
    auto unknown =
        startProcess({RAMPART_BINARY, "worker", "--queues", "reports,nope"}, unknownEnv, unknownDir.path());
    EXPECT_EQ(unknown.waitExit(30s), 2);
    EXPECT_NE(readFile(unknown.stderrPath()).find(R"(--queues names "nope")"), std::string::npos)
        << readFile(unknown.stderrPath());

    TempDir workerDir;
    ChildProcess worker = startWorker(env, workerDir, {"--queues", "reports"});
    EXPECT_TRUE(waitUntil(
        [&] {
            return scalar("SELECT count(*) FROM jobs WHERE queue = 'reports' AND state = 'succeeded'") == 5;
        },
        30s, 50ms))
        << stateCounts();
    // Long enough for a worker of the default queue to have claimed something, had it run one.
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE queue = 'default' AND state = 'queued'"), 5)
        << stateCounts();
    EXPECT_NE(
        (readFile(worker.stdoutPath()) + readFile(worker.stderrPath())).find("worker running queues reports"),
        std::string::npos);
}

// ---- Metrics of worker nodes, housekeeping once per cluster ----------------------------------------

// `rampart worker` serves /healthz and /metrics on jobs.worker_metrics_listen, with what its own workers
// did; an address that is not loopback stops it at start.
TEST_F(PostgresNodesTest, AWorkerNodeServesItsJobMetricsOnItsLoopbackAddress) {
    const Environment env = nodeEnvironment();
    ServerProcess api;
    api.start({"--no-workers"}, env, kStartTimeout);
    const std::string token = login(api.port());
    for (int i = 0; i < 3; ++i) {
        const auto created = call(api.port(), token, "POST", "/api/v1/jobs", json::serialize(noop()));
        ASSERT_EQ(created.status, 201) << created.body;
    }
    TempDir workerDir;
    Environment workerEnv = env;
    const std::uint16_t metricsPort = freePort();
    workerEnv["RAMPART_JOBS__WORKER_METRICS_LISTEN"] = "127.0.0.1:" + std::to_string(metricsPort);
    ChildProcess worker = startWorker(workerEnv, workerDir);
    EXPECT_TRUE(waitUntil([&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 3; },
                          kBatchTimeout, 50ms))
        << stateCounts();

    EXPECT_EQ(request(metricsPort, "GET", "/healthz").status, 200);
    std::string page;
    // The attempt is counted as the handler returns, the job's end as the store has taken the report:
    // both may come after the store shows the job succeeded.
    EXPECT_TRUE(waitUntil(
        [&] {
            const Response scraped = request(metricsPort, "GET", "/metrics");
            page = scraped.body;
            return scraped.status == 200 &&
                   metric(
                       page,
                       R"(rampart_worker_attempts_total{outcome="succeeded",queue="default",task="noop"})") ==
                       3.0 &&
                   metric(page, R"(rampart_job_end_to_end_seconds_count{queue="default",task="noop"})") ==
                       3.0;
        },
        10s))
        << page;
    EXPECT_EQ(metric(page, R"(rampart_worker_jobs_running{queue="default"})"), 0.0) << page;
    // The worker's own job histograms, each attempt once.
    EXPECT_EQ(metric(page, R"(rampart_job_wait_seconds_count{queue="default",task="noop"})"), 3.0) << page;
    EXPECT_EQ(metric(page, R"(rampart_job_run_seconds_count{queue="default",task="noop"})"), 3.0) << page;
    EXPECT_EQ(metric(page, R"(rampart_job_run_seconds_bucket{queue="default",task="noop",le="+Inf"})"), 3.0)
        << page;
    EXPECT_EQ(metric(page, R"(rampart_job_retries_total{queue="default",task="noop"})"), 0.0) << page;
    // The job API is the API nodes' business.
    EXPECT_EQ(request(metricsPort, "GET", "/api/v1/jobs").status, 404);

    TempDir publicDir;
    Environment publicEnv = env;
    publicEnv["RAMPART_DATA_DIR"] = (publicDir / "data").string();
    publicEnv["RAMPART_JOBS__WORKER_METRICS_LISTEN"] = "0.0.0.0:" + std::to_string(freePort());
    auto refused = startProcess({RAMPART_BINARY, "worker"}, publicEnv, publicDir.path());
    EXPECT_EQ(refused.waitExit(30s), 2);
    EXPECT_NE(readFile(refused.stderrPath()).find("must be a loopback address"), std::string::npos)
        << readFile(refused.stderrPath());
}

// Two API nodes on one database: the queue gauges' task is cluster-wide, so at every turn one node (the
// lease holder) queries the store and reports them, and the other skips its turn and shows none.
TEST_F(PostgresNodesTest, OfTwoServeNodesOnlyTheLeaseHolderRunsTheClusterWideTask) {
    const Environment env = nodeEnvironment();
    ServerProcess first;
    ServerProcess second;
    first.start({"--no-workers"}, env, kStartTimeout);
    second.start({"--no-workers"}, env, kStartTimeout);
    const auto runs = [](const std::string& page, std::string_view outcome) {
        return metric(page, R"(rampart_housekeeping_runs_total{outcome=")" + std::string(outcome) +
                                R"(",task="queue-gauges"})")
            .value_or(0);
    };
    std::string pageOne;
    std::string pageTwo;
    // Two turns of each node (the task runs at start, then every 15 s): the holder renews its lease.
    const bool twoTurns = waitUntil(
        [&] {
            pageOne = request(first.port(), "GET", "/metrics").body;
            pageTwo = request(second.port(), "GET", "/metrics").body;
            return runs(pageOne, "success") + runs(pageOne, "skipped") >= 2 &&
                   runs(pageTwo, "success") + runs(pageTwo, "skipped") >= 2;
        },
        60s, 250ms);
    ASSERT_TRUE(twoTurns) << pageOne << "\n----\n" << pageTwo;
    const bool firstHolds = runs(pageOne, "success") > 0;
    const std::string& holder = firstHolds ? pageOne : pageTwo;
    const std::string& other = firstHolds ? pageTwo : pageOne;
    EXPECT_EQ(runs(other, "success"), 0) << other;
    EXPECT_GE(runs(other, "skipped"), 2) << other;
    EXPECT_EQ(runs(holder, "skipped"), 0) << holder;
    EXPECT_EQ(runs(holder, "failure"), 0) << holder;
    // The cluster's figures come from the holder only.
    EXPECT_TRUE(metric(holder, R"(rampart_queue_paused{queue="default"})").has_value()) << holder;
    EXPECT_FALSE(metric(other, R"(rampart_queue_paused{queue="default"})").has_value()) << other;
    // Per-node tasks run on both.
    EXPECT_TRUE(metric(other, R"(rampart_housekeeping_runs_total{outcome="success",task="lease-recovery"})")
                    .has_value())
        << other;
    EXPECT_EQ(scalar("SELECT count(*) FROM leader_leases WHERE name = 'housekeeping:queue-gauges'"), 1);
}

// Failed logins counted on one node lock the name on the other, for an unknown name exactly as for a
// known one (the counters are in the shared database, not in one process's memory), and the shared rows
// hold keyed hashes of the names, not the names.
TEST_F(PostgresNodesTest, AnUnknownNameLockedOnOneNodeAnswersLikeAKnownOneOnTheOther) {
    const Environment env = nodeEnvironment();
    ServerProcess first;
    ServerProcess second;
    first.start({"--no-workers"}, env, kStartTimeout);
    second.start({"--no-workers"}, env, kStartTimeout);
    const auto loginOn = [](std::uint16_t port, std::string_view name, std::string_view password) {
        return apiCall(port, "POST", "/api/v1/auth/login", {},
                       json::serialize(json::object{{"username", name}, {"password", password}}));
    };
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(loginOn(first.port(), "admin", "wrong password 123").status, 401);
        EXPECT_EQ(loginOn(first.port(), "Nobody-Here", "wrong password 123").status, 401);
    }
    const auto known = loginOn(second.port(), "admin", kAdminPassword);
    const auto unknown = loginOn(second.port(), "nobody-here", "wrong password 123");
    EXPECT_EQ(known.status, 429) << known.body;
    EXPECT_EQ(unknown.status, 429) << "the other node did not see the unknown name's lockout: "
                                   << unknown.body;
    EXPECT_EQ(str(parse(unknown), "detail"), str(parse(known), "detail"));
    EXPECT_EQ(scalar("SELECT count(*) FROM login_name_failures"), 2);
    EXPECT_EQ(
        scalar("SELECT count(*) FROM login_name_failures WHERE name_key ILIKE '%nobody%' OR name_key ILIKE "
               "'%admin%' OR length(name_key) <> 64"),
        0);
}

// A worker's lease call waiting on one node gets a job submitted on another, long before its wait ends.
// (The NOTIFY wakes it within milliseconds; the once-a-second recheck would find it too, so this proves
// the cross-node path ends the wait, and bench/python_worker.sh's submit-to-start figures show which.)
TEST_F(PostgresNodesTest, AWaitingLeaseOnOneNodeIsWokenByASubmitOnAnother) {
    const Environment env = nodeEnvironment();
    ServerProcess submitNode;
    ServerProcess leaseNode;
    submitNode.start({"--no-workers"}, env, kStartTimeout);
    leaseNode.start({"--no-workers"}, env, kStartTimeout);
    const std::string admin = login(submitNode.port());
    auto created = call(submitNode.port(), admin, "POST", "/api/v1/users",
                        json::serialize(json::object{
                            {"username", "robot"}, {"password", kUserPassword}, {"role", "worker"}}));
    ASSERT_EQ(created.status, 201) << created.body;
    auto loggedIn = call(leaseNode.port(), {}, "POST", "/api/v1/auth/login",
                         json::serialize(json::object{{"username", "robot"}, {"password", kUserPassword}}));
    ASSERT_EQ(loggedIn.status, 200) << loggedIn.body;
    const std::string robot = str(parse(loggedIn), "access_token");

    Response waited;
    const auto start = Clock::now();
    std::thread waiting([&] {
        waited = call(leaseNode.port(), robot, "POST", "/api/v1/worker/lease",
                      R"({"queues": ["default"], "wait_seconds": 25})", 30s);
    });
    std::this_thread::sleep_for(500ms);
    auto submitted =
        call(submitNode.port(), admin, "POST", "/api/v1/jobs", R"({"task": "noop", "args": {}})");
    ASSERT_EQ(submitted.status, 201) << submitted.body;
    waiting.join();
    ASSERT_EQ(waited.status, 200) << waited.body;
    const auto jobs = parse(waited).at("jobs").as_array();
    ASSERT_EQ(jobs.size(), 1u) << waited.body;
    EXPECT_EQ(str(jobs[0].as_object(), "id"), str(parse(submitted), "id"));
    EXPECT_LT(Clock::now() - start, 20s) << "the other node's submit woke the call; its deadline did not";
}

// ---- Two API nodes, two worker nodes, one worker SIGKILLed -----------------------------------------

class ClusterTest : public PostgresNodesTest {};

TEST_F(ClusterTest, AKilledWorkersJobsRunAgainOnTheOtherWorkerAndEveryJobSucceedsOnce) {
    constexpr int kBatches = 20;
    constexpr int kBatchSize = 1000;
    constexpr int kJobs = kBatches * kBatchSize;
    // A re-claim must come after the kill; the claim's time is the other worker's clock, read just
    // before its claim, on this same machine: only the kill time's own rounding needs room.
    constexpr std::int64_t kClockToleranceMs = 50;

    Environment env = nodeEnvironment();
    // Enough to keep the store busy, not so many that the two cores only switch between threads.
    env["RAMPART_JOBS__WORKER_CONCURRENCY"] = "32";
    ServerProcess apiA;
    ServerProcess apiB;
    apiA.start({"--no-workers"}, env, kStartTimeout);
    // B after A: A creates the admin and the signing keys, which B then finds in the database.
    apiB.start({"--no-workers"}, env, kStartTimeout);
    TempDir workerDir1;
    TempDir workerDir2;
    ChildProcess worker1 = startWorker(env, workerDir1);
    ChildProcess worker2 = startWorker(env, workerDir2);
    const std::string killedPid = std::to_string(worker1.pid());
    const std::string token = login(apiA.port());

    // Kills worker 1 once half the jobs have succeeded, at a moment it holds running jobs (a worker that
    // happens to hold nothing would prove nothing). A SIGKILL does not stop what the worker has already
    // sent: a report on its way still commits, and with noop jobs everything the worker holds may be in
    // it. So the worker is frozen first (SIGSTOP), its last statements are given time to land, and it is
    // killed only if it still holds jobs then (otherwise it goes on, and the watcher tries again).
    constexpr auto kSettle = 200ms;
    std::atomic<std::int64_t> killedAtMs{0};
    std::atomic<std::int64_t> succeededAtKill{0};
    std::atomic<std::int64_t> heldAtKill{0};
    std::string watcherError;
    const auto started = Clock::now();
    const std::int64_t startedMs = nowMillis();
    std::jthread watcher([&](std::stop_token stop) {
        const std::string query =
            "SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state = 'running' "
            "AND lease_holder LIKE 'worker:%:" +
            killedPid + ":%') FROM jobs";
        const auto end = Clock::now() + 180s;
        try {
            while (!stop.stop_requested() && Clock::now() < end) {
                const auto row = sql(query).at(0);
                const auto succeeded = std::stoll(row.at(0));
                const auto held = std::stoll(row.at(1));
                if (succeeded >= kJobs / 2 && held > 0) {
                    worker1.signal(SIGSTOP);
                    std::this_thread::sleep_for(kSettle);
                    const auto frozen = sql(query).at(0);
                    if (std::stoll(frozen.at(1)) == 0) {
                        worker1.signal(SIGCONT);
                        continue;
                    }
                    killedAtMs = nowMillis();
                    worker1.signal(SIGKILL);
                    succeededAtKill = std::stoll(frozen.at(0));
                    heldAtKill = std::stoll(frozen.at(1));
                    return;
                }
                if (succeeded == kJobs) return;  // too late: the test says so
                std::this_thread::sleep_for(20ms);
            }
        } catch (const std::exception& error) {
            watcherError = error.what();
        }
    });

    // 20 batches, alternately on A and B: a token A issued works on B (the signing keys are shared). The
    // first half noops; the second half 20 ms sleeps, so that once half the jobs have succeeded each worker
    // holds running jobs a frozen worker still holds after the settle (a noop's whole run may fit in the
    // report on its way, and under load the watcher could miss every moment worker 1 held one).
    json::array noops;
    json::array sleeps;
    for (int i = 0; i < kBatchSize; ++i) {
        noops.emplace_back(noop());
        json::object sleep = noop();
        sleep["task"] = "sleep";
        sleep["args"] = json::object{{"seconds", 0.02}};
        sleeps.emplace_back(std::move(sleep));
    }
    const std::string noopBatch = json::serialize(json::object{{"jobs", noops}});
    const std::string sleepBatch = json::serialize(json::object{{"jobs", sleeps}});
    for (int n = 0; n < kBatches; ++n) {
        const std::string& batch = n < kBatches / 2 ? noopBatch : sleepBatch;
        const auto port = n % 2 == 0 ? apiA.port() : apiB.port();
        auto r = call(port, token, "POST", "/api/v1/jobs/batch", batch, kBatchTimeout);
        ASSERT_EQ(r.status, 201) << "batch " << n << " on node " << (n % 2 == 0 ? "A" : "B") << ": "
                                 << r.error << r.body;
        ASSERT_EQ(parse(r).at("items").as_array().size(), static_cast<std::size_t>(kBatchSize));
    }
    const double submitSeconds = secondsSince(started);
    std::cout << "[          ] submitted " << kJobs << " jobs in " << kBatches
              << " batches over 2 API nodes in " << submitSeconds << " s ("
              << static_cast<int>(kJobs / submitSeconds) << " jobs/s)\n";

    watcher.join();
    ASSERT_TRUE(watcherError.empty()) << watcherError;
    ASSERT_NE(killedAtMs.load(), 0) << "worker 1 never held running jobs once half had succeeded ("
                                    << stateCounts() << ")";
    const auto killStatus = worker1.waitExit(10s);
    ASSERT_TRUE(killStatus);
    EXPECT_EQ(*killStatus, 128 + SIGKILL);
    // Held: its busy slots, and jobs whose handlers had returned but whose reports (written in batches)
    // had not been sent.
    std::cout << "[          ] killed worker 1 (pid " << killedPid << ") with " << succeededAtKill
              << " jobs succeeded and " << heldAtKill << " held by it\n";

    const bool allDone = waitUntil(
        [&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == kJobs; }, 120s, 250ms);
    ASSERT_TRUE(allDone) << "not every job succeeded within 120 s of the kill: " << stateCounts();
    EXPECT_TRUE(worker2.running()) << "the surviving worker died";
    EXPECT_TRUE(apiA.running() && apiB.running()) << "an API node died";

    EXPECT_EQ(scalar("SELECT count(*) FROM jobs"), kJobs);
    EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'"), kJobs);
    // Every attempt began with exactly one claim, and every claim names its holder.
    EXPECT_EQ(scalar("SELECT count(*) FROM jobs j WHERE attempts <> (SELECT count(*) FROM job_events e "
                     "WHERE e.job_id = j.id AND e.to_state = 'running')"),
              0);
    EXPECT_EQ(scalar("SELECT count(*) FROM job_events WHERE to_state = 'running' AND (holder IS NULL OR "
                     "holder NOT LIKE 'worker:%')"),
              0);

    // Each job that ran more than once was first claimed by the killed worker, and claimed again only
    // after the kill, by the other one: no job ran on two live workers at once.
    const auto claims =
        sql("SELECT e.job_id, e.holder, e.time FROM job_events e JOIN jobs j ON j.id = e.job_id "
            "WHERE j.attempts > 1 AND e.to_state = 'running' ORDER BY e.job_id, e.id");
    const std::string killedMark = ":" + killedPid + ":";
    std::map<std::string, std::vector<std::pair<std::string, std::int64_t>>> claimsByJob;
    for (const auto& row : claims) claimsByJob[row.at(0)].emplace_back(row.at(1), std::stoll(row.at(2)));
    std::int64_t lastReclaimMs = 0;
    for (const auto& [id, jobClaims] : claimsByJob) {
        ASSERT_GE(jobClaims.size(), 2u) << id;
        EXPECT_NE(jobClaims.front().first.find(killedMark), std::string::npos)
            << id << " ran twice, but the killed worker did not claim it first: " << jobClaims.front().first;
        for (std::size_t i = 1; i < jobClaims.size(); ++i) {
            const auto& [holder, time] = jobClaims[i];
            EXPECT_EQ(holder.find(killedMark), std::string::npos)
                << id << ": claimed again by the dead worker";
            EXPECT_GE(time, killedAtMs - kClockToleranceMs)
                << id << " was claimed again " << killedAtMs - time << " ms before the kill, while "
                << jobClaims.front().first << " was alive";
            lastReclaimMs = std::max(lastReclaimMs, time);
        }
    }
    ASSERT_GE(claimsByJob.size(), 1u)
        << "no job ran again: the kill found worker 1 holding nothing, so it proved nothing";

    // How the cluster did: the jobs the dead worker held, and how long they took to come back.
    const auto back = sql("SELECT count(*), coalesce(min(time), 0), coalesce(max(time), 0) FROM job_events "
                          "WHERE from_state = 'running' AND to_state = 'queued'")
                          .at(0);
    const auto finishedRerun =
        scalar("SELECT coalesce(max(finished), 0) FROM jobs WHERE attempts > 1") - killedAtMs;
    const auto span = sql("SELECT min(created), max(finished) FROM jobs").at(0);
    const std::int64_t firstCreatedMs = std::stoll(span.at(0));
    const std::int64_t lastFinishedMs = std::stoll(span.at(1));
    std::cout << "[          ] " << claimsByJob.size() << " jobs ran again; " << back.at(0)
              << " taken back from the dead worker's leases " << std::stoll(back.at(1)) - killedAtMs << "-"
              << std::stoll(back.at(2)) - killedAtMs << " ms after the kill, claimed again by "
              << lastReclaimMs - killedAtMs << " ms, all succeeded by " << finishedRerun << " ms\n";
    std::cout << "[          ] killed at " << (killedAtMs - startedMs) / 1000.0 << " s; all " << kJobs
              << " succeeded at " << (lastFinishedMs - startedMs) / 1000.0 << " s; two workers ran "
              << succeededAtKill * 1000 / std::max<std::int64_t>(killedAtMs - firstCreatedMs, 1)
              << " jobs/s before the kill, "
              << std::int64_t{kJobs} * 1000 / std::max<std::int64_t>(lastFinishedMs - firstCreatedMs, 1)
              << " jobs/s from the first submit to the last finish\n";
    for (const auto& row : sql("SELECT split_part(holder, ':', 3), count(*) FROM job_events "
                               "WHERE to_state = 'running' GROUP BY 1 ORDER BY 1"))
        std::cout << "[          ] worker pid " << row.at(0) << (row.at(0) == killedPid ? " (killed)" : "")
                  << ": " << row.at(1) << " claims\n";
}

// ---- The handlers' own count: no job runs on two workers at once --------------------------------------

// What the handlers report: an HTTP server in the test process that `http.fetch` jobs call while they
// run. A request for /run/<n> counts job n as running until its response is written (or the caller's
// connection is gone), so two handlers of one job running at the same time show as a count of 2.
class RunCounter {
  public:
    explicit RunCounter(std::chrono::milliseconds hold) : hold_(hold) {
        acceptor_.open(asio::ip::tcp::v4());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen(asio::socket_base::max_listen_connections);
        accepting_ = std::jthread([this](std::stop_token stop) { accept(stop); });
    }
    ~RunCounter() {
        accepting_.request_stop();
        boost::system::error_code ignored;
        // Wakes the blocked accept with a connection of its own.
        asio::ip::tcp::socket poke(io_);
        poke.connect({asio::ip::make_address("127.0.0.1"), port()}, ignored);
        accepting_.join();
        std::lock_guard lock(mutex_);
        connections_.clear();  // joins every connection's thread
    }

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

    struct Counts {
        int mostAtOnce = 0;            // the highest count any one job reached
        std::map<int, int> runs;       // job number -> requests
        std::vector<int> overlapping;  // jobs that reached a count of 2
    };
    [[nodiscard]] Counts counts() const {
        std::lock_guard lock(mutex_);
        return counts_;
    }

  private:
    void accept(const std::stop_token& stop) {
        while (!stop.stop_requested()) {
            asio::ip::tcp::socket socket(io_);
            boost::system::error_code error;
            acceptor_.accept(socket, error);
            if (error || stop.stop_requested()) continue;
            std::lock_guard lock(mutex_);
            connections_.emplace_back([this, socket = std::move(socket)]() mutable { serve(socket); });
        }
    }

    void serve(asio::ip::tcp::socket& socket) {
        boost::system::error_code error;
        std::string request;
        asio::read_until(socket, asio::dynamic_buffer(request), "\r\n\r\n", error);
        if (error) return;
        const auto path = request.substr(0, request.find(' ', 4));  // "GET /run/<n>"
        const auto slash = path.rfind('/');
        if (!path.starts_with("GET /run/") || slash == std::string::npos) return;
        const int job = std::stoi(path.substr(slash + 1));
        {
            std::lock_guard lock(mutex_);
            const int now = ++active_[job];
            ++counts_.runs[job];
            counts_.mostAtOnce = std::max(counts_.mostAtOnce, now);
            if (now > 1) counts_.overlapping.push_back(job);
        }
        std::this_thread::sleep_for(hold_);
        static constexpr std::string_view kResponse =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        asio::write(socket, asio::buffer(kResponse), error);
        std::lock_guard lock(mutex_);
        --active_[job];
    }

    std::chrono::milliseconds hold_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_{io_};
    mutable std::mutex mutex_;
    std::map<int, int> active_;
    Counts counts_;
    std::vector<std::jthread> connections_;
    std::jthread accepting_;  // last: stopped first
};

// Two workers run `http.fetch` jobs whose handlers report to a RunCounter; one worker is SIGKILLed while
// its handlers are mid-request. The handlers' own count never sees one job running twice at once, and
// the jobs the dead worker held run again (after their leases end) and succeed.
TEST_F(ClusterTest, TheHandlersOwnCountNeverSeesOneJobRunningOnTwoWorkersAtOnce) {
    constexpr int kJobs = 256;
    // Each handler stays in its request this long: half the 2 s lease, so that a lease taken back
    // early (or a claim that ignored a live lease) would very likely meet the handler still running.
    RunCounter counter(1000ms);
    Environment env = nodeEnvironment();
    env["RAMPART_JOBS__WORKER_CONCURRENCY"] = "16";
    // Tasks may reach the counter on loopback only because the operator lists it.
    env["RAMPART_EGRESS__ALLOW_DOMAINS"] = "127.0.0.1";
    ServerProcess api;
    api.start({"--no-workers"}, env, kStartTimeout);
    TempDir workerDir1;
    TempDir workerDir2;
    ChildProcess worker1 = startWorker(env, workerDir1);
    ChildProcess worker2 = startWorker(env, workerDir2);
    const std::string token = login(api.port());

    json::array jobs;
    for (int n = 0; n < kJobs; ++n) {
        const std::string url =
            "http://127.0.0.1:" + std::to_string(counter.port()) + "/run/" + std::to_string(n);
        jobs.emplace_back(
            json::object{{"task", "http.fetch"}, {"args", json::object{{"url", url}}}, {"max_attempts", 5}});
    }
    for (std::size_t from = 0; from < jobs.size(); from += 128) {
        json::array part(jobs.begin() + static_cast<std::ptrdiff_t>(from),
                         jobs.begin() + static_cast<std::ptrdiff_t>(from + 128));
        auto r = call(api.port(), token, "POST", "/api/v1/jobs/batch",
                      json::serialize(json::object{{"jobs", std::move(part)}}), kBatchTimeout);
        ASSERT_EQ(r.status, 201) << r.error << r.body;
    }

    // SIGKILL worker 1 while it holds running jobs, a quarter of the way through.
    const std::string killedPid = std::to_string(worker1.pid());
    const std::string held =
        "SELECT count(*) FROM jobs WHERE state = 'running' AND lease_holder LIKE 'worker:%:" + killedPid +
        ":%'";
    const bool busy = waitUntil(
        [&] { return static_cast<int>(counter.counts().runs.size()) >= kJobs / 4 && scalar(held) > 0; }, 60s,
        5ms);
    ASSERT_TRUE(busy) << "worker 1 never held running jobs: " << stateCounts();
    worker1.signal(SIGKILL);
    const auto heldAtKill = scalar(held);
    ASSERT_EQ(worker1.waitExit(10s), 128 + SIGKILL);

    const bool allDone = waitUntil(
        [&] { return scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == kJobs; }, 120s, 250ms);
    // The count first: a double run must show as such, even if it also keeps jobs from ending.
    const auto counts = counter.counts();
    EXPECT_EQ(counts.mostAtOnce, 1) << counts.overlapping.size()
                                    << " jobs ran on two workers at once, the first being job "
                                    << (counts.overlapping.empty() ? -1 : counts.overlapping.front());
    ASSERT_TRUE(allDone) << "not every job succeeded within 120 s of the kill: " << stateCounts();
    EXPECT_EQ(counts.runs.size(), static_cast<std::size_t>(kJobs)) << "every job's handler ran";
    int ranAgain = 0;
    for (const auto& [job, runs] : counts.runs) ranAgain += runs > 1 ? 1 : 0;
    // The dead worker's handlers were mid-request: those jobs ran again, and no others did.
    EXPECT_GE(ranAgain, 1) << "no job ran again, so the kill proved nothing";
    EXPECT_LE(ranAgain, heldAtKill) << "more jobs ran again than the dead worker held";
    std::cout << "[          ] killed worker 1 holding " << heldAtKill << " running jobs; " << ranAgain
              << " jobs ran again; the most handlers of one job at once: " << counts.mostAtOnce << "\n";
}

// ---- One server while its database stops or crashes ------------------------------------------------

enum class Outage { kStop, kKill };

// Where the test stands when a request starts and when it ends. A request that spans a change may get
// either answer; within one phase, exactly one is right.
enum class Phase { kBefore, kGoingDown, kDown, kComingUp, kUp };

std::string_view phaseName(Phase phase) {
    switch (phase) {
        case Phase::kBefore:
            return "before";
        case Phase::kGoingDown:
            return "going down";
        case Phase::kDown:
            return "down";
        case Phase::kComingUp:
            return "coming up";
        case Phase::kUp:
            return "up again";
    }
    return "?";
}

struct Submit {
    Phase started;
    Phase ended;
    Clock::time_point answered;
    int status;  // 0: no response (see error)
    std::string error;
    std::string id;  // on 201
};

class PostgresOutageTest : public PostgresNodesTest {
  protected:
    // What the server logged is the first thing to read when the test fails.
    void TearDown() override {
        if (!HasFailure()) return;
        const std::string log = server_.stderrText();
        constexpr std::size_t kShown = 4000;
        std::cout << "[          ] the end of the server's stderr:\n"
                  << (log.size() > kShown ? log.substr(log.size() - kShown) : log) << '\n';
    }

    void runThroughOutage(Outage outage) {
        constexpr auto kBefore = 2s;
        constexpr auto kDown = 3s;
        constexpr int kSubmitsAfter = 50;  // 201s after the database is back, before the client stops

        ServerProcess& server = server_;
        server.start({}, nodeEnvironment(), kStartTimeout);  // with its in-process workers
        const std::string token = login(server.port());
        const std::string body = json::serialize(noop());
        const auto readyz = [&] { return request(server.port(), "GET", "/readyz").status; };

        std::atomic<Phase> phase{Phase::kBefore};
        std::mutex mutex;
        std::vector<Submit> submits;
        std::atomic<int> createdUp{0};
        std::jthread client([&](std::stop_token stop) {
            while (!stop.stop_requested()) {
                const Phase started = phase.load();
                auto r = call(server.port(), token, "POST", "/api/v1/jobs", body, 30s);
                Submit submit{.started = started,
                              .ended = phase.load(),
                              .answered = Clock::now(),
                              .status = r.status,
                              .error = r.error,
                              .id = {}};
                if (r.status == 201) submit.id = str(parse(r), "id");
                if (r.status == 201 && submit.started == Phase::kUp) ++createdUp;
                {
                    const std::lock_guard lock(mutex);
                    submits.push_back(std::move(submit));
                }
                // Outage answers are instant: a pause keeps the loop from taking a whole core.
                std::this_thread::sleep_for(5ms);
            }
        });

        std::this_thread::sleep_for(kBefore);
        phase = Phase::kGoingDown;
        const auto downAt = Clock::now();
        if (outage == Outage::kStop)
            postgres_.stop();
        else
            postgres_.kill();
        phase = Phase::kDown;
        std::vector<int> readyDown{readyz()};
        std::this_thread::sleep_for(kDown);
        readyDown.push_back(readyz());
        phase = Phase::kComingUp;
        const auto upAt = Clock::now();
        postgres_.start();
        const double restartSeconds = secondsSince(upAt);
        const bool ready = waitUntil([&] { return readyz() == 200; }, 60s);
        const double readySeconds = secondsSince(upAt);
        phase = Phase::kUp;
        const bool submitting = waitUntil([&] { return createdUp >= kSubmitsAfter; }, 60s);
        client.request_stop();
        client.join();
        ASSERT_TRUE(ready) << "/readyz did not answer 200 within 60 s of the database's restart";
        ASSERT_TRUE(submitting) << "submits did not succeed again after the database came back";
        EXPECT_TRUE(server.running()) << "the server died with its database";

        for (const int status : readyDown) EXPECT_EQ(status, 503) << "/readyz while the database is down";
        std::map<std::pair<std::string, int>, int> tally;  // (phase, or "spanning"; status) -> submits
        std::vector<std::string> acknowledged;
        // Wrong answers are collected, not asserted one by one: an outage may see hundreds of submits.
        std::vector<std::string> wrong;
        for (const auto& submit : submits) {
            const bool within = submit.started == submit.ended;
            int expected = 0;  // 0: 201 or 503
            if (within && submit.started == Phase::kDown) expected = 503;
            if (within && (submit.started == Phase::kBefore || submit.started == Phase::kUp)) expected = 201;
            const bool right =
                expected != 0 ? submit.status == expected : submit.status == 201 || submit.status == 503;
            if (!right)
                wrong.push_back(std::to_string(submit.status) +
                                (submit.error.empty() ? "" : " (" + submit.error + ")") + " for a submit " +
                                std::string(phaseName(submit.started)) + " > " +
                                std::string(phaseName(submit.ended)));
            const auto during = submit.started == submit.ended ? std::string(phaseName(submit.started))
                                                               : std::string("spanning");
            ++tally[{during, submit.status}];
            if (submit.status == 201) acknowledged.push_back(submit.id);
        }
        double firstCreatedSeconds = -1;
        for (const auto& submit : submits) {
            if (submit.status == 201 && submit.answered > upAt) {
                firstCreatedSeconds = std::chrono::duration<double>(submit.answered - upAt).count();
                break;
            }
        }
        std::cout << "[          ] " << (outage == Outage::kStop ? "stopped" : "killed") << " PostgreSQL for "
                  << std::chrono::duration<double>(upAt - downAt).count() << " s; restarted in "
                  << restartSeconds << " s; /readyz 200 again " << readySeconds
                  << " s after the restart began; the first 201 after " << firstCreatedSeconds << " s\n";
        std::cout << "[          ] submits:";
        for (const auto& [key, count] : tally)
            std::cout << ' ' << key.first << ' ' << key.second << " x" << count << ';';
        std::cout << '\n';
        std::string shown;
        for (std::size_t i = 0; i < std::min<std::size_t>(wrong.size(), 10); ++i) shown += "\n  " + wrong[i];
        EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << submits.size()
                                   << " submits got a wrong answer (the server must stay up: 201 while the "
                                      "database is up, 503 while it is down), e.g.:"
                                   << shown;
        ASSERT_GT((tally[{"before", 201}]), 0) << "nothing was submitted before the outage";
        ASSERT_GT((tally[{"down", 503}]), 0) << "nothing was submitted during the outage";

        // Every acknowledged job is there and runs to the end, whenever it was acknowledged.
        std::set<std::string> missing(acknowledged.begin(), acknowledged.end());
        ASSERT_EQ(missing.size(), acknowledged.size()) << "ids are unique";
        const bool allDone = waitUntil(
            [&] {
                for (const auto& row : sql("SELECT id FROM jobs WHERE state = 'succeeded'"))
                    missing.erase(row.at(0));
                return missing.empty();
            },
            90s, 250ms);
        EXPECT_TRUE(allDone) << missing.size() << " acknowledged jobs did not succeed (" << stateCounts()
                             << "), e.g. " << *missing.begin();
        EXPECT_TRUE(server.running());
        std::cout << "[          ] " << acknowledged.size() - missing.size() << " of " << acknowledged.size()
                  << " acknowledged jobs succeeded\n";
    }

    ServerProcess server_;
};

TEST_F(PostgresOutageTest, SubmitsAnswer503WhileTheDatabaseIsStoppedAndEveryAcknowledgedJobRuns) {
    runThroughOutage(Outage::kStop);
}

TEST_F(PostgresOutageTest, SubmitsAnswer503WhileTheDatabaseIsKilledAndEveryAcknowledgedJobRuns) {
    runThroughOutage(Outage::kKill);
}

}  // namespace
}  // namespace rampart::testing

namespace rampart::testing {
namespace {

// A worker node whose configuration leaves every queue to external workers would sit idle: it refuses
// to start and says why.
TEST(WorkerNodeTest, RefusesToStartWithNothingToRun) {
    TempDir dir;
    writeFile(dir / "rampart.toml", "[jobs.queue.default]\nconcurrency = 0\n");
    Environment env = apiServerEnvironment(dir);
    env["RAMPART_DATA_DIR"] = (dir / "data").string();
    auto worker = startProcess({RAMPART_BINARY, "--config", (dir / "rampart.toml").string(), "worker"}, env,
                               dir.path());
    EXPECT_EQ(worker.waitExit(30s), 2);
    EXPECT_NE(readFile(worker.stderrPath()).find("nothing to run"), std::string::npos)
        << readFile(worker.stderrPath());
}

}  // namespace
}  // namespace rampart::testing
