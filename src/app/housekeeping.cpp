// The periodic-task runner: a timer per task, the lease before a cluster-wide run, the metrics after.
#include "app/housekeeping.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>

#include "core/run_blocking.hpp"

namespace rampart {

struct Housekeeping::Entry {
    Entry(boost::asio::io_context& context, PeriodicTask from) : task(std::move(from)), timer(context) {}

    PeriodicTask task;
    boost::asio::steady_timer timer;
    bool holdsLease = false;
    prometheus::Counter* succeeded = nullptr;
    prometheus::Counter* failed = nullptr;
    prometheus::Counter* skipped = nullptr;
    prometheus::Gauge* lastSuccess = nullptr;
};

Housekeeping::Housekeeping(boost::asio::io_context& context, obs::Metrics& metrics,
                           store::ScheduleStore& leases, std::string holder)
    : context_(context),
      leases_(leases),
      holder_(std::move(holder)),
      runs_(prometheus::BuildCounter()
                .Name("rampart_housekeeping_runs_total")
                .Help("Runs of this node's periodic tasks, by task and outcome: success, failure (it threw; "
                      "it runs again at its next time), skipped (a cluster-wide task another node ran)")
                .Register(metrics.registry())),
      lastSuccess_(prometheus::BuildGauge()
                       .Name("rampart_housekeeping_last_success_timestamp_seconds")
                       .Help("Unix time of the last run of each periodic task on this node that succeeded")
                       .Register(metrics.registry())) {}

Housekeeping::~Housekeeping() {
    stop();
}

void Housekeeping::add(PeriodicTask task) {
    auto entry = std::make_unique<Entry>(context_, std::move(task));
    const std::string& name = entry->task.name;
    entry->succeeded = &runs_.Add({{"task", name}, {"outcome", "success"}});
    entry->failed = &runs_.Add({{"task", name}, {"outcome", "failure"}});
    if (entry->task.clusterWide) entry->skipped = &runs_.Add({{"task", name}, {"outcome", "skipped"}});
    entry->lastSuccess = &lastSuccess_.Add({{"task", name}});
    entries_.push_back(std::move(entry));
}

void Housekeeping::start() {
    for (auto& entry : entries_) schedule(*entry, entry->task.first);
}

void Housekeeping::stop() {
    stopped_ = true;  // a task that stops the runner from its own run is not scheduled again
    for (auto& entry : entries_) entry->timer.cancel();
}

void Housekeeping::releaseLeases() {
    for (auto& entry : entries_) {
        if (!entry->holdsLease) continue;
        entry->holdsLease = false;
        try {
            runBlocking(leases_.releaseLease(leaseName(entry->task.name), holder_));
        } catch (const std::exception& error) {
            spdlog::warn("housekeeping: could not give up the lease of {}: {}", entry->task.name,
                         error.what());
        }
    }
}

void Housekeeping::schedule(Entry& entry, std::chrono::milliseconds after) {
    entry.timer.expires_after(after);
    entry.timer.async_wait([this, &entry](const boost::system::error_code& ec) {
        if (ec) return;  // canceled: shutting down
        runOnce(entry);
        if (!stopped_) schedule(entry, entry.task.interval);
    });
}

void Housekeeping::runOnce(Entry& entry) {
    const PeriodicTask& task = entry.task;
    try {
        if (task.clusterWide) {
            const auto now = std::chrono::system_clock::now();
            const store::Millis ttl = std::max<store::Millis>(2 * task.interval.count(), 1000);
            entry.holdsLease =
                runBlocking(leases_.acquireLease(leaseName(task.name), holder_, ttl, store::toMillis(now)));
            if (!entry.holdsLease) {
                entry.skipped->Increment();
                if (task.whileAnotherNodeRuns) task.whileAnotherNodeRuns();
                return;
            }
        }
        task.run();
        entry.succeeded->Increment();
        entry.lastSuccess->Set(
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    } catch (const std::exception& error) {
        entry.failed->Increment();
        spdlog::error("housekeeping: {} failed: {}", task.name, error.what());
    }
}

}  // namespace rampart
