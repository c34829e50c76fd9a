// The exporter against the test receiver: batches, the bound on the queue when the collector is dead (503,
// or nothing listening), recovery, retries, the collector's credentials (sent, and never in a log or the
// exported bytes), refused headers, and a shutdown that ends whatever the collector does. No assertion
// is about time: waits poll for an outcome, with a generous limit.
#include "otlp/exporter.hpp"

#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "testing/child_process.hpp"
#include "testing/metric_values.hpp"
#include "testing/otlp_receiver.hpp"

namespace rampart::otlp {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::counterValue;
using testing::OtlpReceiver;

constexpr std::string_view kToken = "Bearer otlp-secret-7f3a9c1e";

obs::SpanData spanNamed(std::string name, std::uint8_t seed = 1) {
    obs::SpanData span;
    span.context.traceId = obs::newTraceId();
    span.context.spanId = obs::newSpanId();
    span.context.sampled = true;
    span.name = std::move(name);
    span.kind = obs::SpanKind::internal;
    span.startUnixNanos = 1000 + seed;
    span.endUnixNanos = 2000 + seed;
    return span;
}

ExporterSettings settingsFor(std::string url) {
    ExporterSettings settings;
    settings.tracesUrl = std::move(url);
    settings.retryInitial = 20ms;
    settings.retryMax = 100ms;
    settings.exportTimeout = 2s;
    return settings;
}

// Polls `done` until it holds or 20 s pass (a limit for a broken build, not a measurement).
template <class Done>
bool eventually(Done done) {
    for (const auto deadline = std::chrono::steady_clock::now() + 20s;
         std::chrono::steady_clock::now() < deadline;) {
        if (done()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return done();
}

std::size_t accounted(const OtlpExporter::Counts& counts) {
    return counts.exported + counts.droppedQueueFull + counts.droppedExportFailed + counts.droppedShutdown +
           counts.queued;
}

// The process's log lines while it lives.
class CapturedLog {
  public:
    CapturedLog() : previous_(spdlog::default_logger()) {
        auto logger = std::make_shared<spdlog::logger>(
            "captured", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_));
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog() { spdlog::set_default_logger(previous_); }
    std::string text() const { return stream_.str(); }

  private:
    std::shared_ptr<spdlog::logger> previous_;
    std::ostringstream stream_;
};

class OtlpExporterTest : public ::testing::Test {
  protected:
    obs::Metrics metrics_;
    obs::TraceExportMetrics exportMetrics_{metrics_};
    OtlpReceiver receiver_;

    double counter(std::string_view family, const prometheus::Labels& labels) {
        return counterValue(metrics_, family, labels).value_or(-1);
    }
};

TEST_F(OtlpExporterTest, FullBatchesGoAtOnceAndShutdownFlushesTheRest) {
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.maxBatchSize = 10;
    settings.scheduleDelay = 1h;  // only a full batch (or shutdown) sends
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 25; ++i) exporter.accept(spanNamed("batched-" + std::to_string(i)));
    EXPECT_EQ(receiver_.waitForSpans(20).size(), 20U);
    EXPECT_EQ(exporter.counts().queued, 5U) << "a part batch waits for the delay";
    exporter.shutdown(10s);
    EXPECT_EQ(receiver_.spans().size(), 25U);
    EXPECT_EQ(receiver_.raw().size(), 3U) << "10 + 10 + 5";
    EXPECT_EQ(exporter.counts().exported, 25U);
    EXPECT_EQ(counter("rampart_trace_spans_exported_total", {}), 25);
    EXPECT_EQ(counter("rampart_trace_exports_total", {{"outcome", "ok"}}), 3);
    EXPECT_TRUE(receiver_.errors().empty());
    // Stopped: later spans are dropped, not queued.
    exporter.accept(spanNamed("late"));
    EXPECT_EQ(exporter.counts().queued, 0U);
    EXPECT_EQ(exporter.counts().droppedShutdown, 1U);
}

TEST_F(OtlpExporterTest, APartBatchIsSentAfterTheScheduleDelay) {
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 50ms;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 3; ++i) exporter.accept(spanNamed("few-" + std::to_string(i)));
    EXPECT_EQ(receiver_.waitForSpans(3).size(), 3U);
    const auto headers = receiver_.headers();
    ASSERT_FALSE(headers.empty());
    EXPECT_EQ(headers[0].at("content-type").as_string(), "application/x-protobuf");
}

// A collector answering 503 to everything: 100,000 spans go through accept in a loop that ends, the queue
// never holds more than its bound, and every span is accounted for.
TEST_F(OtlpExporterTest, ADeadCollectorNeverGrowsTheQueuePastItsBound) {
    receiver_.control(503);
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.maxQueueSize = 2048;
    settings.maxBatchSize = 512;
    settings.scheduleDelay = 10ms;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    constexpr std::size_t kSpans = 100'000;
    for (std::size_t i = 0; i < kSpans; ++i) {
        exporter.accept(spanNamed("dead"));
        if (i % 10'000 == 0) {
            EXPECT_LE(exporter.counts().queued, 2048U);
        }
    }
    const OtlpExporter::Counts during = exporter.counts();
    EXPECT_LE(during.highWater, 2048U);
    EXPECT_GT(during.droppedQueueFull, 0U);
    EXPECT_EQ(during.exported, 0U);
    EXPECT_TRUE(eventually([&] {
        return counter("rampart_trace_exports_total", {{"outcome", "retry"}}) > 0;
    }));
    exporter.shutdown(100ms);
    const OtlpExporter::Counts after = exporter.counts();
    EXPECT_EQ(after.queued, 0U);
    EXPECT_EQ(accounted(after), kSpans) << "every span exported or counted as dropped";
    EXPECT_EQ(counter("rampart_trace_spans_dropped_total", {{"reason", "queue_full"}}),
              static_cast<double>(after.droppedQueueFull));
    EXPECT_EQ(counter("rampart_trace_spans_dropped_total", {{"reason", "export_failed"}}) +
                  counter("rampart_trace_spans_dropped_total", {{"reason", "shutdown"}}),
              static_cast<double>(after.droppedExportFailed + after.droppedShutdown));
    EXPECT_TRUE(receiver_.spans().empty()) << "a 503 accepts nothing";
    EXPECT_TRUE(receiver_.errors().empty()) << "yet every body decoded";
}

TEST_F(OtlpExporterTest, NothingListeningIsRetriedThenDroppedAndCounted) {
    const std::uint16_t closedPort = testing::probeFreePort();
    ExporterSettings settings = settingsFor("http://127.0.0.1:" + std::to_string(closedPort) + "/v1/traces");
    settings.scheduleDelay = 10ms;
    settings.maxAttempts = 3;
    settings.maxQueueSize = 100;
    settings.maxBatchSize = 50;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 10'000; ++i) exporter.accept(spanNamed("nowhere"));
    EXPECT_LE(exporter.counts().highWater, 100U);
    EXPECT_TRUE(eventually([&] { return exporter.counts().droppedExportFailed >= 50; }));
    EXPECT_GE(counter("rampart_trace_exports_total", {{"outcome", "retry"}}), 2);
    EXPECT_GE(counter("rampart_trace_exports_total", {{"outcome", "failed"}}), 1);
    exporter.shutdown(100ms);
    EXPECT_EQ(accounted(exporter.counts()), 10'000U);
}

TEST_F(OtlpExporterTest, SpansArriveAgainOnceTheCollectorRecovers) {
    receiver_.control(503);
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 10ms;
    settings.maxAttempts = 2;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 5; ++i) exporter.accept(spanNamed("while-down"));
    EXPECT_TRUE(eventually([&] { return exporter.counts().droppedExportFailed == 5; }));
    receiver_.control(200);
    for (int i = 0; i < 5; ++i) exporter.accept(spanNamed("after-recovery"));
    const json::array spans = receiver_.waitForSpans(5);
    ASSERT_EQ(spans.size(), 5U);
    for (const json::value& span : spans) EXPECT_EQ(span.at("name").as_string(), "after-recovery");
    EXPECT_TRUE(eventually([&] { return exporter.counts().exported == 5; }));
}

TEST_F(OtlpExporterTest, RetryableAnswersAreRetriedAndTheBatchArrivesOnce) {
    receiver_.failNext(2, "0");
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 10ms;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 3; ++i) exporter.accept(spanNamed("retried-" + std::to_string(i)));
    EXPECT_EQ(receiver_.waitForSpans(3).size(), 3U);
    exporter.shutdown(5s);
    EXPECT_EQ(receiver_.spans().size(), 3U) << "accepted once, not once per attempt";
    EXPECT_EQ(receiver_.raw().size(), 3U) << "two 503s, then 200";
    EXPECT_EQ(counter("rampart_trace_exports_total", {{"outcome", "retry"}}), 2);
    EXPECT_EQ(counter("rampart_trace_exports_total", {{"outcome", "ok"}}), 1);
    EXPECT_EQ(exporter.counts().droppedExportFailed, 0U);
}

