// The exporter's thread: wait for a full batch or the schedule delay, encode, POST, retry what may succeed
// later, count everything. The queue is the only state shared with accept(), behind one mutex held for a
// move in or a batch's moves out, never across I/O.
#include "otlp/exporter.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "egress/url.hpp"

namespace rampart::otlp {
namespace {

namespace asio = boost::asio;
using Drop = obs::TraceExportMetrics::Drop;
using Export = obs::TraceExportMetrics::Export;

constexpr std::string_view kContentType = "application/x-protobuf";
// After shutdown's deadline, the thread gets this long to notice before an export still in flight is cut off.
constexpr std::chrono::milliseconds kStopGrace{200};

// OTLP/HTTP's retryable answers (the specification's list): too many requests, and a collector or a proxy
// in front of it that is down or overloaded.
bool retryableStatus(unsigned status) {
    return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After in seconds; an HTTP date (rare from collectors) is ignored, the back-off applies.
std::optional<std::chrono::milliseconds> retryAfter(const egress::FetchResult& result) {
    const auto header = result.headers.find("retry-after");
    if (header == result.headers.end()) return std::nullopt;
    const std::string& text = header->second;
    std::uint32_t seconds = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return std::chrono::milliseconds(std::chrono::seconds(seconds));
}

egress::EgressPolicy collectorPolicy(const ExporterSettings& settings) {
    std::string why;
    const auto url = egress::parseUrl(settings.tracesUrl, &why);
    if (!url) throw std::invalid_argument("telemetry: the traces endpoint " + why);
    for (const egress::RequestHeader& header : settings.headers)
        if (auto problem = egress::requestHeaderProblem(header.name, header.value.reveal()))
            throw std::invalid_argument("telemetry: " + *problem);
    if (settings.maxQueueSize == 0 || settings.maxBatchSize == 0 || settings.maxAttempts < 1)
        throw std::invalid_argument("telemetry: the queue, the batch and the attempts must be at least 1");
    // The collector's host alone: the operator named it, so it may be on loopback or a private network
    // like any allow-listed host; redirects are not followed (the client never follows one for a POST).
    return egress::EgressPolicy{.allowDomains = {url->host},
                                .blockDomains = {},
                                .maxResponseBytes = settings.maxResponseBytes,
                                .timeout = settings.exportTimeout,
                                .maxRedirects = 0};
}

}  // namespace

OtlpExporter::OtlpExporter(ExporterSettings settings, Resource resource, obs::TraceExportMetrics* metrics,
                           std::shared_ptr<egress::Resolver> resolver)
    : settings_(std::move(settings)),
      resource_(std::move(resource)),
      metrics_(metrics),
      client_(collectorPolicy(settings_),
              resolver ? std::move(resolver) : std::make_shared<egress::SystemResolver>(),
              egress::EgressClientOptions{.caFile = settings_.caFile}),
      timer_(io_) {
    settings_.maxBatchSize = std::min(settings_.maxBatchSize, settings_.maxQueueSize);
    batch_.reserve(settings_.maxBatchSize);
    asio::co_spawn(io_, loop(), [this](const std::exception_ptr&) {
        // Also when the loop failed (out of memory): shutdown then counts what is left as dropped.
        const std::lock_guard lock(mutex_);
        loopDone_ = true;
        finished_.notify_all();
    });
    thread_ = std::thread([this] { io_.run(); });
}

OtlpExporter::~OtlpExporter() {
    shutdown(std::chrono::milliseconds(0));
}

void OtlpExporter::accept(obs::SpanData&& span) noexcept {
    enum class Outcome { queued, batchFull, queueFull, stopped };
    Outcome outcome = Outcome::queued;
    try {
        {
            const std::lock_guard lock(mutex_);
            if (stopping_) {
                ++counts_.droppedShutdown;
                outcome = Outcome::stopped;
            } else if (queued_ >= settings_.maxQueueSize) {
                ++counts_.droppedQueueFull;
                outcome = Outcome::queueFull;
            } else {
                // The tail slot: new when the ring has not grown that far yet (it fills in order).
                const std::size_t slot = (head_ + queued_) % settings_.maxQueueSize;
                if (slot == ring_.size())
                    ring_.push_back(std::move(span));
                else
                    ring_[slot] = std::move(span);
                ++queued_;
                counts_.highWater = std::max(counts_.highWater, queued_);
                // Once per batch, not per span: the thread is woken when the batch fills.
                if (queued_ == settings_.maxBatchSize) outcome = Outcome::batchFull;
            }
        }
        if (outcome == Outcome::batchFull) wake();
    } catch (...) {
        // Out of memory in the queue or the wake-up: the span is dropped like one a full queue refuses (a
        // failed wake-up costs only the wait for the schedule delay).
        if (outcome == Outcome::queued) outcome = Outcome::queueFull;
    }
    if (metrics_ == nullptr) return;
    if (outcome == Outcome::queueFull) metrics_->dropped(Drop::queueFull, 1);
    if (outcome == Outcome::stopped) metrics_->dropped(Drop::shutdown, 1);
}

void OtlpExporter::wake() {
    asio::post(io_, [this] { timer_.cancel(); });
}

void OtlpExporter::dropped(Drop reason, std::size_t spans) {
    {
        const std::lock_guard lock(mutex_);
        inFlight_ = 0;  // every drop on the exporter thread is of the batch it holds
        switch (reason) {
            case Drop::queueFull:
                counts_.droppedQueueFull += spans;
                break;
            case Drop::exportFailed:
                counts_.droppedExportFailed += spans;
                break;
            case Drop::shutdown:
                counts_.droppedShutdown += spans;
                break;
        }
    }
    if (metrics_ != nullptr && spans > 0) metrics_->dropped(reason, spans);
}

void OtlpExporter::takeBatch() {
    batch_.clear();
    const std::lock_guard lock(mutex_);
    const std::size_t take = std::min(queued_, settings_.maxBatchSize);
    for (std::size_t i = 0; i < take; ++i) {
        batch_.push_back(std::move(ring_[head_]));
        head_ = (head_ + 1) % settings_.maxQueueSize;
    }
    queued_ -= take;
    inFlight_ = take;
}

OtlpExporter::Counts OtlpExporter::counts() const {
    const std::lock_guard lock(mutex_);
    Counts counts = counts_;
    counts.queued = queued_;
    return counts;
}

// Past the stop deadline nothing more is sent; before shutdown there is no such deadline.
OtlpExporter::Clock::time_point OtlpExporter::stopDeadline() const {
    const std::lock_guard lock(mutex_);
    return stopping_ ? stopDeadline_ : Clock::time_point::max();
}

asio::awaitable<void> OtlpExporter::pause(Clock::time_point until) {
    // accept() cuts a wait short when a batch fills; a back-off waits on, unless shutdown moved the deadline.
    while (Clock::now() < until && Clock::now() < stopDeadline()) {
        timer_.expires_at(std::min(until, stopDeadline()));
        auto [ignored] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ignored;
    }
}

asio::awaitable<void> OtlpExporter::loop() {
    while (true) {
        bool stopping = false;
        bool waitForMore = false;
        {
            const std::lock_guard lock(mutex_);
            stopping = stopping_;
            waitForMore = !stopping_ && queued_ < settings_.maxBatchSize;
        }
        if (waitForMore) {
            // Until the batch fills (accept wakes us), the delay passes, or shutdown begins.
            timer_.expires_after(settings_.scheduleDelay);
            auto [ignored] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
            (void)ignored;
        }
        takeBatch();
        if (batch_.empty()) {
            if (stopping) co_return;
            continue;
        }
        if (stopping && Clock::now() >= stopDeadline()) {
            dropped(Drop::shutdown, batch_.size());
            continue;  // counts the rest of the queue the same way, batch by batch
        }
        co_await send();
    }
}

asio::awaitable<void> OtlpExporter::send() {
    const std::size_t spans = batch_.size();
    egress::FetchRequest request{.url = settings_.tracesUrl,
                                 .method = egress::FetchMethod::post,
                                 .maxBytes = settings_.maxResponseBytes,
                                 .timeout = settings_.exportTimeout,
                                 .body = encodeTraceRequest(resource_, batch_),
                                 .contentType = std::string(kContentType),
                                 .headers = settings_.headers};
    batch_.clear();
    const Clock::time_point batchDeadline = Clock::now() + settings_.exportTimeout;
    std::chrono::milliseconds backoff = settings_.retryInitial;
    for (int attempt = 1;; ++attempt) {
        const Clock::time_point deadline = std::min(batchDeadline, stopDeadline());
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        request.timeout = left;
        const egress::FetchResult result = co_await client_.fetch(request);
        if (result.ok && result.status >= 200 && result.status < 300) {
            {
                const std::lock_guard lock(mutex_);
                inFlight_ = 0;
                counts_.exported += spans;
                ++counts_.requests;
            }
            if (metrics_ != nullptr) {
                metrics_->exported(spans);
                metrics_->exportEnded(Export::ok);
            }
            if (failing_) spdlog::info("trace export: the collector accepts spans again");
            failing_ = false;
            co_return;
        }
        // The error texts of the egress client name the host and the reason, never a header's value.
        const std::string why = result.ok ? fmt::format("HTTP status {}", result.status) : result.error;
        const bool retryable = result.ok ? retryableStatus(result.status) : !result.refused;
        std::chrono::milliseconds delay = backoff;
        if (auto after = retryAfter(result)) delay = std::max(delay, *after);
        delay = std::min(delay, settings_.retryMax);
        const bool lastChance = attempt >= settings_.maxAttempts || Clock::now() + delay >= deadline;
        if (!retryable || lastChance) {
            if (metrics_ != nullptr) metrics_->exportEnded(Export::failed);
            if (!failing_)
                spdlog::warn("trace export: dropped {} span(s) after {} attempt(s): {}", spans, attempt, why);
            failing_ = true;
            const bool cutByStop = retryable && stopDeadline() < batchDeadline;
            dropped(cutByStop ? Drop::shutdown : Drop::exportFailed, spans);
            co_return;
        }
        if (metrics_ != nullptr) metrics_->exportEnded(Export::retry);
        co_await pause(Clock::now() + delay);
        backoff = std::min(backoff * 2, settings_.retryMax);
    }
    dropped(stopDeadline() < batchDeadline ? Drop::shutdown : Drop::exportFailed, spans);
}

void OtlpExporter::shutdown(std::chrono::milliseconds timeout) {
    {
        const std::lock_guard lock(mutex_);
        if (!thread_.joinable()) return;
        if (!stopping_) {
            stopping_ = true;
            stopDeadline_ = Clock::now() + timeout;
        }
    }
    wake();
    {
        std::unique_lock lock(mutex_);
        // The loop returns once the queue is sent or dropped; io_.run() then returns on its own.
        finished_.wait_until(lock, stopDeadline_ + kStopGrace, [this] { return loopDone_; });
    }
    // An export still in flight past the deadline is cut off: its spans count as dropped at shutdown.
    io_.stop();
    thread_.join();
    std::size_t left = 0;
    {
        const std::lock_guard lock(mutex_);
        left = queued_ + inFlight_;
        ring_.clear();
        head_ = 0;
        queued_ = 0;
        inFlight_ = 0;
    }
    if (left > 0) {
        const std::lock_guard lock(mutex_);
        counts_.droppedShutdown += left;
    }
    if (metrics_ != nullptr && left > 0) metrics_->dropped(Drop::shutdown, left);
}

}  // namespace rampart::otlp
