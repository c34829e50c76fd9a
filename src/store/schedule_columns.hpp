// The schedule and tick columns both stores select and write, and how a selected row becomes a
// ScheduleRecord or a TickRecord: one list and one mapping for SQLite and PostgreSQL, read through each
// backend's `Row` (see job_columns.hpp).
#pragma once

#include <string>
#include <string_view>

#include "store/schedule_store.hpp"

namespace rampart::store {

// Every column of a schedule, in scheduleOfRow's order.
inline constexpr std::string_view kScheduleColumns =
    "id, name, task, args, queue, priority, cron, every_seconds, time_zone, enabled, owner_id, "
    "misfire_policy, catch_up_max, skip_if_running, anchor, next_due, last_tick, last_job_id, revision, "
    "created, updated";

// The definition, what updateSchedule replaces (not id, owner, progress, revision or created), in the
// order both stores bind it: parameters 2 to 16, after the id.
inline constexpr std::string_view kScheduleDefinitionColumns =
    "name, task, args, queue, priority, cron, every_seconds, time_zone, enabled, misfire_policy, "
    "catch_up_max, skip_if_running, anchor, next_due, updated";

// The SET list that writes the definition from parameters 2..16, each written `mark` and its number
// ('?' for SQLite, '$' for PostgreSQL): "name = ?2, task = ?3, ..., updated = ?16".
std::string scheduleDefinitionAssignments(char mark);

// A tick, in tickOfRow's order.
inline constexpr std::string_view kTickColumns =
    "schedule_id, fire_time, job_id, skip_reason, holder, recorded";

template <class Row>
ScheduleRecord scheduleOfRow(const Row& row) {
    return ScheduleRecord{
        .id = row.text(0),
        .name = row.text(1),
        .task = row.text(2),
        .args = row.text(3),
        .queue = row.text(4),
        .priority = static_cast<int>(row.int64(5)),
        .cron = row.optionalText(6),
        .everySeconds = row.optionalInt64(7),
        .timeZone = row.text(8),
        .enabled = row.flag(9),
        .ownerId = row.text(10),
        .misfirePolicy = row.text(11),
        .catchUpMax = static_cast<int>(row.int64(12)),
        .skipIfRunning = row.flag(13),
        .anchor = row.int64(14),
        .nextDue = row.optionalInt64(15),
        .lastTick = row.optionalInt64(16),
        .lastJobId = row.optionalText(17),
        .revision = row.int64(18),
        .created = row.int64(19),
        .updated = row.int64(20),
    };
}

template <class Row>
TickRecord tickOfRow(const Row& row) {
    return TickRecord{.scheduleId = row.text(0),
                      .fireTime = row.int64(1),
                      .jobId = row.optionalText(2),
                      .skipReason = row.text(3),
                      .holder = row.text(4),
                      .recorded = row.int64(5)};
}

}  // namespace rampart::store
