// The rules of the schedule calls that do not depend on the database, written once for both stores:
// when recordTick writes nothing, and what a tick row keeps. Only the SQL differs by backend.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/schedule_store.hpp"

namespace rampart::store {

// recordTick's checks of the schedule as it reads it in the tick's transaction (the leader lease
// checked before): stale when the schedule is gone or its revision is not the one the scheduler read;
// duplicate when the tick has a fire time at or before the schedule's last tick. nullopt: write it.
[[nodiscard]] std::optional<TickOutcome> refusedTick(const std::optional<ScheduleRecord>& schedule,
                                                     const TickWrite& tick);

// The job id and skip reason a tick row keeps: the job's id for a tick with a job (and no reason), else
// none and the write's reason.
[[nodiscard]] std::optional<std::string> tickJobId(const TickWrite& tick);
[[nodiscard]] std::string tickSkipReason(const TickWrite& tick);

// Throws std::invalid_argument for a limit outside 1..ScheduleQuery::kMaxLimit.
void checkSchedulePageLimit(const ScheduleQuery& query);
// A page of the schedules read for `query` (at most its limit): a full page's last id is the cursor.
[[nodiscard]] SchedulePage schedulePage(std::vector<ScheduleRecord> schedules, const ScheduleQuery& query);

}  // namespace rampart::store
