// The schedules service: creating, reading, changing and deleting periodic-job definitions, with every
// field checked when it is saved (the task's argument schema, the queue and the owner's right to it, the
// cron expression with the position of what is wrong, the time zone, how often it fires) and one
// authorization rule: admins
// manage all schedules, auditors read all, users manage their own when schedules.allow_users is on, and
// to a user someone else's schedule does not exist. Changes are audited.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include "identity/jwt.hpp"
#include "identity/principal.hpp"
#include "jobs/job_service.hpp"
#include "jobs/schedule_timing.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"
#include "store/schedule_store.hpp"

namespace rampart::jobs {

struct ScheduleSettings {
    bool allowUsers = false;  // schedules.allow_users: users may manage their own schedules
    int maxPerOwner = 100;    // schedules.max_per_user
    int maxTotal = 10000;     // schedules.max_total
    // schedules.min_interval_seconds: an enabled schedule may not fire more often (every_seconds, or the
    // shortest gap of its cron expression), so that a schedule cannot outrun the jobs.submit rate limit.
    int minIntervalSeconds = 10;
};

inline constexpr int kMaxCatchUp = 1000;
inline constexpr std::size_t kMaxScheduleName = 200;

// A schedule as a client defines it. On create, unset fields take their defaults; on update (PATCH),
// unset fields keep their stored values.
struct ScheduleDraft {
    std::optional<std::string> name;
    std::optional<std::string> task;
    std::optional<boost::json::value> args;
    std::optional<std::string> queue;
    std::optional<int> priority;
    std::optional<std::string> cron;
    std::optional<std::int64_t> everySeconds;
    std::optional<std::string> timeZone;
    std::optional<bool> enabled;
    std::optional<std::string> misfirePolicy;
    std::optional<int> catchUpMax;
    std::optional<bool> skipIfRunning;
};

class ScheduleService {
  public:
    // users: only to read a schedule's owner (findUserById), whose rights an update is checked with.
    ScheduleService(store::ScheduleStore& store, store::IdentityStore& users, store::AuditSink& audit,
                    const JobService& jobs, ScheduleSettings settings,
                    identity::Clock clock = identity::systemClock());

    // Throws JobError: invalid (400; a bad cron expression names its position), unprocessable (422:
    // unknown task, arguments that do not fit, unknown queue), forbidden (403: the queue, or a user while
    // schedules.allow_users is off), conflict (409: the schedule limit).
    // Every call's store reads and writes are spans under `trace` (the request's).
    boost::asio::awaitable<store::ScheduleRecord> create(identity::Principal caller, ScheduleDraft draft,
                                                         AuditContext context,
                                                         const obs::Span& trace = obs::Span::off());
    boost::asio::awaitable<store::ScheduleRecord> get(identity::Principal caller, std::string id,
                                                      const obs::Span& trace = obs::Span::off());
    // The caller's schedules; admins and auditors see everyone's (and may filter by owner).
    boost::asio::awaitable<store::SchedulePage> list(identity::Principal caller, store::ScheduleQuery query,
                                                     const obs::Span& trace = obs::Span::off());
    // Changes the given fields; the whole result is checked again as on create, against the caller's
    // rights. A new timing (cron, interval, zone) or enabling a disabled schedule counts from now: ticks
    // before are not caught up. Throws JobError like create, notFound for a schedule the caller may not see.
    boost::asio::awaitable<store::ScheduleRecord> update(identity::Principal caller, std::string id,
                                                         ScheduleDraft draft, AuditContext context,
                                                         const obs::Span& trace = obs::Span::off());
    boost::asio::awaitable<void> remove(identity::Principal caller, std::string id, AuditContext context,
                                        const obs::Span& trace = obs::Span::off());
    // The schedule's newest ticks (at most limit, newest first; store::kTicksKept are kept), if the caller
    // may see the schedule: when each fired, and the job it made or why it made none.
    boost::asio::awaitable<std::vector<store::TickRecord>> ticks(identity::Principal caller, std::string id,
                                                                 int limit,
                                                                 const obs::Span& trace = obs::Span::off());

    // The next `count` fire times after now (empty for a disabled schedule).
    [[nodiscard]] std::vector<TimePoint> nextFireTimes(const store::ScheduleRecord& schedule,
                                                       int count) const;

  private:
    void authorize(const identity::Principal& caller) const;
    // Checks the whole definition; throws JobError.
    void validate(const identity::Principal& caller, const store::ScheduleRecord& schedule,
                  store::Millis now) const;
    boost::asio::awaitable<store::ScheduleRecord> visible(const identity::Principal& caller, std::string id,
                                                          const obs::Span& trace);
    boost::asio::awaitable<void> audit(const identity::Principal& caller, std::string action,
                                       const store::ScheduleRecord& schedule, AuditContext context,
                                       const obs::Span& trace);
    [[nodiscard]] store::Millis now() const;

    store::ScheduleStore& store_;
    store::IdentityStore& users_;
    store::AuditSink& audit_;
    const JobService& jobs_;
    ScheduleSettings settings_;
    identity::Clock clock_;
};

}  // namespace rampart::jobs
