// Long-poll leasing: the lease calls (POST /api/v1/worker/lease with wait_seconds) that found no job and
// wait for one. A hint that work was queued (a submit on this node; on PostgreSQL, any node's NOTIFY)
// wakes the longest-waiting call that can take it, one per hint, never all of them: the woken call
// claims, and when it filled its batch it passes the hint on. Jobs that become ready with no hint (a
// retry's back-off ending, a run_at reached, an expired lease taken back) are found by a tick that,
// every `recheck`, wakes the longest-waiting call of each distinct (queues, task types) kind: one claim
// per kind per tick, whatever the number of idle workers.
//
// A waiter lives on the executor of the request that waits (one I/O thread, no locks there); wakes come
// from any thread and are posted to it. Waiting calls are bounded per account and in total; shutdown()
// wakes every one so the server answers them at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace rampart::jobs {

struct LeaseWaitSettings {
    std::size_t maxTotal = 2'000;              // waiting lease calls of the whole node
    std::size_t maxPerAccount = 500;           // of one worker account
    std::chrono::milliseconds recheck{1'000};  // the tick (see above); 0: no tick (tests drive wakes)
};

class LeaseWaiters {
  public:
    struct Waiter;
    // A registered waiter; leaving it (destruction) takes it off the list if no wake took it first.
    class Ticket {
      public:
        Ticket(LeaseWaiters* owner, std::shared_ptr<Waiter> waiter);
        ~Ticket();
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;

        // Until a wake, the server's shutdown or `deadline`; true when woken (or shutting down).
        boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline);
        // Whether a wake took this waiter (it may have come while the caller was claiming).
        [[nodiscard]] bool woken() const;
        [[nodiscard]] bool shuttingDown() const;

      private:
        LeaseWaiters* owner_;
        std::shared_ptr<Waiter> waiter_;
    };

    explicit LeaseWaiters(LeaseWaitSettings settings);
    ~LeaseWaiters();
    LeaseWaiters(const LeaseWaiters&) = delete;
    LeaseWaiters& operator=(const LeaseWaiters&) = delete;

    // Registers a waiter of `account` for jobs of `queues` (and `tasks`; empty: any type), woken on
    // `executor`. Register before claiming: a wake that comes while the claim runs is not lost.
    // Returns nothing when the account's or the node's bound is reached.
    [[nodiscard]] std::unique_ptr<Ticket> enter(std::string_view account,
                                                const std::vector<std::string>& queues,
                                                const std::vector<std::string>& tasks,
                                                boost::asio::any_io_executor executor);

    // Work may be ready in `queue` for `task`: wakes the longest-waiting waiter that can take it. An
    // empty task: a job of any type; an empty queue: any queue (the longest-waiting waiter of each kind).
    void wake(std::string_view queue, std::string_view task);

    // Wakes every waiter, and every later one at once (the server is stopping). Stops the tick.
    void shutdown();

    [[nodiscard]] std::size_t waiting() const;

  private:
    using List = std::list<std::shared_ptr<Waiter>>;
    void leave(const std::shared_ptr<Waiter>& waiter);
    void wakeLocked(List::iterator it);  // takes it off the list; mutex_ held
    void wakeEachKindLocked();
    void tickLoop();

    LeaseWaitSettings settings_;
    mutable std::mutex mutex_;
    List waiting_;  // longest-waiting first
    std::unordered_map<std::string, std::size_t> perAccount_;
    bool stopping_ = false;
    std::condition_variable tickStop_;
    std::thread ticker_;
};

}  // namespace rampart::jobs
