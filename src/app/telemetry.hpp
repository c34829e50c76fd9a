// Tracing at start-up: the tracer (with the configured sampler) and the OTLP exporter it feeds, or a null
// tracer when [telemetry] names no collector. `serve` and `worker` start it before the pipeline and the
// workers, and stop it (flushing what is queued) after them.
#pragma once

#include <chrono>
#include <memory>

#include "app/config.hpp"
#include "obs/metrics.hpp"
#include "obs/tracer.hpp"
#include "otlp/exporter.hpp"

namespace rampart {

struct Telemetry {
    std::shared_ptr<obs::Tracer> tracer;  // null: tracing is off
    std::shared_ptr<otlp::OtlpExporter> exporter;

    // Flushes the exporter's queue within kFlushTimeout; a collector that is down costs those spans only.
    void stop();
    static constexpr std::chrono::milliseconds kFlushTimeout{5000};
};

// The exporter's settings and resource from the configuration (for tests too).
otlp::ExporterSettings exporterSettings(const TelemetryConfig& config);
otlp::Resource telemetryResource(const TelemetryConfig& config);

// Throws std::invalid_argument or std::runtime_error on a setting the exporter refuses (a CA file that
// cannot be loaded): a start-up error, like any other.
Telemetry startTelemetry(const TelemetryConfig& config, obs::TraceExportMetrics& metrics);

}  // namespace rampart
