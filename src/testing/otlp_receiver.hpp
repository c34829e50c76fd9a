// The test OTLP/HTTP receiver (tests/otlp/receiver.js) as a child process: node with the official generated
// protobuf code of opentelemetry-proto, installed by `make otlp-receiver` (make test does it before ctest),
// on a port of its own on 127.0.0.1, stopped by its PID with the object. Its answers as boost::json.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "testing/temp_directory.hpp"

namespace rampart::testing {

class OtlpReceiver {
  public:
    // Starts node and returns once the receiver printed its port. Throws std::runtime_error (with the end
    // of its log) if it cannot, e.g. when `make otlp-receiver` has not installed its package.
    OtlpReceiver();
    OtlpReceiver(const OtlpReceiver&) = delete;
    OtlpReceiver& operator=(const OtlpReceiver&) = delete;
    ~OtlpReceiver();

    [[nodiscard]] std::uint16_t port() const { return port_; }
    // http://127.0.0.1:PORT/v1/traces
    [[nodiscard]] std::string tracesUrl() const;
    [[nodiscard]] std::filesystem::path logPath() const { return directory_.path() / "receiver.log"; }

    // Every decoded span (with "resource" and "scope"), every body (base64), every request's headers,
    // every decode error.
    [[nodiscard]] boost::json::array spans() const;
    [[nodiscard]] boost::json::array raw() const;
    [[nodiscard]] boost::json::array headers() const;
    [[nodiscard]] boost::json::array errors() const;
    // Later POSTs are answered with `status` after `delayMs` (with Retry-After when given and not 200).
    void control(unsigned status, unsigned delayMs = 0, std::string_view retryAfter = {}) const;
    // The next `count` POSTs are answered 503 (with Retry-After when given), then the status again.
    void failNext(unsigned count, std::string_view retryAfter = {}) const;
    void reset() const;
    // Polls spans() until there are at least `count` or `timeout` passes; returns the last answer.
    [[nodiscard]] boost::json::array waitForSpans(
        std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

    // A raw request to the receiver: (status, body).
    std::pair<unsigned, std::string> request(std::string_view method, std::string_view target,
                                             std::string_view body = {},
                                             std::string_view contentType = "application/json") const;

  private:
    [[nodiscard]] boost::json::array getArray(std::string_view target) const;

    TempDirectory directory_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// Decodes base64 (the receiver's /raw).
std::string decodeBase64(std::string_view text);

}  // namespace rampart::testing
