// JSON-lines access log on an spdlog async logger (bounded queue; the I/O thread only enqueues).
#include "obs/access_log.hpp"

#include <chrono>
#include <mutex>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace rampart::obs {
namespace {

void appendJsonString(fmt::memory_buffer& out, std::string_view text) {
    out.push_back('"');
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out.append(std::string_view("\\\""));
                break;
            case '\\':
                out.append(std::string_view("\\\\"));
                break;
            default:
                if (c < 0x20 || c >= 0x7f)
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                else
                    out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

}  // namespace

AccessLog::AccessLog() {
    static std::once_flag poolCreated;
    std::call_once(poolCreated, [] { spdlog::init_thread_pool(8192, 1); });
    // Overrun rather than block: under overload the oldest unwritten lines go, requests never wait.
    logger_ = std::make_shared<spdlog::async_logger>(
        "access", std::make_shared<spdlog::sinks::stdout_sink_mt>(), spdlog::thread_pool(),
        spdlog::async_overflow_policy::overrun_oldest);
    logger_->set_pattern("%v");
    logger_->set_level(spdlog::level::info);
}

AccessLog::AccessLog(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

std::string AccessLog::format(const AccessRecord& r) {
    fmt::memory_buffer out;
    auto now = std::chrono::system_clock::now();
    auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    fmt::format_to(std::back_inserter(out), R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","method":)",
                   std::chrono::floor<std::chrono::seconds>(now), millis);
    appendJsonString(out, r.method);
    out.append(std::string_view(R"(,"route":)"));
    appendJsonString(out, r.route);
    fmt::format_to(std::back_inserter(out), R"(,"status":{},"duration_ms":{:.3f},"bytes":{},"request_id":)",
                   r.status, r.durationMs, r.bytes);
    appendJsonString(out, r.requestId);
    out.append(std::string_view(R"(,"client":)"));
    appendJsonString(out, r.client);
    if (!r.userId.empty()) {
        out.append(std::string_view(R"(,"user":)"));
        appendJsonString(out, r.userId);
    }
    out.push_back('}');
    return fmt::to_string(out);
}

void AccessLog::write(const AccessRecord& record) {
    logger_->info(format(record));
}

void AccessLog::flush() {
    logger_->flush();
}

}  // namespace rampart::obs
