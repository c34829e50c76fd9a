// CORS: an exact origin allowlist. Preflights are answered here; allowed origins get the CORS headers;
// an unlisted origin is never reflected.
#pragma once

#include <string>
#include <vector>

#include "http/middleware.hpp"
#include "http/router.hpp"
#include "http/settings.hpp"

namespace rampart::http {

class CorsStage : public Middleware {
  public:
    CorsStage(const CorsSettings& config, const Router& router);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    [[nodiscard]] bool originAllowed(std::string_view origin) const;

  private:
    boost::asio::awaitable<void> preflight(Exchange& ex, std::string_view origin);

    std::vector<std::string> origins_;
    std::vector<std::string> allowedHeaders_;  // lower-case
    std::string allowedHeadersValue_;
    std::string maxAge_;
    bool credentials_;
    const Router& router_;
};

}  // namespace rampart::http
