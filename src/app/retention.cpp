// The retention sweep: paced deletes until nothing is due, on a thread of its own.
#include "app/retention.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "core/run_blocking.hpp"

namespace rampart {

SweepResult sweepFinishedJobs(store::JobStore& store, store::Millis finishedBefore,
                              const std::atomic<bool>& stopping, SweepLimits limits) {
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    SweepResult result;
    store::Millis from = 0;  // each write starts where the previous one ended (see deleteFinishedJobs)
    while (!stopping && Clock::now() - started < limits.budget) {
        const auto writeStarted = Clock::now();
        const store::DeletedJobs deleted =
            runBlocking(store.deleteFinishedJobs(from, finishedBefore, limits.perWrite));
        result.deleted += deleted.count;
        from = std::max(from, deleted.lastFinished);
        if (deleted.count < limits.perWrite) {
            result.complete = true;
            break;
        }
        std::this_thread::sleep_for(Clock::now() - writeStarted);
    }
    return result;
}

RetentionSweeper::RetentionSweeper(obs::Metrics& metrics, store::Store& store, std::string holder,
                                   Settings settings)
    : runner_(context_, metrics, store, std::move(holder)) {
    runner_.add({.name = "retention",
                 .first = settings.first,
                 .interval = kRetentionInterval,
                 .clusterWide = true,
                 .run = [this, &store, retention = settings.retention, limits = settings.limits] {
                     if (retention.count() == 0) return;
                     const auto started = std::chrono::steady_clock::now();
                     const auto before = store::toMillis(std::chrono::system_clock::now() - retention);
                     const SweepResult sweep = sweepFinishedJobs(store, before, stopping_, limits);
                     if (sweep.deleted == 0) return;
                     const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started);
                     spdlog::info("retention: deleted {} finished job(s) older than {} h in {} ms{}",
                                  sweep.deleted, retention.count(), took.count(),
                                  sweep.complete ? "" : "; more are due, the next sweep goes on");
                 }});
    runner_.start();
    thread_ = std::thread([this] { context_.run(); });
}

RetentionSweeper::~RetentionSweeper() {
    stop();
}

void RetentionSweeper::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    boost::asio::post(context_, [this] { runner_.stop(); });
    thread_.join();
    runner_.releaseLeases();
}

}  // namespace rampart
