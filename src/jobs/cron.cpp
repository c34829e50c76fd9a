// The cron parser walks the text once, keeping the column of every token for its errors; next() walks
// wall time field by field (month, day, hour, minute, second), skipping what cannot match.
#include "jobs/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

namespace rampart::jobs {
namespace {

struct FieldSpec {
    const char* name;
    int min;
    int max;
    const std::array<const char*, 12>* names;  // upper case; names[i] is min + i
};

constexpr std::array<const char*, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 12> kDayNames = {"SUN", "MON",   "TUE",   "WED",   "THU",   "FRI",
                                                   "SAT", nullptr, nullptr, nullptr, nullptr, nullptr};

constexpr FieldSpec kSecond{"second", 0, 59, nullptr};
constexpr FieldSpec kMinute{"minute", 0, 59, nullptr};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, nullptr};
constexpr FieldSpec kMonth{"month", 1, 12, &kMonthNames};
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, &kDayNames};

constexpr int kDaysInMonth[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};  // at most

struct Token {
    std::string_view text;
    int position;  // 1-based column of text[0]
};

bool isBlank(char c) {
    return c == ' ' || c == '\t';
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

bool isLetter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        out += (byte >= 0x20 && byte < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", byte);
    }
    return out;
}

// Parses one field into `bits` (bit i: value i). Returns whether the field starts with `*`.
template <std::size_t N>
class FieldParser {
  public:
    FieldParser(const FieldSpec& spec, Token token, std::bitset<N>& bits, bool* lastDay)
        : spec_(spec), text_(token.text), base_(token.position), bits_(bits), lastDay_(lastDay) {}

    void parse() {
        std::size_t start = 0;
        while (true) {
            std::size_t end = text_.find(',', start);
            if (end == std::string_view::npos) end = text_.size();
            if (end == start) fail(start, fmt::format("empty element in the {} list", spec_.name));
            element(start, end);
            if (end == text_.size()) break;
            start = end + 1;
            if (start == text_.size()) fail(start, fmt::format("empty element in the {} list", spec_.name));
        }
    }

  private:
    [[noreturn]] void fail(std::size_t offset, std::string reason) const {
        throw CronParseError(base_ + static_cast<int>(offset), std::move(reason));
    }

    // One number or name at offset `at`, up to a `-`, `/`, or the element's end.
    int value(std::size_t& at, std::size_t end) {
        const std::size_t begin = at;
        if (at < end && isDigit(text_[at])) {
            long number = 0;
            while (at < end && isDigit(text_[at])) {
                if (number < 1000) number = number * 10 + (text_[at] - '0');
                ++at;
            }
            if (number < spec_.min || number > spec_.max) {
                fail(begin, fmt::format("{} {} is out of range {}-{}", spec_.name,
                                        number >= 1000 ? std::string(text_.substr(begin, at - begin))
                                                       : std::to_string(number),
                                        spec_.min, spec_.max));
            }
            return static_cast<int>(number);
        }
        if (at < end && isLetter(text_[at])) {
            while (at < end && isLetter(text_[at])) ++at;
            const std::string_view word = text_.substr(begin, at - begin);
            if (spec_.names != nullptr && word.size() == 3) {
                for (std::size_t i = 0; i < spec_.names->size(); ++i) {
                    const char* name = (*spec_.names)[i];
                    if (name != nullptr && upper(word[0]) == name[0] && upper(word[1]) == name[1] &&
                        upper(word[2]) == name[2]) {
                        return spec_.min + static_cast<int>(i);
                    }
                }
            }
            if (spec_.names == nullptr) fail(begin, fmt::format("{} takes no names", spec_.name));
            fail(begin, fmt::format("unknown {} name {}", spec_.name, printable(word)));
        }
        if (at < end)
            fail(at,
                 fmt::format("unexpected character '{}' in {}", printable(text_.substr(at, 1)), spec_.name));
        fail(at, fmt::format("a {} value is missing", spec_.name));
    }

