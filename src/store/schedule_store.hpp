// What the store keeps for periodic jobs: schedules, the ticks they fired (one row per schedule and
// fire time, unique, written in the same transaction as the tick's job), and the scheduler's leader
// lease. The uniqueness of a tick is what makes "exactly one job per tick" hold across processes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "store/job_store.hpp"

namespace rampart::store {

struct ScheduleRecord {
    std::string id{};
    std::string name{};
    std::string task{};
    std::string args{};  // JSON text, validated against the task's schema before it gets here
    std::string queue{};
    int priority = 0;
    std::optional<std::string> cron{};           // a cron expression (jobs/cron.hpp), or
    std::optional<std::int64_t> everySeconds{};  // an interval from `anchor`; exactly one is set
    std::string timeZone = "UTC";
    bool enabled = true;
    std::string ownerId{};
    std::string misfirePolicy = "run_once";  // skip | run_once | catch_up
    int catchUpMax = 0;                      // catch_up: at most this many missed ticks
    bool skipIfRunning = false;
    Millis anchor = 0;  // intervals count from here; no tick at or before it fires
    // When the scheduler should look at it next: its next fire time (unset: it never fires again).
    std::optional<Millis> nextDue{};
    std::optional<Millis> lastTick{};  // the newest tick recorded (fired or skipped)
    std::optional<std::string> lastJobId{};
    std::int64_t revision = 1;  // grows with every change of the definition
    Millis created = 0;
    Millis updated = 0;
};

// Which schedules to list: ordered by id; `afterId` is the cursor (the last id seen; empty first).
struct ScheduleQuery {
    std::optional<std::string> ownerId{};
    std::string afterId{};
    int limit = 100;  // 1..kMaxLimit

    static constexpr int kMaxLimit = 500;
};

struct SchedulePage {
    std::vector<ScheduleRecord> schedules;
    std::string nextCursor;  // empty: no more
};

enum class CreateScheduleOutcome { created, ownerLimit, totalLimit };

// One step of the scheduler for one schedule, written in one transaction.
struct TickWrite {
    std::string scheduleId{};
    std::int64_t revision = 0;         // as the scheduler read it: a schedule changed since refuses the write
    std::string holder{};              // the scheduler; it must hold the leader lease `kSchedulerLease`
    std::optional<Millis> fireTime{};  // the tick to record; unset: only move nextDue (missed ticks skipped)
    std::optional<JobRecord> job{};    // the tick's job; unset with a fireTime: the tick was skipped
    std::string skipReason{};          // why, for a skipped tick
    std::optional<Millis> nextDue{};   // the schedule's next fire time after this step (unset: never)
};

enum class TickOutcome {
    recorded,   // written: the tick (and its job) and the schedule's progress
    duplicate,  // the tick, or a later one, was recorded before (by any process): nothing written
    stale,      // the schedule changed or is gone since it was read: nothing written
    notLeader,  // `holder` does not hold a live leader lease: nothing written
};

struct TickRecord {
    std::string scheduleId{};
    Millis fireTime = 0;
    std::optional<std::string> jobId{};  // unset: skipped
    std::string skipReason{};
    std::string holder{};
    Millis recorded = 0;
};

inline constexpr const char* kSchedulerLease = "scheduler";
// Ticks kept per schedule (the newest); older ones are deleted as new ones are recorded.
inline constexpr int kTicksKept = 100;

class ScheduleStore {
  public:
    virtual ~ScheduleStore() = default;

    // OpenTelemetry's db.system of the database underneath: "sqlite" or "postgresql".
    [[nodiscard]] virtual std::string_view databaseSystem() const = 0;

    // Stores a new schedule unless its owner has maxPerOwner schedules already, or the database holds
    // maxTotal; the count and the insert are one transaction.
    virtual boost::asio::awaitable<CreateScheduleOutcome> createSchedule(ScheduleRecord schedule,
                                                                         int maxPerOwner, int maxTotal) = 0;
    virtual boost::asio::awaitable<std::optional<ScheduleRecord>> findSchedule(std::string id) = 0;
    // Throws std::invalid_argument for a limit outside 1..ScheduleQuery::kMaxLimit.
    virtual boost::asio::awaitable<SchedulePage> listSchedules(ScheduleQuery query) = 0;
    // Replaces the definition (name, task, args, queue, priority, cron, everySeconds, timeZone, enabled,
    // misfire policy, catchUpMax, skipIfRunning, anchor, nextDue, updated) of the schedule whose
    // revision is still `schedule.revision`, and bumps the revision; the owner, the creation time and
    // the scheduler's progress (lastTick, lastJobId) stay. nullopt when it is gone or was changed
    // meanwhile (read it again).
    virtual boost::asio::awaitable<std::optional<ScheduleRecord>> updateSchedule(ScheduleRecord schedule) = 0;
    // Deletes the schedule and its ticks (jobs it created stay); false when there was none.
    virtual boost::asio::awaitable<bool> deleteSchedule(std::string id) = 0;

    // Enabled schedules whose nextDue is at or before `now`, soonest first, at most `limit`.
    virtual boost::asio::awaitable<std::vector<ScheduleRecord>> dueSchedules(Millis now, int limit) = 0;
    // Applies one scheduler step in one transaction (see TickWrite): checks the lease and the revision,
    // inserts the tick unless (schedule, fireTime) exists or a later tick does, inserts its job, moves
    // the schedule's lastTick, lastJobId and nextDue, and keeps the newest kTicksKept ticks.
    virtual boost::asio::awaitable<TickOutcome> recordTick(TickWrite write, Millis now) = 0;
    // The schedule's recorded ticks, newest first.
    virtual boost::asio::awaitable<std::vector<TickRecord>> scheduleTicks(std::string scheduleId,
                                                                          int limit) = 0;

    // Takes the lease `name` for `holder` until now + ttlMs when nobody holds it, it expired, or holder
    // holds it already (a renewal); returns whether holder holds it now. One holder at a time.
    virtual boost::asio::awaitable<bool> acquireLease(std::string name, std::string holder, Millis ttlMs,
                                                      Millis now) = 0;
    // Gives the lease up if holder holds it, so another process may take it at once.
    virtual boost::asio::awaitable<void> releaseLease(std::string name, std::string holder) = 0;
};

}  // namespace rampart::store
