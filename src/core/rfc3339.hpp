// RFC 3339 times in UTC, as the API writes and reads them ("2026-01-31T12:00:00.000000Z").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rampart {

enum class TimePrecision {
    seconds,       // "2026-01-31T12:00:00Z": accounts, tokens, sessions
    microseconds,  // "2026-01-31T12:00:00.123456Z": jobs, schedules, events
};

// UTC with the given precision (truncated, never rounded up); a four-digit year.
[[nodiscard]] std::string timeText(std::chrono::system_clock::time_point time,
                                   TimePrecision precision = TimePrecision::microseconds);

// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with a four-digit year from 1970, 'T' or 't', at most nine
// fraction digits, and every field in its range (a leap second ":60" is the next minute's ":00").
// Only UTC ("Z"): an offset is refused, so a client never has its time shifted by surprise.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parseTimeText(std::string_view text);

}  // namespace rampart
