// Schedule routes: strict bodies (unknown fields refused, so no owner or progress can be set), each answer
// with the schedule's next five fire times, in UTC and in the schedule's time zone.
#include "api/schedule_routes.hpp"

#include <memory>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include "api/job_json.hpp"
#include "api/json_body.hpp"
#include "api/openapi.hpp"
#include "api/query.hpp"
#include "api/responses.hpp"
#include "core/rfc3339.hpp"
#include "http/problem.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
using http::Exchange;
using http::Status;
using http::Verb;

constexpr std::size_t kMaxScheduleBody = 256 * 1024;
constexpr int kNextFireTimes = 5;

json::object scheduleJson(const jobs::ScheduleService& service, const store::ScheduleRecord& schedule) {
    boost::system::error_code ec;
    json::value args = json::parse(schedule.args, ec);
    if (ec) args = nullptr;
    json::array next;
    json::array nextLocal;
    const auto times = service.nextFireTimes(schedule, kNextFireTimes);
    const auto zone = jobs::loadTimeZone(schedule.timeZone);
    for (const auto& time : times) {
        next.emplace_back(jobs::utcText(time));
        if (zone) nextLocal.emplace_back(jobs::localText(time, *zone));
    }
    return {
        {"id", schedule.id},
        {"name", schedule.name},
        {"task", schedule.task},
        {"args", std::move(args)},
        {"queue", schedule.queue},
        {"priority", schedule.priority},
        {"cron", schedule.cron ? json::value(*schedule.cron) : json::value(nullptr)},
        {"every_seconds", schedule.everySeconds ? json::value(*schedule.everySeconds) : json::value(nullptr)},
        {"time_zone", schedule.timeZone},
        {"enabled", schedule.enabled},
        {"owner", schedule.ownerId},
        {"misfire_policy", schedule.misfirePolicy},
        {"catch_up_max",
         schedule.misfirePolicy == "catch_up" ? json::value(schedule.catchUpMax) : json::value(nullptr)},
        {"skip_if_running", schedule.skipIfRunning},
        {"last_tick", optionalTime(schedule.lastTick)},
        {"last_job_id", schedule.lastJobId ? json::value(*schedule.lastJobId) : json::value(nullptr)},
        {"next_fire_times", std::move(next)},
        {"next_fire_times_local", std::move(nextLocal)},
        {"created", timeText(store::fromMillis(schedule.created))},
        {"updated", timeText(store::fromMillis(schedule.updated))}};
}

jobs::ScheduleDraft readDraft(JsonBody& body) {
    jobs::ScheduleDraft draft;
    draft.name = body.optionalString("name", jobs::kMaxScheduleName);
    draft.task = body.optionalString("task", jobs::kMaxTaskName);
    draft.args = body.optionalJson("args");
    draft.queue = body.optionalString("queue", 64);
    if (auto priority = body.optionalInt("priority", -100, 100)) draft.priority = static_cast<int>(*priority);
    // Longer than the parser takes, so that its answer (with the position) is the one the client sees.
    draft.cron = body.optionalString("cron", 1024);
    draft.everySeconds = body.optionalInt("every_seconds", 1, jobs::ScheduleTiming::kMaxIntervalSeconds);
    draft.timeZone = body.optionalString("time_zone", 64);
    draft.enabled = body.optionalBool("enabled");
    draft.misfirePolicy = body.optionalString("misfire_policy", 16);
    if (auto max = body.optionalInt("catch_up_max", 1, jobs::kMaxCatchUp))
        draft.catchUpMax = static_cast<int>(*max);
    draft.skipIfRunning = body.optionalBool("skip_if_running");
    body.finish({"id", "owner", "owner_id", "created", "updated", "revision", "anchor", "next_due",
                 "last_tick", "last_job_id", "next_fire_times", "next_fire_times_local"});
    return draft;
}

boost::asio::awaitable<void> createSchedule(jobs::ScheduleService& service, Exchange& ex) {
    JsonBody body(ex);
    auto draft = readDraft(body);
    auto context = auditContext(ex);
    auto schedule = co_await service.create(caller(ex), std::move(draft), std::move(context), ex.trace);
    reply(ex, Status::created, scheduleJson(service, schedule));
    ex.response.set(http::beast_http::field::location, "/api/v1/schedules/" + schedule.id);
}

boost::asio::awaitable<void> listSchedules(jobs::ScheduleService& service, Exchange& ex) {
    auto params = queryParams(ex, {"owner", "cursor", "limit"});
    store::ScheduleQuery query;
    query.limit = limitParam(params, 100, store::ScheduleQuery::kMaxLimit);
    if (auto found = params.find("owner"); found != params.end()) query.ownerId = found->second;
    if (auto found = params.find("cursor"); found != params.end()) query.afterId = found->second;
    auto page = co_await service.list(caller(ex), std::move(query), ex.trace);
    json::array items;
    for (const auto& schedule : page.schedules) items.push_back(scheduleJson(service, schedule));
    json::object body{{"items", std::move(items)}};
    body["next_cursor"] = page.nextCursor.empty() ? json::value(nullptr) : json::value(page.nextCursor);
    reply(ex, Status::ok, body);
}

boost::asio::awaitable<void> getSchedule(jobs::ScheduleService& service, Exchange& ex) {
    auto schedule = co_await service.get(caller(ex), std::string(ex.pathParam("id")), ex.trace);
    reply(ex, Status::ok, scheduleJson(service, schedule));
}

