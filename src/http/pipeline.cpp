// The whole request path on one screen: the order of the stages, and why each stands where it does.
#include "http/pipeline.hpp"

#include "http/middleware/access_log.hpp"
#include "http/middleware/authentication.hpp"
#include "http/middleware/authorization.hpp"
#include "http/middleware/client_address.hpp"
#include "http/middleware/cors.hpp"
#include "http/middleware/csrf.hpp"
#include "http/middleware/error_mapping.hpp"
#include "http/middleware/host_allowlist.hpp"
#include "http/middleware/https_redirect.hpp"
#include "http/middleware/metrics.hpp"
#include "http/middleware/rate_limit.hpp"
#include "http/middleware/request_id.hpp"
#include "http/middleware/security_headers.hpp"
#include "http/middleware/tracing.hpp"
#include "http/middleware/transport_limits.hpp"
#include "http/trusted_proxies.hpp"
#include "ratelimit/memory_limiter.hpp"

namespace rampart::http {
namespace {

// Stands in when no authenticator is wired: refuses every credential, so a missing dependency
// closes the API instead of opening it.
class RefusingAuthenticator : public identity::Authenticator {
  public:
    boost::asio::awaitable<identity::AuthOutcome> authenticate(identity::PresentedCredential,
                                                               boost::asio::ip::address,
                                                               const obs::Span&) override {
        co_return identity::AuthOutcome{.principal = std::nullopt, .failure = "no_authenticator"};
    }
};

}  // namespace

// Neither of these is a coroutine: they hand back the next stage's awaitable, so passing a request on
// costs no coroutine frame of its own.
boost::asio::awaitable<void> Next::operator()(Exchange& ex) const {
    return pipeline_->runFrom(ex, index_);
}

boost::asio::awaitable<void> Pipeline::runFrom(Exchange& ex, std::size_t index) const {
    if (index < stages_.size()) return stages_[index]->handle(ex, Next(*this, index + 1));
    return dispatch(router_, ex);
}

std::unique_ptr<Pipeline> buildPipeline(const PipelineSettings& settings, const Router& router,
                                        obs::HttpMetrics& metrics, obs::AccessLog* accessLog,
                                        PipelineDeps deps) {
    static RefusingAuthenticator refusing;
    identity::Authenticator& authenticator = deps.authenticator ? *deps.authenticator : refusing;
    if (!deps.csrfKey && !settings.secretKey.empty())
        deps.csrfKey = std::make_shared<const identity::CsrfKey>(settings.secretKey);
    std::vector<std::unique_ptr<Middleware>> stages;
    // Who the client is, decided once from the trusted proxies' headers before any stage asks (the
    // access log, the limits, the audit, HSTS and cookies all depend on it). It cannot fail.
    stages.push_back(std::make_unique<ClientAddressStage>(TrustedProxies(settings.trustedProxies)));
    // Metrics next, so even rejected requests are counted and timed.
    stages.push_back(std::make_unique<MetricsStage>(metrics));
    // The access log sees the final status of every request, rejected ones included.
    if (accessLog) stages.push_back(std::make_unique<AccessLogStage>(*accessLog));
    // A request id before anything can fail, so every error names its instance.
    stages.push_back(std::make_unique<RequestIdStage>());
    // The server span next, around everything that can answer, so its status is the one sent and a
    // refused request is traced too; the access log (before it) reads its ids once it has ended.
    if (deps.tracer) stages.push_back(std::make_unique<TracingStage>(*deps.tracer));
    // Security headers wrap everything below, so error responses carry them too.
    stages.push_back(std::make_unique<SecurityHeadersStage>(settings.hsts));
    // The one place where errors become problem+json responses; nothing below builds an error body.
    stages.push_back(
        std::make_unique<ErrorMappingStage>(settings.verboseErrors, std::move(deps.translateError)));
    // A request the transport could not read whole (too large, malformed) is refused before any
    // stage reads its headers.
    stages.push_back(std::make_unique<TransportLimitsStage>());
    // Host before anything that uses it (redirect URLs, CORS), so a forged Host goes no further.
    stages.push_back(std::make_unique<HostAllowlistStage>(settings.allowedHosts));
    // Plain HTTP is sent to HTTPS before it reaches anything that could set a cookie or read a token.
    if (settings.requireTls) stages.push_back(std::make_unique<HttpsRedirectStage>());
    // CORS answers preflights itself and marks allowed origins; authentication (later) comes after it,
    // because browsers send preflights without credentials.
    stages.push_back(std::make_unique<CorsStage>(settings.cors, router));
    // Who is calling: the Authorization header, else the session cookie. A refused header is 401
    // here; a refused cookie continues as anonymous (and is cleared) so the login route stays reachable.
    // With rate limits on, a refused header is answered by the rate-limit stage, after it has counted it.
    stages.push_back(std::make_unique<AuthenticationStage>(authenticator, settings.secureCookies,
                                                           settings.rateLimits.enabled));
    // Rate limits follow authentication, because an authenticated caller is counted by user id (an
    // address is shared by many users behind one NAT, and one user may use many addresses), and come
    // before everything that costs work on the caller's behalf (CSRF, authorization, the handler). A
    // refused credential is counted here against the address, then answered 401.
    if (settings.rateLimits.enabled) {
        if (!deps.rateLimiter)
            deps.rateLimiter = std::make_shared<ratelimit::MemoryLimiter>(
                ratelimit::MemoryLimiterOptions{.maxKeys = settings.rateLimits.maxKeys});
        stages.push_back(std::make_unique<RateLimitStage>(settings.rateLimits, std::move(deps.rateLimiter),
                                                          deps.rateLimitMetrics));
    }
    // CSRF needs to know the request came with a session cookie, so it follows authentication; it
    // precedes authorization so a forged request is refused before any policy is consulted.
    stages.push_back(
        std::make_unique<CsrfStage>(deps.csrfKey, settings.cors.allowedOrigins, settings.secureCookies));
    // Authorization last before the router: the route's policy against the principal. Deny by default.
    stages.push_back(std::make_unique<AuthorizationStage>(std::move(deps.policies), settings.requireAdminTotp,
                                                          deps.audit));
    // Then the router: 404, 405 with Allow, 415, or the handler.
    return std::make_unique<Pipeline>(std::move(stages), router);
}

}  // namespace rampart::http
