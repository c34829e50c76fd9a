// When a stored schedule fires: its cron expression in its time zone, or its interval counted from its
// anchor. Shared by the schedule service (next fire times, validation) and the scheduler (ticks due).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobs/cron.hpp"
#include "store/schedule_store.hpp"

namespace rampart::jobs {

class ScheduleTiming {
  public:
    static constexpr std::int64_t kMaxIntervalSeconds = 366LL * 24 * 3600;

    // Throws CronParseError for a bad expression, std::invalid_argument for an unknown time zone, an
    // interval outside 1..kMaxIntervalSeconds, or both or neither of cron and interval.
    static ScheduleTiming of(const store::ScheduleRecord& schedule);
    static ScheduleTiming of(const std::optional<std::string>& cron, std::optional<std::int64_t> everySeconds,
                             const std::string& timeZone, store::Millis anchor);

    // The first fire time strictly after `after` (whole seconds; intervals: anchor + k * interval, k >= 1).
    [[nodiscard]] std::optional<TimePoint> next(TimePoint after) const;
    // The next `count` fire times after `after` (fewer when the expression stops firing).
    [[nodiscard]] std::vector<TimePoint> upcoming(TimePoint after, int count) const;

    // The shortest time between two fires: the interval, or the cron expression's shortestGap().
    [[nodiscard]] std::chrono::seconds shortestGap() const;

    [[nodiscard]] const cctz::time_zone& zone() const { return zone_; }

  private:
    std::optional<CronExpression> cron_;
    std::chrono::milliseconds interval_{0};
    TimePoint anchor_{};
    cctz::time_zone zone_;
};

[[nodiscard]] inline TimePoint fromMillis(store::Millis millis) {
    return TimePoint(std::chrono::milliseconds(millis));
}

}  // namespace rampart::jobs
