// The tracing stage attacked through the real stage list: forged, malformed and repeated trace headers,
// what the server span may hold (never a query string, a header or a body) and the access log's ids.
#include "http/middleware/tracing.hpp"

#include <cstdio>

#include <gtest/gtest.h>

#include "app/config.hpp"
#include "http/pipeline.hpp"
#include "obs/access_log.hpp"
#include "obs/metrics.hpp"
#include "testing/pipeline_driver.hpp"
#include "testing/recording_span_sink.hpp"

namespace rampart::http {
namespace {

using testing::RecordingSpanSink;

constexpr std::string_view kIncoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

class TracingStageTest : public ::testing::Test {
  protected:
    void SetUp() override {
        config_.allowedHosts = {"api.example.com"};
        router_.add({.method = Verb::get,
                     .pattern = "/api/v1/things/{id}",
                     .handler = [](Exchange& ex) -> boost::asio::awaitable<void> {
                         auto child = ex.trace.child("findThing", obs::SpanKind::client);
                         ex.response.result(Status::ok);
                         co_return;
                     },
                     .summary = "one thing"});
        router_.add({.method = Verb::get,
                     .pattern = "/boom",
                     .handler = [](Exchange&) -> boost::asio::awaitable<void> {
                         throw std::runtime_error("broken");
                         co_return;
                     },
                     .summary = "fails"});
    }

    void build(obs::SamplerSettings sampler) {
        tracer_ = std::make_unique<obs::Tracer>(sampler, sink_);
        PipelineDeps deps;
        deps.policies = [](Verb, std::string_view) {
            static const Policy open{.publicRoute = true};
            return &open;
        };
        deps.tracer = tracer_.get();
        pipeline_ =
            buildPipeline(pipelineSettings(config_), router_, httpMetrics_, &accessLog_, std::move(deps));
    }

    Response send(std::string target, std::vector<std::pair<std::string, std::string>> headers = {}) {
        if (!pipeline_) build({});
        Exchange ex;
        ex.request.method(Verb::get);
        ex.request.target(target);
        ex.request.version(11);
        ex.request.set("Host", "api.example.com");
        for (auto& [name, value] : headers) ex.request.insert(name, value);
        ex.peer = boost::asio::ip::make_address("192.0.2.10");
        rampart::testing::runThroughPipeline(*pipeline_, ex);
        return std::move(ex.response);
    }

    [[nodiscard]] obs::SpanData serverSpan() const {
        for (auto& span : sink_->spans())
            if (span.kind == obs::SpanKind::server) return span;
        ADD_FAILURE() << "no server span";
        return {};
    }

    std::string accessLogText() {
        accessLog_.flush();
        std::fflush(logFile_);
        std::rewind(logFile_);
        std::string text;
        char buffer[4096];
        while (std::size_t n = std::fread(buffer, 1, sizeof buffer, logFile_)) text.append(buffer, n);
        return text;
    }