    void element(std::size_t start, std::size_t end) {
        std::size_t at = start;
        int first = spec_.min;
        int last = spec_.max;
        bool single = false;
        if (text_[at] == '*') {
            ++at;
        } else if (lastDay_ != nullptr && upper(text_[at]) == 'L' &&
                   (at + 1 == end || text_[at + 1] == '/' || text_[at + 1] == '-')) {
            if (at + 1 != end) fail(at + 1, "L (the last day of the month) takes no range or step");
            *lastDay_ = true;
            return;
        } else {
            first = value(at, end);
            last = first;
            single = true;
            if (at < end && text_[at] == '-') {
                ++at;
                const std::size_t secondAt = at;
                last = value(at, end);
                single = false;
                if (last < first) {
                    fail(secondAt, fmt::format("{} range {}-{} runs backwards", spec_.name, first, last));
                }
            }
        }
        int step = 1;
        if (at < end && text_[at] == '/') {
            ++at;
            const std::size_t stepAt = at;
            if (at == end || !isDigit(text_[at])) fail(at, fmt::format("a {} step is missing", spec_.name));
            long number = 0;
            while (at < end && isDigit(text_[at])) {
                if (number < 1000) number = number * 10 + (text_[at] - '0');
                ++at;
            }
            const int span = spec_.max - spec_.min + 1;
            if (number < 1 || number > span) {
                fail(stepAt, fmt::format("{} step {} is out of range 1-{}", spec_.name,
                                         number >= 1000 ? std::string(text_.substr(stepAt, at - stepAt))
                                                        : std::to_string(number),
                                         span));
            }
            step = static_cast<int>(number);
            if (single) last = spec_.max;  // a/step: from a to the field's end
        }
        if (at != end) {
            fail(at,
                 fmt::format("unexpected character '{}' in {}", printable(text_.substr(at, 1)), spec_.name));
        }
        for (int v = first; v <= last; v += step)
            bits_.set(static_cast<std::size_t>(v % static_cast<int>(N)));
    }

    const FieldSpec& spec_;
    std::string_view text_;
    int base_;
    std::bitset<N>& bits_;
    bool* lastDay_;
};

template <std::size_t N>
void parseField(const FieldSpec& spec, Token token, std::bitset<N>& bits, bool* lastDay = nullptr) {
    FieldParser<N>(spec, token, bits, lastDay).parse();
}

std::string_view macro(std::string_view name) {
    struct Macro {
        std::string_view name;
        std::string_view expansion;
    };
    static constexpr Macro kMacros[] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                                        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                                        {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                                        {"@hourly", "0 * * * *"}};
    for (const Macro& m : kMacros) {
        if (m.name.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < name.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(name[i])) == m.name[i];
        if (same) return m.expansion;
    }
    return {};
}

cctz::time_point<cctz::seconds> floorSeconds(TimePoint time) {
    return std::chrono::floor<cctz::seconds>(time);
}

}  // namespace

