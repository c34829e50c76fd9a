// Crash and race tests of the job engine through the real binary (docs/architecture.md, "The job lifecycle"):
// the server is SIGKILLed during a burst of submits, while jobs run, and while jobs flow at full speed,
// then restarted on the same data directory; every acknowledged job must be there, run again after its
// lease, and end. Concurrent clients cancel jobs while workers complete them; each job ends once.
#include <signal.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kFarFuture = "2099-01-01T00:00:00Z";
// Generous: the machine is shared and slow at times; each wait ends as soon as its outcome is there.
constexpr auto kDeadline = 45s;

std::int64_t integer(const json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    return value && value->is_int64() ? value->get_int64() : -1;
}

// The ids of a batch's 201 answer.
std::vector<std::string> idsOf(const Response& r) {
    const auto body = parse(r);  // never range-for over a member of a temporary
    std::vector<std::string> ids;
    for (const auto& item : body.at("items").as_array()) ids.push_back(str(item.as_object(), "id"));
    return ids;
}

// Acknowledged jobs, recorded by several client threads.
struct Acknowledged {
    std::mutex mutex;
    std::vector<std::string> ids;                   // every job that got a 201, alone or in a batch
    std::vector<std::vector<std::string>> batches;  // the ids of each acknowledged batch
    std::atomic<int> count{0};

    void add(std::string id) {
        const std::lock_guard lock(mutex);
        ids.push_back(std::move(id));
        ++count;
    }
    void addBatch(std::vector<std::string> batch) {
        const std::lock_guard lock(mutex);
        ids.insert(ids.end(), batch.begin(), batch.end());
        count += static_cast<int>(batch.size());
        batches.push_back(std::move(batch));
    }
};

class CrashTest : public ::testing::Test {
  protected:
    void SetUp() override { start(); }

    void TearDown() override { server_.stop(); }

    // (Re)starts the server on the same data directory, with short leases so that a dead worker's
    // jobs come back quickly, and logs in as the admin.
    void start() {
        // Bursts of submits from a few clients for seconds on end.
        Environment env = withHighRateLimits(apiServerEnvironment(dir_));
        env["RAMPART_JOBS__LEASE_SECONDS"] = "2";
        server_.start({}, env);
        port_ = server_.port();
        token_ = adminAccessToken(port_);
    }

    // SIGKILL: no shutdown code runs, as in a power cut of the process.
    void kill() {
        server_.signal(SIGKILL);
        const auto status = server_.waitExit(10s);
        ASSERT_TRUE(status);
        EXPECT_EQ(*status, 128 + SIGKILL);
    }

    Response call(std::string_view method, std::string_view target, std::string_view body = {}) const {
        return apiCall(port_, method, target, token_, body);
    }

    // Submits one job; its id when acknowledged with 201, empty otherwise (a refused connection
    // after the kill, or a response cut short by it).
    std::string submit(const json::object& submission) const {
        auto r = call("POST", "/api/v1/jobs", json::serialize(submission));
        return r.status == 201 ? str(parse(r), "id") : std::string();
    }

    json::object job(const std::string& id) const {
        auto r = call("GET", "/api/v1/jobs/" + id);
        EXPECT_EQ(r.status, 200) << id << ": " << r.body;
        return parse(r);
    }

    // The job's history as "from>to" steps ("-" for none), oldest first.
    std::vector<std::string> history(const std::string& id) const {
        auto r = call("GET", "/api/v1/jobs/" + id + "/events");
        EXPECT_EQ(r.status, 200) << id << ": " << r.body;
        const auto body = parse(r);
        std::vector<std::string> steps;
        if (!body.contains("items")) return steps;
        for (const auto& item : body.at("items").as_array()) {
            const auto& event = item.as_object();
            const auto from = str(event, "from");
            steps.push_back((from.empty() ? "-" : from) + ">" + str(event, "to"));
        }
        return steps;
    }

    // Every stored job (the admin sees all), newest first, following the cursor.
    std::vector<json::object> allJobs(std::string_view filter = {}) const {
        std::vector<json::object> jobs;
        std::string cursor;
        for (;;) {
            std::string target = "/api/v1/jobs?limit=500";
            if (!filter.empty()) target += "&" + std::string(filter);
            if (!cursor.empty()) target += "&cursor=" + cursor;
            auto r = call("GET", target);
            EXPECT_EQ(r.status, 200) << r.body;
            if (r.status != 200) return jobs;
            auto page = parse(r);
            for (const auto& item : page.at("items").as_array()) jobs.push_back(item.as_object());
            const auto& next = page.at("next_cursor");
            if (!next.is_string()) return jobs;
            cursor = std::string(next.get_string());
        }
    }

