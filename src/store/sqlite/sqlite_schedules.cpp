// SqliteStore's schedule calls over migration 8. Every write is one writer job (one savepoint of a
// group-committed transaction, BEGIN IMMEDIATE across processes), so a tick, its job and the schedule's
// progress land together or not at all, and the tick's UNIQUE (schedule_id, fire_time) refuses a second
// scheduler's copy even from another process on the same file.
#include <stdexcept>
#include <string_view>

#include "store/schedule_columns.hpp"
#include "store/schedule_rules.hpp"
#include "store/sqlite/job_rows.hpp"
#include "store/sqlite/row_helpers.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rampart::store {
namespace {

using sqlite::bindOptional;
using sqlite::Columns;
using sqlite::Connection;
using sqlite::Statement;

std::string scheduleSelect(std::string_view where) {
    std::string sql = "SELECT ";
    sql += kScheduleColumns;
    sql += " FROM schedules ";
    sql += where;
    return sql;
}

ScheduleRecord scheduleOf(const Statement& row) {
    return scheduleOfRow(Columns(row));
}

std::optional<ScheduleRecord> loadSchedule(Connection& db, const std::string& id) {
    auto query = db.prepare(scheduleSelect("WHERE id = ?1"));
    query.bindText(1, id);
    if (!query.step()) return std::nullopt;
    return scheduleOf(query);
}

std::int64_t count(Connection& db, std::string_view sql, const std::string* owner) {
    auto query = db.prepare(sql);
    if (owner) query.bindText(1, *owner);
    query.step();
    return query.columnInt64(0);
}

// Binds the definition (kScheduleDefinitionColumns), ?2..?16.
void bindDefinition(Statement& statement, const ScheduleRecord& s) {
    statement.bindText(2, s.name).bindText(3, s.task).bindText(4, s.args).bindText(5, s.queue);
    statement.bindInt64(6, s.priority);
    bindOptional(statement, 7, s.cron);
    bindOptional(statement, 8, s.everySeconds);
    statement.bindText(9, s.timeZone).bindInt64(10, s.enabled ? 1 : 0).bindText(11, s.misfirePolicy);
    statement.bindInt64(12, s.catchUpMax).bindInt64(13, s.skipIfRunning ? 1 : 0).bindInt64(14, s.anchor);
    bindOptional(statement, 15, s.nextDue);
    statement.bindInt64(16, s.updated);
}

bool holdsLease(Connection& db, const std::string& holder, Millis now) {
    auto query = db.prepare("SELECT 1 FROM leader_leases WHERE name = ?1 AND holder = ?2 AND expires > ?3");
    query.bindText(1, kSchedulerLease).bindText(2, holder).bindInt64(3, now);
    return query.step();
}

}  // namespace

boost::asio::awaitable<CreateScheduleOutcome> SqliteStore::createSchedule(ScheduleRecord schedule,
                                                                          int maxPerOwner, int maxTotal) {
    return write([schedule = std::move(schedule), maxPerOwner, maxTotal](Connection& db) {
        if (count(db, "SELECT count(*) FROM schedules WHERE owner_id = ?1", &schedule.ownerId) >= maxPerOwner)
            return CreateScheduleOutcome::ownerLimit;
        if (count(db, "SELECT count(*) FROM schedules", nullptr) >= maxTotal)
            return CreateScheduleOutcome::totalLimit;
        auto insert = db.prepare(
            "INSERT INTO schedules (id, " + std::string(kScheduleDefinitionColumns) +
            ", owner_id, revision, created) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 1, ?18)");
        insert.bindText(1, schedule.id);
        bindDefinition(insert, schedule);
        insert.bindText(17, schedule.ownerId).bindInt64(18, schedule.created);
        insert.step();
        return CreateScheduleOutcome::created;
    });
}

boost::asio::awaitable<std::optional<ScheduleRecord>> SqliteStore::findSchedule(std::string id) {
    return read([id = std::move(id)](Connection& db) { return loadSchedule(db, id); });
}

boost::asio::awaitable<SchedulePage> SqliteStore::listSchedules(ScheduleQuery query) {
    return read([query = std::move(query)](Connection& db) {
        checkSchedulePageLimit(query);
        std::string where = "WHERE id > ?1";
        if (query.ownerId) where += " AND owner_id = ?2";
        where += " ORDER BY id LIMIT ?3";
        auto select_ = db.prepare(scheduleSelect(where));
        select_.bindText(1, query.afterId);
        if (query.ownerId) select_.bindText(2, *query.ownerId);
        select_.bindInt64(3, query.limit);
        std::vector<ScheduleRecord> schedules;
        while (select_.step()) schedules.push_back(scheduleOf(select_));
        return schedulePage(std::move(schedules), query);
    });
}