CronExpression CronExpression::parse(std::string_view text) {
    if (text.size() > kMaxLength) {
        throw CronParseError(static_cast<int>(kMaxLength) + 1,
                             fmt::format("the expression is longer than {} characters", kMaxLength));
    }
    std::vector<Token> tokens;
    for (std::size_t at = 0; at < text.size();) {
        if (isBlank(text[at])) {
            ++at;
            continue;
        }
        const std::size_t begin = at;
        while (at < text.size() && !isBlank(text[at])) ++at;
        tokens.push_back({text.substr(begin, at - begin), static_cast<int>(begin) + 1});
    }
    if (tokens.empty()) throw CronParseError(1, "the expression is empty");
    if (tokens[0].text.front() == '@') {
        if (tokens.size() > 1) throw CronParseError(tokens[1].position, "nothing may follow a macro");
        const std::string_view expansion = macro(tokens[0].text);
        if (expansion.empty()) {
            throw CronParseError(tokens[0].position,
                                 fmt::format("unknown macro {}; use @yearly, @annually, @monthly, @weekly, "
                                             "@daily, @midnight or @hourly",
                                             printable(tokens[0].text.substr(0, 32))));
        }
        return parse(expansion);
    }
    if (tokens.size() != 5 && tokens.size() != 6) {
        const int position = tokens.size() > 6 ? tokens[6].position : static_cast<int>(text.size()) + 1;
        throw CronParseError(position, fmt::format("expected 5 fields (minute hour day-of-month month "
                                                   "day-of-week) or 6 (seconds first), found {}",
                                                   tokens.size()));
    }
    CronExpression cron;
    std::size_t field = 0;
    cron.hasSeconds_ = tokens.size() == 6;
    if (cron.hasSeconds_) {
        parseField(kSecond, tokens[field++], cron.seconds_);
    } else {
        cron.seconds_.set(0);
    }
    parseField(kMinute, tokens[field++], cron.minutes_);
    parseField(kHour, tokens[field++], cron.hours_);
    const Token dayOfMonth = tokens[field++];
    parseField(kDayOfMonth, dayOfMonth, cron.daysOfMonth_, &cron.lastDayOfMonth_);
    parseField(kMonth, tokens[field++], cron.months_);
    const Token dayOfWeek = tokens[field++];
    parseField(kDayOfWeek, dayOfWeek, cron.daysOfWeek_);
    cron.dayOfMonthStar_ = dayOfMonth.text.front() == '*';
    cron.dayOfWeekStar_ = dayOfWeek.text.front() == '*';

    // With both day fields needed (one starts with `*`), some day of the month must exist in some month.
    if (cron.dayOfMonthStar_ || cron.dayOfWeekStar_) {
        bool possible = cron.lastDayOfMonth_;
        for (int month = 1; month <= 12 && !possible; ++month) {
            if (!cron.months_.test(static_cast<std::size_t>(month))) continue;
            for (int day = 1; day <= kDaysInMonth[month] && !possible; ++day)
                possible = cron.daysOfMonth_.test(static_cast<std::size_t>(day));
        }
        if (!possible) {
            throw CronParseError(dayOfMonth.position,
                                 "day-of-month " + printable(dayOfMonth.text) +
                                     " never occurs in the selected months, so the expression never fires");
        }
    }
    return cron;
}

bool CronExpression::dayMatches(const cctz::civil_day& day) const {
    const auto dom = static_cast<std::size_t>(day.day());
    bool domMatch = daysOfMonth_.test(dom);
    if (!domMatch && lastDayOfMonth_) domMatch = (day + 1).month() != day.month();
    // cctz counts Monday as 0; cron counts Sunday as 0.
    const auto dow = static_cast<std::size_t>((static_cast<int>(cctz::get_weekday(day)) + 1) % 7);
    const bool dowMatch = daysOfWeek_.test(dow);
    if (dayOfMonthStar_ || dayOfWeekStar_) return domMatch && dowMatch;
    return domMatch || dowMatch;
}

std::chrono::seconds CronExpression::shortestGap() const {
    // Every second of a day that fires (at most 86,400 to look at), and the wrap to the next day's first.
    constexpr int kDay = 24 * 3600;
    int first = -1;
    int previous = -1;
    int shortest = kDay;
    for (int hour = 0; hour < 24; ++hour) {
        if (!hours_.test(static_cast<std::size_t>(hour))) continue;
        for (int minute = 0; minute < 60; ++minute) {
            if (!minutes_.test(static_cast<std::size_t>(minute))) continue;
            for (int second = 0; second < 60; ++second) {
                if (!seconds_.test(static_cast<std::size_t>(second))) continue;
                const int time = hour * 3600 + minute * 60 + second;
                if (first < 0) first = time;
                if (previous >= 0) shortest = std::min(shortest, time - previous);
                previous = time;
            }
        }
    }
    if (first >= 0) shortest = std::min(shortest, first + kDay - previous);
    return std::chrono::seconds(shortest);
}

