// Parsing and printing of DRF-style rates.
#include "ratelimit/rate.hpp"

#include <charconv>

#include <fmt/format.h>

namespace rampart::ratelimit {
namespace {

constexpr std::string_view kRule =
    "a rate is <requests>/<period>, e.g. 100/hour, 5/minute, 10/second, 1000/day or 100/5m";

struct Unit {
    std::string_view name;
    std::chrono::seconds length;
};

constexpr Unit kUnits[] = {
    {"s", std::chrono::seconds(1)},      {"sec", std::chrono::seconds(1)},
    {"second", std::chrono::seconds(1)}, {"seconds", std::chrono::seconds(1)},
    {"m", std::chrono::minutes(1)},      {"min", std::chrono::minutes(1)},
    {"minute", std::chrono::minutes(1)}, {"minutes", std::chrono::minutes(1)},
    {"h", std::chrono::hours(1)},        {"hour", std::chrono::hours(1)},
    {"hours", std::chrono::hours(1)},    {"d", std::chrono::hours(24)},
    {"day", std::chrono::hours(24)},     {"days", std::chrono::hours(24)},
};

[[noreturn]] void refuse(std::string_view text, std::string_view why) {
    throw RateError(fmt::format("'{}' is not a rate: {} ({})", text, why, kRule));
}

// Digits only (no sign, no blanks); nullopt when empty, not digits, or too large for uint64.
std::optional<std::uint64_t> digits(std::string_view text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

}  // namespace

std::string Rate::text() const {
    const auto seconds = window.count();
    if (seconds == 1) return fmt::format("{}/second", requests);
    if (seconds == 60) return fmt::format("{}/minute", requests);
    if (seconds == 3600) return fmt::format("{}/hour", requests);
    if (seconds == 86400) return fmt::format("{}/day", requests);
    return fmt::format("{}/{}s", requests, seconds);
}

Rate parseRate(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) refuse(text, "no '/'");
    const auto requests = digits(text.substr(0, slash));
    if (!requests) refuse(text, "the number of requests must be a whole number written in digits");
    if (*requests == 0) refuse(text, "the number of requests must be at least 1 (use \"off\" for no limit)");
    if (*requests > kMaxRequests) refuse(text, fmt::format("at most {} requests", kMaxRequests));

    std::string_view period = text.substr(slash + 1);
    std::size_t count = 0;
    while (count < period.size() && period[count] >= '0' && period[count] <= '9') ++count;
    std::uint64_t multiplier = 1;
    if (count > 0) {
        const auto parsed = digits(period.substr(0, count));
        if (!parsed || *parsed == 0) refuse(text, "the period's count must be at least 1");
        multiplier = *parsed;
    }
    const std::string_view unitName = period.substr(count);
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits)
        if (candidate.name == unitName) unit = &candidate;
    if (unit == nullptr) refuse(text, "the period must be second, minute, hour or day (or s, m, h, d)");
    const auto maxMultiplier = static_cast<std::uint64_t>(kMaxWindow.count() / unit->length.count());
    if (multiplier > maxMultiplier) refuse(text, "the period must be at most 30 days");

    Rate rate{.requests = *requests,
              .window = std::chrono::seconds(static_cast<std::int64_t>(multiplier) * unit->length.count())};
    // Below a microsecond between requests the Redis backend could not count it.
    if (rate.interval() < std::chrono::microseconds(1))
        refuse(text, "more than 1,000,000 requests per second cannot be limited");
    return rate;
}

std::optional<Rate> parseOptionalRate(std::string_view text) {
    if (text == "off" || text == "none" || text == "unlimited") return std::nullopt;
    return parseRate(text);
}

}  // namespace rampart::ratelimit
