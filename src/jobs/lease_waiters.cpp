#include "jobs/lease_waiters.hpp"

#include <algorithm>
#include <atomic>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rampart::jobs {

struct LeaseWaiters::Waiter {
    Waiter(std::string account, std::vector<std::string> queues, std::vector<std::string> tasks,
           boost::asio::any_io_executor executor)
        : account(std::move(account)), queues(std::move(queues)), tasks(std::move(tasks)), timer(executor) {
        std::vector<std::string> sortedQueues = this->queues;
        std::vector<std::string> sortedTasks = this->tasks;
        std::sort(sortedQueues.begin(), sortedQueues.end());
        std::sort(sortedTasks.begin(), sortedTasks.end());
        for (const auto& queue : sortedQueues) kind.append(queue).push_back(',');
        kind.push_back('|');
        for (const auto& task : sortedTasks) kind.append(task).push_back(',');
    }

    [[nodiscard]] bool takes(std::string_view queue, std::string_view task) const {
        if (std::find(queues.begin(), queues.end(), queue) == queues.end()) return false;
        return task.empty() || tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
    }

    const std::string account;
    const std::vector<std::string> queues;
    const std::vector<std::string> tasks;  // empty: any type
    std::string kind;                      // queues and tasks, sorted: waiters of one kind are alike
    boost::asio::steady_timer timer;       // touched on its executor only
    std::atomic<bool> woken{false};
    bool listed = false;  // these two under the owner's mutex
    List::iterator position{};
};

LeaseWaiters::Ticket::Ticket(LeaseWaiters* owner, std::shared_ptr<Waiter> waiter)
    : owner_(owner), waiter_(std::move(waiter)) {}

LeaseWaiters::Ticket::~Ticket() {
    owner_->leave(waiter_);
}

boost::asio::awaitable<bool> LeaseWaiters::Ticket::wait(std::chrono::steady_clock::time_point deadline) {
    // A wake that came before this point set `woken` (and its posted cancel finds nothing to cancel);
    // one that comes after cancels the wait. Both run on this executor's one thread, so none is lost.
    if (waiter_->woken.load(std::memory_order_acquire)) co_return true;
    waiter_->timer.expires_at(deadline);
    boost::system::error_code ignored;
    co_await waiter_->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    co_return waiter_->woken.load(std::memory_order_acquire);
}

bool LeaseWaiters::Ticket::woken() const {
    return waiter_->woken.load(std::memory_order_acquire);
}

bool LeaseWaiters::Ticket::shuttingDown() const {
    std::lock_guard lock(owner_->mutex_);
    return owner_->stopping_;
}

LeaseWaiters::LeaseWaiters(LeaseWaitSettings settings) : settings_(settings) {
    if (settings_.recheck.count() > 0) ticker_ = std::thread([this] { tickLoop(); });
}

LeaseWaiters::~LeaseWaiters() {
    shutdown();
}

std::unique_ptr<LeaseWaiters::Ticket> LeaseWaiters::enter(std::string_view account,
                                                          const std::vector<std::string>& queues,
                                                          const std::vector<std::string>& tasks,
                                                          boost::asio::any_io_executor executor) {
    auto waiter = std::make_shared<Waiter>(std::string(account), queues, tasks, std::move(executor));
    std::lock_guard lock(mutex_);
    if (stopping_) {
        waiter->woken.store(true, std::memory_order_release);
        return std::make_unique<Ticket>(this, std::move(waiter));
    }
    std::size_t& mine = perAccount_[waiter->account];
    if (waiting_.size() >= settings_.maxTotal || mine >= settings_.maxPerAccount) {
        if (mine == 0) perAccount_.erase(waiter->account);
        return nullptr;
    }
    ++mine;
    waiter->position = waiting_.insert(waiting_.end(), waiter);
    waiter->listed = true;
    return std::make_unique<Ticket>(this, std::move(waiter));
}

void LeaseWaiters::leave(const std::shared_ptr<Waiter>& waiter) {
    std::lock_guard lock(mutex_);
    if (!waiter->listed) return;
    waiter->listed = false;
    waiting_.erase(waiter->position);
    auto count = perAccount_.find(waiter->account);
    if (count != perAccount_.end() && --count->second == 0) perAccount_.erase(count);
}

void LeaseWaiters::wakeLocked(List::iterator it) {
    std::shared_ptr<Waiter> waiter = *it;
    waiter->listed = false;
    waiting_.erase(it);
    auto count = perAccount_.find(waiter->account);
    if (count != perAccount_.end() && --count->second == 0) perAccount_.erase(count);
    waiter->woken.store(true, std::memory_order_release);
    auto executor = waiter->timer.get_executor();
    boost::asio::post(executor, [waiter = std::move(waiter)] { waiter->timer.cancel(); });
}

void LeaseWaiters::wakeEachKindLocked() {
    std::vector<std::string> seen;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        const std::string& kind = (*it)->kind;
        if (std::find(seen.begin(), seen.end(), kind) != seen.end()) {
            ++it;
            continue;
        }
        seen.push_back(kind);
        auto next = std::next(it);
        wakeLocked(it);
        it = next;
    }
}

void LeaseWaiters::wake(std::string_view queue, std::string_view task) {
    std::lock_guard lock(mutex_);
    if (queue.empty()) {
        wakeEachKindLocked();
        return;
    }
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
        if ((*it)->takes(queue, task)) {
            wakeLocked(it);
            return;
        }
    }
}

void LeaseWaiters::shutdown() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        while (!waiting_.empty()) wakeLocked(waiting_.begin());
    }
    tickStop_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

std::size_t LeaseWaiters::waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
}

void LeaseWaiters::tickLoop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        tickStop_.wait_for(lock, settings_.recheck);
        if (stopping_) break;
        wakeEachKindLocked();
    }
}

}  // namespace rampart::jobs
