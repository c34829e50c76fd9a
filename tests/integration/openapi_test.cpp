// The OpenAPI document against the real binary: GET /openapi.json from a running server, then a realistic
// session (logins, tokens, jobs, batches, schedules, queues, the worker API, users, audit, errors) in which
// every answer's body is validated with valijson against the schema the document declares for its path,
// method and status (`default` for any other status), and its Content-Type against the declared media
// types. An answer with a field the schema lacks, without a required one or of the wrong type fails, as
// the second test shows with tampered answers. Every operation of the document must be exercised.
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <set>

// valijson throws instead of aborting when it cannot go on (see src/jobs/task_registry.cpp).
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Checks answers against an OpenAPI 3.1 document: finds the response a status gets, then validates
// the body against its schema. Schemas are compiled once each, with the document's components
// beside them so that their references (#/components/schemas/Job) resolve.
class OpenApiChecker {
  public:
    explicit OpenApiChecker(json::object document) : document_(std::move(document)) {}

    // What is wrong with `r` as an answer to METHOD PATH-TEMPLATE; empty when it conforms.
    std::vector<std::string> problems(std::string_view method, std::string_view pathTemplate,
                                      const Response& r) {
        const std::string name = lower(method) + " " + std::string(pathTemplate);
        const auto* path = document_.at("paths").as_object().if_contains(pathTemplate);
        const auto* operation = path ? path->as_object().if_contains(lower(method)) : nullptr;
        if (!operation) return {"the document has no operation " + name};
        checked_.insert(name);
        const auto& responses = operation->at("responses").as_object();
        const auto* response = responses.if_contains(std::to_string(r.status));
        if (!response) response = responses.if_contains("default");
        if (!response) return {"status " + std::to_string(r.status) + " is not documented"};
        response = follow(*response);
        const auto* content = response->as_object().if_contains("content");
        if (!content) {
            if (!r.body.empty()) return {"the answer has a body; the document declares none"};
            return {};
        }
        std::string mediaType = r.header("Content-Type").value_or("");
        mediaType = mediaType.substr(0, mediaType.find(';'));
        const auto* declared = content->as_object().if_contains(mediaType);
        if (!declared)
            return {"Content-Type " + mediaType + " is not declared for " + std::to_string(r.status)};
        if (mediaType != "application/json" && mediaType != "application/problem+json") return {};
        boost::system::error_code ec;
        const json::value body = json::parse(r.body, ec);
        if (ec) return {"the body is not JSON"};
        return validate(declared->at("schema"), body);
    }

    // Operations never checked, as "get /api/v1/jobs".
    std::vector<std::string> unchecked() const {
        std::vector<std::string> out;
        for (const auto& [path, item] : document_.at("paths").as_object())
            for (const auto& [method, operation] : item.as_object())
                if (!checked_.contains(std::string(method) + " " + std::string(path)))
                    out.push_back(std::string(method) + " " + std::string(path));
        return out;
    }

  private:
    const json::value* follow(const json::value& value) const {
        const auto* reference = value.as_object().if_contains("$ref");
        if (!reference) return &value;
        std::string_view pointer = reference->as_string();
        if (!pointer.starts_with("#/components/responses/")) throw HarnessError("unexpected $ref");
        return &document_.at("components").at("responses").at(pointer.substr(23));
    }

    std::vector<std::string> validate(const json::value& schema, const json::value& body) {
        const std::string key = json::serialize(schema);
        auto& compiled = compiled_[key];
        if (!compiled) {
            const json::value root =
                json::object{{"allOf", json::array{schema}}, {"components", document_.at("components")}};
            compiled = std::make_unique<valijson::Schema>();
            valijson::SchemaParser parser;
            valijson::adapters::BoostJsonAdapter adapter(root);
            parser.populateSchema(adapter, *compiled);
        }
        valijson::Validator validator;
        valijson::ValidationResults results;
        valijson::adapters::BoostJsonAdapter target(body);
        if (validator.validate(*compiled, target, &results)) return {};
        std::vector<std::string> out;
        valijson::ValidationResults::Error error;
        while (results.popError(error)) {
            std::string at;
            for (const auto& part : error.context) at += part;
            out.push_back(at + ": " + error.description);
        }
        return out;
    }

    json::object document_;
    std::map<std::string, std::unique_ptr<valijson::Schema>> compiled_;
    std::set<std::string> checked_;
};

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += "\n  " + line;
    return out;
}

class OpenApiConformanceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        Environment env = withHighRateLimits(apiServerEnvironment(dir_));
        // No in-process workers: the jobs wait for the worker API.
        env["RAMPART_JOBS__RUN_WORKERS"] = "false";
        server_.start({}, env);
        auto document = request(server_.port(), "GET", "/openapi.json");
        ASSERT_EQ(document.status, 200);
        checker_ = std::make_unique<OpenApiChecker>(parse(document));
        check("GET", "/openapi.json", document);
    }
    void TearDown() override { server_.stop(); }

    void check(std::string_view method, std::string_view pathTemplate, const Response& r) {
        const auto found = checker_->problems(method, pathTemplate, r);
        EXPECT_TRUE(found.empty()) << method << " " << pathTemplate << " answered " << r.status
                                   << ", which does not fit the document:" << joined(found) << "\n"
                                   << r.body;
    }

    // One request, its status expected and its answer checked against the document.
    Response call(int expected, std::string_view method, std::string_view pathTemplate,
                  std::string_view target, const std::string& bearer, std::string_view body = {},
                  Headers headers = {}) {
        auto r = apiCall(server_.port(), method, target, bearer, body, std::move(headers));
        EXPECT_EQ(r.status, expected) << method << " " << target << ": " << r.body;
        check(method, pathTemplate, r);
        return r;
    }
    Response call(int expected, std::string_view method, std::string_view pathTemplate,
                  std::string_view target, const std::string& bearer, const json::object& body) {
        return call(expected, method, pathTemplate, target, bearer, json::serialize(body));
    }

    std::string login(std::string_view username, std::string_view password) {
        auto r = call(200, "POST", "/api/v1/auth/login", "/api/v1/auth/login", {},
                      json::object{{"username", username}, {"password", password}});
        return str(parse(r), "access_token");
    }

    // Whether a problem document's "errors" name the field at `pointer`.
    static bool hasPointer(const Response& r, std::string_view pointer) {
        const json::object body = parse(r);
        if (const auto* errors = body.if_contains("errors"); errors && errors->is_array())
            for (const auto& error : errors->get_array())
                if (str(error.as_object(), "pointer") == pointer) return true;
        return false;
    }

    TempDir dir_;
    ServerProcess server_;
    std::unique_ptr<OpenApiChecker> checker_;
};

