// The two-method stage interface of the request pipeline: handle the exchange, or pass it on.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "http/exchange.hpp"

namespace rampart::http {

class Pipeline;

// Calls the rest of the pipeline after the current stage.
class Next {
  public:
    Next(const Pipeline& pipeline, std::size_t index) : pipeline_(&pipeline), index_(index) {}
    boost::asio::awaitable<void> operator()(Exchange& ex) const;

  private:
    const Pipeline* pipeline_;
    std::size_t index_;
};

class Middleware {
  public:
    virtual ~Middleware() = default;
    // Either answer (fill ex.response or throw ApiError) or `co_await next(ex)`, possibly both
    // (look at the response after the rest of the pipeline ran).
    virtual boost::asio::awaitable<void> handle(Exchange& ex, Next next) = 0;
};

}  // namespace rampart::http
