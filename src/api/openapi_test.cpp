// The OpenAPI document must describe every route the server answers, with its path parameters, its
// bodies and answers, and the security its policy asks for; every reference in it must resolve.
#include "api/openapi.hpp"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "api/job_routes.hpp"
#include "api/system_routes.hpp"
#include "app/config.hpp"
#include "jobs/builtin_tasks.hpp"
#include "jobs/job_service.hpp"
#include "jobs/task_registry.hpp"
#include "testing/audit_key.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;

std::string lowerMethod(http::Verb verb) {
    std::string method(http::beast_http::to_string(verb));
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return method;
}

// Follows a local reference ("#/components/schemas/Job"); null when it leads nowhere.
const json::value* resolve(const json::object& document, std::string_view reference) {
    if (!reference.starts_with("#/")) return nullptr;
    const json::value* at = nullptr;
    const json::object* object = &document;
    std::string_view rest = reference.substr(2);
    while (true) {
        const auto slash = rest.find('/');
        at = object->if_contains(rest.substr(0, slash));
        if (at == nullptr || slash == std::string_view::npos) return at;
        if (!at->is_object()) return nullptr;
        object = &at->get_object();
        rest = rest.substr(slash + 1);
    }
}

void collectReferences(const json::value& value, std::vector<std::string>& out) {
    if (value.is_array()) {
        for (const auto& item : value.get_array()) collectReferences(item, out);
    } else if (value.is_object()) {
        for (const auto& [key, item] : value.get_object()) {
            if (key == "$ref" && item.is_string()) out.emplace_back(item.get_string());
            collectReferences(item, out);
        }
    }
}

class OpenApiTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = store::openStore(SecretString("sqlite://" + (dir_.path() / "t.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
        store_->migrate();
        jobs::addBuiltinTasks(tasks_);
        // A declared type whose schema refers to itself: it cannot be copied into the document as it is.
        tasks_.add(jobs::TaskType{.name = "reports.generate",
                                  .argsSchema = json::parse(R"({"type": "object",
                                      "definitions": {"month": {"type": "string"}},
                                      "properties": {"month": {"$ref": "#/definitions/month"}}})")
                                                    .as_object(),
                                  .external = true});
        settings_.maxBatch = 250;
        jobService_ = std::make_unique<jobs::JobService>(*store_, *store_, tasks_, settings_);
        addSystemRoutes(router_, routeSettings(config_), *store_, metrics_);
        addJobRoutes(router_, tasks_, *jobService_);
    }
    void TearDown() override { store_->close(); }

    const json::object& operation(const json::object& document, std::string_view path,
                                  std::string_view method) {
        return document.at("paths").at(path).at(method).as_object();
    }

    rampart::testing::TempDirectory dir_;
    std::unique_ptr<store::Store> store_;
    Config config_;
    obs::Metrics metrics_;
    jobs::TaskRegistry tasks_;
    jobs::JobsSettings settings_;
    std::unique_ptr<jobs::JobService> jobService_;
    http::Router router_;
};

TEST_F(OpenApiTest, DescribesEveryRouteOfTheServer) {
    auto document = buildOpenApi(router_);
    EXPECT_EQ(document.at("openapi").as_string(), "3.1.0");
    const auto& paths = document.at("paths").as_object();
    ASSERT_FALSE(router_.routes().empty());
    std::set<std::string> operationIds;
    for (const auto& route : router_.routes()) {
        const std::string method = lowerMethod(route.method);
        ASSERT_TRUE(paths.contains(route.pattern))
            << route.pattern << " is missing from the OpenAPI document";
        ASSERT_TRUE(paths.at(route.pattern).as_object().contains(method)) << method << " " << route.pattern;
        const auto& operation = paths.at(route.pattern).at(method).as_object();
        EXPECT_FALSE(operation.at("summary").as_string().empty()) << route.pattern << " has no summary";
        EXPECT_TRUE(operationIds.insert(std::string(operation.at("operationId").as_string())).second)
            << "two operations share the id " << operation.at("operationId");
        // Each says what it answers when it succeeds, and what any error looks like.
        const auto& responses = operation.at("responses").as_object();
        const bool success = std::any_of(responses.begin(), responses.end(),
                                         [](const auto& entry) { return entry.key().starts_with("2"); });
        EXPECT_TRUE(success) << route.pattern << " documents no successful answer";
        EXPECT_TRUE(responses.contains("default")) << route.pattern;
        EXPECT_TRUE(responses.contains("401")) << route.pattern;
        if (route.jsonBody) {
            EXPECT_TRUE(responses.contains("400")) << route.pattern;
            EXPECT_EQ(
                operation.at("requestBody").at("content").at("application/json").at("schema").at("$ref"),
                json::value("#/components/schemas/" + route.requestSchema))
                << route.pattern;
        }
        if (route.rateLimited) {
            EXPECT_TRUE(responses.contains("429")) << route.pattern;
        } else {
            EXPECT_FALSE(responses.contains("429")) << route.pattern;
        }
    }
}

TEST_F(OpenApiTest, EveryReferenceResolves) {
    auto document = buildOpenApi(router_);
    std::vector<std::string> references;
    collectReferences(document, references);
    EXPECT_GT(references.size(), 50u);
    for (const auto& reference : references)
        EXPECT_NE(resolve(document, reference), nullptr) << reference << " leads nowhere";
    EXPECT_EQ(resolve(document, "#/components/schemas/NoSuchThing"), nullptr);
}