boost::asio::awaitable<void> listScheduleTicks(jobs::ScheduleService& service, Exchange& ex) {
    auto params = queryParams(ex, {"limit"});
    const int limit = limitParam(params, 20, store::kTicksKept);
    auto ticks = co_await service.ticks(caller(ex), std::string(ex.pathParam("id")), limit, ex.trace);
    json::array items;
    for (const auto& tick : ticks) {
        items.push_back(json::object{{"fire_time", timeText(store::fromMillis(tick.fireTime))},
                                     {"job_id", tick.jobId ? json::value(*tick.jobId) : json::value(nullptr)},
                                     {"skipped", !tick.jobId.has_value()},
                                     {"skip_reason", tick.skipReason},
                                     {"recorded", timeText(store::fromMillis(tick.recorded))}});
    }
    reply(ex, Status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<void> updateSchedule(jobs::ScheduleService& service, Exchange& ex) {
    JsonBody body(ex);
    auto draft = readDraft(body);
    auto context = auditContext(ex);
    auto schedule = co_await service.update(caller(ex), std::string(ex.pathParam("id")), std::move(draft),
                                            std::move(context), ex.trace);
    reply(ex, Status::ok, scheduleJson(service, schedule));
}

boost::asio::awaitable<void> deleteSchedule(jobs::ScheduleService& service, Exchange& ex) {
    auto context = auditContext(ex);
    co_await service.remove(caller(ex), std::string(ex.pathParam("id")), std::move(context), ex.trace);
    ex.response.result(Status::no_content);
}

}  // namespace

void addScheduleRoutes(http::Router& router, jobs::ScheduleService& service) {
    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/schedules",
         .handler = handler<createSchedule>(service),
         .summary = "Create a schedule: a task submitted by cron expression or interval, in a time zone",
         .tag = "schedules",
         .jsonBody = true,
         .maxBodyBytes = kMaxScheduleBody,
         .operationId = "createSchedule",
         .requestSchema = "ScheduleCreateRequest",
         .answers = {
             http::RouteAnswer{.status = 201,
                               .description = "The schedule, with its next five fire times",
                               .schema = "Schedule",
                               .headers = {"Location"}},
             problemAnswer(400,
                           "A malformed body, a bad cron expression (invalid-cron, with its position), an "
                           "unknown time zone (unknown-time-zone) or timing fields that do not combine"),
             problemAnswer(403,
                           "Users may not manage schedules (schedules-not-allowed), or the owner may not "
                           "submit to the queue (queue-not-allowed)"),
             problemAnswer(409, "schedules.max_per_user or schedules.max_total is reached (schedule-limit)"),
             problemAnswer(
                 422,
                 "An unknown task or queue, args that do not fit the task's schema (invalid-args), or a "
                 "timing that fires more often than schedules.min_interval_seconds "
                 "(interval-too-short)")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/schedules",
                .handler = handler<listSchedules>(service),
                .summary = "Schedules by id: your own (admins and auditors: all), paged",
                .tag = "schedules",
                .operationId = "listSchedules",
                .query = {queryString("owner", "Only schedules of this user id (admins and auditors)"),
                          queryString("cursor", "The next_cursor of the previous page"),
                          queryInteger("limit", "Page size", 1, store::ScheduleQuery::kMaxLimit, 100)},
                .answers = {answer(200, "Schedules by id", "ScheduleList")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/schedules/{id}",
                .handler = handler<getSchedule>(service),
                .summary = "One schedule, with its next five fire times",
                .tag = "schedules",
                .operationId = "getSchedule",
                .answers = {answer(200, "The schedule", "Schedule")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/schedules/{id}/ticks",
                .handler = handler<listScheduleTicks>(service),
                .summary = "A schedule's newest ticks: the job each made, or why it made none",
                .tag = "schedules",
                .operationId = "listScheduleTicks",
                .query = {queryInteger("limit", "How many", 1, store::kTicksKept, 20)},
                .answers = {answer(200, "The newest ticks, newest first", "ScheduleTickList")}});

    router.add(
        {.method = Verb::patch,
         .pattern = "/api/v1/schedules/{id}",
         .handler = handler<updateSchedule>(service),
         .summary = "Change a schedule's fields (a new timing counts from now)",
         .tag = "schedules",
         .jsonBody = true,
         .maxBodyBytes = kMaxScheduleBody,
         .operationId = "updateSchedule",
         .requestSchema = "ScheduleChangeRequest",
         .answers = {
             answer(200, "The schedule as changed", "Schedule"),
             problemAnswer(400, "A malformed body, a bad cron expression or time zone"),
             problemAnswer(403, "Users may not manage schedules, or the owner may not submit to the queue"),
             problemAnswer(409, "The schedule changed meanwhile (schedule-changed): read it again"),
             problemAnswer(422,
                           "An unknown task or queue, args that do not fit the task's schema, or a timing "
                           "that fires more often than schedules.min_interval_seconds")}});

    router.add({.method = Verb::delete_,
                .pattern = "/api/v1/schedules/{id}",
                .handler = handler<deleteSchedule>(service),
                .summary = "Delete a schedule (the jobs it submitted stay)",
                .tag = "schedules",
                .operationId = "deleteSchedule",
                .answers = {answer(204, "Deleted; the jobs it submitted stay")}});
}

}  // namespace rampart::api
