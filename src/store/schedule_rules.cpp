// The schedule rules and column lists both stores share (see schedule_rules.hpp, schedule_columns.hpp).
#include "store/schedule_rules.hpp"

#include <stdexcept>
#include <string_view>

#include "store/schedule_columns.hpp"

namespace rampart::store {

std::string scheduleDefinitionAssignments(char mark) {
    std::string set;
    std::string_view columns = kScheduleDefinitionColumns;
    int parameter = 2;  // 1 is the id
    while (!columns.empty()) {
        const auto comma = columns.find(", ");
        if (!set.empty()) set += ", ";
        set += columns.substr(0, comma);
        set += " = ";
        set += mark;
        set += std::to_string(parameter++);
        if (comma == std::string_view::npos) break;
        columns.remove_prefix(comma + 2);
    }
    return set;
}

std::optional<TickOutcome> refusedTick(const std::optional<ScheduleRecord>& schedule, const TickWrite& tick) {
    if (!schedule || schedule->revision != tick.revision) return TickOutcome::stale;
    if (tick.fireTime && schedule->lastTick && *schedule->lastTick >= *tick.fireTime)
        return TickOutcome::duplicate;
    return std::nullopt;
}

std::optional<std::string> tickJobId(const TickWrite& tick) {
    if (!tick.job) return std::nullopt;
    return tick.job->id;
}

std::string tickSkipReason(const TickWrite& tick) {
    return tick.job ? std::string() : tick.skipReason;
}

void checkSchedulePageLimit(const ScheduleQuery& query) {
    if (query.limit < 1 || query.limit > ScheduleQuery::kMaxLimit)
        throw std::invalid_argument("schedule page limit must be 1..500");
}

SchedulePage schedulePage(std::vector<ScheduleRecord> schedules, const ScheduleQuery& query) {
    SchedulePage page{.schedules = std::move(schedules), .nextCursor = {}};
    if (static_cast<int>(page.schedules.size()) == query.limit) page.nextCursor = page.schedules.back().id;
    return page;
}

}  // namespace rampart::store
