// The protobuf wire format, as much of it as the trace request needs: varints, fixed64, and
// length-delimited fields (bytes, strings, nested messages) whose length is known once written.
#include "otlp/trace_encoding.hpp"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace rampart::otlp {
namespace {

enum class WireType : std::uint32_t { varint = 0, fixed64 = 1, lengthDelimited = 2 };

// Field numbers of opentelemetry-proto v1, checked against the generated code of
// @opentelemetry/otlp-proto-exporter-base 0.51.1 (tests/otlp/), which the tests decode with.
namespace field {
constexpr std::uint32_t kRequestResourceSpans = 1;  // ExportTraceServiceRequest
constexpr std::uint32_t kResourceSpansResource = 1;
constexpr std::uint32_t kResourceSpansScopeSpans = 2;
constexpr std::uint32_t kResourceAttributes = 1;
constexpr std::uint32_t kScopeSpansScope = 1;
constexpr std::uint32_t kScopeSpansSpans = 2;
constexpr std::uint32_t kScopeName = 1;
constexpr std::uint32_t kScopeVersion = 2;
constexpr std::uint32_t kSpanTraceId = 1;
constexpr std::uint32_t kSpanSpanId = 2;
constexpr std::uint32_t kSpanTraceState = 3;
constexpr std::uint32_t kSpanParentSpanId = 4;
constexpr std::uint32_t kSpanName = 5;
constexpr std::uint32_t kSpanKind = 6;
constexpr std::uint32_t kSpanStart = 7;  // fixed64
constexpr std::uint32_t kSpanEnd = 8;    // fixed64
constexpr std::uint32_t kSpanAttributes = 9;
constexpr std::uint32_t kSpanLinks = 13;
constexpr std::uint32_t kSpanStatus = 15;
constexpr std::uint32_t kLinkTraceId = 1;
constexpr std::uint32_t kLinkSpanId = 2;
constexpr std::uint32_t kLinkTraceState = 3;
constexpr std::uint32_t kLinkAttributes = 4;
constexpr std::uint32_t kStatusMessage = 2;
constexpr std::uint32_t kStatusCode = 3;
constexpr std::uint32_t kKeyValueKey = 1;
constexpr std::uint32_t kKeyValueValue = 2;
constexpr std::uint32_t kAnyString = 1;
constexpr std::uint32_t kAnyBool = 2;
constexpr std::uint32_t kAnyInt = 3;
constexpr std::uint32_t kAnyDouble = 4;  // fixed64, the IEEE 754 bits
}  // namespace field

constexpr std::string_view kScopeName = "rampart";
// About what a request's server span takes: the request's buffer is reserved for that many per span.
constexpr std::size_t kBytesPerSpan = 256;

// Writes the whole request into one string: a nested message's length is written in front of it once it
// is known, in the one byte most messages need, the rest of it moved up when it needs more.
class Writer {
  public:
    void varint(std::uint64_t value) {
        while (value >= 0x80) {
            out_ += static_cast<char>((value & 0x7f) | 0x80);
            value >>= 7;
        }
        out_ += static_cast<char>(value);
    }
    void tag(std::uint32_t number, WireType type) {
        varint((static_cast<std::uint64_t>(number) << 3) | static_cast<std::uint32_t>(type));
    }
    void fixed64(std::uint32_t number, std::uint64_t value) {
        tag(number, WireType::fixed64);
        for (int i = 0; i < 8; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xff);  // little-endian
    }
    // int32, int64 and enums: negative values as their 64-bit two's complement (ten bytes), as protobuf does.
    void integer(std::uint32_t number, std::int64_t value) {
        tag(number, WireType::varint);
        varint(static_cast<std::uint64_t>(value));
    }
    void bytes(std::uint32_t number, std::string_view value) {
        tag(number, WireType::lengthDelimited);
        varint(value.size());
        out_ += value;
    }
    // A nested message: fill writes its fields into this writer, after a byte kept for the length.
    template <class Fill>
    void message(std::uint32_t number, Fill&& fill) {
        tag(number, WireType::lengthDelimited);
        const std::size_t lengthAt = out_.size();
        out_ += '\0';
        fill(*this);
        const std::size_t length = out_.size() - lengthAt - 1;
        if (length < 0x80) {
            out_[lengthAt] = static_cast<char>(length);
            return;
        }
        std::array<char, 10> encoded{};
        std::size_t size = 0;
        std::uint64_t value = length;
        while (value >= 0x80) {
            encoded[size++] = static_cast<char>((value & 0x7f) | 0x80);
            value >>= 7;
        }
        encoded[size++] = static_cast<char>(value);
        out_.insert(lengthAt + 1, size - 1, '\0');
        std::memcpy(out_.data() + lengthAt, encoded.data(), size);
    }
    void reserve(std::size_t bytes) { out_.reserve(bytes); }
    std::string take() { return std::move(out_); }

