// JSON-lines access log with per-thread buffers: no lock shared between I/O threads per request and
// one write(2) per 32 KiB, not per line.
#include "obs/access_log.hpp"

#include <atomic>
#include <chrono>
#include <mutex>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "obs/json_escape.hpp"

namespace rampart::obs {
namespace {
std::atomic<std::uint64_t> nextLogId{1};
constexpr std::size_t kWriteAt = 32 * 1024;
}  // namespace

AccessLog::AccessLog(std::FILE* out) : out_(out), id_(nextLogId++) {
    flusher_ = std::thread([this] {
        std::unique_lock lock(stopMutex_);
        while (!stopping_) {
            stopSignal_.wait_for(lock, std::chrono::milliseconds(200));
            flush();
        }
    });
}

AccessLog::~AccessLog() {
    {
        std::lock_guard lock(stopMutex_);
        stopping_ = true;
    }
    stopSignal_.notify_one();
    flusher_.join();
    flush();
}

AccessLog::ThreadBuffer& AccessLog::bufferOfThisThread() {
    thread_local std::uint64_t ownerId = 0;
    thread_local ThreadBuffer* buffer = nullptr;
    if (ownerId != id_) {
        std::lock_guard lock(buffersMutex_);
        buffers_.push_back(std::make_unique<ThreadBuffer>());
        buffer = buffers_.back().get();
        buffer->lines.reserve(kWriteAt + 1024);
        ownerId = id_;
    }
    return *buffer;
}

void AccessLog::writeOut(std::string& lines) {
    if (lines.empty()) return;
    std::lock_guard lock(outMutex_);
    std::fwrite(lines.data(), 1, lines.size(), out_);
    std::fflush(out_);
    lines.clear();
}

std::string AccessLog::format(const AccessRecord& r) {
    fmt::memory_buffer out;
    auto now = std::chrono::system_clock::now();
    auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    // Calendar formatting is the slow part of a line; it changes once a second.
    thread_local std::chrono::sys_seconds cachedSecond{};
    thread_local std::string cachedText;
    auto second = std::chrono::floor<std::chrono::seconds>(now);
    if (second != cachedSecond || cachedText.empty()) {
        cachedSecond = second;
        // gmtime: fmt 9 writes a sys_time in the process's local time zone.
        cachedText =
            fmt::format("{:%Y-%m-%dT%H:%M:%S}", fmt::gmtime(std::chrono::system_clock::to_time_t(second)));
    }
    fmt::format_to(std::back_inserter(out), R"({{"time":"{}.{:03}Z","method":)", cachedText, millis);
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
    if (r.trace) {
        fmt::format_to(std::back_inserter(out), R"(,"trace_id":"{}","span_id":"{}")", toHex(r.trace->traceId),
                       toHex(r.trace->spanId));
    }
    out.append(std::string_view("}\n"));
    return fmt::to_string(out);
}

void AccessLog::write(const AccessRecord& record) {
    auto& buffer = bufferOfThisThread();
    std::lock_guard lock(buffer.mutex);
    buffer.lines += format(record);
    if (buffer.lines.size() >= kWriteAt) writeOut(buffer.lines);
}

void AccessLog::flush() {
    std::lock_guard lock(buffersMutex_);
    for (auto& buffer : buffers_) {
        std::lock_guard bufferLock(buffer->mutex);
        writeOut(buffer->lines);
    }
}

}  // namespace rampart::obs
