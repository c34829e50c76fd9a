// Tracing stage: continues the caller's W3C trace (traceparent, tracestate) or starts one, holds the
// request's server span while the rest of the pipeline runs, and answers with its traceparent.
#pragma once

#include "http/middleware.hpp"
#include "obs/tracer.hpp"

namespace rampart::http {

class TracingStage : public Middleware {
  public:
    explicit TracingStage(obs::Tracer& tracer) : tracer_(tracer) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    obs::Tracer& tracer_;
};

}  // namespace rampart::http