    // Polls until `done` holds or the deadline passes; whether it held.
    static bool waitUntil(const std::function<bool()>& done, std::chrono::seconds deadline = kDeadline) {
        const auto end = Clock::now() + deadline;
        for (;;) {
            if (done()) return true;
            if (Clock::now() >= end) return false;
            std::this_thread::sleep_for(100ms);
        }
    }

    // How many stored jobs are in `state`.
    std::size_t countIn(std::string_view state) const {
        return allJobs("state=" + std::string(state)).size();
    }

    TempDir dir_;
    ServerProcess server_;
    std::uint16_t port_ = 0;
    std::string token_;
};

json::object noop() {
    return {{"task", "noop"}, {"args", json::object{}}, {"max_attempts", 3}};
}

// An echo job that never comes due, so no worker touches it; `tag` goes into its arguments.
json::object parked(std::string_view tag) {
    return {{"task", "echo"}, {"args", json::object{{"tag", tag}}}, {"run_at", kFarFuture}};
}

TEST_F(CrashTest, EveryAcknowledgedSubmitSurvivesASigkillDuringABurst) {
    constexpr int kClients = 8;
    constexpr int kKillAfter = 600;  // acknowledged jobs before the kill
    constexpr int kBatchSize = 5;
    Acknowledged acknowledged;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            for (int n = 0; !stop; ++n) {
                const std::string tag = std::to_string(c) + "-" + std::to_string(n);
                if (n % 4 == 3) {
                    // A batch: every job carries the batch's tag, so a partly stored batch would show.
                    json::array jobs;
                    for (int i = 0; i < kBatchSize; ++i) jobs.emplace_back(parked("batch-" + tag));
                    auto r =
                        call("POST", "/api/v1/jobs/batch", json::serialize(json::object{{"jobs", jobs}}));
                    if (r.status != 201) continue;
                    acknowledged.addBatch(idsOf(r));
                } else {
                    // Waiting jobs and immediate ones, which the workers run meanwhile.
                    auto id = submit(n % 2 == 0 ? parked("single-" + tag) : noop());
                    if (!id.empty()) acknowledged.add(std::move(id));
                }
            }
        });
    }
    const bool enough = waitUntil([&] { return acknowledged.count >= kKillAfter; });
    kill();  // the clients are still sending
    stop = true;
    for (auto& client : clients) client.join();
    ASSERT_TRUE(enough) << "only " << acknowledged.count << " submits were acknowledged";
    std::cout << "[          ] " << acknowledged.ids.size() << " jobs acknowledged ("
              << acknowledged.batches.size() << " batches) before the kill\n";

    ASSERT_NO_FATAL_FAILURE(start());
    std::set<std::string> acknowledgedIds(acknowledged.ids.begin(), acknowledged.ids.end());
    ASSERT_EQ(acknowledgedIds.size(), acknowledged.ids.size()) << "ids are unique";
    for (const auto& id : acknowledged.ids) {
        auto r = call("GET", "/api/v1/jobs/" + id);
        EXPECT_EQ(r.status, 200) << "acknowledged job " << id << " was lost";
    }
    const auto stored = allJobs();
    EXPECT_GE(stored.size(), acknowledged.ids.size()) << "unacknowledged jobs may exist, never fewer";
    std::cout << "[          ] " << stored.size() << " jobs stored after the restart\n";
    std::set<std::string> storedIds;
    std::map<std::string, int> batchMembers;  // batch tag -> jobs stored with it
    for (const auto& job : stored) {
        storedIds.insert(str(job, "id"));
        const auto& args = job.at("args").as_object();
        if (const auto tag = str(args, "tag"); tag.starts_with("batch-")) ++batchMembers[tag];
    }
    for (const auto& id : acknowledged.ids) EXPECT_TRUE(storedIds.contains(id)) << id << " is not listed";
    // Each acknowledged batch is whole; and any batch that is stored at all (acknowledged or cut off
    // by the kill) is stored whole: all or none.
    for (const auto& batch : acknowledged.batches) {
        for (const auto& id : batch)
            EXPECT_TRUE(storedIds.contains(id)) << "batch member " << id << " is lost";
    }
    EXPECT_GE(batchMembers.size(), acknowledged.batches.size());
    for (const auto& [tag, members] : batchMembers)
        EXPECT_EQ(members, kBatchSize) << tag << " is partly stored";
}

