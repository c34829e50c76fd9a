#include "obs/trace_context.hpp"

#include <set>

#include <gtest/gtest.h>

#include "obs/tracer.hpp"
#include "testing/recording_span_sink.hpp"

namespace rampart::obs {
namespace {

constexpr std::string_view kGood = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ReadsTheW3cExample) {
    auto context = parseTraceparent(kGood);
    ASSERT_TRUE(context);
    EXPECT_EQ(toHex(context->traceId), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(toHex(context->spanId), "00f067aa0ba902b7");
    EXPECT_TRUE(context->sampled);
    EXPECT_TRUE(context->remote);
    EXPECT_EQ(formatTraceparent(*context), kGood);
    context->sampled = false;
    EXPECT_EQ(formatTraceparent(*context), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
}

TEST(TraceparentTest, OnlyTheSampledBitOfTheFlagsCounts) {
    auto context = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
    ASSERT_TRUE(context);
    EXPECT_FALSE(context->sampled);
    // What it passes on carries only the flag it knows.
    EXPECT_EQ(formatTraceparent(*context).substr(53), "00");
}

TEST(TraceparentTest, RefusesEveryMalformedHeader) {
    const std::string good(kGood);
    std::vector<std::string> bad = {
        "",
        "00",
        good.substr(0, 54),                                                   // one short
        good + "-",                                                           // version 00 is exactly 55
        good + "0",                                                           //
        "ff" + good.substr(2),                                                // version ff is invalid
        "0g" + good.substr(2),                                                //
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",            // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",            // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",            // zero span id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",            // separators
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",            //
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",            //
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",            // a field shifted
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",            // flags not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-A: b",  // header injection
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // a later version's extra needs '-'
        std::string(4096, 'a'),
    };
    for (const auto& header : bad) EXPECT_FALSE(parseTraceparent(header)) << header;
}

TEST(TraceparentTest, ALaterVersionIsReadAsFarAsVersion00Goes) {
    auto context =
        parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next");
    ASSERT_TRUE(context);
    EXPECT_EQ(toHex(context->spanId), "00f067aa0ba902b7");
    EXPECT_TRUE(parseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(TraceStateTest, KeepsWellFormedListsAndRefusesTheRestWhole) {
    EXPECT_EQ(acceptTraceState("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
              "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    EXPECT_EQ(acceptTraceState(" vendor@tenant=x , b=y "), "vendor@tenant=x , b=y");
    EXPECT_EQ(acceptTraceState("a=1,,b=2"), "a=1,,b=2");
    EXPECT_EQ(acceptTraceState(""), "");
    EXPECT_EQ(acceptTraceState("Upper=1"), "");           // keys are lower case
    EXPECT_EQ(acceptTraceState("a=1\r\nX-Evil: 1"), "");  // no control characters
    EXPECT_EQ(acceptTraceState("a=b=c"), "");
    EXPECT_EQ(acceptTraceState("a="), "");
    EXPECT_EQ(acceptTraceState("=b"), "");
    EXPECT_EQ(acceptTraceState(std::string(513, 'a')), "");
    std::string many;
    for (int i = 0; i < 33; ++i) many += (i ? ",k" : "k") + std::to_string(i) + "=v";
    EXPECT_EQ(acceptTraceState(many), "");  // at most 32 members
}

TEST(TraceIdsTest, AreFreshAndNeverZero) {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
        SpanContext context{.traceId = newTraceId(), .spanId = newSpanId()};
        ASSERT_TRUE(context.valid());
        seen.insert(toHex(context.traceId));
    }
    EXPECT_EQ(seen.size(), 10000u);
}

TEST(SamplerTest, TheStandardSamplersDecideAsOpenTelemetrySays) {
    auto root = newTraceId();
    SpanContext localSampled{.traceId = root, .spanId = newSpanId(), .sampled = true};
    SpanContext localUnsampled = localSampled;
    localUnsampled.sampled = false;

    EXPECT_TRUE(Sampler({.kind = SamplerKind::alwaysOn}).sample(root, &localUnsampled));
    EXPECT_FALSE(Sampler({.kind = SamplerKind::alwaysOff}).sample(root, &localSampled));
    EXPECT_TRUE(Sampler({.kind = SamplerKind::parentBasedAlwaysOn}).sample(root, nullptr));
    EXPECT_FALSE(Sampler({.kind = SamplerKind::parentBasedAlwaysOn}).sample(root, &localUnsampled));
    EXPECT_TRUE(Sampler({.kind = SamplerKind::parentBasedAlwaysOff}).sample(root, &localSampled));
    EXPECT_FALSE(Sampler({.kind = SamplerKind::parentBasedAlwaysOff}).sample(root, nullptr));
}

TEST(SamplerTest, AClientsSampledFlagCountsOnlyWhenTrusted) {
    auto incoming = parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ASSERT_TRUE(incoming);
    // The default: a client cannot switch recording on for its requests when the sampler would not.
    Sampler untrusted({.kind = SamplerKind::parentBasedAlwaysOff});
    EXPECT_FALSE(untrusted.sample(incoming->traceId, &*incoming));
    Sampler trusted({.kind = SamplerKind::parentBasedAlwaysOff, .trustRemoteSampled = true});
    EXPECT_TRUE(trusted.sample(incoming->traceId, &*incoming));
    // Nor switch it off.
    incoming->sampled = false;
    EXPECT_TRUE(Sampler({.kind = SamplerKind::parentBasedAlwaysOn}).sample(incoming->traceId, &*incoming));
}

TEST(SamplerTest, TraceIdRatioKeepsAboutThatShareAndDecidesTheSameForOneTrace) {
    Sampler quarter({.kind = SamplerKind::traceIdRatio, .ratio = 0.25});
    int kept = 0;
    for (int i = 0; i < 20000; ++i) {
        auto id = newTraceId();
        bool decision = quarter.sample(id, nullptr);
        ASSERT_EQ(decision, quarter.sample(id, nullptr));
        kept += decision;
    }
    EXPECT_NEAR(kept / 20000.0, 0.25, 0.03);
    auto id = newTraceId();
    EXPECT_FALSE(Sampler({.kind = SamplerKind::traceIdRatio, .ratio = 0.0}).sample(id, nullptr));
    EXPECT_TRUE(Sampler({.kind = SamplerKind::traceIdRatio, .ratio = 1.0}).sample(id, nullptr));
    EXPECT_TRUE(Sampler({.kind = SamplerKind::traceIdRatio, .ratio = 7.0}).sample(id, nullptr));  // clamped
}

TEST(SpanTest, AnOffSpanDoesNothingAndItsChildrenAreOff) {
    Span off;
    EXPECT_FALSE(off.on());
    off.setAttribute("k", "v");
    auto child = off.child("x", SpanKind::client);
    EXPECT_FALSE(child.on());
}

TEST(SpanTest, ChildrenShareTheTraceAndNameTheirParentAndEndOnce) {
    auto sink = std::make_shared<testing::RecordingSpanSink>();
    Tracer tracer({.kind = SamplerKind::parentBasedAlwaysOn}, sink);
    SpanContext parentId;
    {
        auto server = tracer.start("GET /x", SpanKind::server, nullptr);
        parentId = server.context();
        server.setAttribute("http.request.method", "GET");
        {
            auto db = server.child("findJob", SpanKind::client);
            db.setAttribute("db.system", "sqlite");
            db.end();
            db.end();
        }
        server.setStatus(SpanStatus::error, "boom");
    }
    const auto spans = sink->spans();
    ASSERT_EQ(spans.size(), 2u);
    const auto& db = spans[0];
    const auto& server = spans[1];
    EXPECT_EQ(db.context.traceId, server.context.traceId);
    EXPECT_EQ(db.parentSpanId, server.context.spanId);
    EXPECT_EQ(server.context.spanId, parentId.spanId);
    EXPECT_EQ(server.parentSpanId, SpanId{});
    EXPECT_EQ(server.kind, SpanKind::server);
    EXPECT_EQ(server.status, SpanStatus::error);
    EXPECT_EQ(server.statusMessage, "boom");
    EXPECT_LE(server.startUnixNanos, db.startUnixNanos);
    EXPECT_LE(db.endUnixNanos, server.endUnixNanos);
}

// Text that fits is held in the attribute (nothing for another thread to free); longer text is owned. Both
// read back as they were given.
TEST(SpanTest, TextAttributesAreHeldInlineWhenShortAndOwnedOtherwise) {
    auto sink = std::make_shared<testing::RecordingSpanSink>();
    Tracer tracer({.kind = SamplerKind::alwaysOn}, sink);
    const std::string fits(ShortText::kCapacity, 'p');
    const std::string longer(ShortText::kCapacity + 1, 'q');
    {
        auto span = tracer.start("GET /x", SpanKind::server, nullptr);
        std::string scratch = fits;
        span.setAttribute("url.path", std::string_view(scratch));
        scratch.assign(scratch.size(), 'X');  // the span kept a copy, not a view of the caller's text
        span.setAttribute("rampart.long", std::string_view(longer));
        span.setAttribute("rampart.empty", std::string_view());
    }
    const auto spans = sink->spans();
    ASSERT_EQ(spans.size(), 1U);
    const auto& attributes = spans[0].attributes;
    ASSERT_EQ(attributes.size(), 3U);
    EXPECT_TRUE(std::holds_alternative<ShortText>(attributes[0].value));
    EXPECT_EQ(textOf(attributes[0].value), fits);
    EXPECT_TRUE(std::holds_alternative<std::string>(attributes[1].value));
    EXPECT_EQ(textOf(attributes[1].value), longer);
    EXPECT_EQ(textOf(attributes[2].value), "");
    EXPECT_EQ(textOf(AttributeValue(std::int64_t{7})), std::nullopt) << "a number is not text";
}

TEST(SpanTest, AnUnsampledSpanPassesItsDecisionOnAndRecordsNothing) {
    auto sink = std::make_shared<testing::RecordingSpanSink>();
    Tracer tracer({.kind = SamplerKind::parentBasedAlwaysOff}, sink);
    {
        auto server = tracer.start("GET /x", SpanKind::server, nullptr);
        EXPECT_TRUE(server.on());
        EXPECT_FALSE(server.recording());
        EXPECT_TRUE(server.context().valid());
        EXPECT_FALSE(server.context().sampled);
        auto child = server.child("db", SpanKind::client);
        EXPECT_EQ(child.context().traceId, server.context().traceId);
        EXPECT_FALSE(child.recording());
    }
    EXPECT_TRUE(sink->spans().empty());
}

}  // namespace
}  // namespace rampart::obs
