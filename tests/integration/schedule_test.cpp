// Schedules through the real binary: an every-second schedule submits jobs that the in-process workers
// run, and stops when deleted; and the schedule API's defences under attack: users without
// schedules.allow_users (403), another user's schedule (404 for every verb), owner fields in the body
// (400), bad cron expressions and time zones (400 with where and why), the per-user limit (409).
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class ScheduleApiTest : public ::testing::Test {
  protected:
    void start(bool allowUsers, const Environment& extra = {}) {
        secrets_ = {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey)};
        Environment env = apiServerEnvironment(dir_);
        env["RAMPART_SCHEDULES__ALLOW_USERS"] = allowUsers ? "true" : "false";
        env["RAMPART_SCHEDULES__MAX_PER_USER"] = "3";
        for (const auto& [name, value] : extra) env[name] = value;
        server_.start({}, env);
        admin_ = login("admin", kAdminPassword);
        createUser("alice", "user");
        createUser("bob", "user");
        createUser("carol", "auditor");
        alice_ = login("alice", kUserPassword);
        bob_ = login("bob", kUserPassword);
        carol_ = login("carol", kUserPassword);
    }
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
    json::object schedule(std::string cron = "0 3 * * *") {
        return {
            {"name", "report"}, {"task", "noop"}, {"cron", std::move(cron)}, {"time_zone", "Europe/London"}};
    }
    // A personal API token of the caller's with these scopes.
    std::string apiToken(const std::string& bearer, const json::array& scopes) {
        auto r = post("/api/v1/tokens", bearer, {{"name", "scoped"}, {"scopes", scopes}});
        EXPECT_EQ(r.status, 201) << r.body;
        secrets_.push_back(str(parse(r), "token"));
        return str(parse(r), "token");
    }
    std::size_t jobCount(const std::string& bearer) {
        auto r = call("GET", "/api/v1/jobs?task=noop&limit=500", bearer);
        EXPECT_EQ(r.status, 200) << r.body;
        return parse(r).at("items").as_array().size();
    }

    TempDir dir_;
    ServerProcess server_;
    std::vector<std::string> secrets_;
    std::string admin_, alice_, bob_, carol_;
};

TEST_F(ScheduleApiTest, AnEverySecondScheduleSubmitsJobsUntilDeleted) {
    start(false, {{"RAMPART_SCHEDULES__MIN_INTERVAL_SECONDS", "1"}});
    auto created = post("/api/v1/schedules", admin_, schedule("* * * * * *"));
    ASSERT_EQ(created.status, 201) << created.body;
    const auto body = parse(created);
    const std::string id = str(body, "id");
    EXPECT_EQ(created.header("Location"), std::optional<std::string>("/api/v1/schedules/" + id));
    const auto& next = body.at("next_fire_times").as_array();
    ASSERT_EQ(next.size(), 5u);
    EXPECT_EQ(body.at("next_fire_times_local").as_array().size(), 5u);
    EXPECT_EQ(str(body, "misfire_policy"), "run_once");

    // Jobs appear, one a second, and the in-process workers run them.
    std::size_t jobs = 0;
    for (int i = 0; i < 100 && jobs < 3; ++i) {
        std::this_thread::sleep_for(100ms);
        jobs = jobCount(admin_);
    }
    EXPECT_GE(jobs, 3u);
    const auto shown = parse(call("GET", "/api/v1/schedules/" + id, admin_));
    EXPECT_FALSE(str(shown, "last_job_id").empty());
    EXPECT_FALSE(str(shown, "last_tick").empty());
    const auto job = parse(call("GET", "/api/v1/jobs/" + str(shown, "last_job_id"), admin_));
    EXPECT_EQ(str(job, "task"), "noop");

    // The ticks: newest first, each with its job.
    const auto ticks = call("GET", "/api/v1/schedules/" + id + "/ticks?limit=2", admin_);
    ASSERT_EQ(ticks.status, 200) << ticks.body;
    const auto tickItems = parse(ticks).at("items").as_array();
    ASSERT_EQ(tickItems.size(), 2u);
    EXPECT_EQ(str(tickItems[0].as_object(), "job_id"), str(shown, "last_job_id"));
    EXPECT_FALSE(tickItems[0].as_object().at("skipped").as_bool());
    EXPECT_GT(str(tickItems[0].as_object(), "fire_time"), str(tickItems[1].as_object(), "fire_time"));
    EXPECT_EQ(ticks.body.find("holder"), std::string::npos) << "which process fired is not shown";
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id + "/ticks?limit=1000", admin_).status, 400);

    // /metrics counts the ticks this node fired, and shows it leads.
    const auto metrics = call("GET", "/metrics", {});
    EXPECT_NE(metrics.body.find("rampart_schedule_ticks_total{outcome=\"fired\"}"), std::string::npos);
    EXPECT_NE(metrics.body.find("rampart_scheduler_leader 1"), std::string::npos)
        << metrics.body.substr(0, 2000);

    EXPECT_EQ(call("DELETE", "/api/v1/schedules/" + id, admin_).status, 204);
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id, admin_).status, 404);
    std::this_thread::sleep_for(1500ms);  // a round already under way may still finish its tick
    const std::size_t afterDelete = jobCount(admin_);
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(jobCount(admin_), afterDelete) << "a deleted schedule submits nothing";

    // Creating and deleting were audited.
    auto audit = parse(call("GET", "/api/v1/audit?action=schedule.create", admin_));
    ASSERT_EQ(audit.at("items").as_array().size(), 1u);
    EXPECT_EQ(str(audit.at("items").as_array()[0].as_object(), "target"), "schedule:" + id);
    EXPECT_EQ(
        parse(call("GET", "/api/v1/audit?action=schedule.delete", admin_)).at("items").as_array().size(), 1u);
}

