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
#include "api/query.hpp"
#include "api/responses.hpp"
#include "http/middleware/rate_limit.hpp"
#include "http/problem.hpp"
#include "http/trusted_proxies.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
using http::Exchange;
using http::Status;
using http::Verb;

constexpr std::size_t kMaxIdempotencyKey = 200;
constexpr std::size_t kMaxJobBody = 1024 * 1024;
constexpr std::size_t kMaxBatchBody = 16 * 1024 * 1024;

// RFC 3339 in UTC: "2026-01-31T12:00:00Z", optionally with a fraction of a second.
std::optional<std::chrono::system_clock::time_point> parseTime(std::string_view text) {
    std::tm tm{};
    int fractionDigits = 0;
    long fraction = 0;
    if (text.size() < 20 || text.back() != 'Z') return std::nullopt;
    const std::string copy(text);
    char separator = 0;
    int consumed = 0;
    if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &separator, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 7 ||
        (separator != 'T' && separator != 't') || consumed != 19) {
        return std::nullopt;
    }
    std::string_view rest = text.substr(19, text.size() - 20);
    if (!rest.empty()) {
        if (rest.front() != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
        for (char c : rest.substr(1)) {
            if (c < '0' || c > '9') return std::nullopt;
            if (fractionDigits < 3) fraction = fraction * 10 + (c - '0');
            ++fractionDigits;
        }
        for (int i = fractionDigits; i < 3; ++i) fraction *= 10;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const std::time_t seconds = timegm(&tm);
    if (seconds < 0) return std::nullopt;
    return std::chrono::system_clock::from_time_t(seconds) + std::chrono::milliseconds(fraction);
}

// One submission from a JSON object (a request body, or one element of a batch at `at`).
jobs::Submission readSubmission(JsonBody& body, const std::string& at) {
    jobs::Submission submission;
    submission.task = body.requiredString("task", 64);
    submission.args = body.optionalJson("args").value_or(json::object{});
    submission.queue = body.optionalString("queue", 64);
    submission.priority = static_cast<int>(body.optionalInt("priority", -100, 100).value_or(0));
    if (auto runAt = body.optionalString("run_at", 40)) {
        submission.runAt = parseTime(*runAt);
        if (!submission.runAt) {
            json::array errors;
            errors.emplace_back(
                json::object{{"pointer", at + "/run_at"}, {"detail", "must be an RFC 3339 time in UTC"}});
            throw http::ApiError::badRequest("the request body has an invalid field")
                .withErrors(std::move(errors));
        }
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

}  // namespace

void addJobRoutes(http::Router& router, const RouteSettings& settings, const jobs::TaskRegistry& registry,
                  jobs::JobService& service) {
    auto proxies = std::make_shared<http::TrustedProxies>(settings.trustedProxies);
    json::array tasks;
    for (const jobs::TaskType* type : registry.all()) {
        tasks.push_back(json::object{{"name", type->name},
                                     {"description", type->description},
                                     {"args_schema", type->argsSchema},
                                     {"default_queue", type->defaultQueue},
                                     {"timeout_seconds", static_cast<double>(type->timeout.count()) / 1000.0},
                                     {"max_attempts", type->maxAttempts}});
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
                .tag = "jobs"});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/jobs",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    JsonBody body(ex);
                    auto submission = readSubmission(body, "");
                    auto submitted = co_await service.submit(caller(ex), std::move(submission));
                    // 201 only now: the store has committed the job durably.
                    reply(ex, submitted.created ? Status::created : Status::ok, jobJson(submitted.job));
                    if (submitted.created)
                        ex.response.set(http::beast_http::field::location,
                                        "/api/v1/jobs/" + submitted.job.id);
                }),
                .summary = "Submit a job; 201 once it is durable (200 for an idempotent replay)",
                .tag = "jobs",
                .jsonBody = true,
                .maxBodyBytes = kMaxJobBody,
                .rateLimitScope = std::string(http::kJobsSubmitScope)});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/jobs/batch",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    JsonBody body(ex);
                    auto items =
                        body.optionalObjectArray("jobs", static_cast<std::size_t>(service.maxBatch()));
                    body.finish();
                    if (!items)
                        throw http::ApiError::badRequest("the body needs \"jobs\": an array of submissions");
                    std::vector<jobs::Submission> submissions;
                    submissions.reserve(items->size());
                    for (std::size_t i = 0; i < items->size(); ++i) {
                        const std::string at = "/jobs/" + std::to_string(i);
                        JsonBody item(std::move((*items)[i]), at);
                        submissions.push_back(readSubmission(item, at));
                    }
                    auto stored = co_await service.submitBatch(caller(ex), std::move(submissions));
                    json::array out;
                    for (const auto& job : stored) out.push_back(jobJson(job));
                    reply(ex, Status::created, json::object{{"items", std::move(out)}});
                }),
                .summary = "Submit up to jobs.max_batch (default 1,000) jobs in one transaction: all or none",
                .tag = "jobs",
                .jsonBody = true,
                .maxBodyBytes = kMaxBatchBody,
                .rateLimitScope = std::string(http::kJobsSubmitScope)});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/jobs",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    auto params = queryParams(ex, {"state", "queue", "task", "owner", "cursor", "limit"});
                    store::JobQuery query;
                    query.limit = limitParam(params, 100, 500);
                    if (auto found = params.find("state"); found != params.end()) {
                        query.state = jobs::parseState(found->second);
                        if (!query.state) throw http::ApiError::badRequest("unknown state");
                    }
                    if (auto found = params.find("queue"); found != params.end()) query.queue = found->second;
                    if (auto found = params.find("task"); found != params.end()) query.task = found->second;
                    if (auto found = params.find("owner"); found != params.end())
                        query.ownerId = found->second;
                    if (auto found = params.find("cursor"); found != params.end()) {
                        const auto& text = found->second;
                        auto [end, ec] =
                            std::from_chars(text.data(), text.data() + text.size(), query.before);
                        if (ec != std::errc() || end != text.data() + text.size() || query.before < 1) {
                            throw http::ApiError::badRequest("cursor must be a value from next_cursor");
                        }
                    }
                    auto page = co_await service.list(caller(ex), std::move(query));
                    json::array items;
                    for (const auto& job : page.jobs) items.push_back(jobJson(job));
                    json::object body{{"items", std::move(items)}};
                    body["next_cursor"] =
                        page.nextCursor ? json::value(std::to_string(page.nextCursor)) : json::value(nullptr);
                    reply(ex, Status::ok, body);
                }),
                .summary = "Jobs, newest first: your own (admins and auditors: all), filtered and paged",
                .tag = "jobs"});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/jobs/{id}",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    auto job = co_await service.get(caller(ex), std::string(ex.pathParam("id")));
                    reply(ex, Status::ok, jobJson(job));
                }),
                .summary = "One job: state, progress, attempts, result or error",
                .tag = "jobs"});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/jobs/{id}/cancel",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    auto job = co_await service.cancel(caller(ex), std::string(ex.pathParam("id")));
                    reply(ex, Status::ok, jobJson(job));
                }),
                .summary = "Cancel a job: at once unless running, then when its handler sees the request",
                .tag = "jobs"});

    router.add(
        {.method = Verb::get,
         .pattern = "/api/v1/jobs/{id}/events",
         .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
             auto events = co_await service.events(caller(ex), std::string(ex.pathParam("id")));
             json::array items;
             for (const auto& event : events) {
                 items.push_back(json::object{
                     {"time", timeText(event.time)},
                     {"from", event.from ? json::value(jobs::stateName(*event.from)) : json::value(nullptr)},
                     {"to", jobs::stateName(event.to)},
                     {"detail", event.detail}});
             }
             reply(ex, Status::ok, json::object{{"items", std::move(items)}});
         }),
         .summary = "A job's history: every state change, oldest first",
         .tag = "jobs"});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/queues",
                .handler = withJobErrors([&service](Exchange& ex) -> boost::asio::awaitable<void> {
                    auto queues = co_await service.queues();
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
                }),
                .summary = "Every queue: paused or not, and how many jobs it holds in each state",
                .tag = "queues"});

    for (const bool pause : {true, false}) {
        router.add({.method = Verb::post,
                    .pattern = pause ? "/api/v1/queues/{name}/pause" : "/api/v1/queues/{name}/resume",
                    .handler = withJobErrors(
                        [&service, proxies, pause](Exchange& ex) -> boost::asio::awaitable<void> {
                            const std::string name(ex.pathParam("name"));
                            jobs::AuditContext context{.requestId = ex.requestId,
                                                       .client = proxies->clientAddress(ex).to_string()};
                            co_await service.setQueuePaused(caller(ex), name, pause, std::move(context));
                            reply(ex, Status::ok, json::object{{"name", name}, {"paused", pause}});
                        }),
                    .summary = pause ? "Pause a queue: its jobs wait (running ones go on) until it is resumed"
                                     : "Resume a paused queue",
                    .tag = "queues"});
    }
}

}  // namespace rampart::api