TEST_F(OpenApiConformanceTest, RealAnswersFitTheDocument) {
    // Operational routes.
    call(200, "GET", "/healthz", "/healthz", {});
    call(200, "GET", "/readyz", "/readyz", {});
    call(200, "GET", "/metrics", "/metrics", {});
    call(200, "GET", "/.well-known/jwks.json", "/.well-known/jwks.json", {});

    // Logging in; the first admin makes a user and a worker.
    call(401, "POST", "/api/v1/auth/login", "/api/v1/auth/login", {},
         json::object{{"username", "admin"}, {"password", "not the password at all"}});
    auto adminLogin = call(200, "POST", "/api/v1/auth/login", "/api/v1/auth/login", {},
                           json::object{{"username", "admin"}, {"password", kAdminPassword}});
    const std::string admin = str(parse(adminLogin), "access_token");
    auto refreshed = call(200, "POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", {},
                          json::object{{"refresh_token", str(parse(adminLogin), "refresh_token")}});
    EXPECT_FALSE(str(parse(refreshed), "access_token").empty());
    auto alice =
        parse(call(201, "POST", "/api/v1/users", "/api/v1/users", admin,
                   json::object{{"username", "alice"}, {"password", kUserPassword}, {"role", "user"}}));
    call(201, "POST", "/api/v1/users", "/api/v1/users", admin,
         json::object{{"username", "robot"}, {"password", kUserPassword}, {"role", "worker"}});
    auto temp = parse(call(201, "POST", "/api/v1/users", "/api/v1/users", admin,
                           json::object{{"username", "temp"},
                                        {"email", "temp@example.com"},
                                        {"password", kUserPassword},
                                        {"role", "auditor"}}));
    call(409, "POST", "/api/v1/users", "/api/v1/users", admin,
         json::object{{"username", "Alice"}, {"password", kUserPassword}});
    const std::string aliceId = str(alice, "id");
    call(200, "GET", "/api/v1/users", "/api/v1/users?limit=2", admin);
    call(200, "GET", "/api/v1/users/{id}", "/api/v1/users/" + aliceId, admin);
    call(200, "PATCH", "/api/v1/users/{id}", "/api/v1/users/" + aliceId, admin,
         json::object{{"email", "alice@example.com"}});
    call(204, "POST", "/api/v1/users/{id}/revoke-credentials",
         "/api/v1/users/" + str(temp, "id") + "/revoke-credentials", admin);
    call(404, "GET", "/api/v1/users/{id}", "/api/v1/users/no-such-user", admin);
    const std::string user = login("alice", kUserPassword);
    const std::string robot = login("robot", kUserPassword);
    call(200, "GET", "/api/v1/me", "/api/v1/me", user);

    // Errors every route shares.
    call(401, "GET", "/api/v1/jobs", "/api/v1/jobs", {});
    call(401, "GET", "/api/v1/jobs", "/api/v1/jobs", "not-a-valid-token");
    call(403, "GET", "/api/v1/users", "/api/v1/users", user);
    call(400, "GET", "/api/v1/jobs", "/api/v1/jobs?color=blue", user);
    auto unsupported = request(server_.port(), "POST", "/api/v1/jobs", {{"Authorization", "Bearer " + user}},
                               R"({"task":"noop"})");
    EXPECT_EQ(unsupported.status, 415);
    check("POST", "/api/v1/jobs", unsupported);

    // A personal API token, used, listed and revoked.
    call(400, "POST", "/api/v1/tokens", "/api/v1/tokens", user,
         json::object{{"name", "too much"}, {"scopes", json::array{"users:write"}}});
    auto token =
        parse(call(201, "POST", "/api/v1/tokens", "/api/v1/tokens", user,
                   json::object{{"name", "ci"}, {"scopes", json::array{"jobs:read", "jobs:write"}}}));
    call(200, "GET", "/api/v1/jobs", "/api/v1/jobs", str(token, "token"));
    call(200, "GET", "/api/v1/tokens", "/api/v1/tokens", user);
    call(400, "POST", "/api/v1/auth/logout", "/api/v1/auth/logout", str(token, "token"));
    call(204, "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/" + str(token, "id"), user);
    call(404, "DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/" + str(token, "id"), user);

    // Task types, jobs, their history, batches.
    call(200, "GET", "/api/v1/tasks", "/api/v1/tasks", user);
    const json::object submission{{"task", "echo"}, {"args", {{"n", 1}}}, {"idempotency_key", "order-1"}};
    auto job = parse(call(201, "POST", "/api/v1/jobs", "/api/v1/jobs", user, submission));
    call(200, "POST", "/api/v1/jobs", "/api/v1/jobs", user, submission);  // the idempotent replay
    call(409, "POST", "/api/v1/jobs", "/api/v1/jobs", user,
         json::object{{"task", "echo"}, {"args", {{"n", 2}}}, {"idempotency_key", "order-1"}});
    auto invalid = call(422, "POST", "/api/v1/jobs", "/api/v1/jobs", user,
                        json::object{{"task", "sleep"}, {"args", {{"seconds", "long"}}}});
    EXPECT_TRUE(hasPointer(invalid, "/args/seconds")) << invalid.body;
    call(422, "POST", "/api/v1/jobs", "/api/v1/jobs", user, json::object{{"task", "no.such.task"}});
    auto refused = call(400, "POST", "/api/v1/jobs", "/api/v1/jobs", user,
                        json::object{{"task", "echo"}, {"owner", "someone-else"}});
    EXPECT_TRUE(hasPointer(refused, "/owner")) << refused.body;
    const std::string jobId = str(job, "id");
    call(200, "GET", "/api/v1/jobs/{id}", "/api/v1/jobs/" + jobId, user);
    call(404, "GET", "/api/v1/jobs/{id}", "/api/v1/jobs/no-such-job", user);
    call(200, "GET", "/api/v1/jobs", "/api/v1/jobs?state=queued&limit=1", user);
    auto batch = call(201, "POST", "/api/v1/jobs/batch", "/api/v1/jobs/batch", user,
                      json::object{{"jobs", json::array{json::object{{"task", "echo"}, {"args", {{"n", 3}}}},
                                                        json::object{{"task", "noop"}, {"priority", 5}}}}});
    EXPECT_EQ(parse(batch).at("items").as_array().size(), 2u);
    auto badBatch = call(
        422, "POST", "/api/v1/jobs/batch", "/api/v1/jobs/batch", user,
        json::object{{"jobs", json::array{json::object{{"task", "noop"}},
                                          json::object{{"task", "sleep"}, {"args", {{"seconds", -1}}}}}}});
    EXPECT_TRUE(hasPointer(badBatch, "/jobs/1/args/seconds")) << badBatch.body;
    auto canceled =
        parse(call(201, "POST", "/api/v1/jobs", "/api/v1/jobs", user, json::object{{"task", "noop"}}));
    const std::string canceledId = str(canceled, "id");
    call(200, "POST", "/api/v1/jobs/{id}/cancel", "/api/v1/jobs/" + canceledId + "/cancel", user);
    call(409, "POST", "/api/v1/jobs/{id}/cancel", "/api/v1/jobs/" + canceledId + "/cancel", user);
    call(200, "GET", "/api/v1/jobs/{id}/events", "/api/v1/jobs/" + canceledId + "/events", user);

    // Queues.
    call(200, "GET", "/api/v1/queues", "/api/v1/queues", admin);
    call(200, "POST", "/api/v1/queues/{name}/pause", "/api/v1/queues/default/pause", admin);
    call(200, "POST", "/api/v1/queues/{name}/resume", "/api/v1/queues/default/resume", admin);
    call(404, "POST", "/api/v1/queues/{name}/pause", "/api/v1/queues/no-such-queue/pause", admin);

    // The worker API: lease, beat, report progress, complete; fail with and without retry; lost leases.
    call(403, "POST", "/api/v1/worker/lease", "/api/v1/worker/lease", user,
         json::object{{"queues", json::array{"default"}}});
    auto unknownQueue = call(403, "POST", "/api/v1/worker/lease", "/api/v1/worker/lease", robot,
                             json::object{{"queues", json::array{"default", "elsewhere"}}});
    EXPECT_TRUE(hasPointer(unknownQueue, "/queues/1")) << unknownQueue.body;
    auto missing =
        call(400, "POST", "/api/v1/worker/lease", "/api/v1/worker/lease", robot, json::object{{"max", 1}});
    EXPECT_TRUE(hasPointer(missing, "/queues")) << missing.body;
    auto leaseOne = [&] {
        auto leased =
            parse(call(200, "POST", "/api/v1/worker/lease", "/api/v1/worker/lease", robot,
                       json::object{{"queues", json::array{"default"}}, {"max", 1}, {"lease_seconds", 60}}));
        const auto& jobs = leased.at("jobs").as_array();
        if (jobs.empty()) throw HarnessError("nothing was leased");
        return std::pair{str(jobs.at(0).as_object(), "id"), str(jobs.at(0).as_object(), "lease_id")};
    };
    const auto [first, firstLease] = leaseOne();
    const std::string reports = "/api/v1/worker/jobs/" + first;
    call(200, "POST", "/api/v1/worker/jobs/{id}/heartbeat", reports + "/heartbeat", robot,
         json::object{{"lease_id", firstLease}, {"lease_seconds", 60}});
    call(204, "POST", "/api/v1/worker/jobs/{id}/progress", reports + "/progress", robot,
         json::object{{"lease_id", firstLease}, {"percent", 50}, {"message", "half way"}});
    call(404, "POST", "/api/v1/worker/jobs/{id}/progress", "/api/v1/worker/jobs/no-such-job/progress", robot,
         json::object{{"lease_id", firstLease}, {"percent", 50}});
    call(200, "POST", "/api/v1/worker/jobs/{id}/complete", reports + "/complete", robot,
         json::object{{"lease_id", firstLease}, {"result", {{"echo", true}}}});
    call(409, "POST", "/api/v1/worker/jobs/{id}/heartbeat", reports + "/heartbeat", robot,
         json::object{{"lease_id", firstLease}});
    const auto [second, secondLease] = leaseOne();
    auto retried =
        parse(call(200, "POST", "/api/v1/worker/jobs/{id}/fail", "/api/v1/worker/jobs/" + second + "/fail",
                   robot, json::object{{"lease_id", secondLease}, {"error", "the printer is on fire"}}));
    EXPECT_EQ(str(retried, "state"), "failed");
    EXPECT_FALSE(str(retried, "retry_at").empty());
    const auto [third, thirdLease] = leaseOne();
    auto dead =
        parse(call(200, "POST", "/api/v1/worker/jobs/{id}/fail", "/api/v1/worker/jobs/" + third + "/fail",
                   robot, json::object{{"lease_id", thirdLease}, {"error", "no retry"}, {"retry", false}}));
    EXPECT_EQ(str(dead, "state"), "dead");
    // Many reports at once: one taken, one refused in its place (the first job has ended: lease-lost).
    call(201, "POST", "/api/v1/jobs", "/api/v1/jobs", user, json::object{{"task", "noop"}});
    const auto [fourth, fourthLease] = leaseOne();
    auto reported = parse(call(200, "POST", "/api/v1/worker/reports", "/api/v1/worker/reports", robot,
                               json::object{{"reports", json::array{json::object{{"id", fourth},
                                                                                 {"lease_id", fourthLease},
                                                                                 {"outcome", "succeeded"},
                                                                                 {"result", {{"n", 4}}}},
                                                                    json::object{{"id", first},
                                                                                 {"lease_id", firstLease},
                                                                                 {"outcome", "failed"},
                                                                                 {"error", "too late"}}}}}));
    const auto& answered = reported.at("reports").as_array();
    ASSERT_EQ(answered.size(), 2u);
    EXPECT_EQ(str(answered[0].as_object(), "state"), "succeeded");
    EXPECT_EQ(str(answered[1].as_object().at("problem").as_object(), "type"),
              "urn:rampart:problem:lease-lost");
    auto badOutcome = call(
        400, "POST", "/api/v1/worker/reports", "/api/v1/worker/reports", robot,
        json::object{{"reports", json::array{json::object{
                                     {"id", fourth}, {"lease_id", fourthLease}, {"outcome", "maybe"}}}}});
    EXPECT_TRUE(hasPointer(badOutcome, "/reports/0/outcome")) << badOutcome.body;
    call(200, "GET", "/api/v1/jobs/{id}", "/api/v1/jobs/" + first, user);  // with its result now
    // The dead one runs again on request, once.
    auto revived =
        parse(call(200, "POST", "/api/v1/jobs/{id}/retry", "/api/v1/jobs/" + third + "/retry", user));
    EXPECT_EQ(str(revived, "state"), "queued");
    call(409, "POST", "/api/v1/jobs/{id}/retry", "/api/v1/jobs/" + third + "/retry", user);

    // Schedules.
    auto badCron = call(400, "POST", "/api/v1/schedules", "/api/v1/schedules", admin,
                        json::object{{"name", "bad"}, {"task", "noop"}, {"cron", "0 0 * * 8"}});
    EXPECT_TRUE(hasPointer(badCron, "/cron")) << badCron.body;
    call(422, "POST", "/api/v1/schedules", "/api/v1/schedules", admin,
         json::object{
             {"name", "bad args"}, {"task", "sleep"}, {"args", {{"seconds", "x"}}}, {"every_seconds", 60}});
    auto nightly = parse(call(201, "POST", "/api/v1/schedules", "/api/v1/schedules", admin,
                              json::object{{"name", "nightly report"},
                                           {"task", "echo"},
                                           {"args", {{"message", "hi"}}},
                                           {"cron", "30 2 * * *"},
                                           {"time_zone", "Europe/London"},
                                           {"misfire_policy", "catch_up"},
                                           {"catch_up_max", 3},
                                           {"skip_if_running", true}}));
    auto every = parse(call(201, "POST", "/api/v1/schedules", "/api/v1/schedules", admin,
                            json::object{{"name", "often"}, {"task", "noop"}, {"every_seconds", 3600}}));
    const std::string schedule = "/api/v1/schedules/" + str(nightly, "id");
    call(200, "GET", "/api/v1/schedules", "/api/v1/schedules?limit=1", admin);
    call(200, "GET", "/api/v1/schedules/{id}", schedule, admin);
    call(200, "GET", "/api/v1/schedules/{id}/ticks", schedule + "/ticks?limit=5", admin);
    call(200, "PATCH", "/api/v1/schedules/{id}", schedule, admin, json::object{{"enabled", false}});
    call(204, "DELETE", "/api/v1/schedules/{id}", "/api/v1/schedules/" + str(every, "id"), admin);
    call(404, "GET", "/api/v1/schedules/{id}", "/api/v1/schedules/" + str(every, "id"), admin);

    // TOTP enrolment (not confirmed: the code is wrong), and turning it off while it is off. Enrolling takes
    // the password.
    call(400, "POST", "/api/v1/me/totp", "/api/v1/me/totp", user, json::object{});
    call(403, "POST", "/api/v1/me/totp", "/api/v1/me/totp", user,
         json::object{{"password", "not the password"}});
    call(201, "POST", "/api/v1/me/totp", "/api/v1/me/totp", user, json::object{{"password", kUserPassword}});
    auto wrongCode = call(400, "POST", "/api/v1/me/totp/confirm", "/api/v1/me/totp/confirm", user,
                          json::object{{"code", "000000"}});
    EXPECT_TRUE(hasPointer(wrongCode, "/code")) << wrongCode.body;
    call(409, "POST", "/api/v1/me/totp/disable", "/api/v1/me/totp/disable", user,
         json::object{{"password", kUserPassword}, {"code", "000000"}});

    // The audit log, then a browser session: reads with the cookie, writes with its CSRF token, logout.
    call(200, "GET", "/api/v1/audit", "/api/v1/audit?action=auth.login&limit=3", admin);
    auto session = call(200, "POST", "/api/v1/auth/login", "/api/v1/auth/login", {},
                        json::object{{"username", "alice"}, {"password", kUserPassword}, {"session", true}});
    const std::string setCookie = session.header("Set-Cookie").value_or("");
    const std::string cookie = setCookie.substr(0, setCookie.find(';'));
    const std::string host = "127.0.0.1:" + std::to_string(server_.port());
    call(200, "GET", "/api/v1/me", "/api/v1/me", {}, {}, {{"Cookie", cookie}});
    call(403, "POST", "/api/v1/auth/logout", "/api/v1/auth/logout", {}, {},
         {{"Cookie", cookie}, {"Host", host}});
    call(204, "POST", "/api/v1/auth/logout", "/api/v1/auth/logout", {}, {},
         {{"Cookie", cookie},
          {"Host", host},
          {"Origin", "http://" + host},
          {"X-CSRF-Token", str(parse(session), "csrf_token")}});
    call(204, "POST", "/api/v1/auth/logout", "/api/v1/auth/logout", admin);

    EXPECT_EQ(checker_->unchecked(), std::vector<std::string>{})
        << "operations of the document that this test never called";
}

