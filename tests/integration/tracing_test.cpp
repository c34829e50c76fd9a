// Traces through the real binary, decoded by the OpenTelemetry project's own generated OTLP code (the test
// receiver, tests/otlp/receiver.js): a request continues its caller's trace, its spans nest, the job it
// submitted runs in a trace of its own linked back to it (in-process, and through an external worker that
// continues the lease's context), sampling decisions hold, no exported byte holds a secret, and a dead
// collector costs requests nothing while its recovery resumes the export.
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"
#include "testing/otlp_receiver.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view kCallerTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kCallerSpan = "00f067aa0ba902b7";
constexpr std::string_view kJobSecret = "job-argument-s3cr3t-4417";

std::string callerTraceparent(std::string_view flags = "01") {
    return "00-" + std::string(kCallerTrace) + "-" + std::string(kCallerSpan) + "-" + std::string(flags);
}

// A span's attribute as text: string values as they are, numbers as their decimal text.
std::string attribute(const json::object& span, std::string_view key) {
    const auto* list = span.if_contains("attributes");
    if (!list) return {};
    for (const auto& entry : list->as_array()) {
        const auto& item = entry.as_object();
        if (item.at("key").as_string() != key) continue;
        const auto& value = item.at("value").as_object();
        if (const auto* text = value.if_contains("stringValue")) return std::string(text->as_string());
        if (const auto* number = value.if_contains("intValue"))
            return number->is_string() ? std::string(number->as_string()) : json::serialize(*number);
        if (const auto* flag = value.if_contains("boolValue")) return flag->as_bool() ? "true" : "false";
        return json::serialize(value);
    }
    return {};
}

std::string field(const json::object& span, std::string_view key) {
    const auto* value = span.if_contains(key);
    return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

int kind(const json::object& span) {
    const auto* value = span.if_contains("kind");
    return value ? static_cast<int>(value->to_number<std::int64_t>()) : 0;
}

// The first span matching `match`, or null.
const json::object* findSpan(const json::array& spans,
                             const std::function<bool(const json::object&)>& match) {
    for (const auto& span : spans)
        if (match(span.as_object())) return &span.as_object();
    return nullptr;
}

class TracingTest : public ::testing::Test {
  protected:
    void SetUp() override {
        secrets_ = {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey),
                    std::string(kJobSecret)};
        // "outside" is left to external workers (concurrency 0); "default" runs in the server.
        writeFile(dir_ / "rampart.toml", R"([jobs]
queues = ["default", "outside"]
[jobs.queue.outside]
concurrency = 0
)");
    }

    void TearDown() override {
        server_.stop();
        expectNoSecretsIn(server_, secrets_);
    }

    void start(Environment extra = {}) {
        Environment env = apiServerEnvironment(dir_);
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:" + std::to_string(receiver_.port());
        env["OTEL_SERVICE_NAME"] = "rampart-under-test";
        env["RAMPART_TELEMETRY__SCHEDULE_DELAY_MS"] = "100";
        for (auto& [name, value] : extra) env[name] = value;
        server_.start({"--config", (dir_ / "rampart.toml").string()}, env);
        admin_ = login("admin", kAdminPassword);
    }

    Response call(std::string_view method, std::string_view target, const std::string& bearer,
                  std::string_view body = {}, std::string traceparent = {}) {
        Headers headers;
        if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
        if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
        if (!traceparent.empty()) headers.emplace_back("traceparent", std::move(traceparent));
        return request(server_.port(), method, target, headers, body);
    }

    std::string login(std::string_view username, std::string_view password) {
        auto r = call("POST", "/api/v1/auth/login", {},
                      json::serialize(json::object{{"username", username}, {"password", password}}));
        EXPECT_EQ(r.status, 200) << r.body;
        auto body = parse(r);
        secrets_.push_back(str(body, "access_token"));
        secrets_.push_back(str(body, "refresh_token"));
        return str(body, "access_token");
    }

    void createUser(std::string_view username, std::string_view role) {
        auto r = call("POST", "/api/v1/users", admin_,
                      json::serialize(
                          json::object{{"username", username}, {"password", kUserPassword}, {"role", role}}));
        ASSERT_EQ(r.status, 201) << r.body;
    }

    // Submits an echo job carrying the secret argument; its id.
    std::string submit(std::string_view queue, std::string traceparent = {}) {
        auto r =
            call("POST", "/api/v1/jobs", admin_,
                 json::serialize(json::object{
                     {"task", "echo"}, {"queue", queue}, {"args", json::object{{"secret", kJobSecret}}}}),
                 std::move(traceparent));
        EXPECT_EQ(r.status, 201) << r.body;
        lastTraceparent_ = r.header("traceparent").value_or("");
        return str(parse(r), "id");
    }

    void waitSucceeded(const std::string& id) {
        for (int i = 0; i < 500; ++i) {
            auto r = call("GET", "/api/v1/jobs/" + id, admin_);
            if (str(parse(r), "state") == "succeeded") return;
            std::this_thread::sleep_for(20ms);
        }
        FAIL() << "job " << id << " did not succeed";
    }

    // Waits until a span matches; every span received by then.
    json::array waitForSpan(const std::function<bool(const json::object&)>& match) {
        json::array spans;
        for (int i = 0; i < 400; ++i) {
            spans = receiver_.spans();
            if (findSpan(spans, match)) return spans;
            std::this_thread::sleep_for(50ms);
        }
        ADD_FAILURE() << "no such span among " << json::serialize(spans).substr(0, 4000);
        return spans;
    }

    OtlpReceiver receiver_;
    TempDir dir_;
    ServerProcess server_;
    std::string admin_;
    std::string lastTraceparent_;
    std::vector<std::string> secrets_;
};

