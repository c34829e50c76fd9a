// The response headers every answer carries; built once at start-up, copied onto each response.
#include "http/middleware/security_headers.hpp"

#include "http/trusted_proxies.hpp"

namespace rampart::http {

SecurityHeadersStage::SecurityHeadersStage(const Config& config,
                                           std::shared_ptr<const TrustedProxies> proxies)
    : proxies_(std::move(proxies)) {
    // The API serves JSON only: nothing may load, frame or embed it.
    always_ = {
        {"Content-Security-Policy",
         "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Permissions-Policy",
         "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
         "payment=(), usb=(), interest-cohort=()"},
        {"Cross-Origin-Opener-Policy", "same-origin"},
        {"Cross-Origin-Resource-Policy", "same-origin"},
        {"Cache-Control", "no-store"},
    };
    hsts_ = "max-age=" + std::to_string(config.hsts.maxAge.count());
    if (config.hsts.includeSubdomains) hsts_ += "; includeSubDomains";
    if (config.hsts.preload) hsts_ += "; preload";
}

void SecurityHeadersStage::apply(Response& response, bool secure) const {
    for (const auto& [name, value] : always_) response.set(name, value);
    // HSTS means something only over TLS (RFC 6797 8.1: ignored on plain HTTP).
    if (secure) response.set(beast_http::field::strict_transport_security, hsts_);
    response.erase(beast_http::field::server);
}

boost::asio::awaitable<void> SecurityHeadersStage::handle(Exchange& ex, Next next) {
    co_await next(ex);
    apply(ex.response, proxies_->secure(ex));
}

}  // namespace rampart::http
