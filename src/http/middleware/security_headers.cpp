// The response headers every answer carries; built once at start-up, copied onto each response.
#include "http/middleware/security_headers.hpp"

namespace rampart::http {

SecurityHeadersStage::SecurityHeadersStage(const HstsSettings& hstsSettings) {
    // The API serves JSON only: nothing may load, frame or embed it.
    const std::pair<std::string, std::string> always[] = {
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
    for (const auto& [name, value] : always) {
        names_.push_back(name);
        plain_ += name + ": " + value + "\r\n";
    }
    // HSTS means something only over TLS (RFC 6797 8.1: ignored on plain HTTP).
    std::string hsts = "max-age=" + std::to_string(hstsSettings.maxAge.count());
    if (hstsSettings.includeSubdomains) hsts += "; includeSubDomains";
    if (hstsSettings.preload) hsts += "; preload";
    names_.emplace_back("Strict-Transport-Security");
    secure_ = plain_ + "Strict-Transport-Security: " + hsts + "\r\n";
}

boost::asio::awaitable<void> SecurityHeadersStage::handle(Exchange& ex, Next next) {
    co_await next(ex);
    // Serialized once at start-up instead of inserted into every response (a field insertion costs
    // an allocation); a handler's own copy of one of these would be a conflicting duplicate.
    for (const auto& name : names_) ex.response.erase(name);
    ex.response.erase(beast_http::field::server);
    ex.fixedHeaders = ex.secure ? secure_ : plain_;
}

}  // namespace rampart::http
