// spdlog's formatter for JSON lines, with the logging thread's trace.
#include "obs/app_log.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/details/log_msg.h>

#include "obs/json_escape.hpp"

namespace rampart::obs {
namespace {

thread_local const SpanContext* currentTrace = nullptr;

class JsonLogFormatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
        fmt::format_to(std::back_inserter(dest), R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","level":)",
                       fmt::gmtime(std::chrono::system_clock::to_time_t(msg.time)), millis);
        const auto level = spdlog::level::to_string_view(msg.level);
        appendJsonString(dest, std::string_view(level.data(), level.size()));
        dest.append(std::string_view(R"(,"message":)"));
        appendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
        if (currentTrace) {
            fmt::format_to(std::back_inserter(dest), R"(,"trace_id":"{}","span_id":"{}")",
                           toHex(currentTrace->traceId), toHex(currentTrace->spanId));
        }
        dest.append(std::string_view("}\n"));
    }

    [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<JsonLogFormatter>();
    }
};

}  // namespace

std::unique_ptr<spdlog::formatter> jsonLogFormatter() {
    return std::make_unique<JsonLogFormatter>();
}

LogTrace::LogTrace(const Span& span) : previous_(currentTrace) {
    if (span.on()) currentTrace = &span.context();
}

LogTrace::~LogTrace() {
    currentTrace = previous_;
}

}  // namespace rampart::obs