  private:
    std::string out_;
};

template <std::size_t N>
std::string_view idBytes(const std::array<std::uint8_t, N>& id) {
    return {reinterpret_cast<const char*>(id.data()), N};
}

template <std::size_t N>
bool allZero(const std::array<std::uint8_t, N>& id) {
    for (const std::uint8_t byte : id)
        if (byte != 0) return false;
    return true;
}

void writeValue(Writer& out, const obs::AttributeValue& value) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                out.bytes(field::kAnyString, v);
            } else if constexpr (std::is_same_v<T, obs::StaticText>) {
                out.bytes(field::kAnyString, v.text);
            } else if constexpr (std::is_same_v<T, obs::ShortText>) {
                out.bytes(field::kAnyString, v.view());
            } else if constexpr (std::is_same_v<T, bool>) {
                out.integer(field::kAnyBool, v ? 1 : 0);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                out.integer(field::kAnyInt, v);
            } else {
                out.fixed64(field::kAnyDouble, std::bit_cast<std::uint64_t>(v));
            }
        },
        value);
}

void writeAttribute(Writer& out, std::uint32_t number, std::string_view key,
                    const obs::AttributeValue& value) {
    out.message(number, [&](Writer& keyValue) {
        keyValue.bytes(field::kKeyValueKey, key);
        keyValue.message(field::kKeyValueValue, [&](Writer& any) { writeValue(any, value); });
    });
}

void writeAttributes(Writer& out, std::uint32_t number, std::span<const obs::SpanAttribute> attributes) {
    for (const obs::SpanAttribute& attribute : attributes)
        writeAttribute(out, number, attribute.key, attribute.value);
}

bool setByEncoder(std::string_view key) {
    return key == "service.name" || key == "service.version" || key.starts_with("telemetry.sdk.");
}

void writeResource(Writer& out, const Resource& resource) {
    auto text = [&](std::string_view key, std::string_view value) {
        writeAttribute(out, field::kResourceAttributes, key, obs::StaticText{value});  // a view for the call
    };
    text("service.name", resource.serviceName);
    if (!resource.serviceVersion.empty()) text("service.version", resource.serviceVersion);
    text("telemetry.sdk.name", "rampart");
    text("telemetry.sdk.language", "cpp");
    text("telemetry.sdk.version", RAMPART_VERSION);
    for (const auto& [key, value] : resource.attributes)
        if (!setByEncoder(key)) text(key, value);
}

void writeLink(Writer& out, const obs::SpanLink& link) {
    out.bytes(field::kLinkTraceId, idBytes(link.context.traceId));
    out.bytes(field::kLinkSpanId, idBytes(link.context.spanId));
    if (!link.context.traceState.empty()) out.bytes(field::kLinkTraceState, link.context.traceState);
    writeAttributes(out, field::kLinkAttributes, link.attributes);
}

void writeSpan(Writer& out, const obs::SpanData& span) {
    out.bytes(field::kSpanTraceId, idBytes(span.context.traceId));
    out.bytes(field::kSpanSpanId, idBytes(span.context.spanId));
    if (!span.context.traceState.empty()) out.bytes(field::kSpanTraceState, span.context.traceState);
    if (!allZero(span.parentSpanId)) out.bytes(field::kSpanParentSpanId, idBytes(span.parentSpanId));
    out.bytes(field::kSpanName, span.name);
    out.integer(field::kSpanKind, static_cast<int>(span.kind));
    out.fixed64(field::kSpanStart, span.startUnixNanos);
    out.fixed64(field::kSpanEnd, span.endUnixNanos);
    writeAttributes(out, field::kSpanAttributes, span.attributes);
    for (const obs::SpanLink& link : span.links)
        out.message(field::kSpanLinks, [&](Writer& linkOut) { writeLink(linkOut, link); });
    if (span.status != obs::SpanStatus::unset || !span.statusMessage.empty()) {
        out.message(field::kSpanStatus, [&](Writer& status) {
            if (!span.statusMessage.empty()) status.bytes(field::kStatusMessage, span.statusMessage);
            if (span.status != obs::SpanStatus::unset)
                status.integer(field::kStatusCode, static_cast<int>(span.status));
        });
    }
}

}  // namespace

std::string encodeTraceRequest(const Resource& resource, std::span<const obs::SpanData> spans) {
    Writer request;
    request.reserve(512 + spans.size() * kBytesPerSpan);
    request.message(field::kRequestResourceSpans, [&](Writer& resourceSpans) {
        resourceSpans.message(field::kResourceSpansResource,
                              [&](Writer& out) { writeResource(out, resource); });
        resourceSpans.message(field::kResourceSpansScopeSpans, [&](Writer& scopeSpans) {
            scopeSpans.message(field::kScopeSpansScope, [&](Writer& scope) {
                scope.bytes(field::kScopeName, kScopeName);
                scope.bytes(field::kScopeVersion, RAMPART_VERSION);
            });
            for (const obs::SpanData& span : spans)
                scopeSpans.message(field::kScopeSpansSpans, [&](Writer& out) { writeSpan(out, span); });
        });
    });
    return request.take();
}

}  // namespace rampart::otlp
