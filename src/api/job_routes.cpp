// Job routes. The task list is built once (the registry is fixed once the server starts); the rest
// parse the request, call the jobs service and shape the JSON answer.
#include "api/job_routes.hpp"

#include <charconv>
#include <ctime>
#include <memory>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "api/job_json.hpp"
#include "api/json_body.hpp"
#include "api/openapi.hpp"
#include "api/openapi_schemas.hpp"
#include "api/query.hpp"
#include "api/responses.hpp"
#include "core/rfc3339.hpp"
#include "http/middleware/rate_limit.hpp"
#include "http/problem.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
using http::Exchange;
using http::Status;
using http::Verb;

constexpr std::size_t kMaxIdempotencyKey = 200;
constexpr std::size_t kMaxJobBody = 1024 * 1024;
constexpr std::size_t kMaxBatchBody = 16 * 1024 * 1024;

// One submission from a JSON object (a request body, or one element of a batch at `at`).
jobs::Submission readSubmission(JsonBody& body, const std::string& at) {
    jobs::Submission submission;
    submission.task = body.requiredString("task", jobs::kMaxTaskName);
    submission.args = body.optionalJson("args").value_or(json::object{});
    submission.queue = body.optionalString("queue", 64);
    if (auto priority = body.optionalInt("priority", -100, 100))
        submission.priority = static_cast<int>(*priority);
    if (auto runAt = body.optionalString("run_at", 40)) {
        submission.runAt = parseTimeText(*runAt);
        if (!submission.runAt)
            throw http::ApiError::invalidField(at + "/run_at", "must be an RFC 3339 time in UTC");
    }
    if (auto attempts = body.optionalInt("max_attempts", 1, 100))
        submission.maxAttempts = static_cast<int>(*attempts);
    if (auto timeout = body.optionalInt("timeout_seconds", 1, 86400))
        submission.timeout = std::chrono::seconds(*timeout);
    submission.idempotencyKey = body.optionalString("idempotency_key", kMaxIdempotencyKey);
    body.finish({"id", "owner", "owner_id", "state", "attempts", "result", "error", "progress", "created",
                 "updated", "finished", "lease_holder", "cancel_requested"});
    return submission;
}

boost::asio::awaitable<void> submitJob(jobs::JobService& service, Exchange& ex) {
    JsonBody body(ex);
    auto submission = readSubmission(body, "");
    auto submitted = co_await service.submit(caller(ex), std::move(submission), ex.trace);
    // 201 only now: the store has committed the job durably.
    reply(ex, submitted.created ? Status::created : Status::ok, jobJson(submitted.job));
    if (submitted.created)
        ex.response.set(http::beast_http::field::location, "/api/v1/jobs/" + submitted.job.id);
}

boost::asio::awaitable<void> submitJobBatch(jobs::JobService& service, Exchange& ex) {
    JsonBody body(ex);
    auto items = body.optionalObjectArray("jobs", static_cast<std::size_t>(service.maxBatch()));
    body.finish();
    if (!items) throw http::ApiError::badRequest("the body needs \"jobs\": an array of submissions");
    std::vector<jobs::Submission> submissions;
    submissions.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
        const std::string at = "/jobs/" + std::to_string(i);
        JsonBody item(std::move((*items)[i]), at);
        submissions.push_back(readSubmission(item, at));
    }
    auto stored = co_await service.submitBatch(caller(ex), std::move(submissions), ex.trace);
    json::array out;
    for (const auto& job : stored) out.push_back(jobJson(job));
    reply(ex, Status::created, json::object{{"items", std::move(out)}});
}