TEST_F(ScheduleApiTest, UsersManageNoSchedulesUnlessAllowed) {
    start(false);
    auto refused = post("/api/v1/schedules", alice_, schedule());
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_NE(refused.body.find("schedules-not-allowed"), std::string::npos) << refused.body;
    EXPECT_EQ(call("GET", "/api/v1/schedules", alice_).status, 403);
    auto created = post("/api/v1/schedules", admin_, schedule());
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = str(parse(created), "id");
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id, alice_).status, 403);
    EXPECT_EQ(call("DELETE", "/api/v1/schedules/" + id, alice_).status, 403);
    // Auditors read every schedule and change none.
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id, carol_).status, 200);
    EXPECT_EQ(parse(call("GET", "/api/v1/schedules", carol_)).at("items").as_array().size(), 1u);
    EXPECT_EQ(post("/api/v1/schedules", carol_, schedule()).status, 403);
    EXPECT_EQ(call("PATCH", "/api/v1/schedules/" + id, carol_, R"({"enabled": false})").status, 403);
    EXPECT_EQ(call("DELETE", "/api/v1/schedules/" + id, carol_).status, 403);
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id, admin_).status, 200);
}

TEST_F(ScheduleApiTest, AnotherUsersScheduleDoesNotExistForAUser) {
    start(true);
    auto created = post("/api/v1/schedules", alice_, schedule());
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = str(parse(created), "id");
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id, bob_).status, 404);
    EXPECT_EQ(call("PATCH", "/api/v1/schedules/" + id, bob_, R"({"enabled": false})").status, 404);
    EXPECT_EQ(call("DELETE", "/api/v1/schedules/" + id, bob_).status, 404);
    EXPECT_EQ(call("GET", "/api/v1/schedules/" + id + "/ticks", bob_).status, 404);
    EXPECT_EQ(call("GET", "/api/v1/schedules/no-such-id", bob_).status, 404) << "the same answer as for none";
    // Bob's listing holds only his own, whatever owner he asks for.
    const std::string aliceId = str(parse(created), "owner");
    auto listed = parse(call("GET", "/api/v1/schedules?owner=" + aliceId, bob_));
    EXPECT_TRUE(listed.at("items").as_array().empty());
    EXPECT_EQ(parse(call("GET", "/api/v1/schedules", alice_)).at("items").as_array().size(), 1u);
    EXPECT_EQ(parse(call("GET", "/api/v1/schedules", admin_)).at("items").as_array().size(), 1u);
    // The schedule is untouched, and its owner and admins may change it.
    auto shown = parse(call("GET", "/api/v1/schedules/" + id, alice_));
    EXPECT_TRUE(shown.at("enabled").as_bool());
    auto disabled = call("PATCH", "/api/v1/schedules/" + id, admin_, R"({"enabled": false})");
    ASSERT_EQ(disabled.status, 200) << disabled.body;
    EXPECT_FALSE(parse(disabled).at("enabled").as_bool());
    EXPECT_TRUE(parse(disabled).at("next_fire_times").as_array().empty());
    EXPECT_EQ(call("DELETE", "/api/v1/schedules/" + id, alice_).status, 204);
}