TEST_F(CrashTest, JobsRunningAtASigkillRunAgainAfterTheirLeaseAndNoneStaysRunning) {
    constexpr int kJobs = 4;  // the in-process pool's default concurrency: all run at once
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) {
        auto id = submit({{"task", "sleep"}, {"args", json::object{{"seconds", 2}}}, {"max_attempts", 3}});
        ASSERT_FALSE(id.empty());
        ids.push_back(id);
    }
    ASSERT_TRUE(waitUntil([&] {
        for (const auto& id : ids)
            if (str(job(id), "state") != "running") return false;
        return true;
    })) << "the jobs never all ran";
    kill();

    ASSERT_NO_FATAL_FAILURE(start());
    const auto restarted = Clock::now();
    ASSERT_TRUE(waitUntil([&] {
        for (const auto& id : ids)
            if (str(job(id), "state") != "succeeded") return false;
        return true;
    })) << "the jobs did not run again to the end";
    std::cout << "[          ] the killed jobs succeeded "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted).count()
              << " ms after the restart\n";
    for (const auto& id : ids) {
        const auto done = job(id);
        EXPECT_EQ(integer(done, "attempts"), 2) << id << ": the killed attempt counts, then one more";
        EXPECT_GE(integer(done.at("result").as_object(), "slept_ms"), 2000) << id << " ran in full";
        EXPECT_EQ(history(id), (std::vector<std::string>{"->queued", "queued>running", "running>queued",
                                                         "queued>running", "running>succeeded"}))
            << id << ": claimed, taken back when its lease ran out, claimed again, done";
    }
    EXPECT_EQ(countIn("running"), 0u);
}

TEST_F(CrashTest, ASigkillWhileJobsFlowAtFullSpeedLosesNoneAndLeavesNoneUnfinished) {
    constexpr int kClients = 4;
    Acknowledged acknowledged;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            for (int n = 0; !stop; ++n) {
                if (c == 0 && n % 2 == 1) {
                    json::array jobs;
                    for (int i = 0; i < 20; ++i) jobs.emplace_back(noop());
                    auto r =
                        call("POST", "/api/v1/jobs/batch", json::serialize(json::object{{"jobs", jobs}}));
                    if (r.status != 201) continue;
                    acknowledged.addBatch(idsOf(r));
                } else {
                    // Some short sleeps, so that jobs are likely to be running when the server dies.
                    auto submission = noop();
                    if (n % 4 == 0) {
                        submission["task"] = "sleep";
                        submission["args"] = json::object{{"seconds", 0.05}};
                    }
                    if (auto id = submit(submission); !id.empty()) acknowledged.add(std::move(id));
                }
            }
        });
    }
    // Kill once the workers are busy: jobs are being claimed, run and reported as the server dies.
    const bool flowing = waitUntil([&] { return acknowledged.count >= 400 && countIn("succeeded") >= 100; });
    kill();
    stop = true;
    for (auto& client : clients) client.join();
    ASSERT_TRUE(flowing) << acknowledged.count << " acknowledged";

    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(waitUntil([&] {
        for (std::string_view state : {"running", "queued", "scheduled", "failed"})
            if (countIn(state) != 0) return false;
        return true;
    })) << "jobs were left unfinished";
    std::map<std::string, json::object> stored;
    for (auto& job : allJobs()) stored.emplace(str(job, "id"), std::move(job));
    EXPECT_GE(stored.size(), acknowledged.ids.size());
    int retried = 0;
    for (const auto& id : acknowledged.ids) {
        auto found = stored.find(id);
        ASSERT_NE(found, stored.end()) << "acknowledged job " << id << " was lost";
        const auto& job = found->second;
        EXPECT_EQ(str(job, "state"), "succeeded") << id;
        EXPECT_GE(integer(job, "attempts"), 1) << id;
        EXPECT_LE(integer(job, "attempts"), integer(job, "max_attempts")) << id;
        if (integer(job, "attempts") > 1) ++retried;
    }
    std::cout << "[          ] " << acknowledged.ids.size() << " acknowledged, " << retried
              << " ran again after the kill\n";
}

