// A fixed set of threads for CPU-heavy or blocking work that must not hold a network thread (Argon2id
// password hashes, reloading the signing keys), in front of a bounded queue: when the queue is full, run()
// refuses at once with the owner's own error instead of letting callers pile up without limit.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rampart {

class BoundedPool {
  public:
    struct Options {
        std::size_t threads = 1;        // at least 1
        std::size_t queueCapacity = 0;  // jobs that may wait for a free thread; beyond them run() refuses
        // What run() throws when the queue is full: the owner's error, so it becomes the owner's answer.
        std::function<std::exception_ptr()> refusal;
        // Run on a pool thread once it has had nothing to do for idleAfter since its last job (to give
        // back what the work keeps per thread); not again until it has run another job.
        std::function<void()> onIdle{};
        std::chrono::milliseconds idleAfter{0};
    };

    explicit BoundedPool(Options options);
    ~BoundedPool();
    BoundedPool(const BoundedPool&) = delete;
    BoundedPool& operator=(const BoundedPool&) = delete;

    // Runs fn() on one of the pool's threads and resumes the caller on its own executor with fn's result
    // (or its exception). Throws the refusal at once when the queue is full or the pool is shut down.
    // The caller's io_context must still run when fn finishes: shut the pool down before stopping it.
    template <class Fn>
    boost::asio::awaitable<std::invoke_result_t<Fn&>> run(Fn fn);

    // Runs the jobs still queued, then joins the threads; run() refuses from then on. Idempotent.
    void shutdown();

    [[nodiscard]] std::size_t threads() const { return options_.threads; }
    [[nodiscard]] std::size_t queueCapacity() const { return options_.queueCapacity; }
    // Jobs waiting for a thread (not those running).
    [[nodiscard]] std::size_t queued() const;
    // True when run() would refuse now: a caller can refuse before doing the work that leads to run().
    [[nodiscard]] bool full() const;

  private:
    // Queues the job; false when the queue is full or the pool is shut down.
    bool tryPost(std::function<void()> job);
    void loop();

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> queue_;
    std::size_t idle_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> BoundedPool::run(Fn fn) {
    using R = std::invoke_result_t<Fn&>;
    static_assert(!std::is_void_v<R> && !std::is_reference_v<R>, "pool work must return a value");
    using Outcome = std::optional<R>;

    auto initiation = [this](auto handler, Fn work) {
        // The outcome is posted to the awaiting coroutine's executor, so it resumes on its own thread; the
        // tracked executor keeps that io_context from running out of work while the job waits or runs.
        auto home = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
        using Handler = decltype(handler);
        using Home = decltype(home);
        struct Job {
            Handler resume;
            Fn work;
            Home executor;
        };
        auto job = std::make_shared<Job>(Job{std::move(handler), std::move(work), home});
        auto deliver = [](std::shared_ptr<Job> done, std::exception_ptr error, Outcome outcome) {
            auto executor = done->executor;
            boost::asio::post(executor, [done = std::move(done), error = std::move(error),
                                         outcome = std::move(outcome)]() mutable {
                std::move(done->resume)(std::move(error), std::move(outcome));
            });
        };
        const bool queued = tryPost([job, deliver] {
            std::exception_ptr error;
            Outcome outcome;
            try {
                outcome.emplace(job->work());
            } catch (...) {
                error = std::current_exception();
            }
            deliver(job, std::move(error), std::move(outcome));
        });
        if (!queued) deliver(job, options_.refusal(), std::nullopt);
    };
    Outcome outcome = co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                           void(std::exception_ptr, Outcome)>(
        std::move(initiation), boost::asio::use_awaitable, std::move(fn));
    co_return std::move(*outcome);
}

}  // namespace rampart
