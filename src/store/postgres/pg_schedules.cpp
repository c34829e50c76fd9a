// PostgresStore's schedule calls over migration 8, for many processes on one database: a tick locks its
// schedule's row (FOR UPDATE) and the leader lease's row (FOR SHARE, so a takeover waits for ticks in
// flight), and its INSERT ... ON CONFLICT DO NOTHING on UNIQUE (schedule_id, fire_time) is what keeps a
// second scheduler from inserting a second job: with no tick row there is no job.
#include <stdexcept>
#include <string_view>

#include "store/postgres/pg_job_rows.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/schedule_columns.hpp"
#include "store/schedule_rules.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;

std::string scheduleSelect(std::string_view where) {
    std::string sql = "SELECT ";
    sql += kScheduleColumns;
    sql += " FROM schedules ";
    sql += where;
    return sql;
}

ScheduleRecord scheduleOf(const pg::Result& rows, int row) {
    return scheduleOfRow(pg::Row(rows, row));
}

std::vector<ScheduleRecord> schedulesOf(const pg::Result& rows) {
    std::vector<ScheduleRecord> schedules;
    schedules.reserve(rows.rows());
    for (int row = 0; row < rows.rows(); ++row) schedules.push_back(scheduleOf(rows, row));
    return schedules;
}

std::optional<ScheduleRecord> firstSchedule(const pg::Result& rows) {
    if (rows.empty()) return std::nullopt;
    return scheduleOf(rows, 0);
}

// The id, then the definition (kScheduleDefinitionColumns) as $2..$16.
pg::Params definitionParams(const ScheduleRecord& s) {
    pg::Params params;
    params.add(s.id).add(s.name).add(s.task).add(s.args).add(s.queue).add(s.priority).add(s.cron);
    params.add(s.everySeconds).add(s.timeZone).add(s.enabled).add(s.misfirePolicy).add(s.catchUpMax);
    params.add(s.skipIfRunning).add(s.anchor).add(s.nextDue).add(s.updated);
    return params;
}

asio::awaitable<TickOutcome> applyTick(pg::Connection& db, const TickWrite& tick, Millis now) {
    const auto lease = co_await db.query(
        "SELECT 1 FROM leader_leases WHERE name = $1 AND holder = $2 AND expires > $3 FOR SHARE",
        pg::Params(kSchedulerLease, tick.holder, now));
    if (lease.empty()) co_return TickOutcome::notLeader;
    const auto rows =
        co_await db.query(scheduleSelect("WHERE id = $1 FOR UPDATE"), pg::Params(tick.scheduleId));
    if (auto refused = refusedTick(firstSchedule(rows), tick)) co_return *refused;
    std::optional<std::string> jobId;
    if (tick.fireTime) {
        jobId = tickJobId(tick);
        const std::string reason = tickSkipReason(tick);
        const auto inserted = co_await db.query(
            "INSERT INTO schedule_ticks (schedule_id, fire_time, job_id, skip_reason, holder, recorded) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, fire_time) DO NOTHING "
            "RETURNING fire_time",
            pg::Params(tick.scheduleId, *tick.fireTime, jobId, reason, tick.holder, now));
        if (inserted.empty()) co_return TickOutcome::duplicate;  // nothing written
        std::vector<pg::Statement> writes;
        if (tick.job) writes.push_back(postgres::insertNewJob(*tick.job, now));
        // The newest kTicksKept stay; the guard above covers anything older.
        writes.push_back(pg::Statement{
            .sql = "DELETE FROM schedule_ticks WHERE schedule_id = $1 AND fire_time < (SELECT fire_time FROM "
                   "schedule_ticks WHERE schedule_id = $1 ORDER BY fire_time DESC LIMIT 1 OFFSET $2)",
            .params = pg::Params(tick.scheduleId, kTicksKept - 1)});
        co_await db.pipeline(std::move(writes));
    }
    co_await db.query(
        "UPDATE schedules SET next_due = $2, last_tick = coalesce($3, last_tick), "
        "last_job_id = coalesce($4, last_job_id) WHERE id = $1",
        pg::Params(tick.scheduleId, tick.nextDue, tick.fireTime, jobId));
    co_return TickOutcome::recorded;
}

}  // namespace

boost::asio::awaitable<CreateScheduleOutcome> PostgresStore::createSchedule(ScheduleRecord schedule,
                                                                            int maxPerOwner, int maxTotal) {
    return inTransaction([schedule = std::move(schedule), maxPerOwner,
                          maxTotal](pg::Connection& db) -> asio::awaitable<CreateScheduleOutcome> {
        // Creations wait for each other here, so that two cannot both see room for one more.
        co_await db.query("LOCK TABLE schedules IN SHARE ROW EXCLUSIVE MODE");
        const auto counts =
            co_await db.query("SELECT count(*) FILTER (WHERE owner_id = $1), count(*) FROM schedules",
                              pg::Params(schedule.ownerId));
        if (counts.int64(0, 0) >= maxPerOwner) co_return CreateScheduleOutcome::ownerLimit;
        if (counts.int64(0, 1) >= maxTotal) co_return CreateScheduleOutcome::totalLimit;
        pg::Params params = definitionParams(schedule);
        params.add(schedule.ownerId).add(schedule.created);
        co_await db.query(
            "INSERT INTO schedules (id, " + std::string(kScheduleDefinitionColumns) +
                ", owner_id, revision, created) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 1, $18)",
            std::move(params));
        co_return CreateScheduleOutcome::created;
    });
}

