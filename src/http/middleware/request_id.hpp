// Request id stage: keeps a well-formed X-Request-ID from the client, else makes one; echoes it back.
#pragma once

#include <string_view>

#include "http/middleware.hpp"

namespace rampart::http {

class RequestIdStage : public Middleware {
  public:
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    // 1 to 128 characters of [A-Za-z0-9._:-]: safe to log and to echo in a header.
    static bool wellFormed(std::string_view id);
};

}  // namespace rampart::http
