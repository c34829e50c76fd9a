// The request pipeline: the ordered stages every request passes through, ending in the router.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "app/config.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"

namespace rampart::obs {
class HttpMetrics;
class AccessLog;
}  // namespace rampart::obs

namespace rampart::http {

class Pipeline {
  public:
    Pipeline(std::vector<std::unique_ptr<Middleware>> stages, const Router& router)
        : stages_(std::move(stages)), router_(router) {}

    // Runs every stage and the router. Never throws: the error stage answers every failure.
    boost::asio::awaitable<void> run(Exchange& ex) const { return runFrom(ex, 0); }

    [[nodiscard]] const Router& router() const { return router_; }

  private:
    friend class Next;
    boost::asio::awaitable<void> runFrom(Exchange& ex, std::size_t index) const;

    std::vector<std::unique_ptr<Middleware>> stages_;
    const Router& router_;
};

// The pipeline in its one order; pipeline.cpp says why each stage stands where it does.
std::unique_ptr<Pipeline> buildPipeline(const Config& config, const Router& router, obs::HttpMetrics& metrics,
                                        obs::AccessLog* accessLog);

}  // namespace rampart::http
