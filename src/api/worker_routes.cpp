// Worker routes: each reads its body strictly (unknown fields are a 400), calls the lease service and
// shapes the answer. Lease calls are frequent and not audited; refusals by the route policy are (the
// authorization stage), and every state change a worker causes is in the job's history.
#include "api/worker_routes.hpp"

#include <boost/json/array.hpp>

#include "api/error_mapping.hpp"
#include "api/job_json.hpp"
#include "api/json_body.hpp"
#include "api/openapi.hpp"
#include "api/responses.hpp"
#include "core/rfc3339.hpp"
#include "http/problem.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
using http::Exchange;
using http::Status;
using http::Verb;

constexpr std::size_t kMaxSmallBody = 16 * 1024;
constexpr std::size_t kMaxCompleteBody = 1024 * 1024;     // bounds the result
constexpr std::size_t kMaxReportsBody = 4 * 1024 * 1024;  // bounds a batch's results together
constexpr std::size_t kMaxJobId = 64;
constexpr std::size_t kMaxQueueName = 64;
// The 409 every report route answers (OpenAPI).
constexpr std::string_view kLeaseLost =
    "The caller leased this job once but does not hold it now under this lease id (lease-lost): drop it";

[[noreturn]] void missing(std::string_view pointer) {
    throw http::ApiError::invalidField(pointer, "is required");
}

std::string jobId(const Exchange& ex) {
    return std::string(ex.pathParam("id"));
}

json::object reportedJson(const std::string& id, const jobs::Reported& reported) {
    json::object body{{"id", id}, {"state", jobs::stateName(reported.state)}};
    if (reported.retryAt) body["retry_at"] = timeText(store::fromMillis(*reported.retryAt));
    return body;
}

boost::asio::awaitable<void> leaseJobs(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    jobs::LeaseRequest request;
    auto queues = body.optionalStringArray("queues", jobs::LeaseService::kMaxQueues, kMaxQueueName);
    if (!queues) missing("/queues");
    request.queues = std::move(*queues);
    request.max = static_cast<int>(body.optionalInt("max", 1, 100).value_or(1));
    request.duration = std::chrono::seconds(
        body.optionalInt("lease_seconds", 5, 3600).value_or(jobs::LeaseService::kDefaultLease.count()));
    if (auto tasks = body.optionalStringArray("tasks", jobs::LeaseService::kMaxTasks, jobs::kMaxTaskName))
        request.tasks = std::move(*tasks);
    request.wait = std::chrono::seconds(
        body.optionalInt("wait_seconds", 0, jobs::LeaseService::kMaxWait.count()).value_or(0));
    body.finish({"lease_id", "holder", "owner"});
    auto lease = co_await service.lease(caller(ex), std::move(request), ex.trace);
    json::array jobs;
    for (std::size_t i = 0; i < lease.jobs.size(); ++i) {
        const auto& job = lease.jobs[i];
        auto item = jobJson(job);
        item["lease_id"] = lease.leaseId;
        if (i < lease.traceParents.size()) item["traceparent"] = lease.traceParents[i];
        // Each job's own: a lease ends no later than kTimeoutGrace after the job's timeout.
        item["lease_expires"] = timeText(store::fromMillis(job.leaseExpires.value_or(lease.expires)));
        jobs.push_back(std::move(item));
    }
    reply(ex, Status::ok, json::object{{"jobs", std::move(jobs)}});
}

boost::asio::awaitable<void> heartbeat(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    auto leaseId = body.requiredString("lease_id", jobs::LeaseService::kMaxLeaseId);
    std::optional<std::chrono::seconds> duration;
    if (auto seconds = body.optionalInt("lease_seconds", 5, 3600)) duration = std::chrono::seconds(*seconds);
    body.finish();
    auto beat = co_await service.heartbeat(caller(ex), jobId(ex), std::move(leaseId), duration);
    reply(ex, Status::ok,
          json::object{{"lease_expires", timeText(store::fromMillis(beat.expires))},
                       {"cancel_requested", beat.cancelRequested}});
}

