// Access-log stage: one line per request once its response is ready.
#pragma once

#include "http/middleware.hpp"
#include "obs/access_log.hpp"

namespace rampart::http {

class AccessLogStage : public Middleware {
  public:
    explicit AccessLogStage(obs::AccessLog& log) : log_(log) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    obs::AccessLog& log_;
};

}  // namespace rampart::http