boost::asio::awaitable<std::optional<ScheduleRecord>> PostgresStore::findSchedule(std::string id) {
    return withConnection(
        [id = std::move(id)](pg::Connection& db) -> asio::awaitable<std::optional<ScheduleRecord>> {
            const auto rows = co_await db.query(scheduleSelect("WHERE id = $1"), pg::Params(id));
            co_return firstSchedule(rows);
        });
}

boost::asio::awaitable<SchedulePage> PostgresStore::listSchedules(ScheduleQuery query) {
    return withConnection([query = std::move(query)](pg::Connection& db) -> asio::awaitable<SchedulePage> {
        checkSchedulePageLimit(query);
        // COLLATE "C": the same byte order as SQLite's, whatever the database's collation.
        std::string where =
            "WHERE id COLLATE \"C\" > $1 AND ($2::text IS NULL OR owner_id = $2) "
            "ORDER BY id COLLATE \"C\" LIMIT $3";
        const auto rows =
            co_await db.query(scheduleSelect(where), pg::Params(query.afterId, query.ownerId, query.limit));
        co_return schedulePage(schedulesOf(rows), query);
    });
}

boost::asio::awaitable<std::optional<ScheduleRecord>> PostgresStore::updateSchedule(ScheduleRecord schedule) {
    return withConnection([schedule = std::move(schedule)](
                              pg::Connection& db) -> asio::awaitable<std::optional<ScheduleRecord>> {
        pg::Params params = definitionParams(schedule);
        params.add(schedule.revision);
        const auto rows =
            co_await db.query("UPDATE schedules SET " + scheduleDefinitionAssignments('$') +
                                  ", revision = revision + 1 WHERE id = $1 AND revision = $17 RETURNING " +
                                  std::string(kScheduleColumns),
                              std::move(params));
        co_return firstSchedule(rows);
    });
}

boost::asio::awaitable<bool> PostgresStore::deleteSchedule(std::string id) {
    return withConnection([id = std::move(id)](pg::Connection& db) -> asio::awaitable<bool> {
        const auto result = co_await db.query("DELETE FROM schedules WHERE id = $1", pg::Params(id));
        co_return result.affected() > 0;
    });
}

boost::asio::awaitable<std::vector<ScheduleRecord>> PostgresStore::dueSchedules(Millis now, int limit) {
    return withConnection([now, limit](pg::Connection& db) -> asio::awaitable<std::vector<ScheduleRecord>> {
        const auto rows = co_await db.query(
            scheduleSelect(
                "WHERE enabled AND next_due IS NOT NULL AND next_due <= $1 ORDER BY next_due LIMIT $2"),
            pg::Params(now, limit));
        co_return schedulesOf(rows);
    });
}

boost::asio::awaitable<TickOutcome> PostgresStore::recordTick(TickWrite write, Millis now) {
    const bool queuesJob = write.job && write.job->runAt <= now;
    const std::string queue = write.job ? write.job->queue : std::string();
    auto work =
        inTransaction([write = std::move(write), now](pg::Connection& db) -> asio::awaitable<TickOutcome> {
            return applyTick(db, write, now);
        });
    const TickOutcome outcome = co_await std::move(work);
    if (outcome == TickOutcome::recorded && queuesJob) announceQueuedJobs({queue});
    co_return outcome;
}

boost::asio::awaitable<std::vector<TickRecord>> PostgresStore::scheduleTicks(std::string scheduleId,
                                                                             int limit) {
    return withConnection([scheduleId = std::move(scheduleId),
                           limit](pg::Connection& db) -> asio::awaitable<std::vector<TickRecord>> {
        const auto rows = co_await db.query(
            "SELECT " + std::string(kTickColumns) +
                " FROM schedule_ticks WHERE schedule_id = $1 ORDER BY fire_time DESC LIMIT $2",
            pg::Params(scheduleId, limit));
        std::vector<TickRecord> ticks;
        for (int row = 0; row < rows.rows(); ++row) ticks.push_back(tickOfRow(pg::Row(rows, row)));
        co_return ticks;
    });
}

boost::asio::awaitable<bool> PostgresStore::acquireLease(std::string name, std::string holder, Millis ttlMs,
                                                         Millis now) {
    return withConnection([name = std::move(name), holder = std::move(holder), ttlMs,
                           now](pg::Connection& db) -> asio::awaitable<bool> {
        // The upsert locks the row: concurrent takers queue on it, and the WHERE sees the winner's write.
        const auto rows = co_await db.query(
            "INSERT INTO leader_leases (name, holder, expires) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
            "WHERE leader_leases.holder = excluded.holder OR leader_leases.expires <= $4 RETURNING holder",
            pg::Params(name, holder, now + ttlMs, now));
        co_return !rows.empty();
    });
}

boost::asio::awaitable<void> PostgresStore::releaseLease(std::string name, std::string holder) {
    return withConnection(
        [name = std::move(name), holder = std::move(holder)](pg::Connection& db) -> asio::awaitable<void> {
            co_await db.query("DELETE FROM leader_leases WHERE name = $1 AND holder = $2",
                              pg::Params(name, holder));
        });
}

}  // namespace rampart::store
