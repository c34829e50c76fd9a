// The hand-written encoder against the official schema: spans of every shape are encoded, POSTed to the
// test receiver, decoded there by opentelemetry-proto's generated code (tests/otlp/receiver.js), and every
// field must come back as it went in. Plus the wire details a round trip would hide.
#include "otlp/trace_encoding.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "testing/otlp_receiver.hpp"

namespace rampart::otlp {
namespace {

namespace json = boost::json;
using testing::OtlpReceiver;

obs::TraceId traceIdOf(std::uint8_t seed) {
    obs::TraceId id{};
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed + i * 17);
    return id;
}

obs::SpanId spanIdOf(std::uint8_t seed) {
    obs::SpanId id{};
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(seed * 3 + i * 29 + 1);
    return id;
}

// A root server span with every attribute type, a trace state and an error status.
obs::SpanData rootSpan() {
    obs::SpanData span;
    span.context.traceId = traceIdOf(0xa0);
    span.context.spanId = spanIdOf(1);
    span.context.sampled = true;
    span.context.traceState = "rampart=abc,vendor=x1";
    span.name = "POST /api/v1/jobs";
    span.kind = obs::SpanKind::server;
    span.startUnixNanos = 1'765'100'000'123'456'789ULL;  // beyond 2^53: a double would round it
    span.endUnixNanos = 1'765'100'000'987'654'321ULL;
    span.attributes = {
        {"http.request.method", std::string("POST")},
        {"http.response.status_code", std::int64_t{500}},
        {"rampart.negative", std::int64_t{-42}},
        {"rampart.max", std::numeric_limits<std::int64_t>::max()},
        {"rampart.min", std::numeric_limits<std::int64_t>::min()},
        {"rampart.ratio", 3.25},
        {"rampart.negative_double", -0.5},
        {"rampart.yes", true},
        {"rampart.no", false},
        {"rampart.empty", std::string()},
    };
    span.status = obs::SpanStatus::error;
    span.statusMessage = "database unavailable";
    return span;
}

// A client span under the root, with a unicode name, links (one with attributes and a trace state) and an
// ok status.
obs::SpanData childSpan() {
    obs::SpanData span;
    span.context.traceId = traceIdOf(0xa0);
    span.context.spanId = spanIdOf(2);
    span.parentSpanId = spanIdOf(1);
    span.name = "tâche 処理 🚀 run";
    span.kind = obs::SpanKind::client;
    span.startUnixNanos = 1;
    span.endUnixNanos = std::numeric_limits<std::uint64_t>::max();
    obs::SpanLink submitted;
    submitted.context.traceId = traceIdOf(0x10);
    submitted.context.spanId = spanIdOf(9);
    submitted.context.traceState = "k=v";
    submitted.attributes = {{"rampart.job.id", std::string("01J00000000000000000000000")},
                            {"rampart.attempt", std::int64_t{3}}};
    obs::SpanLink plain;
    plain.context.traceId = traceIdOf(0x20);
    plain.context.spanId = spanIdOf(10);
    span.links = {submitted, plain};
    span.status = obs::SpanStatus::ok;
    return span;
}

// Internal, nothing set but the ids and the name.
obs::SpanData bareSpan() {
    obs::SpanData span;
    span.context.traceId = traceIdOf(0x30);
    span.context.spanId = spanIdOf(3);
    span.name = "x";
    return span;
}

const json::object& findSpan(const json::array& spans, std::string_view name) {
    for (const json::value& span : spans)
        if (span.at("name").as_string() == name) return span.as_object();
    throw std::runtime_error("no span named " + std::string(name));
}

// The attribute `key` of a KeyValue list: its AnyValue object.
const json::object& attribute(const json::value& list, std::string_view key) {
    for (const json::value& entry : list.as_array())
        if (entry.at("key").as_string() == key) return entry.at("value").as_object();
    throw std::runtime_error("no attribute " + std::string(key));
}

std::size_t countKey(const json::value& list, std::string_view key) {
    std::size_t count = 0;
    for (const json::value& entry : list.as_array())
        if (entry.at("key").as_string() == key) ++count;
    return count;
}

class OtlpTraceEncodingTest : public ::testing::Test {
  protected:
    // Encodes, POSTs the body as the exporter would, and returns the spans the official code decoded.
    json::array roundTrip(const Resource& resource, const std::vector<obs::SpanData>& spans) {
        const std::string body = encodeTraceRequest(resource, spans);
        const auto [status, answer] = receiver_.request("POST", "/v1/traces", body, "application/x-protobuf");
        EXPECT_EQ(status, 200U) << answer;
        EXPECT_TRUE(receiver_.errors().empty()) << json::serialize(receiver_.errors());
        return receiver_.spans();
    }