TEST_F(TracingTest, ARequestContinuesItsCallersTraceAndItsJobRunsInATraceLinkedToIt) {
    start();
    const std::string id = submit("default", callerTraceparent());
    ASSERT_EQ(lastTraceparent_.substr(0, 36), "00-" + std::string(kCallerTrace) + "-");
    const std::string serverSpanId = lastTraceparent_.substr(36, 16);
    waitSucceeded(id);

    auto spans = waitForSpan(
        [&](const json::object& s) { return attribute(s, "rampart.job.id") == id && kind(s) == 5; });
    const auto* server =
        findSpan(spans, [&](const json::object& s) { return field(s, "spanId") == serverSpanId; });
    ASSERT_TRUE(server);
    EXPECT_EQ(field(*server, "traceId"), kCallerTrace);
    EXPECT_EQ(field(*server, "parentSpanId"), kCallerSpan);
    EXPECT_EQ(field(*server, "name"), "POST /api/v1/jobs");
    EXPECT_EQ(kind(*server), 2);
    EXPECT_EQ(attribute(*server, "http.route"), "/api/v1/jobs");
    EXPECT_EQ(attribute(*server, "http.response.status_code"), "201");
    EXPECT_EQ(attribute(server->at("resource").as_object(), "service.name"), "rampart-under-test");

    const auto* submitted = findSpan(spans, [&](const json::object& s) {
        return field(s, "parentSpanId") == serverSpanId && kind(s) == 4;
    });
    ASSERT_TRUE(submitted);
    EXPECT_EQ(field(*submitted, "name"), "submit echo");
    EXPECT_EQ(attribute(*submitted, "rampart.job.id"), id);
    const auto* stored = findSpan(spans, [&](const json::object& s) {
        return field(s, "parentSpanId") == field(*submitted, "spanId");
    });
    ASSERT_TRUE(stored);
    EXPECT_EQ(attribute(*stored, "db.system"), "sqlite");
    EXPECT_EQ(attribute(*stored, "db.operation.name"), "submitJob");

    const auto* run = findSpan(
        spans, [&](const json::object& s) { return attribute(s, "rampart.job.id") == id && kind(s) == 5; });
    ASSERT_TRUE(run);
    EXPECT_EQ(field(*run, "name"), "run echo");
    EXPECT_NE(field(*run, "traceId"), kCallerTrace);
    EXPECT_EQ(field(*run, "parentSpanId"), "");
    ASSERT_EQ(run->at("links").as_array().size(), 1u);
    const auto& link = run->at("links").as_array()[0].as_object();
    EXPECT_EQ(field(link, "traceId"), kCallerTrace);
    EXPECT_EQ(field(link, "spanId"), field(*submitted, "spanId"));
    EXPECT_EQ(attribute(*run, "rampart.job.queue"), "default");
    EXPECT_EQ(attribute(*run, "rampart.job.task"), "echo");
    EXPECT_EQ(attribute(*run, "rampart.job.attempt"), "1");

    // The access log names the request's trace (its lines are written out every 200 ms).
    const std::string traceField = "\"trace_id\":\"" + std::string(kCallerTrace) + "\"";
    std::string accessLog;
    for (int i = 0; i < 100 && accessLog.find(traceField) == std::string::npos; ++i) {
        std::this_thread::sleep_for(50ms);
        accessLog = server_.stdoutText();
    }
    EXPECT_NE(accessLog.find(traceField), std::string::npos) << accessLog.substr(0, 2000);
    EXPECT_TRUE(receiver_.errors().empty()) << json::serialize(receiver_.errors());
}

