// RFC 3339 in UTC through cctz (the time-zone library the scheduler uses for cron).
#include "core/rfc3339.hpp"

#include <cstdint>

#include <cctz/time_zone.h>

namespace rampart {

namespace {

void putDigits(char* at, std::int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
        at[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

}  // namespace

std::string timeText(std::chrono::system_clock::time_point time, TimePrecision precision) {
    using namespace std::chrono;
    // From 1970 by arithmetic (every time a job or token holds; this runs several times per job shown):
    // system_clock's nanoseconds end in 2262, so the year always has four digits. Earlier times through
    // cctz, which writes the same for these.
    const auto micros = floor<microseconds>(time);
    const auto day = floor<days>(micros);
    const year_month_day date{day};
    if (micros.time_since_epoch().count() >= 0) {
        const hh_mm_ss clock{micros - day};
        std::string out(precision == TimePrecision::seconds ? 20 : 27, '\0');
        putDigits(&out[0], static_cast<int>(date.year()), 4);
        out[4] = '-';
        putDigits(&out[5], static_cast<unsigned>(date.month()), 2);
        out[7] = '-';
        putDigits(&out[8], static_cast<unsigned>(date.day()), 2);
        out[10] = 'T';
        putDigits(&out[11], clock.hours().count(), 2);
        out[13] = ':';
        putDigits(&out[14], clock.minutes().count(), 2);
        out[16] = ':';
        putDigits(&out[17], clock.seconds().count(), 2);
        if (precision == TimePrecision::microseconds) {
            out[19] = '.';
            putDigits(&out[20], clock.subseconds().count(), 6);
        }
        out.back() = 'Z';
        return out;
    }
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
