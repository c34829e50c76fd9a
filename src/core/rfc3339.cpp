// RFC 3339 in UTC through cctz (the time-zone library the scheduler uses for cron).
#include "core/rfc3339.hpp"

#include <cctz/time_zone.h>

namespace rampart {

std::string timeText(std::chrono::system_clock::time_point time, TimePrecision precision) {
    const char* format =
        precision == TimePrecision::seconds ? "%E4Y-%m-%dT%H:%M:%SZ" : "%E4Y-%m-%dT%H:%M:%E6SZ";
    return cctz::format(format, std::chrono::floor<std::chrono::microseconds>(time), cctz::utc_time_zone());
}

std::optional<std::chrono::system_clock::time_point> parseTimeText(std::string_view text) {
    // The shape first: cctz's %Y would take a year of any length, and %E*S any number of digits.
    constexpr std::size_t kWhole = 20;                // "2026-01-31T12:00:00Z"
    constexpr std::size_t kLongest = kWhole + 1 + 9;  // with '.' and nine digits
    if (text.size() < kWhole || text.size() > kLongest || text.back() != 'Z') return std::nullopt;
    if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't')) return std::nullopt;
    if (text.size() > kWhole && text[19] != '.') return std::nullopt;
    if (text.size() == kWhole + 1) return std::nullopt;  // a '.' without digits
    std::string copy(text);
    copy[10] = 'T';
    std::chrono::system_clock::time_point time;
    if (!cctz::parse("%Y-%m-%dT%H:%M:%E*SZ", copy, cctz::utc_time_zone(), &time)) return std::nullopt;
    if (time < std::chrono::system_clock::time_point{}) return std::nullopt;
    return time;
}

}  // namespace rampart
