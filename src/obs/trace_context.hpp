// W3C Trace Context: the ids of a trace and a span, the traceparent and tracestate headers that carry
// them between processes, and the random ids of new traces and spans.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rampart::obs {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

// Where a span stands in its trace, as another process (or a job) learns it.
struct SpanContext {
    TraceId traceId{};
    SpanId spanId{};
    bool sampled = false;
    // Came from outside (a request header): its sampled flag is trusted only when the settings say so.
    bool remote = false;
    std::string traceState{};  // the tracestate header, passed on unchanged (empty when absent or refused)

    // Neither id is all zeros (W3C: such a header is invalid).
    [[nodiscard]] bool valid() const;
};

// The traceparent header's length, "00-" + 32 + "-" + 16 + "-" + 2.
inline constexpr std::size_t kTraceparentSize = 55;

// A traceparent header as W3C Trace Context level 1 reads it: version 00 exactly 55 characters; a later
// version at least that long, with its own fields after a '-' (ignored); never version ff; lower-case hex;
// neither id all zeros. Anything else is nullopt (the request goes on, in a new trace).
[[nodiscard]] std::optional<SpanContext> parseTraceparent(std::string_view header);
// "00-<trace id>-<span id>-<01 | 00>".
[[nodiscard]] std::string formatTraceparent(const SpanContext& context);
// The same into a buffer, for a header written without an allocation of its own.
void formatTraceparent(const SpanContext& context, std::array<char, kTraceparentSize>& out);

// The tracestate header when it is well-formed and at most 512 bytes (what W3C asks every vendor to pass
// on): at most 32 comma-separated key=value members of the characters the grammar allows. Anything else
// is refused as a whole (empty), never repaired.
[[nodiscard]] std::string_view acceptTraceState(std::string_view header);

// Random, never all zeros. Drawn from a per-thread buffer filled by the system's generator, so a new
// span costs no system call.
[[nodiscard]] TraceId newTraceId();
[[nodiscard]] SpanId newSpanId();

// Lower-case hex, for logs and tests.
[[nodiscard]] std::string toHex(const TraceId& id);
[[nodiscard]] std::string toHex(const SpanId& id);

}  // namespace rampart::obs
