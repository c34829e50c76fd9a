// Schedules are checked as a whole on every save: the draft is applied to the stored record (or to the
// defaults), then every field is validated, the job it would submit included, through JobService::prepare.
// (Coroutines here follow docs/development.md's g++ 12 rules.)
#include "jobs/schedule_service.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "identity/api_token.hpp"
#include "obs/audit.hpp"
#include "obs/traced.hpp"

namespace rampart::jobs {
namespace {

using Kind = JobError::Kind;
using identity::Role;

[[noreturn]] void invalid(std::string pointer, std::string detail, std::string slug = "invalid-field") {
    std::vector<JobError::FieldError> errors;
    errors.push_back({pointer, detail});
    throw JobError(Kind::invalid, std::move(slug), pointer.substr(1) + " " + detail, std::move(errors));
}

store::Millis wholeSeconds(store::Millis millis) {
    return millis - millis % 1000;
}

bool seesAll(const identity::Principal& caller) {
    return caller.role == Role::admin || caller.role == Role::auditor;
}

}  // namespace

ScheduleService::ScheduleService(store::ScheduleStore& store, store::IdentityStore& users,
                                 store::AuditSink& audit, const JobService& jobs, ScheduleSettings settings,
                                 identity::Clock clock)
    : store_(store),
      users_(users),
      audit_(audit),
      jobs_(jobs),
      settings_(settings),
      clock_(std::move(clock)) {}

store::Millis ScheduleService::now() const {
    return store::toMillis(clock_());
}

void ScheduleService::authorize(const identity::Principal& caller) const {
    if (caller.role == Role::admin || caller.role == Role::auditor) return;
    if (caller.role == Role::user && settings_.allowUsers) return;
    throw JobError(Kind::forbidden, "schedules-not-allowed",
                   caller.role == Role::user
                       ? "only admins manage schedules here (schedules.allow_users is off)"
                       : "your role may not use schedules");
}

void ScheduleService::validate(const identity::Principal& owner, const store::ScheduleRecord& schedule,
                               store::Millis now) const {
    if (schedule.name.empty() || schedule.name.size() > kMaxScheduleName) {
        invalid("/name", "must be 1 to " + std::to_string(kMaxScheduleName) + " bytes");
    }
    if (schedule.cron.has_value() == schedule.everySeconds.has_value()) {
        invalid(schedule.cron ? "/every_seconds" : "/cron", "a schedule has either cron or every_seconds");
    }
    if (!loadTimeZone(schedule.timeZone)) {
        invalid("/time_zone", "is not a time zone of the tz database (e.g. \"Europe/Berlin\", \"UTC\")",
                "unknown-time-zone");
    }
    if (schedule.everySeconds &&
        (*schedule.everySeconds < 1 || *schedule.everySeconds > ScheduleTiming::kMaxIntervalSeconds)) {
        invalid("/every_seconds",
                "must be between 1 and " + std::to_string(ScheduleTiming::kMaxIntervalSeconds));
    }
    std::optional<ScheduleTiming> timing;
    try {
        timing = ScheduleTiming::of(schedule);
    } catch (const CronParseError& error) {
        std::vector<JobError::FieldError> errors;
        errors.push_back({"/cron", error.what()});
        throw JobError(Kind::invalid, "invalid-cron",
                       std::string("the cron expression is invalid: ") + error.what(), std::move(errors));
    }
    // Checked on enabled schedules only, so that one saved before the minimum was raised can be disabled.
    if (schedule.enabled && timing->shortestGap() < std::chrono::seconds(settings_.minIntervalSeconds)) {
        const std::string pointer = schedule.cron ? "/cron" : "/every_seconds";
        const std::string least = std::to_string(settings_.minIntervalSeconds);
        const std::string detail =
            schedule.cron
                ? "fires more often than every " + least + " seconds (schedules.min_interval_seconds)"
                : "must be at least " + least + " (schedules.min_interval_seconds)";
        std::vector<JobError::FieldError> errors;
        errors.push_back({pointer, detail});
        throw JobError(Kind::unprocessable, "interval-too-short", pointer.substr(1) + " " + detail,
                       std::move(errors));
    }
    if (schedule.misfirePolicy != "skip" && schedule.misfirePolicy != "run_once" &&
        schedule.misfirePolicy != "catch_up") {
        invalid("/misfire_policy", "must be skip, run_once or catch_up");
    }
    if (schedule.misfirePolicy == "catch_up" &&
        (schedule.catchUpMax < 1 || schedule.catchUpMax > kMaxCatchUp)) {
        invalid("/catch_up_max", "must be between 1 and " + std::to_string(kMaxCatchUp));
    }
    if (schedule.misfirePolicy != "catch_up" && schedule.catchUpMax != 0) {
        invalid("/catch_up_max", "is only for misfire_policy catch_up");
    }
    // The job each tick submits, checked as a submit by the owner would be (task, schema, queue, priority).
    Submission submission;
    submission.task = schedule.task;
    submission.args = boost::json::parse(schedule.args);
    submission.queue = schedule.queue;
    submission.priority = schedule.priority;
    (void)jobs_.prepare(owner, std::move(submission), "", now);
}

boost::asio::awaitable<store::ScheduleRecord> ScheduleService::create(identity::Principal caller,
                                                                      ScheduleDraft draft,
                                                                      AuditContext context,
                                                                      const obs::Span& trace) {
    authorize(caller);
    if (caller.role == Role::auditor) throw JobError(Kind::forbidden, "read-only", "auditors change nothing");
    const store::Millis time = now();
    if (!draft.task) invalid("/task", "is required");
    if (!draft.name) invalid("/name", "is required");
    if (!draft.cron && !draft.everySeconds) invalid("/cron", "a schedule needs cron or every_seconds");
    store::ScheduleRecord schedule;
    schedule.id = identity::randomToken(16);
    schedule.name = std::move(*draft.name);
    schedule.task = std::move(*draft.task);
    schedule.args = boost::json::serialize(draft.args.value_or(boost::json::object{}));
    schedule.priority = draft.priority.value_or(0);
    schedule.cron = std::move(draft.cron);
    schedule.everySeconds = draft.everySeconds;
    schedule.timeZone = draft.timeZone.value_or("UTC");
    schedule.enabled = draft.enabled.value_or(true);
    schedule.ownerId = caller.userId;
    schedule.misfirePolicy = draft.misfirePolicy.value_or("run_once");
    schedule.catchUpMax = draft.catchUpMax.value_or(schedule.misfirePolicy == "catch_up" ? 10 : 0);
    schedule.skipIfRunning = draft.skipIfRunning.value_or(false);
    schedule.anchor = wholeSeconds(time);
    schedule.created = schedule.updated = time;
    // The queue: the one given, else the task's default (prepare resolves it).
    if (draft.queue) {
        schedule.queue = std::move(*draft.queue);
    } else {
        Submission probe;
        probe.task = schedule.task;
        probe.args = boost::json::parse(schedule.args);
        schedule.queue = jobs_.prepare(caller, std::move(probe), "", time).queue;
    }
    validate(caller, schedule, time);
    const auto next = ScheduleTiming::of(schedule).next(fromMillis(time));
    if (next) schedule.nextDue = store::toMillis(*next);
    const auto outcome =
        co_await obs::tracedStore(trace, store_, "createSchedule",
                                  store_.createSchedule(schedule, settings_.maxPerOwner, settings_.maxTotal));
    if (outcome == store::CreateScheduleOutcome::ownerLimit) {
        throw JobError(Kind::conflict, "schedule-limit",
                       "you have " + std::to_string(settings_.maxPerOwner) +
                           " schedules, the most schedules.max_per_user allows; delete one first");
    }
    if (outcome == store::CreateScheduleOutcome::totalLimit) {
        throw JobError(Kind::conflict, "schedule-limit",
                       "the server holds " + std::to_string(settings_.maxTotal) +
                           " schedules, the most schedules.max_total allows");
    }
    co_await audit(caller, "schedule.create", schedule, std::move(context), trace);
    co_return schedule;
}

boost::asio::awaitable<store::ScheduleRecord> ScheduleService::visible(const identity::Principal& caller,
                                                                       std::string id,
                                                                       const obs::Span& trace) {
    auto schedule =
        co_await obs::tracedStore(trace, store_, "findSchedule", store_.findSchedule(std::move(id)));
    if (!schedule || (!seesAll(caller) && schedule->ownerId != caller.userId))
        throw JobError(Kind::notFound, "not-found", "no such schedule");
    co_return std::move(*schedule);
}

boost::asio::awaitable<store::ScheduleRecord> ScheduleService::get(identity::Principal caller, std::string id,
                                                                   const obs::Span& trace) {
    authorize(caller);
    co_return co_await visible(caller, std::move(id), trace);
}

boost::asio::awaitable<store::SchedulePage> ScheduleService::list(identity::Principal caller,
                                                                  store::ScheduleQuery query,
                                                                  const obs::Span& trace) {
    authorize(caller);
    if (!seesAll(caller)) query.ownerId = caller.userId;  // whatever the query asked for
    co_return co_await obs::tracedStore(trace, store_, "listSchedules",
                                        store_.listSchedules(std::move(query)));
}

boost::asio::awaitable<store::ScheduleRecord> ScheduleService::update(identity::Principal caller,
                                                                      std::string id, ScheduleDraft draft,
                                                                      AuditContext context,
                                                                      const obs::Span& trace) {
    authorize(caller);
    if (caller.role == Role::auditor) throw JobError(Kind::forbidden, "read-only", "auditors change nothing");
    store::ScheduleRecord schedule = co_await visible(caller, std::move(id), trace);
    const store::Millis time = now();
    const bool wasEnabled = schedule.enabled;
    bool retimed = false;
    if (draft.name) schedule.name = std::move(*draft.name);
    if (draft.task) schedule.task = std::move(*draft.task);
    if (draft.args) schedule.args = boost::json::serialize(*draft.args);
    if (draft.queue) schedule.queue = std::move(*draft.queue);
    if (draft.priority) schedule.priority = *draft.priority;
    if (draft.cron) {
        schedule.cron = std::move(draft.cron);
        schedule.everySeconds.reset();
        retimed = true;
    }
    if (draft.everySeconds) {
        if (draft.cron) invalid("/every_seconds", "a schedule has either cron or every_seconds");
        schedule.everySeconds = draft.everySeconds;
        schedule.cron.reset();
        retimed = true;
    }
    if (draft.timeZone) {
        schedule.timeZone = std::move(*draft.timeZone);
        retimed = true;
    }
    if (draft.enabled) schedule.enabled = *draft.enabled;
    if (draft.misfirePolicy) {
        schedule.misfirePolicy = std::move(*draft.misfirePolicy);
        if (!draft.catchUpMax) schedule.catchUpMax = schedule.misfirePolicy == "catch_up" ? 10 : 0;
    }
    if (draft.catchUpMax) schedule.catchUpMax = *draft.catchUpMax;
    if (draft.skipIfRunning) schedule.skipIfRunning = *draft.skipIfRunning;
    // Validated with the owner's rights: the owner's jobs are what the schedule submits.
    identity::Principal owner = caller;
    if (schedule.ownerId != caller.userId) {
        auto user =
            co_await obs::tracedStore(trace, users_, "findUserById", users_.findUserById(schedule.ownerId));
        if (!user) throw JobError(Kind::notFound, "not-found", "no such schedule");
        owner = identity::Principal{.userId = user->id,
                                    .username = user->username,
                                    .role = identity::parseRole(user->role).value_or(Role::user),
                                    .scopes = {std::string(identity::kAllScopes)}};
    }
    validate(owner, schedule, time);
    if (retimed || (schedule.enabled && !wasEnabled)) {
        schedule.anchor = wholeSeconds(time);
        const auto next = ScheduleTiming::of(schedule).next(fromMillis(time));
        schedule.nextDue = next ? std::optional<store::Millis>(store::toMillis(*next)) : std::nullopt;
    }
    schedule.updated = time;
    auto stored = co_await obs::tracedStore(trace, store_, "updateSchedule", store_.updateSchedule(schedule));
    if (!stored) {
        throw JobError(Kind::conflict, "schedule-changed",
                       "the schedule was changed or deleted meanwhile; read it again");
    }
    co_await audit(caller, "schedule.update", *stored, std::move(context), trace);
    co_return std::move(*stored);
}

boost::asio::awaitable<void> ScheduleService::remove(identity::Principal caller, std::string id,
                                                     AuditContext context, const obs::Span& trace) {
    authorize(caller);
    if (caller.role == Role::auditor) throw JobError(Kind::forbidden, "read-only", "auditors change nothing");
    const store::ScheduleRecord schedule = co_await visible(caller, id, trace);
    const bool deleted =
        co_await obs::tracedStore(trace, store_, "deleteSchedule", store_.deleteSchedule(std::move(id)));
    if (!deleted) throw JobError(Kind::notFound, "not-found", "no such schedule");
    co_await audit(caller, "schedule.delete", schedule, std::move(context), trace);
}

boost::asio::awaitable<std::vector<store::TickRecord>> ScheduleService::ticks(identity::Principal caller,
                                                                              std::string id, int limit,
                                                                              const obs::Span& trace) {
    authorize(caller);
    const store::ScheduleRecord schedule = co_await visible(caller, std::move(id), trace);
    co_return co_await obs::tracedStore(trace, store_, "scheduleTicks",
                                        store_.scheduleTicks(schedule.id, limit));
}

std::vector<TimePoint> ScheduleService::nextFireTimes(const store::ScheduleRecord& schedule,
                                                      int count) const {
    if (!schedule.enabled) return {};
    try {
        return ScheduleTiming::of(schedule).upcoming(clock_(), count);
    } catch (const std::exception&) {
        return {};  // e.g. a time zone the system's tz database no longer has
    }
}

boost::asio::awaitable<void> ScheduleService::audit(const identity::Principal& caller, std::string action,
                                                    const store::ScheduleRecord& schedule,
                                                    AuditContext context, const obs::Span& trace) {
    // Not the arguments: they may hold what a task needs and the audit log must not show.
    boost::json::object details{{"name", schedule.name},
                                {"task", schedule.task},
                                {"queue", schedule.queue},
                                {"owner", schedule.ownerId},
                                {"enabled", schedule.enabled}};
    if (schedule.cron) details["cron"] = *schedule.cron;
    if (schedule.everySeconds) details["every_seconds"] = *schedule.everySeconds;
    obs::AuditEvent event{.time = clock_(),
                          .action = std::move(action),
                          .actor = caller.userId,
                          .client = std::move(context.client),
                          .requestId = std::move(context.requestId),
                          .target = "schedule:" + schedule.id,
                          .outcome = "success",
                          .details = std::move(details)};
    co_await obs::tracedStore(trace, audit_, "appendAudit", audit_.appendAudit(std::move(event)));
}

}  // namespace rampart::jobs