TEST_F(ScheduleApiTest, OwnerAndProgressFieldsCannotBeSet) {
    start(true);
    auto adminId = str(parse(call("GET", "/api/v1/me", admin_)), "id");
    auto body = schedule();
    body["owner"] = adminId;
    auto escalated = post("/api/v1/schedules", alice_, body);
    EXPECT_EQ(escalated.status, 400) << escalated.body;
    for (const char* field : {"owner_id", "id", "last_job_id", "next_due", "revision"}) {
        auto attempt = schedule();
        attempt[field] = "x";
        EXPECT_EQ(post("/api/v1/schedules", alice_, attempt).status, 400) << field;
    }
    auto created = post("/api/v1/schedules", alice_, schedule());
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = str(parse(created), "id");
    auto patched =
        call("PATCH", "/api/v1/schedules/" + id, alice_, json::serialize(json::object{{"owner", adminId}}));
    EXPECT_EQ(patched.status, 400) << patched.body;
    EXPECT_NE(str(parse(call("GET", "/api/v1/schedules/" + id, alice_)), "owner"), adminId);
}

TEST_F(ScheduleApiTest, BadExpressionsZonesAndArgumentsAreRefusedWithWhereAndWhy) {
    start(true);
    auto bad = post("/api/v1/schedules", alice_, schedule("0 0 * * 8"));
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(bad.header("Content-Type"), std::optional<std::string>("application/problem+json"));
    const auto problem = parse(bad);
    EXPECT_NE(str(problem, "detail").find("position 9: day-of-week 8 is out of range 0-7"), std::string::npos)
        << bad.body;
    ASSERT_EQ(problem.at("errors").as_array().size(), 1u);
    const auto& error = problem.at("errors").as_array()[0].as_object();
    EXPECT_EQ(str(error, "pointer"), "/cron");
    EXPECT_EQ(str(error, "detail"), "position 9: day-of-week 8 is out of range 0-7");

    EXPECT_NE(post("/api/v1/schedules", alice_, schedule("0 0 30 2 *")).body.find("never fires"),
              std::string::npos);
    EXPECT_EQ(post("/api/v1/schedules", alice_, schedule(std::string(2000, '*'))).status, 400);
    for (const char* zone : {"Mars/Olympus_Mons", "../../../../etc/passwd", "/etc/localtime", "localtime"}) {
        auto body = schedule();
        body["time_zone"] = zone;
        auto r = post("/api/v1/schedules", alice_, body);
        EXPECT_EQ(r.status, 400) << zone << " " << r.body;
        EXPECT_NE(r.body.find("unknown-time-zone"), std::string::npos) << r.body;
    }
    auto both = schedule();
    both["every_seconds"] = 60;
    EXPECT_EQ(post("/api/v1/schedules", alice_, both).status, 400);
    auto zero = json::object{{"name", "n"}, {"task", "noop"}, {"every_seconds", 0}};
    EXPECT_EQ(post("/api/v1/schedules", alice_, zero).status, 400);
    auto wrongArgs = schedule();
    wrongArgs["task"] = "sleep";
    wrongArgs["args"] = json::object{{"seconds", "soon"}};
    EXPECT_EQ(post("/api/v1/schedules", alice_, wrongArgs).status, 422);
    auto unknownTask = schedule();
    unknownTask["task"] = "rm -rf /";
    EXPECT_EQ(post("/api/v1/schedules", alice_, unknownTask).status, 422);
    auto policy = schedule();
    policy["misfire_policy"] = "sometimes";
    EXPECT_EQ(post("/api/v1/schedules", alice_, policy).status, 400);
    // Oversized bodies end before they are parsed.
    const std::string huge = R"({"name": "big", "task": "noop", "cron": "* * * * *", "args": {"pad": ")" +
                             std::string(300 * 1024, 'a') + R"("}})";
    EXPECT_EQ(call("POST", "/api/v1/schedules", alice_, huge).status, 413);
    EXPECT_TRUE(parse(call("GET", "/api/v1/schedules", alice_)).at("items").as_array().empty())
        << "nothing stored";
}

