// The error stage: every ApiError or unexpected exception below it becomes a problem+json response.
#pragma once

#include "http/middleware.hpp"

namespace rampart::http {

class ErrorMappingStage : public Middleware {
  public:
    // verbose: add the exception's message to 500 details (development only; never in production).
    explicit ErrorMappingStage(bool verbose) : verbose_(verbose) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    bool verbose_;
};

}  // namespace rampart::http
