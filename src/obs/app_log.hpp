// The application log's JSON lines (log_format = "json"), and the trace they name: a log call made while
// a request or a job has a span names its trace_id and span_id, so logs and traces join.
#pragma once

#include <memory>

#include <spdlog/formatter.h>

#include "obs/tracer.hpp"

namespace rampart::obs {

// One JSON object a line: time (UTC, milliseconds), level, message, and trace_id and span_id while a
// LogTrace is in scope on the logging thread.
[[nodiscard]] std::unique_ptr<spdlog::formatter> jsonLogFormatter();

// Names `span` in the lines this thread logs until it goes out of scope. Hold it only around code that
// does not suspend (a coroutine may resume on another thread, or let another request run on this one).
class LogTrace {
  public:
    explicit LogTrace(const Span& span);
    ~LogTrace();
    LogTrace(const LogTrace&) = delete;
    LogTrace& operator=(const LogTrace&) = delete;

  private:
    const SpanContext* previous_;
};

}  // namespace rampart::obs
