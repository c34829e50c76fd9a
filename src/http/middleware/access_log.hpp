// Access-log stage: one line per request once its response is ready.
#pragma once

#include <memory>

#include "http/middleware.hpp"
#include "obs/access_log.hpp"

namespace rampart::http {

class TrustedProxies;

class AccessLogStage : public Middleware {
  public:
    AccessLogStage(obs::AccessLog& log, std::shared_ptr<const TrustedProxies> proxies)
        : log_(log), proxies_(std::move(proxies)) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    obs::AccessLog& log_;
    std::shared_ptr<const TrustedProxies> proxies_;
};

}  // namespace rampart::http