bool CronExpression::matches(const cctz::civil_second& time) const {
    return months_.test(static_cast<std::size_t>(time.month())) && dayMatches(cctz::civil_day(time)) &&
           hours_.test(static_cast<std::size_t>(time.hour())) &&
           minutes_.test(static_cast<std::size_t>(time.minute())) &&
           seconds_.test(static_cast<std::size_t>(time.second()));
}

std::optional<TimePoint> CronExpression::next(TimePoint after, const cctz::time_zone& zone) const {
    const auto afterSeconds = floorSeconds(after);
    // Wall times before or at `after`'s own map to instants at or before it (the mapping below never
    // goes backwards in time as wall time goes forwards), so the search starts one second later.
    cctz::civil_second time = cctz::convert(afterSeconds, zone) + 1;
    const auto endYear = time.year() + kSearchYears;
    while (time.year() <= endYear) {
        if (!months_.test(static_cast<std::size_t>(time.month()))) {
            time = cctz::civil_second(cctz::civil_month(time) + 1);
            continue;
        }
        if (!dayMatches(cctz::civil_day(time))) {
            time = cctz::civil_second(cctz::civil_day(time) + 1);
            continue;
        }
        if (!hours_.test(static_cast<std::size_t>(time.hour()))) {
            time = cctz::civil_second(cctz::civil_hour(time) + 1);
            continue;
        }
        if (!minutes_.test(static_cast<std::size_t>(time.minute()))) {
            time = cctz::civil_second(cctz::civil_minute(time) + 1);
            continue;
        }
        if (!seconds_.test(static_cast<std::size_t>(time.second()))) {
            time += 1;
            continue;
        }
        const auto lookup = zone.lookup(time);
        // Skipped: the first instant after the gap. Repeated: the first occurrence (the earlier offset).
        const auto instant =
            lookup.kind == cctz::time_zone::civil_lookup::SKIPPED ? lookup.trans : lookup.pre;
        if (instant > afterSeconds)
            return TimePoint(std::chrono::duration_cast<TimePoint::duration>(instant.time_since_epoch()));
        time += 1;  // a wall time in the hour repeated before `after`: already fired
    }
    return std::nullopt;
}

std::optional<cctz::time_zone> loadTimeZone(std::string_view name) {
    if (name.empty() || name.size() > 64) return std::nullopt;
    bool partStart = true;
    for (char c : name) {
        if (c == '/') {
            if (partStart) return std::nullopt;  // empty part, or a leading slash
            partStart = true;
            continue;
        }
        if (partStart && !(c >= 'A' && c <= 'Z')) return std::nullopt;
        partStart = false;
        if (!isLetter(c) && !isDigit(c) && c != '_' && c != '+' && c != '-') return std::nullopt;
    }
    if (partStart) return std::nullopt;            // a trailing slash
    const char* directory = std::getenv("TZDIR");  // where cctz looks too
    const std::filesystem::path file =
        std::filesystem::path(directory != nullptr && *directory != '\0' ? directory
                                                                         : "/usr/share/zoneinfo") /
        std::string(name);
    std::error_code error;
    if (!std::filesystem::is_regular_file(file, error)) return std::nullopt;
    cctz::time_zone zone;
    if (!cctz::load_time_zone(std::string(name), &zone)) return std::nullopt;
    return zone;
}

std::string utcText(TimePoint time) {
    return cctz::format("%Y-%m-%dT%H:%M:%SZ", floorSeconds(time), cctz::utc_time_zone());
}

std::string localText(TimePoint time, const cctz::time_zone& zone) {
    return cctz::format("%Y-%m-%dT%H:%M:%S%Ez", floorSeconds(time), zone);
}

}  // namespace rampart::jobs