boost::asio::awaitable<void> listJobs(jobs::JobService& service, Exchange& ex) {
    auto params = queryParams(ex, {"state", "queue", "task", "owner", "cursor", "limit"});
    store::JobQuery query;
    query.limit = limitParam(params, 100, 500);
    if (auto found = params.find("state"); found != params.end()) {
        query.state = jobs::parseState(found->second);
        if (!query.state) throw http::ApiError::badRequest("unknown state");
    }
    if (auto found = params.find("queue"); found != params.end()) query.queue = found->second;
    if (auto found = params.find("task"); found != params.end()) query.task = found->second;
    if (auto found = params.find("owner"); found != params.end()) query.ownerId = found->second;
    if (auto found = params.find("cursor"); found != params.end()) {
        const auto& text = found->second;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), query.before);
        if (ec != std::errc() || end != text.data() + text.size() || query.before < 1) {
            throw http::ApiError::badRequest("cursor must be a value from next_cursor");
        }
    }
    auto page = co_await service.list(caller(ex), std::move(query), ex.trace);
    json::array items;
    for (const auto& job : page.jobs) items.push_back(jobJson(job));
    json::object body{{"items", std::move(items)}};
    body["next_cursor"] =
        page.nextCursor ? json::value(std::to_string(page.nextCursor)) : json::value(nullptr);
    reply(ex, Status::ok, body);
}

boost::asio::awaitable<void> getJob(jobs::JobService& service, Exchange& ex) {
    auto job = co_await service.get(caller(ex), std::string(ex.pathParam("id")), ex.trace);
    replyText(ex, Status::ok, jobJsonText(job));
}

boost::asio::awaitable<void> cancelJob(jobs::JobService& service, Exchange& ex) {
    auto context = auditContext(ex);
    auto job =
        co_await service.cancel(caller(ex), std::string(ex.pathParam("id")), std::move(context), ex.trace);
    reply(ex, Status::ok, jobJson(job));
}

boost::asio::awaitable<void> retryJob(jobs::JobService& service, Exchange& ex) {
    auto context = auditContext(ex);
    auto job =
        co_await service.retry(caller(ex), std::string(ex.pathParam("id")), std::move(context), ex.trace);
    reply(ex, Status::ok, jobJson(job));
}

