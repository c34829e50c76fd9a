// The access log's line: its time is UTC, as its "Z" says, whatever the process's time zone.
#include "obs/access_log.hpp"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace rampart::obs {
namespace {

// Seconds since the epoch of an RFC 3339 UTC time ("2026-12-07T15:04:05.123Z").
std::time_t utcSeconds(const std::string& text) {
    std::tm fields{};
    EXPECT_NE(strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &fields), nullptr) << text;
    return timegm(&fields);
}

TEST(AccessLogTest, TheTimeIsUtcWhateverTheProcesssTimeZone) {
    const char* saved = std::getenv("TZ");
    const std::string previous = saved ? saved : "";
    // Far from UTC either way, so a local time cannot pass for UTC.
    for (const char* zone : {"Pacific/Kiritimati", "Pacific/Pago_Pago"}) {
        setenv("TZ", zone, 1);
        tzset();
        AccessRecord record;
        record.method = "GET";
        record.route = "/api/v1/jobs/{id}";
        record.status = 200;
        const auto line = boost::json::parse(AccessLog::format(record)).as_object();
        const std::string time(line.at("time").as_string());
        ASSERT_EQ(time.back(), 'Z') << time;
        EXPECT_LE(std::abs(utcSeconds(time) - std::time(nullptr)), 5) << zone << ": " << time;
    }
    if (saved) {
        setenv("TZ", previous.c_str(), 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

}  // namespace
}  // namespace rampart::obs
