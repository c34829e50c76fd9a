// The pool's threads and its bounded queue.
#include "core/bounded_pool.hpp"

#include <stdexcept>

namespace rampart {

BoundedPool::BoundedPool(Options options) : options_(std::move(options)) {
    if (options_.threads == 0) throw std::invalid_argument("a pool needs at least one thread");
    if (!options_.refusal) throw std::invalid_argument("a pool needs a refusal");
    threads_.reserve(options_.threads);
    for (std::size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { loop(); });
}

BoundedPool::~BoundedPool() {
    shutdown();
}

void BoundedPool::shutdown() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
}

bool BoundedPool::full() const {
    const std::lock_guard lock(mutex_);
    return stopping_ || queue_.size() >= idle_ + options_.queueCapacity;
}

std::size_t BoundedPool::queued() const {
    const std::lock_guard lock(mutex_);
    return queue_.size();
}

bool BoundedPool::tryPost(std::function<void()> job) {
    {
        const std::lock_guard lock(mutex_);
        if (stopping_) return false;
        // A job handed straight to an idle thread does not count against the queue.
        if (queue_.size() >= idle_ + options_.queueCapacity) return false;
        queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

void BoundedPool::loop() {
    const auto ready = [this] { return stopping_ || !queue_.empty(); };
    bool workedSinceIdle = false;
    std::unique_lock lock(mutex_);
    for (;;) {
        ++idle_;
        if (workedSinceIdle && options_.onIdle && !wake_.wait_for(lock, options_.idleAfter, ready)) {
            workedSinceIdle = false;
            lock.unlock();
            options_.onIdle();
            lock.lock();
        }
        wake_.wait(lock, ready);
        --idle_;
        if (queue_.empty()) return;  // stopping, and nothing left to run
        auto job = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        job();
        workedSinceIdle = true;
        lock.lock();
    }
}

}  // namespace rampart
