// CSRF defence for cookie sessions: a state-changing request authenticated by the session cookie
// needs the session's CSRF token in X-CSRF-Token and an Origin (or Referer) that is this service or
// an allowed CORS origin. Bearer and Token requests need neither: browsers never add those headers
// on their own, so a forged cross-site request cannot carry them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/middleware.hpp"
#include "identity/csrf.hpp"

namespace rampart::http {

class CsrfStage : public Middleware {
  public:
    // Without a key (no secret key configured), every session request that changes state is refused.
    CsrfStage(std::shared_ptr<const identity::CsrfKey> key, const std::vector<std::string>& allowedOrigins,
              bool secureCookies);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    // "scheme://host[:port]" of an absolute http(s) URL (the Referer), lower-case; nullopt for
    // anything else (relative, other scheme, user info).
    static std::optional<std::string> originOf(std::string_view url);

  private:
    // Why the request fails the check ("missing_token", "bad_origin", ...), or empty when it passes.
    [[nodiscard]] std::string_view failure(const Exchange& ex) const;
    [[nodiscard]] bool originAccepted(const Exchange& ex, std::string_view origin) const;

    std::shared_ptr<const identity::CsrfKey> key_;
    std::vector<std::string> origins_;  // lower-case, default ports removed
    bool secureCookies_;
};

}  // namespace rampart::http
