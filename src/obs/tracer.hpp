// Spans: the sampler that decides which traces are kept, the span a piece of code holds while it works,
// and the finished span's data handed to a sink (the OTLP exporter, or a test's recorder).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "obs/trace_context.hpp"

namespace rampart::obs {

// OpenTelemetry's standard samplers (OTEL_TRACES_SAMPLER).
enum class SamplerKind {
    alwaysOn,
    alwaysOff,
    traceIdRatio,
    parentBasedAlwaysOn,  // OpenTelemetry's default
    parentBasedAlwaysOff,
    parentBasedTraceIdRatio,
};

struct SamplerSettings {
    SamplerKind kind = SamplerKind::parentBasedAlwaysOn;
    double ratio = 1.0;  // traceidratio's probability, 0 to 1 (OTEL_TRACES_SAMPLER_ARG)
    // Whether a parent-based sampler follows the sampled flag of a traceparent a client sent. Off, a client's
    // trace is still continued (same trace id), but whether it is recorded is decided here, as for a new
    // trace: a client cannot make the server record (and export) every one of its requests.
    bool trustRemoteSampled = false;
};

class Sampler {
  public:
    explicit Sampler(SamplerSettings settings);
    // Whether a span of traceId with this parent (null: a new trace) is recorded and exported.
    [[nodiscard]] bool sample(const TraceId& traceId, const SpanContext* parent) const;
    [[nodiscard]] const SamplerSettings& settings() const { return settings_; }

  private:
    [[nodiscard]] bool root(const TraceId& traceId) const;

    SamplerSettings settings_;
    std::uint64_t threshold_ = 0;  // traceidratio: sampled when the id's low 56 bits are below this
};

// The values OTLP's enums give these.
enum class SpanKind : int { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };
enum class SpanStatus : int { unset = 0, ok = 1, error = 2 };

// Text that outlives every span (a literal, a route template, a method name): kept as a view, so the
// attributes a request always has cost no allocation.
struct StaticText {
    std::string_view text;
};

// Text short enough to hold in the attribute itself (a request's path, a peer's address): recording it
// allocates nothing, so no span leaves memory for the exporter's thread to free. Longer text is a string.
class ShortText {
  public:
    static constexpr std::size_t kCapacity = 62;
    // text.size() <= kCapacity.
    // (copy_n, not memcpy: an empty view's data() may be null.)
    explicit ShortText(std::string_view text) : size_(static_cast<std::uint8_t>(text.size())) {
        std::copy_n(text.data(), text.size(), chars_.data());
    }
    [[nodiscard]] std::string_view view() const { return {chars_.data(), size_}; }

  private:
    std::array<char, kCapacity> chars_;  // the first size_ are the text's
    std::uint8_t size_;
};

using AttributeValue = std::variant<std::string, std::int64_t, double, bool, StaticText, ShortText>;

// The value's text, when it is text (owned, static or short).
[[nodiscard]] std::optional<std::string_view> textOf(const AttributeValue& value);

// Keys are the semantic conventions' names, string literals: a key is never built from input.
struct SpanAttribute {
    std::string_view key;
    AttributeValue value;
};

// A span's attributes: the first 8 (as many as a request's server span has) held in the span itself, so
// recording a span allocates nothing for them.
using SpanAttributes = boost::container::small_vector<SpanAttribute, 8>;

// A span's name: text that outlives every span (a route's "GET /api/v1/jobs/{id}", a store method's name)
// kept as a view, any other text owned.
class SpanName {
  public:
    SpanName() = default;
    SpanName(std::string text) : text_(std::move(text)) {}    // NOLINT: implicit on purpose
    SpanName(const char* text) : text_(std::string(text)) {}  // NOLINT
    SpanName(StaticText text) : text_(text.text) {}           // NOLINT

    [[nodiscard]] std::string_view view() const {
        if (const auto* owned = std::get_if<std::string>(&text_)) return *owned;
        return std::get<std::string_view>(text_);
    }
    operator std::string_view() const { return view(); }  // NOLINT: reads as the text it is
    [[nodiscard]] bool empty() const { return view().empty(); }
    friend bool operator==(const SpanName& name, std::string_view text) { return name.view() == text; }
    friend std::ostream& operator<<(std::ostream& out, const SpanName& name);