boost::asio::awaitable<void> listJobEvents(jobs::JobService& service, Exchange& ex) {
    auto events = co_await service.events(caller(ex), std::string(ex.pathParam("id")), ex.trace);
    json::array items;
    for (const auto& event : events) {
        items.push_back(json::object{
            {"time", timeText(store::fromMillis(event.time))},
            {"from", event.from ? json::value(jobs::stateName(*event.from)) : json::value(nullptr)},
            {"to", jobs::stateName(event.to)},
            {"detail", event.detail}});
    }
    reply(ex, Status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<void> listQueues(jobs::JobService& service, Exchange& ex) {
    auto queues = co_await service.queues(ex.trace);
    json::array items;
    for (const auto& queue : queues) {
        json::object counts;
        for (jobs::JobState state : jobs::kAllStates) counts[jobs::stateName(state)] = 0;
        std::int64_t total = 0;
        for (const auto& [state, count] : queue.counts) {
            counts[jobs::stateName(state)] = count;
            total += count;
        }
        items.push_back(json::object{{"name", queue.name},
                                     {"configured", queue.configured},
                                     {"paused", queue.paused},
                                     {"counts", std::move(counts)},
                                     {"total", total}});
    }
    reply(ex, Status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<void> setQueuePaused(jobs::JobService& service, Exchange& ex, bool pause) {
    const std::string name(ex.pathParam("name"));
    co_await service.setQueuePaused(caller(ex), name, pause, auditContext(ex), ex.trace);
    reply(ex, Status::ok, json::object{{"name", name}, {"paused", pause}});
}

boost::asio::awaitable<void> pauseQueue(jobs::JobService& service, Exchange& ex) {
    return setQueuePaused(service, ex, true);
}

boost::asio::awaitable<void> resumeQueue(jobs::JobService& service, Exchange& ex) {
    return setQueuePaused(service, ex, false);
}

// Whether a task type's argument schema means the same inside the OpenAPI document: references and
// identifiers of its own would resolve against the document instead, and a draft-7 tuple `items` (an
// array) means something else in the JSON Schema of OpenAPI 3.1.
bool standsAlone(const json::value& schema) {
    if (schema.is_array()) {
        for (const auto& item : schema.get_array())
            if (!standsAlone(item)) return false;
        return true;
    }
    if (!schema.is_object()) return true;
    for (const auto& [key, value] : schema.get_object()) {
        if (key == "$ref" || key == "$id" || key == "$defs" || key == "definitions" || key == "$anchor" ||
            key == "$dynamicRef" || key == "$recursiveRef" || key == "dependencies")
            return false;
        if (key == "items" && value.is_array()) return false;
        if (key != "enum" && key != "const" && key != "default" && key != "examples" && !standsAlone(value))
            return false;
    }
    return true;
}

// The OpenAPI components of the task types' arguments: TaskArgs_<name> each (its args_schema, as the
// registry checks it), and TaskArgs, any of them (which one: the type the submission names).
json::object taskArgsSchemas(const jobs::TaskRegistry& registry) {
    json::object schemas;
    json::array any;
    for (const jobs::TaskType* type : registry.all()) {
        const std::string name = "TaskArgs_" + type->name;
        json::object schema;
        if (standsAlone(type->argsSchema)) {
            schema = type->argsSchema;
            schema.erase("$schema");
            if (!schema.contains("description"))
                schema["description"] = "The args of the task type " + type->name;
        } else {
            schema["description"] =
                "The args of the task type " + type->name +
                ": its args_schema (GET /api/v1/tasks) refers to itself, so it is not copied here";
        }
        any.push_back(json::object{{"$ref", "#/components/schemas/" + name}});
        schemas[name] = std::move(schema);
    }
    if (!any.empty()) {
        schemas["TaskArgs"] = json::object{{"description",
                                            "A job's arguments: they must fit the args_schema of the task "
                                            "type the submission names (TaskArgs_<task>)"},
                                           {"anyOf", std::move(any)}};
    }
    return schemas;
}

}  // namespace

void addJobRoutes(http::Router& router, const jobs::TaskRegistry& registry, jobs::JobService& service) {
    json::array tasks;
    for (const jobs::TaskType* type : registry.all()) {
        json::object item{{"name", type->name},
                          {"description", type->description},
                          {"args_schema", type->argsSchema},
                          {"default_queue", type->defaultQueue},
                          {"priority", type->priority},
                          {"runs_on", type->external ? "external" : "in-process"},
                          {"timeout_seconds", secondsJson(type->timeout.count())},
                          {"max_attempts", type->maxAttempts}};
        if (type->resultSchema) item["result_schema"] = *type->resultSchema;
        tasks.push_back(std::move(item));
    }
    auto taskList = std::make_shared<const std::string>(json::serialize(json::object{{"items", tasks}}));
    router.add({.method = Verb::get,
                .pattern = "/api/v1/tasks",
                .handler = [taskList](Exchange& ex) -> boost::asio::awaitable<void> {
                    ex.response.result(Status::ok);
                    ex.response.set(http::beast_http::field::content_type, "application/json");
                    ex.response.body() = *taskList;
                    co_return;
                },
                .summary = "The task types that jobs may run, with their argument schemas",
                .tag = "jobs",
                .operationId = "listTaskTypes",
                .answers = {answer(200, "Every task type, by name", "TaskTypeList")},
                .schemas = taskArgsSchemas(registry)});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/jobs",
         .handler = handler<submitJob>(service),
         .summary = "Submit a job; 201 once it is durable (200 for an idempotent replay)",
         .tag = "jobs",
         .jsonBody = true,
         .maxBodyBytes = kMaxJobBody,
         .rateLimitScope = std::string(http::kJobsSubmitScope),
         .operationId = "submitJob",
         .requestSchema = "JobSubmission",
         .answers = {
             http::RouteAnswer{.status = 201,
                               .description = "The job, durably stored",
                               .schema = "Job",
                               .headers = {"Location"}},
             answer(200, "An idempotent replay: the job the same idempotency_key and request made before",
                    "Job"),
             problemAnswer(
                 403,
                 "The caller's role or token may not submit to the queue (queue-not-allowed), or may "
                 "not call this route"),
             problemAnswer(409,
                           "The idempotency_key was used with a different request (idempotency-key-reused)"),
             problemAnswer(
                 422,
                 "An unknown task or queue (unknown-task, unknown-queue), or args that do not fit the "
                 "task's schema (invalid-args: `errors` names each field, /args/url)")}});

    json::object batchRequest = openApiSchemas().at("JobBatchRequest").as_object();
    batchRequest["properties"].as_object()["jobs"].as_object()["maxItems"] = service.maxBatch();
    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/jobs/batch",
         .handler = handler<submitJobBatch>(service),
         .summary = "Submit up to jobs.max_batch (default 1,000) jobs in one transaction: all or none",
         .tag = "jobs",
         .jsonBody = true,
         .maxBodyBytes = kMaxBatchBody,
         .rateLimitScope = std::string(http::kJobsSubmitScope),
         .operationId = "submitJobBatch",
         .requestSchema = "JobBatchRequest",
         .answers = {answer(201, "Every job, durably stored, in the order submitted", "JobBatch"),
                     problemAnswer(403, "A queue the caller may not submit to (queue-not-allowed)"),
                     problemAnswer(409, "An idempotency_key was used with a different request"),
                     problemAnswer(
                         422,
                         "An unknown task or queue, or args that do not fit (pointers name the element: "
                         "/jobs/3/args/seconds); nothing is stored")},
         .schemas = {{"JobBatchRequest", batchRequest}}});

    router.add(
        {.method = Verb::get,
         .pattern = "/api/v1/jobs",
         .handler = handler<listJobs>(service),
         .summary = "Jobs, newest first: your own (admins and auditors: all), filtered and paged",
         .tag = "jobs",
         .operationId = "listJobs",
         .query = {http::QueryParameter{.name = "state",
                                        .description = "Only jobs in this state",
                                        .schema = {{"$ref", "#/components/schemas/JobState"}}},
                   queryString("queue", "Only jobs of this queue"),
                   queryString("task", "Only jobs of this task type"),
                   queryString("owner",
                               "Only jobs of this user id (admins and auditors; users see their own only)"),
                   queryString("cursor", "The next_cursor of the previous page"),
                   queryInteger("limit", "Page size", 1, 500, 100)},
         .answers = {answer(200, "Jobs, newest first", "JobList")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/jobs/{id}",
                .handler = handler<getJob>(service),
                .summary = "One job: state, progress, attempts, result or error",
                .tag = "jobs",
                .operationId = "getJob",
                .answers = {answer(200, "The job", "Job")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/jobs/{id}/cancel",
                .handler = handler<cancelJob>(service),
                .summary = "Cancel a job: at once unless running, then when its handler sees the request",
                .tag = "jobs",
                .operationId = "cancelJob",
                .answers = {answer(200, "The job: canceled, or running with cancel_requested", "Job"),
                            problemAnswer(409, "The job has finished already (job-finished)")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/jobs/{id}/retry",
                .handler = handler<retryJob>(service),
                .summary =
                    "Run a failed or dead job again now: queued at once, a dead job with no attempt left "
                    "given one more",
                .tag = "jobs",
                .operationId = "retryJob",
                .answers = {answer(200, "The job, queued", "Job"),
                            problemAnswer(409,
                                          "The job is neither failed nor dead, or its task type is no "
                                          "longer declared (job-not-retryable)")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/jobs/{id}/events",
                .handler = handler<listJobEvents>(service),
                .summary = "A job's history: every state change, oldest first",
                .tag = "jobs",
                .operationId = "listJobEvents",
                .answers = {answer(200, "Every state change, oldest first", "JobEventList")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/queues",
                .handler = handler<listQueues>(service),
                .summary = "Every queue: paused or not, and how many jobs it holds in each state",
                .tag = "queues",
                .operationId = "listQueues",
                .answers = {answer(200, "Every queue", "QueueList")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/queues/{name}/pause",
                .handler = handler<pauseQueue>(service),
                .summary = "Pause a queue: its jobs wait (running ones go on) until it is resumed",
                .tag = "queues",
                .operationId = "pauseQueue",
                .answers = {answer(200, "Paused", "QueuePaused")}});
    router.add({.method = Verb::post,
                .pattern = "/api/v1/queues/{name}/resume",
                .handler = handler<resumeQueue>(service),
                .summary = "Resume a paused queue",
                .tag = "queues",
                .operationId = "resumeQueue",
                .answers = {answer(200, "Resumed", "QueuePaused")}});
}

}  // namespace rampart::api
