// The access log: one JSON line per request on stdout, written by a background thread so the I/O
// threads never wait on the terminal or a pipe. It never holds headers, tokens, cookies or bodies.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

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
};

class AccessLog {
  public:
    AccessLog();  // to stdout
    explicit AccessLog(std::shared_ptr<spdlog::logger> logger);
    void write(const AccessRecord& record);
    void flush();

    // The JSON line for a record (exposed for tests).
    static std::string format(const AccessRecord& record);

  private:
    std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace rampart::obs