TEST_F(ScheduleApiTest, AUserHasAtMostTheConfiguredNumberOfSchedules) {
    start(true);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(post("/api/v1/schedules", alice_, schedule()).status, 201);
    auto fourth = post("/api/v1/schedules", alice_, schedule());
    EXPECT_EQ(fourth.status, 409) << fourth.body;
    EXPECT_NE(fourth.body.find("schedule-limit"), std::string::npos);
    EXPECT_EQ(post("/api/v1/schedules", bob_, schedule()).status, 201) << "the limit is per user";
}

// A schedule submits jobs on its owner's behalf: a token that may change schedules but not submit jobs
// must not get jobs submitted through one (issue 18, item 4). Deleting needs schedules:write only.
TEST_F(ScheduleApiTest, CreatingOrChangingAScheduleNeedsJobsWriteToo) {
    start(true);
    const std::string schedulesOnly = apiToken(alice_, json::array{"schedules:read", "schedules:write"});
    const std::string both = apiToken(alice_, json::array{"schedules:read", "schedules:write", "jobs:write"});

    auto refused = post("/api/v1/schedules", schedulesOnly, schedule());
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_TRUE(parse(call("GET", "/api/v1/schedules", alice_)).at("items").as_array().empty())
        << "nothing stored";

    auto created = post("/api/v1/schedules", both, schedule());
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = str(parse(created), "id");
    const std::string path = "/api/v1/schedules/" + id;
    EXPECT_EQ(call("PATCH", path, schedulesOnly, R"({"enabled": false})").status, 403);
    EXPECT_EQ(call("PATCH", path, schedulesOnly, R"({"cron": "* * * * *"})").status, 403);
    EXPECT_EQ(str(parse(call("GET", path, alice_)), "cron"), "0 3 * * *") << "unchanged";
    EXPECT_EQ(call("PATCH", path, both, R"({"enabled": false})").status, 200);
    EXPECT_EQ(call("GET", path, schedulesOnly).status, 200) << "reading needs schedules:read only";
    EXPECT_EQ(call("DELETE", path, schedulesOnly).status, 204) << "deleting submits nothing";

    // The refusals were audited as permission denials, for the scope.
    auto audit = parse(call("GET", "/api/v1/audit?action=permission.denied", admin_)).at("items").as_array();
    int scopeDenials = 0;
    for (const auto& event : audit) {
        if (event.at("details").at("reason") == "scope") ++scopeDenials;
    }
    EXPECT_EQ(scopeDenials, 3);
}

