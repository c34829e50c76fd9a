// The OTLP/HTTP trace exporter: a SpanSink whose accept() only queues (bounded, dropping when full), and
// a thread of its own that sends the queue in protobuf batches to the collector through the egress client,
// retrying what a collector may answer later. A dead or slow collector costs dropped spans, never a slower
// request or more memory.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "egress/egress_client.hpp"
#include "obs/metrics.hpp"
#include "obs/tracer.hpp"
#include "otlp/trace_encoding.hpp"

namespace rampart::otlp {

struct ExporterSettings {
    // Where the batches go: http(s)://host[:port]/v1/traces (the configuration builds it). Its host is the
    // only one the exporter's egress client may reach.
    std::string tracesUrl;
    // Sent with every request (a collector's credentials); checked by egress::requestHeaderProblem at
    // construction.
    std::vector<egress::RequestHeader> headers;
    std::filesystem::path caFile;  // trust anchors for https; empty: the system store
    std::size_t maxQueueSize = 2048;
    std::size_t maxBatchSize = 512;
    std::chrono::milliseconds scheduleDelay{1000};  // a batch that is not full waits at most this long
    // One batch's whole export, retries included: past it the batch is dropped.
    std::chrono::milliseconds exportTimeout{10000};
    // Back-off between attempts: retryInitial, doubling up to retryMax (also the cap on Retry-After).
    std::chrono::milliseconds retryInitial{500};
    std::chrono::milliseconds retryMax{5000};
    int maxAttempts = 5;  // attempts per batch
    std::size_t maxResponseBytes = 64 * 1024;
};

class OtlpExporter final : public obs::SpanSink {
  public:
    // Starts the thread. Throws std::invalid_argument when the URL or a header is not acceptable (the
    // message names the header, never its value), std::runtime_error when the CA file cannot be loaded.
    // metrics may be null (tests); the resolver is the system's unless given.
    OtlpExporter(ExporterSettings settings, Resource resource, obs::TraceExportMetrics* metrics,
                 std::shared_ptr<egress::Resolver> resolver = nullptr);
    ~OtlpExporter() override;  // shutdown(0) if not done
    OtlpExporter(const OtlpExporter&) = delete;
    OtlpExporter& operator=(const OtlpExporter&) = delete;

    // A short lock and a move into the queue (no allocation once the queue has grown); a full queue (or a
    // stopped exporter) drops the span.
    void accept(obs::SpanData&& span) noexcept override;

    // Sends what is queued within `timeout` (no retry that would end past it), drops the rest, and stops
    // the thread. Later spans are dropped. Idempotent; blocks at most about `timeout` (plus 200 ms). Call
    // it from one thread (the one that stops the server).
    void shutdown(std::chrono::milliseconds timeout);

    // For tests and /metrics-free checks: spans waiting now, the most ever waiting at once, and the
    // spans each way they left the queue.
    struct Counts {
        std::size_t queued = 0;
        std::size_t highWater = 0;
        std::size_t exported = 0;
        std::size_t droppedQueueFull = 0;
        std::size_t droppedExportFailed = 0;
        std::size_t droppedShutdown = 0;
        std::size_t requests = 0;  // POSTs answered 2xx
    };
    [[nodiscard]] Counts counts() const;

    [[nodiscard]] const ExporterSettings& settings() const { return settings_; }

  private:
    using Clock = std::chrono::steady_clock;

    boost::asio::awaitable<void> loop();
    // batch_: encoded once, POSTed until the collector takes it, it cannot, or time runs out.
    boost::asio::awaitable<void> send();
    // Waits until `until` (or the stop deadline, if earlier) whatever wakes the timer meanwhile.
    boost::asio::awaitable<void> pause(Clock::time_point until);
    [[nodiscard]] Clock::time_point stopDeadline() const;
    void wake();
    // Moves the oldest spans (at most a batch) from the queue to batch_; empty when there are none.
    void takeBatch();
    void dropped(obs::TraceExportMetrics::Drop reason, std::size_t spans);

    ExporterSettings settings_;
    Resource resource_;
    obs::TraceExportMetrics* metrics_;
    egress::EgressClient client_;

    mutable std::mutex mutex_;  // the queue, the counts and the stop request
    // The queue: a ring of slots, grown (as a vector grows) up to maxQueueSize as spans wait, never past
    // the most that ever waited at once, and reused: once grown, a span queued costs a move, not an
    // allocation.
    std::vector<obs::SpanData> ring_;
    std::size_t head_ = 0;              // the oldest span's slot
    std::size_t queued_ = 0;            // spans in the ring
    std::vector<obs::SpanData> batch_;  // exporter thread only: the batch being sent (its storage reused)
    Counts counts_;
    std::size_t inFlight_ = 0;  // spans of the batch being sent
    bool stopping_ = false;
    Clock::time_point stopDeadline_{};
    bool loopDone_ = false;
    std::condition_variable finished_;  // loopDone_
    bool failing_ = false;              // exporter thread only: the last batch was dropped (log once)

    boost::asio::io_context io_;
    boost::asio::steady_timer timer_;  // the exporter thread's waits; accept and shutdown cut them short
    std::thread thread_;
};

}  // namespace rampart::otlp
