// ConnectionPool: see pg_pool.hpp.
#include "store/postgres/pg_pool.hpp"

#include <algorithm>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rampart::store::pg {

namespace asio = boost::asio;
using namespace std::chrono_literals;

ConnectionPool::ConnectionPool(asio::any_io_executor executor, SecretString conninfo, Options options)
    : executor_(std::move(executor)), conninfo_(std::move(conninfo)), options_(options) {}

asio::awaitable<ConnectionPool::Lease> ConnectionPool::acquire() {
    const auto deadline = std::chrono::steady_clock::now() + options_.acquireTimeout;
    while (true) {
        while (!idle_.empty()) {
            auto connection = std::move(idle_.back());
            idle_.pop_back();
            connection->poll();  // notices a server that went away while this connection sat idle
            if (connection->reusable()) co_return Lease(this, std::move(connection));
            --open_;
        }
        if (draining_) throw StoreUnavailable("database store is closed");
        if (open_ < options_.size) {
            if (std::chrono::steady_clock::now() < retryAfter_) {
                throw StoreUnavailable("database unreachable (retrying with back-off)");
            }
            ++open_;
            std::unique_ptr<Connection> connection;
            std::string failure;
            try {
                connection = co_await Connection::open(executor_, conninfo_, options_.connectTimeout);
            } catch (const StoreUnavailable& error) {
                failure = error.what();
            }
            if (!connection) {
                --open_;
                backoff_ =
                    std::min(std::max(backoff_ * 2, std::chrono::milliseconds(100)), options_.maxBackoff);
                retryAfter_ = std::chrono::steady_clock::now() + backoff_;
                wakeOne(nullptr);  // a waiter may try again after the back-off, or fail fast
                throw StoreUnavailable(failure);
            }
            backoff_ = 0ms;
            co_return Lease(this, std::move(connection));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw StoreUnavailable("database busy: every pooled connection is in use");
        }
        asio::steady_timer timer(executor_, deadline);
        Waiter waiter{.timer = &timer, .handed = nullptr};
        waiters_.push_back(&waiter);
        auto [ignored] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ignored;
        std::erase(waiters_, &waiter);
        if (waiter.handed) co_return Lease(this, std::move(waiter.handed));
        // Woken for a free slot, or timed out: the loop tells which.
    }
}

void ConnectionPool::release(std::unique_ptr<Connection> connection) {
    if (!connection->reusable() || draining_) {
        --open_;
        wakeOne(nullptr);
        return;
    }
    wakeOne(std::move(connection));
}

void ConnectionPool::wakeOne(std::unique_ptr<Connection> connection) {
    if (waiters_.empty()) {
        if (connection) idle_.push_back(std::move(connection));
        return;
    }
    Waiter* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->handed = std::move(connection);
    waiter->mayConnect = true;
    waiter->timer->cancel();
}

void ConnectionPool::drain() {
    draining_ = true;
    open_ -= idle_.size();
    idle_.clear();
    while (!waiters_.empty()) wakeOne(nullptr);
}

}  // namespace rampart::store::pg
