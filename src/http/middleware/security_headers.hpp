// Security headers on every response, errors included (CSP, nosniff, framing, referrer, HSTS on TLS).
#pragma once

#include <string>
#include <vector>

#include "http/middleware.hpp"
#include "http/settings.hpp"

namespace rampart::http {

class SecurityHeadersStage : public Middleware {
  public:
    explicit SecurityHeadersStage(const HstsSettings& hstsSettings);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    std::vector<std::string> names_;  // handlers may not set these: the fixed block wins
    std::string plain_;               // the block for plain HTTP
    std::string secure_;              // the same plus HSTS
};

}  // namespace rampart::http
