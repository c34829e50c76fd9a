// Finished spans as an OTLP ExportTraceServiceRequest in protobuf's wire format (opentelemetry-proto v1:
// collector/trace/v1, trace/v1, common/v1, resource/v1), written by hand: the message is small and
// Debian has no OpenTelemetry package.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "obs/tracer.hpp"

namespace rampart::otlp {

// What the spans come from: the resource of every request this process sends.
struct Resource {
    std::string serviceName = "rampart";
    std::string serviceVersion = RAMPART_VERSION;  // empty: not sent
    // OTEL_RESOURCE_ATTRIBUTES' pairs, in order. A key the encoder sets itself (service.name,
    // service.version, telemetry.sdk.*) is skipped: those come from the fields above.
    std::vector<std::pair<std::string, std::string>> attributes;
};

// The body of POST /v1/traces (Content-Type application/x-protobuf): one ResourceSpans with one
// ScopeSpans (scope "rampart") holding the spans in order. Empty fields are left out, as proto3 does.
[[nodiscard]] std::string encodeTraceRequest(const Resource& resource, std::span<const obs::SpanData> spans);

}  // namespace rampart::otlp