TEST_F(OpenApiConformanceTest, TheCheckerRefusesAnswersThatDoNotFit) {
    const std::string admin = adminAccessToken(server_.port());
    auto submitted = call(201, "POST", "/api/v1/jobs", "/api/v1/jobs", admin, json::object{{"task", "noop"}});
    const auto real =
        call(200, "GET", "/api/v1/jobs/{id}", "/api/v1/jobs/" + str(parse(submitted), "id"), admin);
    ASSERT_TRUE(checker_->problems("GET", "/api/v1/jobs/{id}", real).empty());

    auto tampered = [&](auto change) {
        Response r = real;
        json::object body = parse(real);
        change(body);
        r.body = json::serialize(body);
        return checker_->problems("GET", "/api/v1/jobs/{id}", r);
    };
    EXPECT_FALSE(tampered([](json::object& job) { job["surprise"] = true; }).empty()) << "a field it lacks";
    EXPECT_FALSE(tampered([](json::object& job) { job.erase("state"); }).empty())
        << "a required field missing";
    EXPECT_FALSE(tampered([](json::object& job) { job["priority"] = "high"; }).empty()) << "a wrong type";
    EXPECT_FALSE(tampered([](json::object& job) { job["state"] = "paused"; }).empty()) << "not in the enum";
    EXPECT_FALSE(tampered([](json::object& job) { job["created"] = "yesterday"; }).empty())
        << "not a date-time";

    // A problem document with an `errors` entry the schema does not describe.
    auto problem = call(404, "GET", "/api/v1/jobs/{id}", "/api/v1/jobs/no-such-job", admin);
    json::object body = parse(problem);
    body["errors"] = json::array{json::object{{"pointer", "/x"}, {"detail", "d"}, {"hint", "h"}}};
    problem.body = json::serialize(body);
    EXPECT_FALSE(checker_->problems("GET", "/api/v1/jobs/{id}", problem).empty());

    // A body where none is declared, a Content-Type that is not, an operation the document lacks.
    Response noContent = real;
    noContent.status = 204;
    EXPECT_FALSE(checker_->problems("DELETE", "/api/v1/schedules/{id}", noContent).empty());
    Response text = real;
    for (auto& [name, value] : text.headers)
        if (lower(name) == "content-type") value = "text/html";
    EXPECT_FALSE(checker_->problems("GET", "/api/v1/jobs/{id}", text).empty());
    EXPECT_FALSE(checker_->problems("GET", "/api/v1/no-such-route", real).empty());
}

}  // namespace
}  // namespace rampart::testing
