// The access log: one JSON line per request on stdout. Each I/O thread appends to its own buffer and
// writes it out 32 KiB at a time; a flusher thread writes what idle threads hold every 200 ms. It
// never holds headers, tokens, cookies or bodies.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "obs/trace_context.hpp"

namespace rampart::obs {

struct AccessRecord {
    std::string_view method;
    std::string_view route;  // the route template, never the raw path (which may carry ids or tokens)
    unsigned status = 0;
    double durationMs = 0;
    std::size_t bytes = 0;
    std::string_view requestId;
    std::string client;
    std::string_view userId;
    const SpanContext* trace = nullptr;  // the request's server span, when tracing is on
};

class AccessLog {
  public:
    // Writes to `out` (stdout by default), which must stay open while this object lives.
    explicit AccessLog(std::FILE* out = stdout);
    ~AccessLog();  // writes everything still buffered
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    void write(const AccessRecord& record);
    void flush();

    // The JSON line for a record, with its newline.
    static std::string format(const AccessRecord& record);

  private:
    struct ThreadBuffer {
        std::mutex mutex;  // taken by its own thread per line, by the flusher rarely: uncontended
        std::string lines;
    };
    ThreadBuffer& bufferOfThisThread();
    void writeOut(std::string& lines);

    std::FILE* out_;
    std::mutex outMutex_;                                 // one writer at a time on `out_`
    std::mutex buffersMutex_;                             // guards the list, not the buffers
    std::vector<std::unique_ptr<ThreadBuffer>> buffers_;  // one per thread that wrote
    std::uint64_t id_;                                    // tells apart instances in thread-local lookups
    std::mutex stopMutex_;
    std::condition_variable stopSignal_;
    bool stopping_ = false;
    std::thread flusher_;
};

}  // namespace rampart::obs
