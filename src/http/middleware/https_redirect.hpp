// HTTPS redirect: when TLS is required, a plain-HTTP request is answered with 308 to the https URL and
// goes no further (so no cookie or token is ever handled over plain HTTP).
#pragma once

#include <memory>

#include "http/middleware.hpp"

namespace rampart::http {

class TrustedProxies;

class HttpsRedirectStage : public Middleware {
  public:
    explicit HttpsRedirectStage(std::shared_ptr<const TrustedProxies> proxies)
        : proxies_(std::move(proxies)) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    std::shared_ptr<const TrustedProxies> proxies_;
};

}  // namespace rampart::http