    Config config_;
    Router router_;
    obs::Metrics metrics_;
    obs::HttpMetrics httpMetrics_{metrics_};
    std::FILE* logFile_ = std::tmpfile();
    obs::AccessLog accessLog_{logFile_};
    std::shared_ptr<RecordingSpanSink> sink_ = std::make_shared<RecordingSpanSink>();
    std::unique_ptr<obs::Tracer> tracer_;
    std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(TracingStageTest, ContinuesTheCallersTraceAndAnswersWithItsOwnSpan) {
    auto response =
        send("/api/v1/things/42", {{"traceparent", std::string(kIncoming)}, {"tracestate", "vendor=opaque"}});
    EXPECT_EQ(response.result(), Status::ok);
    auto answered = obs::parseTraceparent(response["traceparent"]);
    ASSERT_TRUE(answered);
    EXPECT_EQ(obs::toHex(answered->traceId), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_NE(obs::toHex(answered->spanId), "00f067aa0ba902b7");

    const auto spans = sink_->spans();
    ASSERT_EQ(spans.size(), 2u);
    const auto server = serverSpan();
    EXPECT_EQ(server.context.spanId, answered->spanId);
    EXPECT_EQ(obs::toHex(server.parentSpanId), "00f067aa0ba902b7");
    EXPECT_EQ(server.context.traceState, "vendor=opaque");
    EXPECT_EQ(server.name, "GET /api/v1/things/{id}");
    EXPECT_EQ(RecordingSpanSink::attribute(server, "http.request.method"), "GET");
    EXPECT_EQ(RecordingSpanSink::attribute(server, "http.route"), "/api/v1/things/{id}");
    EXPECT_EQ(RecordingSpanSink::attribute(server, "http.response.status_code"), "200");
    EXPECT_EQ(RecordingSpanSink::attribute(server, "client.address"), "192.0.2.10");
    // The handler's span is the server span's child.
    EXPECT_EQ(spans[0].name, "findThing");
    EXPECT_EQ(spans[0].parentSpanId, server.context.spanId);
    EXPECT_EQ(spans[0].context.traceId, server.context.traceId);
}

TEST_F(TracingStageTest, MalformedOrRepeatedTraceparentsStartANewTraceAndAreNeverAnError) {
    const std::vector<std::vector<std::pair<std::string, std::string>>> attempts = {
        {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
        {{"traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
        {{"traceparent", std::string(8000, 'a')}},
        {{"traceparent", std::string(kIncoming)}, {"traceparent", std::string(kIncoming)}},
        {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\x01"}},
    };
    for (const auto& headers : attempts) {
        auto response = send("/api/v1/things/1", headers);
        EXPECT_EQ(response.result(), Status::ok);
        auto answered = obs::parseTraceparent(response["traceparent"]);
        ASSERT_TRUE(answered);
        EXPECT_NE(obs::toHex(answered->traceId), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    for (const auto& span : sink_->spans()) {
        if (span.kind != obs::SpanKind::server) continue;
        EXPECT_EQ(span.parentSpanId, obs::SpanId{});
    }
}

TEST_F(TracingStageTest, AMalformedTracestateIsDroppedWithoutLosingTheTrace) {
    send("/api/v1/things/1", {{"traceparent", std::string(kIncoming)}, {"tracestate", "Bad Key=1\r\nX: y"}});
    const auto server = serverSpan();
    EXPECT_EQ(obs::toHex(server.context.traceId), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(server.context.traceState, "");
}

TEST_F(TracingStageTest, AClientCannotForceRecordingUnlessTrusted) {
    build({.kind = obs::SamplerKind::parentBasedAlwaysOff});
    auto response = send("/api/v1/things/1", {{"traceparent", std::string(kIncoming)}});
    EXPECT_TRUE(sink_->spans().empty());
    // The trace goes on, unrecorded, and says so.
    EXPECT_EQ(response["traceparent"].substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
    EXPECT_EQ(response["traceparent"].substr(53), "00");

    build({.kind = obs::SamplerKind::parentBasedAlwaysOff, .trustRemoteSampled = true});
    send("/api/v1/things/1", {{"traceparent", std::string(kIncoming)}});
    EXPECT_EQ(sink_->spans().size(), 2u);
}

TEST_F(TracingStageTest, TheSpanHoldsNoQueryStringHeaderOrCredential) {
    send("/api/v1/things/7?token=s3cr3t-query&password=hunter2",
         {{"Authorization", "Bearer s3cr3t-bearer"}, {"Cookie", "rampart_session=s3cr3t-cookie"}});
    const auto server = serverSpan();
    EXPECT_EQ(RecordingSpanSink::attribute(server, "url.path"), "/api/v1/things/7");
    for (const auto& span : sink_->spans()) {
        std::string everything(span.name.view());
        for (const auto& attribute : span.attributes)
            everything += RecordingSpanSink::attribute(span, attribute.key);
        for (std::string_view secret : {"s3cr3t", "hunter2", "Bearer", "rampart_session"})
            EXPECT_EQ(everything.find(secret), std::string::npos) << secret;
    }
}

TEST_F(TracingStageTest, AServerErrorMarksTheSpanAndUnknownPathsNameNoRoute) {
    send("/boom");
    auto server = serverSpan();
    EXPECT_EQ(server.status, obs::SpanStatus::error);
    EXPECT_EQ(RecordingSpanSink::attribute(server, "http.response.status_code"), "500");
    EXPECT_EQ(server.statusMessage, "");  // the exception's text stays in the log

    pipeline_.reset();
    sink_ = std::make_shared<RecordingSpanSink>();
    send("/no/such/path/with-an-id-1234");
    server = serverSpan();
    EXPECT_EQ(server.name, "GET");
    EXPECT_EQ(RecordingSpanSink::attribute(server, "http.route"), "");
    EXPECT_EQ(server.status, obs::SpanStatus::unset);  // a 404 is the client's mistake
}

TEST_F(TracingStageTest, TheAccessLogNamesTheTraceAndSpan) {
    auto response = send("/api/v1/things/1");
    auto answered = obs::parseTraceparent(response["traceparent"]);
    ASSERT_TRUE(answered);
    const std::string log = accessLogText();
    EXPECT_NE(log.find("\"trace_id\":\"" + obs::toHex(answered->traceId) + "\""), std::string::npos) << log;
    EXPECT_NE(log.find("\"span_id\":\"" + obs::toHex(answered->spanId) + "\""), std::string::npos) << log;
}

}  // namespace
}  // namespace rampart::http