boost::asio::awaitable<std::optional<ScheduleRecord>> SqliteStore::updateSchedule(ScheduleRecord schedule) {
    return write([schedule = std::move(schedule)](Connection& db) -> std::optional<ScheduleRecord> {
        auto update = db.prepare("UPDATE schedules SET " + scheduleDefinitionAssignments('?') +
                                 ", revision = revision + 1 WHERE id = ?1 AND revision = ?17");
        update.bindText(1, schedule.id);
        bindDefinition(update, schedule);
        update.bindInt64(17, schedule.revision);
        update.step();
        if (db.changes() == 0) return std::nullopt;
        return loadSchedule(db, schedule.id);
    });
}

boost::asio::awaitable<bool> SqliteStore::deleteSchedule(std::string id) {
    return write([id = std::move(id)](Connection& db) {
        auto remove = db.prepare("DELETE FROM schedules WHERE id = ?1");
        remove.bindText(1, id);
        remove.step();
        return db.changes() > 0;
    });
}

boost::asio::awaitable<std::vector<ScheduleRecord>> SqliteStore::dueSchedules(Millis now, int limit) {
    return read([now, limit](Connection& db) {
        auto select_ =
            db.prepare(scheduleSelect("WHERE enabled = 1 AND next_due IS NOT NULL AND next_due <= ?1 "
                                      "ORDER BY next_due LIMIT ?2"));
        select_.bindInt64(1, now).bindInt64(2, limit);
        std::vector<ScheduleRecord> due;
        while (select_.step()) due.push_back(scheduleOf(select_));
        return due;
    });
}

boost::asio::awaitable<TickOutcome> SqliteStore::recordTick(TickWrite tick, Millis now) {
    return write([tick = std::move(tick), now](Connection& db) mutable {
        if (!holdsLease(db, tick.holder, now)) return TickOutcome::notLeader;
        if (auto refused = refusedTick(loadSchedule(db, tick.scheduleId), tick)) return *refused;
        std::optional<std::string> jobId;
        if (tick.fireTime) {
            jobId = tickJobId(tick);
            auto insert = db.prepare(
                "INSERT INTO schedule_ticks (schedule_id, fire_time, job_id, skip_reason, holder, recorded) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (schedule_id, fire_time) DO NOTHING");
            insert.bindText(1, tick.scheduleId).bindInt64(2, *tick.fireTime);
            bindOptional(insert, 3, jobId);
            insert.bindText(4, tickSkipReason(tick)).bindText(5, tick.holder);
            insert.bindInt64(6, now);
            insert.step();
            if (db.changes() == 0) return TickOutcome::duplicate;  // nothing written
            if (tick.job) sqlite::insertNewJob(db, std::move(*tick.job), now);
            // The newest kTicksKept stay; the guard above covers anything older.
            auto prune = db.prepare(
                "DELETE FROM schedule_ticks WHERE schedule_id = ?1 AND fire_time < (SELECT fire_time FROM "
                "schedule_ticks WHERE schedule_id = ?1 ORDER BY fire_time DESC LIMIT 1 OFFSET ?2)");
            prune.bindText(1, tick.scheduleId).bindInt64(2, kTicksKept - 1);
            prune.step();
        }
        auto update = db.prepare(
            "UPDATE schedules SET next_due = ?2, last_tick = coalesce(?3, last_tick), "
            "last_job_id = coalesce(?4, last_job_id) WHERE id = ?1");
        update.bindText(1, tick.scheduleId);
        bindOptional(update, 2, tick.nextDue);
        bindOptional(update, 3, tick.fireTime);
        bindOptional(update, 4, jobId);
        update.step();
        return TickOutcome::recorded;
    });
}

boost::asio::awaitable<std::vector<TickRecord>> SqliteStore::scheduleTicks(std::string scheduleId,
                                                                           int limit) {
    return read([scheduleId = std::move(scheduleId), limit](Connection& db) {
        auto select_ =
            db.prepare("SELECT " + std::string(kTickColumns) +
                       " FROM schedule_ticks WHERE schedule_id = ?1 ORDER BY fire_time DESC LIMIT ?2");
        select_.bindText(1, scheduleId).bindInt64(2, limit);
        std::vector<TickRecord> ticks;
        while (select_.step()) ticks.push_back(tickOfRow(Columns(select_)));
        return ticks;
    });
}

boost::asio::awaitable<bool> SqliteStore::acquireLease(std::string name, std::string holder, Millis ttlMs,
                                                       Millis now) {
    return write([name = std::move(name), holder = std::move(holder), ttlMs, now](Connection& db) {
        auto upsert = db.prepare(
            "INSERT INTO leader_leases (name, holder, expires) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
            "WHERE leader_leases.holder = excluded.holder OR leader_leases.expires <= ?4");
        upsert.bindText(1, name).bindText(2, holder).bindInt64(3, now + ttlMs).bindInt64(4, now);
        upsert.step();
        return db.changes() > 0;
    });
}

boost::asio::awaitable<void> SqliteStore::releaseLease(std::string name, std::string holder) {
    return write([name = std::move(name), holder = std::move(holder)](Connection& db) {
        auto remove = db.prepare("DELETE FROM leader_leases WHERE name = ?1 AND holder = ?2");
        remove.bindText(1, name).bindText(2, holder);
        remove.step();
    });
}

}  // namespace rampart::store
