// The schedule rules both stores share: when recordTick writes nothing, what a tick row keeps, the
// definition's SET list in either dialect, and the page limit.
#include "store/schedule_rules.hpp"

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/schedule_columns.hpp"
#include "testing/text_row.hpp"

namespace rampart::store {
namespace {

using rampart::testing::TextRow;

TEST(ScheduleRules, AGoneOrChangedScheduleIsStale) {
    const TickWrite tick{.scheduleId = "s", .revision = 2, .fireTime = 100};
    EXPECT_EQ(refusedTick(std::nullopt, tick), TickOutcome::stale);
    EXPECT_EQ(refusedTick(ScheduleRecord{.id = "s", .revision = 3}, tick), TickOutcome::stale);
    EXPECT_EQ(refusedTick(ScheduleRecord{.id = "s", .revision = 2}, tick), std::nullopt);
}

TEST(ScheduleRules, ATickAtOrBeforeTheLastIsADuplicate) {
    const TickWrite tick{.scheduleId = "s", .revision = 1, .fireTime = 100};
    EXPECT_EQ(refusedTick(ScheduleRecord{.lastTick = 100, .revision = 1}, tick), TickOutcome::duplicate);
    EXPECT_EQ(refusedTick(ScheduleRecord{.lastTick = 150, .revision = 1}, tick), TickOutcome::duplicate);
    EXPECT_EQ(refusedTick(ScheduleRecord{.lastTick = 99, .revision = 1}, tick), std::nullopt);
    const TickWrite onlyNextDue{.scheduleId = "s", .revision = 1};
    EXPECT_EQ(refusedTick(ScheduleRecord{.lastTick = 150, .revision = 1}, onlyNextDue), std::nullopt)
        << "moving nextDue alone records no tick";
}

TEST(ScheduleRules, ATickKeepsItsJobOrWhyItHasNone) {
    TickWrite skipped{.fireTime = 100, .skipReason = "still running"};
    EXPECT_EQ(tickJobId(skipped), std::nullopt);
    EXPECT_EQ(tickSkipReason(skipped), "still running");
    TickWrite fired = skipped;
    fired.job = JobRecord{.id = "job-1"};
    EXPECT_EQ(tickJobId(fired), "job-1");
    EXPECT_EQ(tickSkipReason(fired), "") << "a tick with a job was not skipped";
}

TEST(ScheduleRules, TheDefinitionIsSetFromParametersTwoToSixteen) {
    EXPECT_EQ(
        scheduleDefinitionAssignments('?'),
        "name = ?2, task = ?3, args = ?4, queue = ?5, priority = ?6, cron = ?7, every_seconds = ?8, "
        "time_zone = ?9, enabled = ?10, misfire_policy = ?11, catch_up_max = ?12, skip_if_running = ?13, "
        "anchor = ?14, next_due = ?15, updated = ?16");
    EXPECT_EQ(scheduleDefinitionAssignments('$').substr(0, 22), "name = $2, task = $3, ");
}

TEST(ScheduleRules, PageLimit) {
    EXPECT_NO_THROW(checkSchedulePageLimit(ScheduleQuery{.limit = 1}));
    EXPECT_NO_THROW(checkSchedulePageLimit(ScheduleQuery{.limit = ScheduleQuery::kMaxLimit}));
    EXPECT_THROW(checkSchedulePageLimit(ScheduleQuery{.limit = 0}), std::invalid_argument);
    EXPECT_THROW(checkSchedulePageLimit(ScheduleQuery{.limit = ScheduleQuery::kMaxLimit + 1}),
                 std::invalid_argument);
}

TEST(ScheduleRules, AFullPageCarriesItsLastIdAsTheCursor) {
    const ScheduleQuery two{.limit = 2};
    EXPECT_EQ(schedulePage({ScheduleRecord{.id = "a"}, ScheduleRecord{.id = "b"}}, two).nextCursor, "b");
    const SchedulePage last = schedulePage({ScheduleRecord{.id = "a"}}, two);
    EXPECT_EQ(last.nextCursor, "") << "a short page is the last";
    EXPECT_EQ(last.schedules.size(), 1u);
    EXPECT_EQ(schedulePage({}, two).nextCursor, "");
}

TEST(ScheduleColumns, RowsBecomeSchedulesAndTicksInTheListsOrder) {
    const TextRow row{{"id",   "name", "task",       "{}",    "queue", "5",  std::nullopt,
                       "60",   "UTC",  "1",          "owner", "skip",  "0",  "1",
                       "1000", "2000", std::nullopt, "job",   "4",     "10", "20"}};
    const ScheduleRecord schedule = scheduleOfRow(row);
    EXPECT_EQ(schedule.id, "id");
    EXPECT_EQ(schedule.name, "name");
    EXPECT_EQ(schedule.task, "task");
    EXPECT_EQ(schedule.args, "{}");
    EXPECT_EQ(schedule.queue, "queue");
    EXPECT_EQ(schedule.priority, 5);
    EXPECT_EQ(schedule.cron, std::nullopt);
    EXPECT_EQ(schedule.everySeconds, 60);
    EXPECT_EQ(schedule.timeZone, "UTC");
    EXPECT_TRUE(schedule.enabled);
    EXPECT_EQ(schedule.ownerId, "owner");
    EXPECT_EQ(schedule.misfirePolicy, "skip");
    EXPECT_EQ(schedule.catchUpMax, 0);
    EXPECT_TRUE(schedule.skipIfRunning);
    EXPECT_EQ(schedule.anchor, 1000);
    EXPECT_EQ(schedule.nextDue, 2000);
    EXPECT_EQ(schedule.lastTick, std::nullopt);
    EXPECT_EQ(schedule.lastJobId, "job");
    EXPECT_EQ(schedule.revision, 4);
    EXPECT_EQ(schedule.created, 10);
    EXPECT_EQ(schedule.updated, 20);

    const TickRecord tick = tickOfRow(TextRow{{"s", "100", std::nullopt, "why", "holder", "101"}});
    EXPECT_EQ(tick.scheduleId, "s");
    EXPECT_EQ(tick.fireTime, 100);
    EXPECT_EQ(tick.jobId, std::nullopt);
    EXPECT_EQ(tick.skipReason, "why");
    EXPECT_EQ(tick.holder, "holder");
    EXPECT_EQ(tick.recorded, 101);
}

}  // namespace
}  // namespace rampart::store