boost::asio::awaitable<void> reportProgress(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    auto leaseId = body.requiredString("lease_id", jobs::LeaseService::kMaxLeaseId);
    auto percent = body.optionalInt("percent", 0, 100);
    if (!percent) missing("/percent");
    auto message = body.optionalString("message", jobs::LeaseService::kMaxProgressMessage).value_or("");
    body.finish();
    co_await service.progress(caller(ex), jobId(ex), std::move(leaseId), static_cast<int>(*percent),
                              std::move(message));
    ex.response.result(Status::no_content);
    ex.response.body().clear();
}

boost::asio::awaitable<void> completeJob(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    jobs::AttemptEnding ending{.jobId = jobId(ex),
                               .leaseId = body.requiredString("lease_id", jobs::LeaseService::kMaxLeaseId),
                               .succeeded = true,
                               .result = body.optionalJson("result")};
    body.finish();
    const std::string id = ending.jobId;
    auto reported = co_await service.report(caller(ex), std::move(ending), ex.trace);
    reply(ex, Status::ok, reportedJson(id, reported));
}

boost::asio::awaitable<void> failJob(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    jobs::AttemptEnding ending{.jobId = jobId(ex),
                               .leaseId = body.requiredString("lease_id", jobs::LeaseService::kMaxLeaseId),
                               .succeeded = false,
                               .error = body.requiredString("error", jobs::LeaseService::kMaxError),
                               .retry = body.optionalBool("retry").value_or(true)};
    body.finish();
    const std::string id = ending.jobId;
    auto reported = co_await service.report(caller(ex), std::move(ending), ex.trace);
    reply(ex, Status::ok, reportedJson(id, reported));
}

// One item of POST /api/v1/worker/reports, read with the single routes' rules.
jobs::AttemptEnding endingOf(boost::json::object item, std::size_t index) {
    const std::string at = "/reports/" + std::to_string(index);
    JsonBody body(std::move(item), at);
    jobs::AttemptEnding ending;
    ending.jobId = body.requiredString("id", kMaxJobId);
    ending.leaseId = body.requiredString("lease_id", jobs::LeaseService::kMaxLeaseId);
    const std::string outcome = body.requiredString("outcome", 16);
    if (outcome == "succeeded") {
        ending.result = body.optionalJson("result");
    } else if (outcome == "failed") {
        ending.succeeded = false;
        ending.error = body.requiredString("error", jobs::LeaseService::kMaxError);
        ending.retry = body.optionalBool("retry").value_or(true);
    } else {
        throw http::ApiError::invalidField(at + "/outcome", "must be \"succeeded\" or \"failed\"");
    }
    body.finish();
    return ending;
}

// Many attempts' endings in one request and one store write: each is answered on its own, with where
// it took the job or the problem the single route would have answered.
boost::asio::awaitable<void> reportJobs(jobs::LeaseService& service, Exchange& ex) {
    JsonBody body(ex);
    auto items = body.optionalObjectArray("reports", jobs::LeaseService::kMaxReports);
    if (!items) missing("/reports");
    body.finish();
    std::vector<jobs::AttemptEnding> endings;
    endings.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) endings.push_back(endingOf(std::move((*items)[i]), i));
    std::vector<std::string> ids;
    for (const auto& ending : endings) ids.push_back(ending.jobId);
    auto answers = co_await service.reportMany(caller(ex), std::move(endings), ex.trace);
    json::array reports;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        if (answers[i].reported) {
            reports.push_back(reportedJson(ids[i], *answers[i].reported));
        } else {
            const jobs::JobError& refused = *answers[i].refused;
            // The single routes' 404 speaks of a path; an entry's is about its job (the same title).
            const http::ApiError problem =
                refused.kind() == jobs::JobError::Kind::notFound
                    ? http::ApiError(Status::not_found, "not-found", "Not found", "no such job")
                    : apiErrorFor(refused);
            reports.push_back(
                json::object{{"id", ids[i]}, {"problem", http::problemJson(problem, ex.requestId)}});
        }
    }
    reply(ex, Status::ok, json::object{{"reports", std::move(reports)}});
}

}  // namespace

