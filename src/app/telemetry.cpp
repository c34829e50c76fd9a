// startTelemetry: the configuration's [telemetry] into an exporter and a tracer. The collector's URL and
// headers are never logged (either may hold a credential); its host is.
#include "app/telemetry.hpp"

#include <spdlog/spdlog.h>

#include "egress/url.hpp"

namespace rampart {

otlp::ExporterSettings exporterSettings(const TelemetryConfig& config) {
    otlp::ExporterSettings settings;
    settings.tracesUrl = config.tracesUrl();
    for (const auto& [name, value] : config.headers)
        settings.headers.push_back(egress::RequestHeader{.name = name, .value = value});
    settings.caFile = config.caFile;
    settings.maxQueueSize = config.maxQueueSize;
    settings.maxBatchSize = config.maxExportBatchSize;
    settings.scheduleDelay = config.scheduleDelay;
    settings.exportTimeout = config.exportTimeout;
    return settings;
}

otlp::Resource telemetryResource(const TelemetryConfig& config) {
    otlp::Resource resource;
    resource.serviceName = config.serviceName;
    resource.attributes = config.resourceAttributes;
    return resource;
}

Telemetry startTelemetry(const TelemetryConfig& config, obs::TraceExportMetrics& metrics) {
    Telemetry telemetry;
    if (!config.enabled()) return telemetry;
    telemetry.exporter =
        std::make_shared<otlp::OtlpExporter>(exporterSettings(config), telemetryResource(config), &metrics);
    telemetry.tracer = std::make_shared<obs::Tracer>(config.sampler, telemetry.exporter);
    const auto url = egress::parseUrl(config.tracesUrl());
    spdlog::info("tracing: exporting spans over OTLP/HTTP to {} ({} header(s))", url ? url->host : "?",
                 config.headers.size());
    return telemetry;
}

void Telemetry::stop() {
    if (exporter) exporter->shutdown(kFlushTimeout);
}

}  // namespace rampart
