// Interval ticks are absolute (no time zone, no daylight saving): anchor + k * interval.
#include "jobs/schedule_timing.hpp"

#include <stdexcept>

namespace rampart::jobs {

ScheduleTiming ScheduleTiming::of(const store::ScheduleRecord& schedule) {
    return of(schedule.cron, schedule.everySeconds, schedule.timeZone, schedule.anchor);
}

ScheduleTiming ScheduleTiming::of(const std::optional<std::string>& cron,
                                  std::optional<std::int64_t> everySeconds, const std::string& timeZone,
                                  store::Millis anchor) {
    if (cron.has_value() == everySeconds.has_value())
        throw std::invalid_argument("a schedule has either a cron expression or an interval");
    ScheduleTiming timing;
    auto zone = loadTimeZone(timeZone);
    if (!zone) throw std::invalid_argument("unknown time zone");
    timing.zone_ = *zone;
    if (cron) {
        timing.cron_ = CronExpression::parse(*cron);
    } else {
        if (*everySeconds < 1 || *everySeconds > kMaxIntervalSeconds)
            throw std::invalid_argument("the interval is out of range");
        timing.interval_ = std::chrono::seconds(*everySeconds);
        timing.anchor_ = fromMillis(anchor);
    }
    return timing;
}

std::optional<TimePoint> ScheduleTiming::next(TimePoint after) const {
    if (cron_) return cron_->next(after, zone_);
    if (after < anchor_) return anchor_ + interval_;
    const auto periods = (after - anchor_) / interval_;  // whole periods since the anchor
    return anchor_ + interval_ * (periods + 1);
}

std::chrono::seconds ScheduleTiming::shortestGap() const {
    if (cron_) return cron_->shortestGap();
    return std::chrono::duration_cast<std::chrono::seconds>(interval_);
}

std::vector<TimePoint> ScheduleTiming::upcoming(TimePoint after, int count) const {
    std::vector<TimePoint> times;
    for (int i = 0; i < count; ++i) {
        auto time = next(after);
        if (!time) break;
        times.push_back(*time);
        after = *time;
    }
    return times;
}

}  // namespace rampart::jobs