void addWorkerRoutes(http::Router& router, jobs::LeaseService& service) {
    router.add({.method = Verb::post,
                .pattern = "/api/v1/worker/lease",
                .handler = handler<leaseJobs>(service),
                .summary = "Lease up to `max` queued jobs of permitted queues, waiting up to `wait_seconds` "
                           "for one (workers)",
                .tag = "worker",
                .jsonBody = true,
                .maxBodyBytes = kMaxSmallBody,
                .operationId = "leaseJobs",
                .requestSchema = "LeaseRequest",
                .answers = {
                    answer(200, "The leased jobs, each now running (the list may be empty)", "LeaseAnswer"),
                    problemAnswer(
                        403,
                        "A queue or task type the caller may not lease (queue-not-allowed, task-not-allowed: "
                        "`errors` names each, /queues/1), or the caller is not a worker")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/worker/jobs/{id}/heartbeat",
                .handler = handler<heartbeat>(service),
                .summary = "Extend a lease; says whether the job's cancel was requested (the lease holder)",
                .tag = "worker",
                .jsonBody = true,
                .maxBodyBytes = kMaxSmallBody,
                .operationId = "heartbeatJob",
                .requestSchema = "HeartbeatRequest",
                .answers = {answer(200, "The lease is extended", "HeartbeatAnswer"),
                            problemAnswer(409, std::string(kLeaseLost))}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/worker/jobs/{id}/progress",
                .handler = handler<reportProgress>(service),
                .summary = "Record a job's progress, 0-100 and a short message (the lease holder)",
                .tag = "worker",
                .jsonBody = true,
                .maxBodyBytes = kMaxSmallBody,
                .operationId = "reportJobProgress",
                .requestSchema = "ProgressRequest",
                .answers = {answer(204, "Recorded"), problemAnswer(409, std::string(kLeaseLost))}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/worker/jobs/{id}/complete",
         .handler = handler<completeJob>(service),
         .summary = "Succeed a job with its result (the lease holder)",
         .tag = "worker",
         .jsonBody = true,
         .maxBodyBytes = kMaxCompleteBody,
         .operationId = "completeJob",
         .requestSchema = "CompleteRequest",
         .answers = {
             answer(200, "The job succeeded", "ReportAnswer"),
             problemAnswer(400,
                           "A malformed body, or a result that does not fit the task type's result_schema "
                           "(invalid-result: `errors` names each field, /result/url); the job stays leased"),
             problemAnswer(409, std::string(kLeaseLost))}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/worker/jobs/{id}/fail",
                .handler = handler<failJob>(service),
                .summary = "Fail a job's attempt: retried after its back-off, or dead (the lease holder)",
                .tag = "worker",
                .jsonBody = true,
                .maxBodyBytes = kMaxSmallBody,
                .operationId = "failJob",
                .requestSchema = "FailRequest",
                .answers = {answer(200, "The job failed (retried at retry_at), is dead, or is canceled",
                                   "ReportAnswer"),
                            problemAnswer(409, std::string(kLeaseLost))}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/worker/reports",
                .handler = handler<reportJobs>(service),
                .summary = "End many attempts at once, each a success with its result or a failure (the "
                           "lease holder of each)",
                .tag = "worker",
                .jsonBody = true,
                .maxBodyBytes = kMaxReportsBody,
                .operationId = "reportJobs",
                .requestSchema = "ReportsRequest",
                .answers = {answer(200,
                                   "Each report's outcome, in the request's order: where it took the job, or "
                                   "the problem its single route would have answered (lease-lost, not-found, "
                                   "invalid-result)",
                                   "ReportsAnswer")}});
}

}  // namespace rampart::api
