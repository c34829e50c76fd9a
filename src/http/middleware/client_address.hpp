// Client address stage: who the client is and whether it used TLS, decided once per request through the
// trusted proxies (X-Forwarded-For, X-Forwarded-Proto from a trusted peer only). Every later stage and
// handler reads ex.client and ex.secure instead of asking the proxies again.
#pragma once

#include "http/middleware.hpp"
#include "http/trusted_proxies.hpp"

namespace rampart::http {

class ClientAddressStage : public Middleware {
  public:
    explicit ClientAddressStage(TrustedProxies proxies) : proxies_(std::move(proxies)) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    TrustedProxies proxies_;
};

}  // namespace rampart::http