TEST_F(CrashTest, CancelsRacingCompletionsLeaveEachJobInOneFinalState) {
    constexpr int kJobs = 48;
    constexpr int kClients = 4;
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) {
        // 0.2, 0.6 or 1 s: some end before their cancel, some see it at a heartbeat while they run.
        auto id = submit({{"task", "sleep"}, {"args", json::object{{"seconds", 0.2 + 0.4 * (i % 3)}}}});
        ASSERT_FALSE(id.empty());
        ids.push_back(id);
    }
    // Each job gets a cancel from two of the clients, at random moments while the workers run the jobs
    // (queued, running or done by then).
    struct Answer {
        int status = 0;
        std::string state;
        bool cancelRequested = false;
    };
    std::mutex mutex;
    std::map<std::string, std::vector<Answer>> answers;
    std::vector<std::thread> clients;
    const auto seed = std::random_device{}();
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            std::mt19937 random(seed + c);
            std::vector<std::string> mine;
            for (int i = 0; i < kJobs; ++i)
                if (i % kClients == c || (i + 1) % kClients == c) mine.push_back(ids[i]);
            std::shuffle(mine.begin(), mine.end(), random);
            for (const auto& id : mine) {
                std::this_thread::sleep_for(std::chrono::milliseconds(random() % 250));
                auto r = call("POST", "/api/v1/jobs/" + id + "/cancel");
                auto body = parse(r);
                const auto* requested = body.if_contains("cancel_requested");
                const std::lock_guard lock(mutex);
                answers[id].push_back(
                    Answer{.status = r.status,
                           .state = str(body, "state"),
                           .cancelRequested = requested && requested->is_bool() && requested->get_bool()});
            }
        });
    }
    for (auto& client : clients) client.join();

    ASSERT_TRUE(waitUntil([&] {
        for (const auto& id : ids) {
            const auto state = str(job(id), "state");
            if (state != "succeeded" && state != "canceled") return false;
        }
        return true;
    })) << "some jobs never ended";
    std::map<std::string, json::object> first;
    for (const auto& id : ids) first[id] = job(id);
    std::this_thread::sleep_for(1s);  // the end is the end: nothing moves a finished job
    std::map<std::string, int> tally;
    for (const auto& id : ids) {
        SCOPED_TRACE(id);
        const auto& ended = first[id];
        const auto later = job(id);
        const std::string state = str(ended, "state");
        EXPECT_EQ(str(later, "state"), state);
        EXPECT_EQ(integer(later, "attempts"), integer(ended, "attempts"));
        EXPECT_EQ(str(later, "finished"), str(ended, "finished"));
        EXPECT_EQ(str(later, "updated"), str(ended, "updated"));
        EXPECT_LE(integer(ended, "attempts"), 1) << "neither a cancel nor a success is retried";
        const auto steps = history(id);
        ASSERT_FALSE(steps.empty());
        EXPECT_TRUE(steps.back().ends_with(">" + state)) << "the last step of the history is the end";
        for (std::size_t i = 0; i + 1 < steps.size(); ++i) {
            EXPECT_FALSE(steps[i].ends_with(">succeeded") || steps[i].ends_with(">canceled"))
                << "step " << i + 1 << " of " << steps.size() << " comes after the end";
        }
        for (const auto& answer : answers[id]) {
            if (answer.status == 409) continue;  // it had ended when the cancel came
            ASSERT_EQ(answer.status, 200);
            if (answer.state == "running") {
                EXPECT_TRUE(answer.cancelRequested);  // the handler may still finish first
            } else {
                EXPECT_EQ(answer.state, state) << "a cancel's answer agrees with the end";
            }
        }
        ++tally[state + (integer(ended, "attempts") == 0 ? " before it ran" : "")];
    }
    std::cout << "[          ]";
    for (const auto& [what, count] : tally) std::cout << ' ' << count << ' ' << what << ';';
    std::cout << '\n';
    EXPECT_EQ(countIn("running"), 0u);
}

}  // namespace
}  // namespace rampart::testing
