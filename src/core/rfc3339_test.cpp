// RFC 3339 in UTC: what the API writes, and what it accepts from clients (run_at and the like).
#include "core/rfc3339.hpp"

#include <cstdint>
#include <vector>

#include <cctz/time_zone.h>
#include <gtest/gtest.h>

namespace rampart {
namespace {

using namespace std::chrono;

system_clock::time_point at(int y, unsigned m, unsigned d, int hh, int mm, int ss,
                            microseconds fraction = {}) {
    return sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss} + fraction;
}

TEST(Rfc3339, WritesUtcWithTheGivenPrecision) {
    const auto time = at(2026, 1, 31, 12, 3, 4, microseconds{123456});
    EXPECT_EQ(timeText(time), "2026-01-31T12:03:04.123456Z");
    EXPECT_EQ(timeText(time, TimePrecision::seconds), "2026-01-31T12:03:04Z");
    EXPECT_EQ(timeText(at(1970, 1, 1, 0, 0, 0)), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(timeText(time + nanoseconds{999}), "2026-01-31T12:03:04.123456Z") << "truncated, not rounded";
}

TEST(Rfc3339, WritesWhatCctzWritesForEveryKindOfDate) {
    // From 1970 they are formatted by arithmetic; cctz is the reference. Leap days, month and year ends,
    // the last microsecond system_clock can hold (it counts nanoseconds in 64 bits: April 2262), and
    // times before 1970 (cctz's own path).
    std::vector<system_clock::time_point> times = {at(1970, 1, 1, 0, 0, 0),
                                                   at(1972, 2, 29, 23, 59, 59, microseconds{999999}),
                                                   at(2000, 2, 29, 12, 0, 0),
                                                   at(2100, 3, 1, 0, 0, 0, microseconds{1}),
                                                   at(2026, 12, 31, 23, 59, 59),
                                                   floor<microseconds>(system_clock::time_point::max()),
                                                   at(1969, 12, 31, 23, 59, 59, microseconds{500000}),
                                                   at(1900, 1, 1, 0, 0, 0)};
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; ++i) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        times.push_back(system_clock::time_point{} + microseconds{static_cast<std::int64_t>(seed >> 12)});
    }
    for (const auto time : times) {
        const auto micros = floor<microseconds>(time);
        EXPECT_EQ(timeText(time), cctz::format("%E4Y-%m-%dT%H:%M:%E6SZ", micros, cctz::utc_time_zone()));
        EXPECT_EQ(timeText(time, TimePrecision::seconds),
                  cctz::format("%E4Y-%m-%dT%H:%M:%SZ", micros, cctz::utc_time_zone()));
    }
}

TEST(Rfc3339, ReadsWhatItWritesAndFractionsUpToNanoseconds) {
    const auto time = at(2026, 1, 31, 12, 3, 4, microseconds{123456});
    EXPECT_EQ(parseTimeText(timeText(time)), time);
    EXPECT_EQ(parseTimeText("2026-01-31T12:03:04Z"), at(2026, 1, 31, 12, 3, 4));
    EXPECT_EQ(parseTimeText("2026-01-31t12:03:04.5Z"), at(2026, 1, 31, 12, 3, 4, milliseconds{500}));
    EXPECT_EQ(parseTimeText("2026-01-31T12:03:04.123456789Z"),
              at(2026, 1, 31, 12, 3, 4) + nanoseconds{123456789});
    EXPECT_EQ(parseTimeText("2026-01-31T23:59:60Z"), at(2026, 2, 1, 0, 0, 0)) << "a leap second";
}

TEST(Rfc3339, RefusesEverythingElse) {
    for (const char* text :
         {"", "2026-01-31", "2026-01-31T12:03:04", "2026-01-31T12:03:04+00:00", "2026-01-31T12:03:04z",
          "2026-01-31 12:03:04Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-32T00:00:00Z",
          "2026-01-31T24:00:00Z", "2026-01-31T12:60:00Z", "2026-01-31T12:03:04.Z",
          "2026-01-31T12:03:04.1234567890Z", "20260-01-31T12:03:04Z", "+2026-01-31T12:03:04Z",
          "1969-12-31T23:59:59Z", "2026-01-31T12:03:04.12a4Z", "2026-1-31T12:03:04ZZZ"}) {
        EXPECT_EQ(parseTimeText(text), std::nullopt) << text;
    }
}

}  // namespace
}  // namespace rampart
