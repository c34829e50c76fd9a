// The HTTP/1.1 server: one I/O thread per core (each with its own io_context, so no locks between them),
// one coroutine per connection; TLS when configured; limits, deadlines and graceful shutdown.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "http/pipeline.hpp"
#include "http/settings.hpp"
#include "obs/metrics.hpp"

namespace rampart::http {

class Server {
  public:
    Server(ServerSettings settings, const Pipeline& pipeline, obs::HttpMetrics& metrics);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the listen address and starts the I/O threads. Throws std::runtime_error when the address
    // cannot be bound and TlsError when TLS is configured but cannot be loaded.
    void start();
    [[nodiscard]] unsigned short port() const { return port_; }

    // Graceful: stops accepting, closes idle connections, gives requests already being received or
    // handled until the shutdown grace period, then closes what is left and joins the threads.
    void shutdown();

    // Loads the TLS certificate and key again (SIGHUP); new connections use them. Keeps the current
    // ones and returns false when the new files cannot be loaded.
    bool reloadTls();

    [[nodiscard]] std::size_t openConnections() const { return open_.load(); }

  private:
    struct Worker;
    struct SessionState;
    template <class Stream>
    boost::asio::awaitable<void> serveConnection(Stream& stream, Worker& worker, SessionState& state);
    boost::asio::awaitable<void> acceptLoop();
    boost::asio::awaitable<void> runSession(boost::asio::ip::tcp::socket socket, Worker& worker);
    void reserveSocketStatesAhead(Worker& worker);

    const ServerSettings settings_;
    const Pipeline& pipeline_;
    obs::HttpMetrics& metrics_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;    // on the first worker's context
    boost::asio::ip::tcp protocol_ = boost::asio::ip::tcp::v4();  // the listener's
    std::atomic<std::shared_ptr<boost::asio::ssl::context>> tls_;
    std::atomic<std::size_t> open_{0};
    std::atomic<bool> stopping_{false};
    unsigned short port_ = 0;
    bool stopped_ = false;
};

}  // namespace rampart::http