TEST_F(TracingTest, AnExternalWorkerContinuesTheRunItsLeaseNames) {
    start();
    createUser("robot", "worker");
    const std::string robot = login("robot", kUserPassword);
    const std::string id = submit("outside");
    const std::string submitTrace = lastTraceparent_.substr(3, 32);

    auto leased = call("POST", "/api/v1/worker/lease", robot,
                       json::serialize(json::object{{"queues", json::array{"outside"}}, {"max", 1}}));
    ASSERT_EQ(leased.status, 200) << leased.body;
    const auto leasedBody = parse(leased);
    ASSERT_FALSE(leasedBody.at("jobs").as_array().empty()) << leased.body;
    const auto& job = leasedBody.at("jobs").as_array()[0].as_object();
    const std::string runContext = str(job, "traceparent");
    ASSERT_EQ(runContext.size(), 55u) << leased.body;
    const std::string runTrace = runContext.substr(3, 32);
    const std::string runSpan = runContext.substr(36, 16);
    EXPECT_NE(runTrace, submitTrace);

    const std::string leaseId = str(job, "lease_id");
    auto beat = call("POST", "/api/v1/worker/jobs/" + id + "/heartbeat", robot,
                     json::serialize(json::object{{"lease_id", leaseId}}), runContext);
    ASSERT_EQ(beat.status, 200) << beat.body;
    auto done =
        call("POST", "/api/v1/worker/jobs/" + id + "/complete", robot,
             json::serialize(json::object{{"lease_id", leaseId}, {"result", json::object{{"ok", true}}}}),
             runContext);
    ASSERT_EQ(done.status, 200) << done.body;

    auto spans = waitForSpan([&](const json::object& s) { return field(s, "spanId") == runSpan; });
    const auto* run = findSpan(spans, [&](const json::object& s) { return field(s, "spanId") == runSpan; });
    ASSERT_TRUE(run);
    EXPECT_EQ(field(*run, "traceId"), runTrace);
    EXPECT_EQ(field(*run, "name"), "run echo");
    EXPECT_EQ(kind(*run), 5);
    EXPECT_EQ(attribute(*run, "rampart.job.id"), id);
    EXPECT_EQ(attribute(*run, "rampart.job.state"), "succeeded");
    ASSERT_EQ(run->at("links").as_array().size(), 1u);
    EXPECT_EQ(field(run->at("links").as_array()[0].as_object(), "traceId"), submitTrace);
    // The worker's reports are spans of its run.
    const auto* heartbeat = findSpan(spans, [&](const json::object& s) {
        return field(s, "name") == "POST /api/v1/worker/jobs/{id}/heartbeat";
    });
    ASSERT_TRUE(heartbeat);
    EXPECT_EQ(field(*heartbeat, "traceId"), runTrace);
    EXPECT_EQ(field(*heartbeat, "parentSpanId"), runSpan);
}