TEST_F(OpenApiTest, AnswersOfSubmittingAJob) {
    auto document = buildOpenApi(router_);
    const auto& submit = operation(document, "/api/v1/jobs", "post");
    const auto& responses = submit.at("responses").as_object();
    // Created, or an idempotent replay; both bodies are a job, and only the first says where it lives.
    EXPECT_EQ(responses.at("201").at("content").at("application/json").at("schema").at("$ref"),
              "#/components/schemas/Job");
    EXPECT_TRUE(responses.at("201").at("headers").as_object().contains("Location"));
    EXPECT_EQ(responses.at("200").at("content").at("application/json").at("schema").at("$ref"),
              "#/components/schemas/Job");
    EXPECT_EQ(responses.at("422").at("content").at("application/problem+json").at("schema").at("$ref"),
              "#/components/schemas/Problem");
    EXPECT_EQ(responses.at("409").at("content").at("application/problem+json").at("schema").at("$ref"),
              "#/components/schemas/Problem");
    EXPECT_EQ(responses.at("401").at("$ref"), "#/components/responses/Unauthorized");
    EXPECT_TRUE(responses.at("429").is_object());
    const auto& tooMany = *resolve(document, "#/components/responses/TooManyRequests");
    EXPECT_TRUE(tooMany.at("headers").as_object().contains("Retry-After"));
    EXPECT_TRUE(tooMany.at("headers").as_object().contains("RateLimit"));
    // Path parameters (and the 404 they bring) on the routes that have them.
    const auto& cancel = operation(document, "/api/v1/jobs/{id}/cancel", "post");
    EXPECT_EQ(cancel.at("parameters").as_array().at(0).at("name").as_string(), "id");
    EXPECT_TRUE(cancel.at("responses").as_object().contains("404"));
    EXPECT_FALSE(submit.at("responses").as_object().contains("404"));
    // Query parameters, with their bounds.
    const auto& list = operation(document, "/api/v1/jobs", "get");
    bool limit = false;
    for (const auto& parameter : list.at("parameters").as_array()) {
        if (parameter.at("name") != "limit") continue;
        limit = true;
        EXPECT_EQ(parameter.at("in"), "query");
        EXPECT_EQ(parameter.at("schema").at("maximum"), 500);
    }
    EXPECT_TRUE(limit);
    EXPECT_FALSE(document.at("paths").at("/healthz").at("get").at("responses").as_object().contains("429"));
}

TEST_F(OpenApiTest, SecurityFollowsThePolicyTable) {
    auto document = buildOpenApi(router_, false);
    const auto& schemes = document.at("components").at("securitySchemes").as_object();
    EXPECT_EQ(schemes.at("accessToken").at("bearerFormat"), "JWT");
    EXPECT_EQ(schemes.at("apiToken").at("scheme"), "bearer");
    EXPECT_EQ(schemes.at("sessionCookie").at("in"), "cookie");
    EXPECT_EQ(schemes.at("sessionCookie").at("name"), "rampart_session");  // secure_cookies off
    EXPECT_EQ(schemes.at("csrfToken").at("name"), "X-CSRF-Token");
    EXPECT_EQ(
        buildOpenApi(router_, true).at("components").at("securitySchemes").at("sessionCookie").at("name"),
        "__Host-rampart_session");

    // Public routes need nothing.
    EXPECT_TRUE(operation(document, "/healthz", "get").at("security").as_array().empty());
    EXPECT_TRUE(operation(document, "/openapi.json", "get").at("security").as_array().empty());
    // Submitting: an access token, an API token with jobs:write, or a session with its CSRF header.
    const auto& submit = operation(document, "/api/v1/jobs", "post").at("security").as_array();
    ASSERT_EQ(submit.size(), 3u);
    EXPECT_TRUE(submit.at(0).as_object().contains("accessToken"));
    EXPECT_EQ(submit.at(1).at("apiToken"), json::array{"jobs:write"});
    EXPECT_TRUE(submit.at(2).as_object().contains("sessionCookie"));
    EXPECT_TRUE(submit.at(2).as_object().contains("csrfToken"));
    // Reading needs no CSRF header.
    const auto& read = operation(document, "/api/v1/jobs", "get").at("security").as_array();
    ASSERT_EQ(read.size(), 3u);
    EXPECT_EQ(read.at(1).at("apiToken"), json::array{"jobs:read"});
    EXPECT_FALSE(read.at(2).as_object().contains("csrfToken"));
    EXPECT_NE(operation(document, "/api/v1/jobs", "post").at("description").as_string().find("admin, user"),
              std::string::npos);
}

TEST_F(OpenApiTest, TaskArgumentsComeFromTheRegistry) {
    auto document = buildOpenApi(router_);
    const auto& schemas = document.at("components").at("schemas").as_object();
    // Each type's schema as the registry checks it (objects closed by default).
    EXPECT_EQ(schemas.at("TaskArgs_sleep").at("additionalProperties"), false);
    EXPECT_TRUE(schemas.at("TaskArgs_sleep").at("properties").as_object().contains("seconds"));
    // A schema with references of its own is pointed to, not copied (they would resolve against the
    // document).
    EXPECT_FALSE(schemas.at("TaskArgs_reports.generate").as_object().contains("properties"));
    const auto& any = schemas.at("TaskArgs").at("anyOf").as_array();
    EXPECT_EQ(any.size(), tasks_.all().size());
    // The batch limit is the configured one.
    EXPECT_EQ(schemas.at("JobBatchRequest").at("properties").at("jobs").at("maxItems"), 250);
}

}  // namespace
}  // namespace rampart::api
