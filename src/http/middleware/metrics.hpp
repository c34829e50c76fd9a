// Metrics stage: counts and times every request by method, route template and status.
#pragma once

#include "http/middleware.hpp"
#include "obs/metrics.hpp"

namespace rampart::http {

class MetricsStage : public Middleware {
  public:
    explicit MetricsStage(obs::HttpMetrics& metrics) : metrics_(metrics) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    obs::HttpMetrics& metrics_;
};

// The method as a stable label: Beast's name for known verbs, "OTHER" for anything else (a client's
// made-up method must not create label values).
std::string_view methodLabel(const Request& request);

}  // namespace rampart::http
