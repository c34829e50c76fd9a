// A bounded pool of pipelined PostgreSQL connections, used only from the store's event loop (so it
// needs no lock). Connections open on demand up to the bound; a caller that finds them all busy waits
// its turn for a bounded time; after a failed connect, new connects wait a growing back-off so that
// a database outage answers 503 at once instead of piling up connection attempts.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/secret_string.hpp"
#include "store/postgres/pg_connection.hpp"

namespace rampart::store::pg {

class ConnectionPool {
  public:
    struct Options {
        std::size_t size = 16;
        std::chrono::milliseconds acquireTimeout{5000};
        std::chrono::milliseconds connectTimeout{5000};
        std::chrono::milliseconds maxBackoff{5000};
    };

    // A connection on loan; it goes back to the pool (or is dropped when no longer reusable) when the
    // lease ends.
    class Lease {
      public:
        Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
            : pool_(pool), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() {
            if (connection_) pool_->release(std::move(connection_));
        }
        Connection& operator*() const { return *connection_; }
        Connection* operator->() const { return connection_.get(); }

      private:
        ConnectionPool* pool_;
        std::unique_ptr<Connection> connection_;
    };

    ConnectionPool(boost::asio::any_io_executor executor, SecretString conninfo, Options options);
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    // An idle healthy connection, a new one, or the next one released. Throws StoreUnavailable when
    // the database cannot be reached (at once during a back-off) or no connection frees up in time.
    boost::asio::awaitable<Lease> acquire();
    // Closes the idle connections; leased ones close when they come back.
    void drain();
    [[nodiscard]] std::size_t openConnections() const { return open_; }

  private:
    struct Waiter {
        boost::asio::steady_timer* timer;
        std::unique_ptr<Connection> handed;
        bool mayConnect = false;  // a slot freed up: try opening a connection
    };

    void release(std::unique_ptr<Connection> connection);
    void wakeOne(std::unique_ptr<Connection> connection);

    boost::asio::any_io_executor executor_;
    SecretString conninfo_;
    Options options_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::deque<Waiter*> waiters_;
    std::size_t open_ = 0;  // idle, leased and being opened
    bool draining_ = false;
    std::chrono::steady_clock::time_point retryAfter_{};
    std::chrono::milliseconds backoff_{0};
};

}  // namespace rampart::store::pg
