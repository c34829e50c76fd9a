// A rate in Django REST Framework's notation ("100/hour", "5/minute", "10/second", "1000/day",
// "100/5m"): how many requests a window allows, parsed strictly so a typo is a start-up error.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rampart::ratelimit {

// The bounds a rate must respect: at least one request per window, at most a million per second
// (the Redis backend counts in microseconds, so the interval between requests must be at least one),
// and a window from one second to thirty days.
inline constexpr std::uint64_t kMaxRequests = 1'000'000'000;
inline constexpr std::chrono::seconds kMinWindow{1};
inline constexpr std::chrono::seconds kMaxWindow{30LL * 24 * 60 * 60};

struct Rate {
    std::uint64_t requests = 0;  // the quota: requests allowed at once, and per window on average
    std::chrono::seconds window{0};

    // The time between two requests at the steady rate (window / requests), the GCRA emission interval.
    [[nodiscard]] std::chrono::nanoseconds interval() const {
        return std::chrono::nanoseconds(std::chrono::nanoseconds(window).count() /
                                        static_cast<std::int64_t>(requests));
    }
    // "100/hour", "5/minute", "10/second", "1000/day", else "100/300s": what parseRate reads back.
    [[nodiscard]] std::string text() const;

    bool operator==(const Rate&) const = default;
};

// Why a rate was refused; the message names the rule, and quotes the text (rates are not secrets).
class RateError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// "<requests>/<period>": requests a whole number >= 1; period one of second, minute, hour, day (also
// s, sec, m, min, h, d, and plurals), optionally preceded by a count ("100/5m", "10/30s", "1000/2h").
// No blanks, no signs, no fractions. Throws RateError saying what is wrong.
[[nodiscard]] Rate parseRate(std::string_view text);

// As parseRate, but "off" (also "none", "unlimited") gives no limit at all.
[[nodiscard]] std::optional<Rate> parseOptionalRate(std::string_view text);

}  // namespace rampart::ratelimit
