// The server's one Redis client with the I/O thread it runs on: `rampart serve` creates it at start-up
// when redis_url is set (src/app/serve.cpp) and hands client() to /readyz and the rate limiter.
#pragma once

#include <memory>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "redis/client.hpp"

namespace rampart::redis {

class ClientHost {
  public:
    // Throws InvalidRedisUrl or std::runtime_error (an unreadable CA file). Does not connect: the first
    // command does, so a server starts while Redis is down and /readyz says so.
    ClientHost(const RedisUrl& url, ClientOptions options);
    ClientHost(const ClientHost&) = delete;
    ClientHost& operator=(const ClientHost&) = delete;
    // Closes the client, then stops and joins the thread.
    ~ClientHost();

    [[nodiscard]] Client& client() { return *client_; }

  private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::unique_ptr<Client> client_;
    std::thread thread_;
};

}  // namespace rampart::redis