TEST_F(OtlpExporterTest, ABadRequestAnswerDropsTheBatchWithoutRetrying) {
    receiver_.control(400);
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 10ms;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 4; ++i) exporter.accept(spanNamed("refused"));
    EXPECT_TRUE(eventually([&] { return exporter.counts().droppedExportFailed == 4; }));
    EXPECT_EQ(receiver_.raw().size(), 1U) << "one attempt only";
    EXPECT_EQ(counter("rampart_trace_exports_total", {{"outcome", "retry"}}), 0);
    EXPECT_EQ(counter("rampart_trace_exports_total", {{"outcome", "failed"}}), 1);
    EXPECT_EQ(counter("rampart_trace_spans_dropped_total", {{"reason", "export_failed"}}), 4);
}

TEST_F(OtlpExporterTest, TheCollectorsHeadersArriveAndAppearInNoLogNorInTheExportedBytes) {
    CapturedLog log;
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 10ms;
    settings.maxAttempts = 1;
    settings.headers = {{.name = "Authorization", .value = SecretString(std::string(kToken))},
                        {.name = "X-Scope-OrgID", .value = SecretString("tenant-a")}};
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    exporter.accept(spanNamed("authorized"));
    ASSERT_EQ(receiver_.waitForSpans(1).size(), 1U);
    // A failure too, so the exporter has something to log.
    receiver_.control(401);
    exporter.accept(spanNamed("unauthorized"));
    EXPECT_TRUE(eventually([&] { return exporter.counts().droppedExportFailed == 1; }));
    exporter.shutdown(5s);

    const json::array headers = receiver_.headers();
    ASSERT_EQ(headers.size(), 2U);
    for (const json::value& request : headers) {
        EXPECT_EQ(request.at("authorization").as_string(), kToken);
        EXPECT_EQ(request.at("x-scope-orgid").as_string(), "tenant-a");
    }
    const std::string logged = log.text();
    EXPECT_NE(logged.find("HTTP status 401"), std::string::npos) << logged;
    EXPECT_EQ(logged.find("otlp-secret"), std::string::npos) << logged;
    for (const json::value& body : receiver_.raw())
        EXPECT_EQ(testing::decodeBase64(body.as_string()).find("otlp-secret"), std::string::npos);
}