  private:
    std::variant<std::string, std::string_view> text_;  // the view: static text only
};

struct SpanLink {
    SpanContext context{};
    std::vector<SpanAttribute> attributes{};
};

// A finished span, as exported.
struct SpanData {
    SpanContext context;
    SpanId parentSpanId{};  // all zeros: the trace's root here
    SpanName name;
    SpanKind kind = SpanKind::internal;
    std::uint64_t startUnixNanos = 0;
    std::uint64_t endUnixNanos = 0;
    SpanAttributes attributes;
    std::vector<SpanLink> links;
    SpanStatus status = SpanStatus::unset;
    std::string statusMessage;
};

// Where finished, sampled spans go. accept never blocks and never throws: a full sink drops the span.
class SpanSink {
  public:
    virtual ~SpanSink() = default;
    virtual void accept(SpanData&& span) noexcept = 0;
};

[[nodiscard]] std::uint64_t unixNanosNow();

class Tracer;

// A span being worked on; ends when destroyed (or at end()). A default Span is off: tracing is not
// configured, every call on it is a no-op and child() gives another off span. A span that is on but not
// sampled has a context to pass on (so the decision travels with the trace) and records nothing.
class Span {
  public:
    Span() = default;
    Span(Span&& other) noexcept;
    Span& operator=(Span&& other) noexcept;
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;
    ~Span() { end(); }

    // An off span, for a parameter that has no span to pass.
    [[nodiscard]] static const Span& off();

    [[nodiscard]] bool on() const { return tracer_ != nullptr; }
    [[nodiscard]] bool recording() const { return data_.has_value(); }
    // Valid only when on().
    [[nodiscard]] const SpanContext& context() const { return context_; }

    void setAttribute(std::string_view key, std::string value);
    // Held in the attribute when it fits (ShortText), copied into a string otherwise.
    void setAttribute(std::string_view key, std::string_view value);
    void setAttribute(std::string_view key, const char* value) { setAttribute(key, std::string_view(value)); }
    void setAttribute(std::string_view key, std::int64_t value);
    void setAttribute(std::string_view key, int value) {
        setAttribute(key, static_cast<std::int64_t>(value));
    }
    void setAttribute(std::string_view key, bool value);
    void setAttribute(SpanAttribute attribute);
    void setAttribute(std::string_view key, StaticText value);
    void addLink(SpanLink link);
    void setStatus(SpanStatus status, std::string message = {});

    // A span under this one, on this span's tracer (off when this one is).
    [[nodiscard]] Span child(SpanName name, SpanKind kind) const;

    // Hands the span to the sink (when sampled); later calls do nothing.
    void end(std::uint64_t endUnixNanos = 0);
    // Ends the span without handing it to the sink: for work that turned out not to have happened (a
    // schedule's tick another scheduler recorded first). Its context stays valid; later calls do nothing.
    void discard() { data_.reset(); }

  private:
    friend class Tracer;

    Tracer* tracer_ = nullptr;
    SpanContext context_;
    std::optional<SpanData> data_;  // held here, not allocated: a span costs no allocation of its own
};

class Tracer {
  public:
    Tracer(SamplerSettings sampler, std::shared_ptr<SpanSink> sink);

    // A span whose parent is `parent` (null: the root of a new trace); a remote parent's trace is
    // continued. startUnixNanos 0 is now.
    [[nodiscard]] Span start(SpanName name, SpanKind kind, const SpanContext* parent,
                             std::uint64_t startUnixNanos = 0);

    // A span whose context was decided elsewhere (a job attempt's run context): recorded when it is sampled.
    [[nodiscard]] Span adopt(SpanContext context, SpanName name, SpanKind kind);

    // Hands a finished span to the sink: for spans whose ids were decided elsewhere (an external worker's
    // run, which the server records when the worker reports the end of it).
    void record(SpanData&& span) { sink_->accept(std::move(span)); }

    [[nodiscard]] const Sampler& sampler() const { return sampler_; }

  private:
    friend class Span;

    Sampler sampler_;
    std::shared_ptr<SpanSink> sink_;
};

// A client span under `parent` for one call to a database: db.system ("sqlite", "postgresql", "redis") and
// db.operation.name (the store method or the command), both text that outlives every span (kept as views),
// never a value. Off when the parent is; not recording when the parent is not.
[[nodiscard]] Span dbSpan(const Span& parent, std::string_view system, std::string_view operation);

}  // namespace rampart::obs