// schedules.min_interval_seconds (10 by default): an interval or a cron expression firing more often is
// refused with 422 and a pointer to the field; a schedule can still be disabled whatever its timing.
TEST_F(ScheduleApiTest, SchedulesFiringMoreOftenThanTheMinimumAreRefused) {
    start(true);
    const auto refusedAt = [&](const Response& r, std::string_view pointer) {
        EXPECT_EQ(r.status, 422) << r.body;
        EXPECT_NE(r.body.find("interval-too-short"), std::string::npos) << r.body;
        const auto problem = parse(r);
        ASSERT_TRUE(problem.contains("errors")) << r.body;
        ASSERT_EQ(problem.at("errors").as_array().size(), 1u);
        EXPECT_EQ(str(problem.at("errors").as_array()[0].as_object(), "pointer"), pointer);
    };
    auto fast = json::object{{"name", "fast"}, {"task", "noop"}, {"every_seconds", 9}};
    refusedAt(post("/api/v1/schedules", alice_, fast), "/every_seconds");
    refusedAt(post("/api/v1/schedules", alice_, schedule("*/5 * * * * *")), "/cron");
    refusedAt(post("/api/v1/schedules", alice_, schedule("0,59 * * * * *")), "/cron");  // 59 then 0: 1 s
    refusedAt(post("/api/v1/schedules", alice_, schedule("* * * * * *")), "/cron");
    EXPECT_TRUE(parse(call("GET", "/api/v1/schedules", alice_)).at("items").as_array().empty());

    fast["every_seconds"] = 10;
    auto interval = post("/api/v1/schedules", alice_, fast);
    ASSERT_EQ(interval.status, 201) << interval.body;
    EXPECT_EQ(post("/api/v1/schedules", alice_, schedule("*/10 * * * * *")).status, 201);
    EXPECT_EQ(post("/api/v1/schedules", alice_, schedule("* * * * *")).status, 201) << "every minute";

    const std::string path = "/api/v1/schedules/" + str(parse(interval), "id");
    refusedAt(call("PATCH", path, alice_, R"({"every_seconds": 1})"), "/every_seconds");
    refusedAt(call("PATCH", path, alice_, R"({"cron": "*/2 * * * * *"})"), "/cron");
    EXPECT_EQ(parse(call("GET", path, alice_)).at("every_seconds"), 10) << "unchanged";
}

// Each owner's schedules together submit at most schedules.max_jobs_per_owner_per_minute jobs: three
// every-second schedules (the minimum lowered to 1 s) against a budget of 4 a minute make 4 jobs, and
// the ticks beyond say why they made none.
TEST_F(ScheduleApiTest, AnOwnersSchedulesSubmitNoMoreJobsThanTheBudget) {
    start(true, {{"RAMPART_SCHEDULES__MIN_INTERVAL_SECONDS", "1"},
                 {"RAMPART_SCHEDULES__MAX_JOBS_PER_OWNER_PER_MINUTE", "4"}});
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        auto r = post("/api/v1/schedules", alice_,
                      {{"name", "tick " + std::to_string(i)}, {"task", "noop"}, {"every_seconds", 1}});
        ASSERT_EQ(r.status, 201) << r.body;
        ids.push_back(str(parse(r), "id"));
    }
    // Three schedules a second: the budget is spent within two seconds; wait for ticks well beyond it.
    std::size_t overBudget = 0;
    for (int i = 0; i < 100 && overBudget < 6; ++i) {
        std::this_thread::sleep_for(100ms);
        overBudget = 0;
        for (const auto& id : ids) {
            auto ticks = parse(call("GET", "/api/v1/schedules/" + id + "/ticks?limit=50", alice_));
            for (const auto& tick : ticks.at("items").as_array()) {
                if (str(tick.as_object(), "skip_reason").find("max_jobs_per_owner_per_minute") !=
                    std::string::npos)
                    ++overBudget;
            }
        }
    }
    EXPECT_GE(overBudget, 6u) << "ticks beyond the budget are recorded, with why";
    EXPECT_EQ(jobCount(alice_), 4u);
    // Another owner's schedule fires meanwhile: the budget is per owner.
    ASSERT_EQ(
        post("/api/v1/schedules", bob_, {{"name", "bob's"}, {"task", "noop"}, {"every_seconds", 1}}).status,
        201);
    std::size_t bobsJobs = 0;
    for (int i = 0; i < 50 && bobsJobs == 0; ++i) {
        std::this_thread::sleep_for(100ms);
        bobsJobs = jobCount(bob_);
    }
    EXPECT_GE(bobsJobs, 1u);
    EXPECT_EQ(jobCount(alice_), 4u) << "still";
    const auto metrics = call("GET", "/metrics", {});
    EXPECT_NE(metrics.body.find("rampart_schedule_ticks_total{outcome=\"over_budget\"}"), std::string::npos);
    EXPECT_EQ(metrics.body.find("rampart_schedule_ticks_total{outcome=\"over_budget\"} 0"),
              std::string::npos);
}

}  // namespace
}  // namespace rampart::testing