TEST_F(TracingTest, NoExportedByteHoldsASecret) {
    start();
    const std::string token = [&] {
        auto r = call("POST", "/api/v1/tokens", admin_,
                      json::serialize(json::object{{"name", "t"}, {"scopes", json::array{"*"}}}));
        return str(parse(r), "token");
    }();
    secrets_.push_back(token);
    const std::string id = submit("default");
    waitSucceeded(id);
    // A token in a query string is refused, and must not be exported either.
    EXPECT_EQ(call("GET", "/api/v1/jobs/" + id + "?access_token=" + token, token).status, 401);
    EXPECT_EQ(call("GET", "/api/v1/jobs/" + id, {}, {}, {}).status, 401);
    (void)waitForSpan(
        [&](const json::object& s) { return attribute(s, "rampart.job.id") == id && kind(s) == 5; });
    // The logins' traces were exported too (and are scanned below): the password's hash and the store calls
    // are spans of the login request.
    auto spans = waitForSpan([&](const json::object& s) { return field(s, "name") == "password.verify"; });
    const auto* hash =
        findSpan(spans, [&](const json::object& s) { return field(s, "name") == "password.verify"; });
    ASSERT_TRUE(hash);
    const auto* loginRequest = findSpan(
        spans, [&](const json::object& s) { return field(s, "spanId") == field(*hash, "parentSpanId"); });
    ASSERT_TRUE(loginRequest);
    EXPECT_EQ(field(*loginRequest, "name"), "POST /api/v1/auth/login");
    EXPECT_TRUE(findSpan(spans, [&](const json::object& s) {
        return field(s, "parentSpanId") == field(*loginRequest, "spanId") &&
               attribute(s, "db.operation.name") == "findUserByUsername";
    }));
    // Everything the collector received, byte for byte, with the secrets this test handled.
    std::string everything;
    for (const auto& body : receiver_.raw()) everything += decodeBase64(body.as_string());
    ASSERT_FALSE(everything.empty());
    for (const auto& secret : secrets_) {
        if (secret.empty()) continue;
        EXPECT_EQ(everything.find(secret), std::string::npos) << "an export holds a secret";
    }
    EXPECT_EQ(everything.find("Bearer"), std::string::npos);
}

TEST_F(TracingTest, SamplingFollowsATrustedCallersDecision) {
    start({{"OTEL_TRACES_SAMPLER", "parentbased_always_off"},
           {"RAMPART_TELEMETRY__TRUST_INCOMING_SAMPLED", "true"}});
    const std::string unsampledTrace = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    submit("outside", "00-" + unsampledTrace + "-00f067aa0ba902b7-00");
    EXPECT_EQ(lastTraceparent_.substr(53), "00") << "the decision travels on";
    submit("outside", callerTraceparent("01"));
    EXPECT_EQ(lastTraceparent_.substr(53), "01");
    auto spans = waitForSpan([&](const json::object& s) { return field(s, "name") == "POST /api/v1/jobs"; });
    for (const auto& span : spans) EXPECT_NE(field(span.as_object(), "traceId"), unsampledTrace);
    // A request without a trace of its own starts one the sampler drops.
    auto r = call("GET", "/api/v1/queues", admin_);
    EXPECT_EQ(r.header("traceparent").value_or("").substr(53), "00");
}

TEST_F(TracingTest, ADeadCollectorCostsRequestsNothingAndItsRecoveryResumesTheExport) {
    start({{"RAMPART_TELEMETRY__MAX_QUEUE_SIZE", "64"}, {"RAMPART_TELEMETRY__MAX_EXPORT_BATCH_SIZE", "16"}});
    receiver_.control(503);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(call("GET", "/api/v1/queues", admin_).status, 200);
    // The spans that did not fit were dropped and counted, not held.
    std::optional<double> dropped;
    for (int i = 0; i < 200 && !(dropped && *dropped > 0); ++i) {
        auto page = call("GET", "/metrics", {}).body;
        dropped = metric(page, "rampart_trace_spans_dropped_total{reason=\"queue_full\"}");
        if (!(dropped && *dropped > 0)) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(dropped);
    EXPECT_GT(*dropped, 0);

    // Back up: the spans still queued go out, and then new requests' spans arrive again (one sent while the
    // queue is still full is dropped, so ask until one gets through).
    receiver_.control(200);
    bool arrived = false;
    for (int attempt = 0; attempt < 40 && !arrived; ++attempt) {
        auto r = call("GET", "/api/v1/queues", admin_);
        ASSERT_EQ(r.status, 200);
        const std::string spanId = r.header("traceparent").value_or("").substr(36, 16);
        for (int i = 0; i < 10 && !arrived; ++i) {
            const auto spans = receiver_.spans();
            arrived = findSpan(spans, [&](const json::object& s) { return field(s, "spanId") == spanId; });
            if (!arrived) std::this_thread::sleep_for(50ms);
        }
    }
    EXPECT_TRUE(arrived) << "no span arrived after the collector recovered";
}

}  // namespace
}  // namespace rampart::testing
