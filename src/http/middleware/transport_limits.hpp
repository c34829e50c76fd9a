// Refuses what the transport could not read whole: a body over the route's limit, headers over the
// header limit, or a malformed request.
#pragma once

#include "http/middleware.hpp"

namespace rampart::http {

class TransportLimitsStage : public Middleware {
  public:
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;
};

}  // namespace rampart::http
