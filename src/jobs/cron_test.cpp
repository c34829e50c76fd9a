// Cron expressions against a table of hand-computed fire times (UTC, and across the 2026 daylight-saving
// changes of New York, London and Lord Howe Island), and refused expressions with their positions.
#include "jobs/cron.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rampart::jobs {
namespace {

TimePoint at(const std::string& utc) {
    cctz::time_point<cctz::seconds> time;
    EXPECT_TRUE(cctz::parse("%Y-%m-%dT%H:%M:%SZ", utc, cctz::utc_time_zone(), &time)) << utc;
    return TimePoint(time.time_since_epoch());
}

struct Case {
    const char* expression;
    const char* zone;
    const char* after;
    std::vector<std::string> expected;  // the next fire times, in order, in UTC
};

// Each row was worked out by hand from the calendar and the zones' 2026 rules (zdump -v): New York
// springs forward 2026-03-08 02:00 EST -> 03:00 EDT and falls back 2026-11-01 02:00 EDT -> 01:00 EST;
// London 2026-03-29 01:00 GMT -> 02:00 BST and 2026-10-25 02:00 BST -> 01:00 GMT; Lord Howe Island moves
// by half an hour: 2026-04-05 02:00 (+11) -> 01:30 (+10:30) and 2026-10-04 02:00 (+10:30) -> 02:30 (+11).
const std::vector<Case> kCases = {
    // Plain fields, steps, ranges, lists.
    {"*/15 * * * *",
     "UTC",
     "2026-01-01T00:07:30Z",
     {"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"}},
    {"0 8-18/5 * * *",
     "UTC",
     "2026-01-01T09:00:00Z",
     {"2026-01-01T13:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T08:00:00Z"}},
    {"10/20 * * * *",
     "UTC",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:10:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:50:00Z", "2026-01-01T01:10:00Z"}},
    {"0,30 12 * * *", "UTC", "2026-01-01T12:00:00Z", {"2026-01-01T12:30:00Z", "2026-01-02T12:00:00Z"}},
    {"0 0 1 1 *", "UTC", "2026-01-01T00:00:00Z", {"2027-01-01T00:00:00Z"}},  // strictly after
    // Names, any case; 7 is Sunday too.
    {"0 9 * * MON-FRI",
     "UTC",
     "2026-01-02T10:00:00Z",  // Friday
     {"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
    {"0 12 1 JAN,jul *", "UTC", "2026-02-01T00:00:00Z", {"2026-07-01T12:00:00Z", "2027-01-01T12:00:00Z"}},
    {"0 0 * * 5-7",
     "UTC",
     "2026-01-01T00:00:00Z",  // Thursday: then Fri, Sat, Sun, next Fri
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}},
    {"0 0 * * sun", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    // L: the last day of each month, leap years included.
    {"0 0 L * *",
     "UTC",
     "2026-02-01T00:00:00Z",
     {"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"}},
    {"0 0 L 2 *", "UTC", "2027-06-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
    {"0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
    {"0 0 31 4,5 *", "UTC", "2026-01-01T00:00:00Z", {"2026-05-31T00:00:00Z", "2027-05-31T00:00:00Z"}},
    // Vixie's day rule: both fields restricted -> either matches (the 13th, or any Friday).
    {"0 0 13 * 5",
     "UTC",
     "2026-04-05T00:00:00Z",
     {"2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z"}},
    // ... one field starting with `*` -> both must match (a 13th that is a Sunday or a Friday).
    {"0 0 13 * */5", "UTC", "2026-04-01T00:00:00Z", {"2026-09-13T00:00:00Z", "2026-11-13T00:00:00Z"}},
    {"0 0 */10 * 1",
     "UTC",
     "2026-01-01T00:00:00Z",  // 1st, 11th, 21st, 31st that is a Monday
     {"2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z", "2026-08-31T00:00:00Z"}},
    // Macros.
    {"@yearly", "UTC", "2026-05-05T00:00:00Z", {"2027-01-01T00:00:00Z"}},
    {"@annually", "UTC", "2026-05-05T00:00:00Z", {"2027-01-01T00:00:00Z"}},
    {"@monthly", "UTC", "2026-01-31T23:59:59Z", {"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
    {"@weekly", "UTC", "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z"}},
    {"@hourly", "UTC", "2026-01-01T10:00:00Z", {"2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"}},
    {"@Daily", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}},
    {"@midnight", "UTC", "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}},
    // A leading seconds field.
    {"*/20 * * * * *",
     "UTC",
     "2026-01-01T00:00:05Z",
     {"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
    {"30 0 12 * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T12:00:30Z", "2026-01-02T12:00:30Z"}},
    {"* * * * * *", "UTC", "2026-01-01T00:00:00Z", {"2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"}},
    // New York, spring forward: 02:30 does not exist on 8 March; it fires once, at 03:00 EDT.
    {"30 2 * * *",
     "America/New_York",
     "2026-03-07T12:00:00Z",
     {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
    // ... hourly: 02:00 is skipped, 03:00 fires once.
    {"0 * * * *",
     "America/New_York",
     "2026-03-08T05:30:00Z",
     {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
    // ... every minute: the whole gap is one fire at 03:00 EDT.
    {"* * * * *",
     "America/New_York",
     "2026-03-08T06:58:00Z",
     {"2026-03-08T06:59:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:01:00Z"}},
    // New York, fall back: 01:30 happens twice on 1 November; it fires once, at the first (EDT).
    {"30 1 * * *",
     "America/New_York",
     "2026-10-31T12:00:00Z",
     {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
    // ... hourly: 01:00 EDT fires, 01:00 EST does not, 02:00 EST does.
    {"0 * * * *",
     "America/New_York",
     "2026-11-01T03:30:00Z",
     {"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"}},
    // ... a search starting inside the second 01:xx hour does not fire its wall times again.
    {"*/20 * * * *",
     "America/New_York",
     "2026-11-01T06:10:00Z",
     {"2026-11-01T07:00:00Z", "2026-11-01T07:20:00Z"}},
    // London, spring forward: 01:30 GMT does not exist on 29 March -> 02:00 BST (01:00Z).
    {"30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", {"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
    // London, fall back: 01:30 happens twice on 25 October -> the BST one (00:30Z).
    {"30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
    {"0 9 * * MON",
     "Europe/London",
     "2026-03-17T12:00:00Z",  // 09:00 GMT, then 09:00 BST
     {"2026-03-23T09:00:00Z", "2026-03-30T08:00:00Z"}},
    // Lord Howe Island: half-hour shifts. 02:15 does not exist on 4 October -> 02:30 (+11).
    {"15 2 * * *",
     "Australia/Lord_Howe",
     "2026-10-03T00:00:00Z",
     {"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}},
    // ... 01:45 happens twice on 5 April -> the first (+11).
    {"45 1 * * *",
     "Australia/Lord_Howe",
     "2026-04-04T00:00:00Z",
     {"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
};

TEST(CronTest, NextFireTimesMatchTheTable) {
    for (const Case& row : kCases) {
        SCOPED_TRACE(std::string(row.expression) + " in " + row.zone + " after " + row.after);
        const auto zone = loadTimeZone(row.zone);
        ASSERT_TRUE(zone.has_value());
        const CronExpression cron = CronExpression::parse(row.expression);
        TimePoint after = at(row.after);
        for (const std::string& expected : row.expected) {
            const auto next = cron.next(after, *zone);
            ASSERT_TRUE(next.has_value());
            EXPECT_EQ(utcText(*next), expected);
            after = *next;
        }
    }
}

TEST(CronTest, SubSecondStartsDoNotRepeatOrSkipASecond) {
    const auto cron = CronExpression::parse("* * * * * *");
    const auto zone = *loadTimeZone("UTC");
    const auto next = cron.next(at("2026-01-01T00:00:00Z") + std::chrono::milliseconds(999), zone);
    ASSERT_TRUE(next);
    EXPECT_EQ(utcText(*next), "2026-01-01T00:00:01Z");
}

// What schedules.min_interval_seconds is checked against: the shortest gap between two fires, across the
// minute, hour and day boundaries too.
TEST(CronTest, ShortestGapBetweenFires) {
    const auto gap = [](std::string_view text) { return CronExpression::parse(text).shortestGap().count(); };
    EXPECT_EQ(gap("* * * * * *"), 1);
    EXPECT_EQ(gap("*/5 * * * * *"), 5);
    EXPECT_EQ(gap("*/10 * * * * *"), 10);
    EXPECT_EQ(gap("0,59 * * * * *"), 1) << "59 s, then 0 s of the next minute";
    EXPECT_EQ(gap("0,30 0 * * * *"), 30);
    EXPECT_EQ(gap("7 * * * * *"), 60);
    EXPECT_EQ(gap("* * * * *"), 60) << "five fields: second 0";
    EXPECT_EQ(gap("*/15 * * * *"), 15 * 60);
    EXPECT_EQ(gap("0 0,23 * * *"), 3600) << "23:00, then 00:00 of the next day";
    EXPECT_EQ(gap("30 2 * * *"), 24 * 3600);
    EXPECT_EQ(gap("@hourly"), 3600);
    EXPECT_EQ(gap("@weekly"), 24 * 3600) << "a lower bound: the day fields are not looked at";
}

TEST(CronTest, LocalTextShowsTheZonesOffset) {
    const auto zone = *loadTimeZone("America/New_York");
    EXPECT_EQ(localText(at("2026-03-08T07:00:00Z"), zone), "2026-03-08T03:00:00-04:00");
    EXPECT_EQ(localText(at("2026-03-08T06:59:00Z"), zone), "2026-03-08T01:59:00-05:00");
    EXPECT_EQ(localText(at("2026-10-03T15:30:00Z"), *loadTimeZone("Australia/Lord_Howe")),
              "2026-10-04T02:30:00+11:00");
}

TEST(CronTest, MatchesChecksEveryField) {
    const auto cron = CronExpression::parse("30 9 * * MON-FRI");
    EXPECT_TRUE(cron.matches(cctz::civil_second(2026, 1, 5, 9, 30, 0)));    // Monday
    EXPECT_FALSE(cron.matches(cctz::civil_second(2026, 1, 4, 9, 30, 0)));   // Sunday
    EXPECT_FALSE(cron.matches(cctz::civil_second(2026, 1, 5, 9, 30, 1)));   // second
    EXPECT_FALSE(cron.matches(cctz::civil_second(2026, 1, 5, 10, 30, 0)));  // hour
    EXPECT_FALSE(CronExpression::parse("0 0 * * *").hasSeconds());
    EXPECT_TRUE(CronExpression::parse("0 0 0 * * *").hasSeconds());
}

struct Refusal {
    std::string expression;
    int position;
    std::string reason;
};

TEST(CronTest, RefusedExpressionsSayWhereAndWhy) {
    const std::vector<Refusal> refusals = {
        {"0 0 * * 8", 9, "day-of-week 8 is out of range 0-7"},
        {"   0 0 * * 8", 12, "day-of-week 8 is out of range 0-7"},
        {"61 * * * *", 1, "minute 61 is out of range 0-59"},
        {"0 24 * * *", 3, "hour 24 is out of range 0-23"},
        {"0 0 0 * *", 5, "day-of-month 0 is out of range 1-31"},
        {"0 0 * 13 *", 7, "month 13 is out of range 1-12"},
        {"0 0 * * * 99999999999999999999", 11, "day-of-week 99999999999999999999 is out of range 0-7"},
        {"60 * * * * *", 1, "second 60 is out of range 0-59"},
        {"* * * *", 8,
         "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found 4"},
        {"0 0 * * * * *", 13,
         "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found 7"},
        {"", 1, "the expression is empty"},
        {" \t ", 1, "the expression is empty"},
        {"*/0 * * * *", 3, "minute step 0 is out of range 1-60"},
        {"0 */25 * * *", 5, "hour step 25 is out of range 1-24"},
        {"0 0 1/ * *", 7, "a day-of-month step is missing"},
        {"5-1 * * * *", 3, "minute range 5-1 runs backwards"},
        {"0 0 * FOO *", 7, "unknown month name FOO"},
        {"0 0 * * MONDAY", 9, "unknown day-of-week name MONDAY"},
        {"0 JAN * * *", 3, "hour takes no names"},
        {"0 0 * * MON-", 13, "a day-of-week value is missing"},
        {"0 12 * * 1x", 11, "unexpected character 'x' in day-of-week"},
        {"0 12 * * 1#2", 11, "unexpected character '#' in day-of-week"},
        {"1,,2 * * * *", 3, "empty element in the minute list"},
        {"1, * * * *", 3, "empty element in the minute list"},
        {",1 * * * *", 1, "empty element in the minute list"},
        {"0 0 L-2 * *", 6, "L (the last day of the month) takes no range or step"},
        {"0 0 * * L", 9, "unknown day-of-week name L"},
        {"0 0 30 2 *", 5,
         "day-of-month 30 never occurs in the selected months, so the expression never fires"},
        {"0 0 31 2,4,6,9,11 *", 5,
         "day-of-month 31 never occurs in the selected months, so the expression never fires"},
        {"@fortnightly", 1,
         "unknown macro @fortnightly; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or "
         "@hourly"},
        {"@reboot", 1,
         "unknown macro @reboot; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"},
        {"@daily 5", 8, "nothing may follow a macro"},
        {"0 0 * * \xff", 9, "unexpected character '\\xff' in day-of-week"},
        {std::string(300, '*'), 257, "the expression is longer than 256 characters"},
    };
    for (const Refusal& refusal : refusals) {
        SCOPED_TRACE(refusal.expression);
        try {
            CronExpression::parse(refusal.expression);
            ADD_FAILURE() << "accepted";
        } catch (const CronParseError& error) {
            EXPECT_EQ(error.position(), refusal.position);
            EXPECT_EQ(error.reason(), refusal.reason);
            EXPECT_EQ(std::string(error.what()),
                      "position " + std::to_string(refusal.position) + ": " + refusal.reason);
        }
    }
}

TEST(CronTest, ADayThatExistsOnlyInLeapYearsIsAccepted) {
    const auto cron = CronExpression::parse("0 0 29 2 *");
    const auto next = cron.next(at("2097-03-01T00:00:00Z"), *loadTimeZone("UTC"));
    ASSERT_TRUE(next);
    EXPECT_EQ(utcText(*next), "2104-02-29T00:00:00Z");  // 2100 is no leap year
}

TEST(CronTest, TimeZonesComeOnlyFromTheTzDatabaseByName) {
    for (const char* name : {"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe",
                             "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"}) {
        EXPECT_TRUE(loadTimeZone(name).has_value()) << name;
    }
    for (const char* name :
         {"", "Nowhere/Land", "../../etc/passwd", "/etc/localtime", "/usr/share/zoneinfo/UTC",
          "Europe/../Europe/London", "posix/Europe/London", "right/UTC", "localtime", "posixrules",
          "Europe//London", "Europe/London/", "europe/london", "UTC ", "Fixed/UTC+01:00", "Europe/London\n",
          "Europe", "America"}) {
        EXPECT_FALSE(loadTimeZone(name).has_value()) << name;
    }
    EXPECT_FALSE(loadTimeZone("A" + std::string(64, 'a')).has_value());
}

}  // namespace
}  // namespace rampart::jobs
