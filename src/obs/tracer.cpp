// Sampling decisions and the life of a span, from start to the sink.
#include "obs/tracer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>
#include <utility>

namespace rampart::obs {
namespace {

// The W3C "random" part of a trace id: its last 7 bytes.
std::uint64_t randomPart(const TraceId& id) {
    std::uint64_t value = 0;
    for (std::size_t i = 9; i < id.size(); ++i) value = value << 8 | id[i];
    return value;
}

constexpr std::uint64_t kRandomRange = std::uint64_t{1} << 56;

}  // namespace

Sampler::Sampler(SamplerSettings settings) : settings_(settings) {
    double ratio = std::isnan(settings_.ratio) ? 0.0 : std::clamp(settings_.ratio, 0.0, 1.0);
    settings_.ratio = ratio;
    threshold_ =
        ratio >= 1.0 ? kRandomRange : static_cast<std::uint64_t>(ratio * static_cast<double>(kRandomRange));
}

bool Sampler::root(const TraceId& traceId) const {
    switch (settings_.kind) {
        case SamplerKind::alwaysOn:
        case SamplerKind::parentBasedAlwaysOn:
            return true;
        case SamplerKind::alwaysOff:
        case SamplerKind::parentBasedAlwaysOff:
            return false;
        case SamplerKind::traceIdRatio:
        case SamplerKind::parentBasedTraceIdRatio:
            return randomPart(traceId) < threshold_;
    }
    return false;
}

bool Sampler::sample(const TraceId& traceId, const SpanContext* parent) const {
    bool parentBased = settings_.kind == SamplerKind::parentBasedAlwaysOn ||
                       settings_.kind == SamplerKind::parentBasedAlwaysOff ||
                       settings_.kind == SamplerKind::parentBasedTraceIdRatio;
    if (parentBased && parent && (!parent->remote || settings_.trustRemoteSampled)) return parent->sampled;
    return root(traceId);
}

std::ostream& operator<<(std::ostream& out, const SpanName& name) {
    return out << name.view();
}

std::optional<std::string_view> textOf(const AttributeValue& value) {
    if (const auto* text = std::get_if<std::string>(&value)) return *text;
    if (const auto* text = std::get_if<StaticText>(&value)) return text->text;
    if (const auto* text = std::get_if<ShortText>(&value)) return text->view();
    return std::nullopt;
}

std::uint64_t unixNanosNow() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

const Span& Span::off() {
    static const Span kOff;
    return kOff;
}

Span::Span(Span&& other) noexcept
    : tracer_(std::exchange(other.tracer_, nullptr)),
      context_(std::move(other.context_)),
      data_(std::exchange(other.data_, std::nullopt)) {}

Span& Span::operator=(Span&& other) noexcept {
    if (this != &other) {
        end();
        tracer_ = std::exchange(other.tracer_, nullptr);
        context_ = std::move(other.context_);
        data_ = std::exchange(other.data_, std::nullopt);
    }
    return *this;
}

void Span::setAttribute(std::string_view key, std::string value) {
    if (data_) data_->attributes.push_back({key, std::move(value)});
}

void Span::setAttribute(std::string_view key, std::string_view value) {
    if (!data_) return;
    if (value.size() <= ShortText::kCapacity)
        data_->attributes.push_back({key, ShortText(value)});
    else
        data_->attributes.push_back({key, std::string(value)});
}

void Span::setAttribute(std::string_view key, std::int64_t value) {
    if (data_) data_->attributes.push_back({key, value});
}

void Span::setAttribute(std::string_view key, bool value) {
    if (data_) data_->attributes.push_back({key, value});
}

void Span::setAttribute(std::string_view key, StaticText value) {
    if (data_) data_->attributes.push_back({key, value});
}

void Span::setAttribute(SpanAttribute attribute) {
    if (data_) data_->attributes.push_back(std::move(attribute));
}

void Span::addLink(SpanLink link) {
    if (data_) data_->links.push_back(std::move(link));
}

void Span::setStatus(SpanStatus status, std::string message) {
    if (!data_) return;
    data_->status = status;
    data_->statusMessage = status == SpanStatus::error ? std::move(message) : std::string();
}

Span Span::child(SpanName name, SpanKind kind) const {
    if (!tracer_) return {};
    return tracer_->start(std::move(name), kind, &context_);
}

void Span::end(std::uint64_t endUnixNanos) {
    if (!data_) return;
    data_->endUnixNanos = endUnixNanos ? endUnixNanos : unixNanosNow();
    data_->context = context_;
    tracer_->sink_->accept(std::move(*data_));
    data_.reset();
}

Tracer::Tracer(SamplerSettings sampler, std::shared_ptr<SpanSink> sink)
    : sampler_(sampler), sink_(std::move(sink)) {}

Span Tracer::adopt(SpanContext context, SpanName name, SpanKind kind) {
    Span span;
    span.tracer_ = this;
    span.context_ = std::move(context);
    if (span.context_.sampled) {
        span.data_.emplace();
        span.data_->name = std::move(name);
        span.data_->kind = kind;
        span.data_->startUnixNanos = unixNanosNow();
    }
    return span;
}

Span Tracer::start(SpanName name, SpanKind kind, const SpanContext* parent, std::uint64_t startUnixNanos) {
    Span span;
    span.tracer_ = this;
    span.context_.traceId = parent ? parent->traceId : newTraceId();
    span.context_.spanId = newSpanId();
    span.context_.sampled = sampler_.sample(span.context_.traceId, parent);
    if (parent) span.context_.traceState = parent->traceState;
    if (span.context_.sampled) {
        span.data_.emplace();
        if (parent) span.data_->parentSpanId = parent->spanId;
        span.data_->name = std::move(name);
        span.data_->kind = kind;
        span.data_->startUnixNanos = startUnixNanos ? startUnixNanos : unixNanosNow();
    }
    return span;
}

Span dbSpan(const Span& parent, std::string_view system, std::string_view operation) {
    if (!parent.recording()) return parent.child({}, SpanKind::client);
    auto span = parent.child(StaticText{operation}, SpanKind::client);
    span.setAttribute("db.system", StaticText{system});
    span.setAttribute("db.operation.name", StaticText{operation});
    return span;
}

}  // namespace rampart::obs
