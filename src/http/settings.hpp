// The HTTP layer's own settings: what the server and the request pipeline are handed at start-up.
// app/config.cpp fills them from the TOML file, the environment and flags (docs/configuration.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/secret_string.hpp"
#include "net/tls_files.hpp"
#include "ratelimit/rate_limit_settings.hpp"

namespace rampart::http {

// Request limits and timeouts ([limits]).
struct ServerLimits {
    std::size_t maxHeaderBytes = 16 * 1024;           // request line + headers
    std::size_t maxBodyBytes = 1024 * 1024;           // default per-route body limit
    std::chrono::milliseconds headerTimeout{10'000};  // whole header must arrive within this
    std::chrono::milliseconds bodyTimeout{30'000};    // whole body must arrive within this
    std::chrono::milliseconds idleTimeout{60'000};    // keep-alive connection with no request
    std::chrono::milliseconds writeTimeout{30'000};
    std::chrono::milliseconds shutdownGrace{10'000};  // in-flight requests get this long on SIGTERM
    std::size_t maxConnections = 10'000;
};

// What the listener needs.
struct ServerSettings {
    std::string listenHost = "127.0.0.1";  // a numeric address or localhost, IPv6 without brackets
    std::uint16_t listenPort = 8080;       // 0: any free port
    unsigned threads = 0;                  // I/O threads; 0 = one per core
    net::TlsFiles tls;                     // unset: plain HTTP
    ServerLimits limits;
};

// Cross-origin requests ([cors]).
struct CorsSettings {
    std::vector<std::string> allowedOrigins;  // exact "scheme://host[:port]"; "*" is refused in production
    std::vector<std::string> allowedHeaders = {"Authorization", "Content-Type", "X-CSRF-Token",
                                               "X-Request-ID", "Idempotency-Key"};
    bool allowCredentials = false;
    std::chrono::seconds maxAge{600};
};

// Strict-Transport-Security ([hsts]); sent on TLS responses only.
struct HstsSettings {
    std::chrono::seconds maxAge{31'536'000};  // one year
    bool includeSubdomains = true;
    bool preload = false;
};

// What the pipeline's stages need (pipeline.hpp).
struct PipelineSettings {
    SecretString secretKey;                                              // CSRF tokens are derived from it
    std::vector<std::string> allowedHosts = {"localhost", "127.0.0.1"};  // Host allowlist
    std::vector<std::string> trustedProxies;  // peers allowed to set X-Forwarded-*/Forwarded
    bool verboseErrors = false;     // error details for developers; the caller refuses it in production
    bool requireTls = false;        // redirect plain HTTP to HTTPS
    bool secureCookies = true;      // Secure attribute on cookies
    bool requireAdminTotp = false;  // admins without TOTP reach only the enrolment routes
    CorsSettings cors;
    HstsSettings hsts;
    ratelimit::RateLimitSettings rateLimits;
};

}  // namespace rampart::http