TEST_F(OtlpExporterTest, AHeaderThatCouldInjectIsRefusedAtConstructionWithoutItsValue) {
    for (const std::string& value :
         {std::string("Bearer x\r\nX-Injected: 1"), std::string("ok\nsplit"), std::string("nul\0byte", 8)}) {
        ExporterSettings settings = settingsFor(receiver_.tracesUrl());
        settings.headers = {{.name = "Authorization", .value = SecretString(value)}};
        try {
            OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
            ADD_FAILURE() << "accepted a header value with a control character";
        } catch (const std::invalid_argument& error) {
            EXPECT_NE(std::string(error.what()).find("Authorization"), std::string::npos) << error.what();
            EXPECT_EQ(std::string(error.what()).find("Bearer"), std::string::npos) << error.what();
        }
    }
    ExporterSettings badName = settingsFor(receiver_.tracesUrl());
    badName.headers = {{.name = "X-A\r\nX-B", .value = SecretString("v")}};
    EXPECT_THROW(OtlpExporter(badName, Resource{}, &exportMetrics_), std::invalid_argument);
    ExporterSettings framing = settingsFor(receiver_.tracesUrl());
    framing.headers = {{.name = "Content-Length", .value = SecretString("0")}};
    EXPECT_THROW(OtlpExporter(framing, Resource{}, &exportMetrics_), std::invalid_argument);
    EXPECT_TRUE(receiver_.raw().empty()) << "nothing was sent";
}

// A collector that never answers in time: shutdown still returns (bounded by its timeout and the export
// timeout's cut-off), and the spans it could not send are counted as dropped at shutdown.
TEST_F(OtlpExporterTest, ShutdownEndsEvenWhenTheCollectorHangs) {
    receiver_.control(200, 60'000);
    ExporterSettings settings = settingsFor(receiver_.tracesUrl());
    settings.scheduleDelay = 10ms;
    settings.exportTimeout = 60s;
    OtlpExporter exporter(settings, Resource{}, &exportMetrics_);
    for (int i = 0; i < 3; ++i) exporter.accept(spanNamed("stuck"));
    EXPECT_TRUE(eventually([&] { return receiver_.raw().size() == 1; })) << "the batch is in flight";
    for (int i = 0; i < 3; ++i) exporter.accept(spanNamed("queued-behind"));
    exporter.shutdown(100ms);
    const OtlpExporter::Counts counts = exporter.counts();
    EXPECT_EQ(counts.exported, 0U);
    EXPECT_EQ(counts.droppedShutdown, 6U);
    EXPECT_EQ(counter("rampart_trace_spans_dropped_total", {{"reason", "shutdown"}}), 6);
}

TEST(OtlpExporterSettings, AUrlTheEgressGuardRefusesIsAConstructionError) {
    ExporterSettings settings;
    settings.tracesUrl = "ftp://collector/v1/traces";
    EXPECT_THROW(OtlpExporter(settings, Resource{}, nullptr), std::invalid_argument);
    settings.tracesUrl = "http://user:pw@collector/v1/traces";
    EXPECT_THROW(OtlpExporter(settings, Resource{}, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace rampart::otlp