    OtlpReceiver receiver_;
};

constexpr std::array<std::string_view, 10> kBoundaryKeys = {"k0", "k1", "k2", "k3", "k4",
                                                            "k5", "k6", "k7", "k8", "k9"};

TEST_F(OtlpTraceEncodingTest, EverySpanFieldDecodesWithTheOfficialSchemaAsEncoded) {
    Resource resource;
    resource.serviceName = "rampart-test";
    resource.serviceVersion = "9.8.7";
    resource.attributes = {{"deployment.environment", "staging"}, {"host.name", "node-1"}};
    const json::array spans = roundTrip(resource, {rootSpan(), childSpan(), bareSpan()});
    ASSERT_EQ(spans.size(), 3U);

    const json::object& root = findSpan(spans, "POST /api/v1/jobs");
    EXPECT_EQ(root.at("traceId").as_string(), obs::toHex(traceIdOf(0xa0)));
    EXPECT_EQ(root.at("spanId").as_string(), obs::toHex(spanIdOf(1)));
    EXPECT_EQ(root.at("parentSpanId").as_string(), "") << "a root has no parent";
    EXPECT_EQ(root.at("traceState").as_string(), "rampart=abc,vendor=x1");
    EXPECT_EQ(root.at("kind").as_int64(), 2) << "SPAN_KIND_SERVER";
    EXPECT_EQ(root.at("startTimeUnixNano").as_string(), "1765100000123456789");
    EXPECT_EQ(root.at("endTimeUnixNano").as_string(), "1765100000987654321");
    const json::value& attributes = root.at("attributes");
    EXPECT_EQ(attributes.as_array().size(), 10U);
    EXPECT_EQ(attribute(attributes, "http.request.method").at("stringValue").as_string(), "POST");
    EXPECT_EQ(attribute(attributes, "http.response.status_code").at("intValue").as_string(), "500");
    EXPECT_EQ(attribute(attributes, "rampart.negative").at("intValue").as_string(), "-42");
    EXPECT_EQ(attribute(attributes, "rampart.max").at("intValue").as_string(), "9223372036854775807");
    EXPECT_EQ(attribute(attributes, "rampart.min").at("intValue").as_string(), "-9223372036854775808");
    EXPECT_EQ(attribute(attributes, "rampart.ratio").at("doubleValue").to_number<double>(), 3.25);
    EXPECT_EQ(attribute(attributes, "rampart.negative_double").at("doubleValue").to_number<double>(), -0.5);
    EXPECT_EQ(attribute(attributes, "rampart.yes").at("boolValue").as_bool(), true);
    // false and "" are proto3 defaults: present only because the oneof says which member is set.
    EXPECT_EQ(attribute(attributes, "rampart.no").at("value").as_string(), "boolValue");
    EXPECT_EQ(attribute(attributes, "rampart.no").at("boolValue").as_bool(), false);
    EXPECT_EQ(attribute(attributes, "rampart.empty").at("value").as_string(), "stringValue");
    EXPECT_EQ(root.at("status").at("code").as_int64(), 2) << "STATUS_CODE_ERROR";
    EXPECT_EQ(root.at("status").at("message").as_string(), "database unavailable");
    EXPECT_TRUE(root.at("links").as_array().empty());

    const json::object& child = findSpan(spans, "tâche 処理 🚀 run");
    EXPECT_EQ(child.at("traceId").as_string(), obs::toHex(traceIdOf(0xa0)));
    EXPECT_EQ(child.at("parentSpanId").as_string(), obs::toHex(spanIdOf(1)));
    EXPECT_EQ(child.at("kind").as_int64(), 3) << "SPAN_KIND_CLIENT";
    EXPECT_EQ(child.at("startTimeUnixNano").as_string(), "1");
    EXPECT_EQ(child.at("endTimeUnixNano").as_string(), "18446744073709551615") << "fixed64, unsigned";
    EXPECT_EQ(child.at("traceState").as_string(), "");
    EXPECT_EQ(child.at("status").at("code").as_int64(), 1) << "STATUS_CODE_OK";
    const json::array& links = child.at("links").as_array();
    ASSERT_EQ(links.size(), 2U);
    EXPECT_EQ(links[0].at("traceId").as_string(), obs::toHex(traceIdOf(0x10)));
    EXPECT_EQ(links[0].at("spanId").as_string(), obs::toHex(spanIdOf(9)));
    EXPECT_EQ(links[0].at("traceState").as_string(), "k=v");
    EXPECT_EQ(attribute(links[0].at("attributes"), "rampart.job.id").at("stringValue").as_string(),
              "01J00000000000000000000000");
    EXPECT_EQ(attribute(links[0].at("attributes"), "rampart.attempt").at("intValue").as_string(), "3");
    EXPECT_EQ(links[1].at("traceId").as_string(), obs::toHex(traceIdOf(0x20)));
    EXPECT_TRUE(links[1].at("attributes").as_array().empty());

    const json::object& bare = findSpan(spans, "x");
    EXPECT_EQ(bare.at("kind").as_int64(), 1) << "SPAN_KIND_INTERNAL";
    EXPECT_TRUE(bare.at("status").is_null()) << "an unset status is left out";
    EXPECT_TRUE(bare.at("attributes").as_array().empty());

    // One resource and one scope for all of them.
    for (const json::value& span : spans) {
        const json::value& resourceAttributes = span.at("resource").at("attributes");
        EXPECT_EQ(attribute(resourceAttributes, "service.name").at("stringValue").as_string(),
                  "rampart-test");
        EXPECT_EQ(attribute(resourceAttributes, "service.version").at("stringValue").as_string(), "9.8.7");
        EXPECT_EQ(attribute(resourceAttributes, "telemetry.sdk.name").at("stringValue").as_string(),
                  "rampart");
        EXPECT_EQ(attribute(resourceAttributes, "telemetry.sdk.language").at("stringValue").as_string(),
                  "cpp");
        EXPECT_EQ(attribute(resourceAttributes, "deployment.environment").at("stringValue").as_string(),
                  "staging");
        EXPECT_EQ(attribute(resourceAttributes, "host.name").at("stringValue").as_string(), "node-1");
        EXPECT_EQ(span.at("scope").at("name").as_string(), "rampart");
    }
}

TEST_F(OtlpTraceEncodingTest, ResourceAttributesCannotOverrideWhatTheEncoderSets) {
    Resource resource;
    resource.serviceName = "configured";
    resource.attributes = {
        {"service.name", "from-attributes"}, {"telemetry.sdk.language", "python"}, {"team", "jobs"}};
    const json::array spans = roundTrip(resource, {bareSpan()});
    ASSERT_EQ(spans.size(), 1U);
    const json::value& attributes = spans[0].at("resource").at("attributes");
    EXPECT_EQ(countKey(attributes, "service.name"), 1U);
    EXPECT_EQ(attribute(attributes, "service.name").at("stringValue").as_string(), "configured");
    EXPECT_EQ(countKey(attributes, "telemetry.sdk.language"), 1U);
    EXPECT_EQ(attribute(attributes, "telemetry.sdk.language").at("stringValue").as_string(), "cpp");
    EXPECT_EQ(attribute(attributes, "team").at("stringValue").as_string(), "jobs");
    EXPECT_EQ(attribute(attributes, "service.version").at("stringValue").as_string(), RAMPART_VERSION);
}

TEST_F(OtlpTraceEncodingTest, ABatchOfManySpansDecodes) {
    std::vector<obs::SpanData> spans;
    for (int i = 0; i < 512; ++i) {
        obs::SpanData span = childSpan();
        span.context.spanId = spanIdOf(static_cast<std::uint8_t>(i));
        span.name = "span-" + std::to_string(i);
        span.attributes = {{"rampart.index", std::int64_t{i}}, {"rampart.text", std::string(300, 'y')}};
        spans.push_back(std::move(span));
    }
    const json::array decoded = roundTrip(Resource{}, spans);
    ASSERT_EQ(decoded.size(), 512U);
    EXPECT_EQ(decoded[511].at("name").as_string(), "span-511") << "order is kept";
    EXPECT_EQ(attribute(decoded[300].at("attributes"), "rampart.index").at("intValue").as_string(), "300");
}

// A nested message's length is written in front of it once known: in one byte below 128, in more above,
// each boundary of the varint on both sides (the text's AnyValue is 1 + the length's bytes + the text).
TEST_F(OtlpTraceEncodingTest, MessagesOfEveryLengthAroundTheVarintBoundariesDecode) {
    const std::vector<std::size_t> sizes = {0, 1, 125, 126, 127, 128, 16380, 16381, 16382, 2'097'148};
    obs::SpanData span = bareSpan();
    span.attributes.clear();
    for (std::size_t i = 0; i < sizes.size(); ++i)
        span.attributes.push_back({kBoundaryKeys[i], std::string(sizes[i], static_cast<char>('a' + i))});
    span.attributes.push_back({"rampart.short", obs::ShortText(std::string(obs::ShortText::kCapacity, 's'))});
    const json::array decoded = roundTrip(Resource{}, {span});
    ASSERT_EQ(decoded.size(), 1U);
    const json::value& attributes = decoded[0].at("attributes");
    for (std::size_t i = 0; i < sizes.size(); ++i)
        EXPECT_EQ(attribute(attributes, kBoundaryKeys[i]).at("stringValue").as_string(),
                  std::string(sizes[i], static_cast<char>('a' + i)))
            << sizes[i] << " bytes";
    EXPECT_EQ(attribute(attributes, "rampart.short").at("stringValue").as_string(),
              std::string(obs::ShortText::kCapacity, 's'));
}

// The check has teeth: a body the official code cannot decode is a failure the tests see.
TEST_F(OtlpTraceEncodingTest, TheReceiverRefusesABodyThatDoesNotDecode) {
    std::string body = encodeTraceRequest(Resource{}, std::vector<obs::SpanData>{rootSpan()});
    body.resize(body.size() - 5);  // a length-delimited field now runs past the end
    const auto [status, answer] = receiver_.request("POST", "/v1/traces", body, "application/x-protobuf");
    EXPECT_EQ(status, 400U);
    EXPECT_EQ(receiver_.errors().size(), 1U);
    EXPECT_TRUE(receiver_.spans().empty());
}

TEST(OtlpTraceEncoding, WireDetails) {
    // No spans: still a request with its resource and scope, never an empty body.
    const std::string empty = encodeTraceRequest(Resource{}, {});
    ASSERT_FALSE(empty.empty());
    EXPECT_EQ(static_cast<unsigned char>(empty[0]), 0x0aU) << "field 1 (resource_spans), length-delimited";

    // A negative int64 is ten bytes of varint (two's complement), as protobuf writes it.
    obs::SpanData span = bareSpan();
    span.attributes = {{"n", std::int64_t{-1}}};
    const std::string body = encodeTraceRequest(Resource{}, std::vector<obs::SpanData>{span});
    const std::string tenBytes = std::string("\x18") + std::string(9, '\xff') + "\x01";
    EXPECT_NE(body.find(tenBytes), std::string::npos);
}

}  // namespace
}  // namespace rampart::otlp
