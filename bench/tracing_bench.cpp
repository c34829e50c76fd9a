// Micro-benchmark of what a traced request's span costs the process, in CPU per span, apart from the noise
// of a shared machine's HTTP benchmarks: recording an authenticated job read's server span (its name, the
// attributes TracingStage sets, its end) and encoding spans as the exporter does (the OTLP protobuf request
// of a full batch). Run build/rampart_bench_tracing.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "obs/tracer.hpp"
#include "otlp/trace_encoding.hpp"

namespace {

using namespace rampart;

constexpr std::size_t kBatch = 512;  // the exporter's default max_export_batch_size
constexpr std::string_view kPath = "/api/v1/jobs/-P8FPy5BnMMame-jblLTJ57kYXTa2F00000";

// Keeps a batch's spans, as the exporter's ring and batch do, and drops them when the batch is full.
class BatchSink final : public obs::SpanSink {
  public:
    BatchSink() { spans_.reserve(kBatch); }
    void accept(obs::SpanData&& span) noexcept override {
        if (spans_.size() == kBatch) spans_.clear();
        spans_.push_back(std::move(span));
    }
    [[nodiscard]] const std::vector<obs::SpanData>& spans() const { return spans_; }

  private:
    std::vector<obs::SpanData> spans_;
};

// What TracingStage records for GET /api/v1/jobs/{id} answered 200.
void recordReadSpan(obs::Tracer& tracer) {
    auto span = tracer.start(obs::StaticText{"GET /api/v1/jobs/{id}"}, obs::SpanKind::server, nullptr);
    span.setAttribute("http.request.method", obs::StaticText{"GET"});
    span.setAttribute("http.route", obs::StaticText{"/api/v1/jobs/{id}"});
    span.setAttribute("url.path", kPath);
    span.setAttribute("url.scheme", obs::StaticText{"http"});
    span.setAttribute("client.address", std::string("127.0.0.1"));
    span.setAttribute("network.protocol.version", obs::StaticText{"1.1"});
    span.setAttribute("http.response.status_code", std::int64_t{200});
}

void recordSpan(benchmark::State& state) {
    auto sink = std::make_shared<BatchSink>();
    obs::Tracer tracer({.kind = obs::SamplerKind::alwaysOn}, sink);
    for (auto _ : state) recordReadSpan(tracer);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(recordSpan);

void encodeBatch(benchmark::State& state) {
    auto sink = std::make_shared<BatchSink>();
    obs::Tracer tracer({.kind = obs::SamplerKind::alwaysOn}, sink);
    for (std::size_t i = 0; i < kBatch; ++i) recordReadSpan(tracer);
    const otlp::Resource resource;
    for (auto _ : state) benchmark::DoNotOptimize(otlp::encodeTraceRequest(resource, sink->spans()));
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(encodeBatch);

}  // namespace

BENCHMARK_MAIN();
