// Security headers on every response, errors included (CSP, nosniff, framing, referrer, HSTS on TLS).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/config.hpp"
#include "http/middleware.hpp"

namespace rampart::http {

class TrustedProxies;

class SecurityHeadersStage : public Middleware {
  public:
    SecurityHeadersStage(const Config& config, std::shared_ptr<const TrustedProxies> proxies);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    // Applies the headers to a response; also used by the transport for the rare answer it writes
    // without the pipeline.
    void apply(Response& response, bool secure) const;

  private:
    std::vector<std::pair<std::string, std::string>> always_;
    std::string hsts_;
    std::shared_ptr<const TrustedProxies> proxies_;
};

}  // namespace rampart::http
