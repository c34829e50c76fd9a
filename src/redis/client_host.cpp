// The Redis client and its thread (client_host.hpp).
#include "redis/client_host.hpp"

namespace rampart::redis {

ClientHost::ClientHost(const RedisUrl& url, ClientOptions options)
    : guard_(io_.get_executor()),
      client_(std::make_unique<Client>(io_.get_executor(), url, std::move(options))),
      thread_([this] { io_.run(); }) {}

ClientHost::~ClientHost() {
    client_->close();
    client_.reset();
    guard_.reset();  // run() returns once the close has settled every call and the sockets are gone
    thread_.join();
}

}  // namespace rampart::redis
