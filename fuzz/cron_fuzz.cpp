// libFuzzer target for the cron parser and next-fire search: any bytes -> parse -> five fire times in a
// zone with daylight saving. Invariants: only CronParseError escapes the parser, its position lies within
// the text (or one past it), the search ends (bounded work), a parsed expression fires, and fire times
// strictly increase.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "jobs/cron.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace rampart::jobs;
    static const cctz::time_zone kZones[] = {*loadTimeZone("UTC"), *loadTimeZone("America/New_York"),
                                             *loadTimeZone("Australia/Lord_Howe")};
    if (size == 0) return 0;
    const cctz::time_zone& zone = kZones[data[0] % 3];
    // The search starts somewhere in 2026, near a daylight-saving change for some inputs.
    const TimePoint start = TimePoint(std::chrono::seconds(1767225600)) + std::chrono::hours(data[0] * 37);
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    CronExpression cron;
    try {
        cron = CronExpression::parse(text);
    } catch (const CronParseError& error) {
        const auto limit = static_cast<int>(std::min(text.size(), CronExpression::kMaxLength)) + 1;
        if (error.position() < 1 || error.position() > limit) std::abort();
        return 0;
    }
    TimePoint after = start;
    for (int i = 0; i < 5; ++i) {
        const auto next = cron.next(after, zone);
        // Every expression that parses fires; a later fire may lie beyond the search window (29 February
        // on a given weekday comes back every 28 years, or more across 2100).
        if (!next) {
            if (i == 0) std::abort();
            break;
        }
        if (*next <= after) std::abort();
        after = *next;
    }
    return 0;
}
