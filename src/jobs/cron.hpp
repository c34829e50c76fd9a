// Cron expressions (five fields, or six with leading seconds; Vixie cron's day rule) and their fire
// times in an IANA time zone, correct across daylight-saving changes. Pure: no I/O but the tz database.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

namespace rampart::jobs {

using TimePoint = std::chrono::system_clock::time_point;

// An expression that does not parse: where (1-based column) and why. what() is
// "position N: reason", safe to show to the client who sent the expression.
class CronParseError : public std::invalid_argument {
  public:
    CronParseError(int position, std::string reason)
        : std::invalid_argument("position " + std::to_string(position) + ": " + reason),
          position_(position),
          reason_(std::move(reason)) {}

    [[nodiscard]] int position() const { return position_; }
    [[nodiscard]] const std::string& reason() const { return reason_; }

  private:
    int position_;
    std::string reason_;
};

class CronExpression {
  public:
    static constexpr std::size_t kMaxLength = 256;
    // How far ahead next() looks. Every expression that parses fires within 28 years (the weekday
    // cycle of 29 February); this is a bound on work, not a limit users meet.
    static constexpr int kSearchYears = 50;

    // Fields: [second] minute hour day-of-month month day-of-week, separated by blanks. Each field is
    // a comma list of `*`, a value, a range `a-b`, each optionally `/step` (`a/step` means a to the
    // field's end); months JAN-DEC and days SUN-SAT by name (any case); day-of-week 0 and 7 are Sunday;
    // `L` in day-of-month is the month's last day. Or one of @yearly (@annually), @monthly, @weekly,
    // @daily (@midnight), @hourly. Day-of-month and day-of-week combine as in Vixie cron: when either
    // field starts with `*` a day must match both, otherwise either. An expression whose days can
    // never occur (`0 0 30 2 *`) is refused. Throws CronParseError.
    static CronExpression parse(std::string_view text);

    // The first fire time strictly after `after` in `zone`: the first matching wall time; a wall time
    // that the zone skips (spring forward) fires once at the first instant after the gap, and one that
    // it repeats (fall back) fires once, at its first occurrence. nullopt only when nothing matches
    // within kSearchYears.
    [[nodiscard]] std::optional<TimePoint> next(TimePoint after, const cctz::time_zone& zone) const;

    // Whether a wall time matches every field.
    [[nodiscard]] bool matches(const cctz::civil_second& time) const;

    [[nodiscard]] bool hasSeconds() const { return hasSeconds_; }

    // The shortest time between two consecutive fires, from the second, minute and hour fields, as if
    // every day matched (so a lower bound when two consecutive days cannot both fire) and ignoring
    // daylight-saving changes. What schedules.min_interval_seconds is checked against.
    [[nodiscard]] std::chrono::seconds shortestGap() const;

  private:
    [[nodiscard]] bool dayMatches(const cctz::civil_day& day) const;

    std::bitset<60> seconds_;
    std::bitset<60> minutes_;
    std::bitset<24> hours_;
    std::bitset<32> daysOfMonth_;  // 1..31
    bool lastDayOfMonth_ = false;  // L
    std::bitset<13> months_;       // 1..12
    std::bitset<7> daysOfWeek_;    // 0 = Sunday
    bool dayOfMonthStar_ = false;  // the field starts with `*` (Vixie's DOM_STAR)
    bool dayOfWeekStar_ = false;   // the field starts with `*` (Vixie's DOW_STAR)
    bool hasSeconds_ = false;
};

// An IANA time zone from the system's tz database ("Europe/London", "UTC"); nullopt for anything else.
// Names are checked before the database is asked: each `/`-separated part starts with an upper-case
// letter and holds only letters, digits, `_`, `+` and `-`, at most 64 bytes in all, and the zone's file
// must exist. So no path (`../`, absolute), no `posix/`/`right/` variants, no `localtime`, and no
// unknown name reaches the loader, which keeps every name it is asked for in memory.
[[nodiscard]] std::optional<cctz::time_zone> loadTimeZone(std::string_view name);

// RFC 3339 in UTC to the second ("2026-03-08T07:00:00Z"), and the same instant as wall time with the
// zone's offset ("2026-03-08T03:00:00-04:00").
[[nodiscard]] std::string utcText(TimePoint time);
[[nodiscard]] std::string localText(TimePoint time, const cctz::time_zone& zone);

}  // namespace rampart::jobs
