// The request pipeline: the ordered stages every request passes through, ending in the router.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/middleware.hpp"
#include "http/middleware/authorization.hpp"
#include "http/middleware/error_mapping.hpp"
#include "http/router.hpp"
#include "http/settings.hpp"
#include "identity/csrf.hpp"
#include "identity/principal.hpp"

namespace rampart::obs {
class HttpMetrics;
class AccessLog;
class RateLimitMetrics;
}  // namespace rampart::obs

namespace rampart::ratelimit {
class RateLimiter;
}

namespace rampart::store {
class AuditSink;
}

namespace rampart::http {

class Pipeline {
  public:
    Pipeline(std::vector<std::unique_ptr<Middleware>> stages, const Router& router)
        : stages_(std::move(stages)), router_(router) {}

    // Runs every stage and the router. Never throws: the error stage answers every failure.
    boost::asio::awaitable<void> run(Exchange& ex) const { return runFrom(ex, 0); }

    [[nodiscard]] const Router& router() const { return router_; }

  private:
    friend class Next;
    boost::asio::awaitable<void> runFrom(Exchange& ex, std::size_t index) const;

    std::vector<std::unique_ptr<Middleware>> stages_;
    const Router& router_;
};

// What the security stages need besides their settings. Every member may be left empty, and
// empty always means refusing, never allowing.
struct PipelineDeps {
    // Checks credentials. Null: every credential is refused (401), so only public routes answer.
    identity::Authenticator* authenticator = nullptr;
    // Receives a "permission.denied" audit event for every authorization refusal. Null: not audited
    // (unit tests only).
    store::AuditSink* audit = nullptr;
    // Checks CSRF tokens. Null: derived from settings.secretKey; when that is empty too, every
    // state-changing request made with a session cookie is refused.
    std::shared_ptr<const identity::CsrfKey> csrfKey;
    // Each route's policy: api::policyFor, the server's one table. Empty: no route has one, so every
    // route answers 403. Tests of the stages before authorization substitute their own.
    PolicyLookup policies;
    // Decides rate limits when settings.rateLimits.enabled. Null: an in-memory limiter of the pipeline's
    // own (limits are never skipped for want of a backend).
    std::shared_ptr<ratelimit::RateLimiter> rateLimiter;
    // Turns the domain errors handlers throw into their answers: api::translateDomainError. Empty: they are
    // 500s.
    ErrorTranslator translateError;
    // Counts rate-limit decisions per policy. Null: not counted (unit tests only).
    obs::RateLimitMetrics* rateLimitMetrics = nullptr;
    // Starts each request's server span. Null: tracing is off (no stage, no traceparent in answers).
    obs::Tracer* tracer = nullptr;
};

// The pipeline in its one order; pipeline.cpp says why each stage stands where it does.
std::unique_ptr<Pipeline> buildPipeline(const PipelineSettings& settings, const Router& router,
                                        obs::HttpMetrics& metrics, obs::AccessLog* accessLog,
                                        PipelineDeps deps = {});

}  // namespace rampart::http
