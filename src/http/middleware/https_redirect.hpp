// HTTPS redirect: when TLS is required, a plain-HTTP request is answered with 308 to the https URL and
// goes no further (so no cookie or token is ever handled over plain HTTP).
#pragma once

#include "http/middleware.hpp"

namespace rampart::http {

class HttpsRedirectStage : public Middleware {
  public:
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;
};

}  // namespace rampart::http
