// The in-process workers: one thread that claims jobs in batches (priority, then run_at) under a
// lease, runs each job's handler with a cancel token, a progress reporter and the egress client, keeps
// its lease alive with heartbeats, enforces the timeout, and reports outcomes in batches (retrying with
// back-off and jitter until the attempts run out). Expired leases are taken back at start and then
// periodically, so a job whose worker died runs again.
//
// Claim-ahead: a claim takes up to `prefetch` jobs more than the free slots, as many as the slots
// should start within `prefetchWait` by the recent jobs' average run time (none before a job has
// run, none while every running job has run `prefetchWait` already), so that jobs that finish in
// microseconds are claimed and reported in large batches (one writer transaction for many jobs) even
// at a small concurrency. Claimed-ahead jobs wait in the pool, oldest first, for a free slot; one that
// has waited `prefetchWait` (because every slot holds a long job) is given back to the store
// (releaseJobs: queued again, its attempt uncounted) for any other worker, and so are those still
// waiting when the pool stops.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "identity/jwt.hpp"
#include "jobs/task_registry.hpp"
#include "obs/metrics.hpp"
#include "store/job_store.hpp"

namespace rampart::egress {
class EgressClient;
}

namespace rampart::jobs {

struct WorkerSettings {
    std::vector<std::string> queues = {"default"};
    int concurrency = 4;                                 // jobs running at once
    int prefetch = 0;                                    // jobs claimed ahead of the free slots (0: none)
    std::chrono::milliseconds prefetchWait{500};         // a claimed-ahead job waits this long, at most
    std::chrono::milliseconds lease{30'000};             // extended every lease / 3 while a job runs
    std::chrono::milliseconds pollInterval{200};         // idle wait between claims, unless notified
    std::chrono::milliseconds recoveryInterval{10'000};  // expired leases taken back this often (<= lease)
    std::string holder{};                                // lease holder name; empty: generated
    bool recoverLeases = true;  // take back expired leases (store-wide: one pool per process is enough)
    obs::WorkerMetrics* metrics = nullptr;  // running jobs; null: not counted
    obs::JobMetrics* jobMetrics = nullptr;  // job latencies, attempts, retries, dead, leases lost; null: none
    obs::Tracer* tracer = nullptr;          // a run span per attempt (jobs/job_tracing.hpp); null: none
};

class WorkerPool {
  public:
    WorkerPool(store::JobStore& store, const TaskRegistry& registry, WorkerSettings settings,
               egress::EgressClient* egress, identity::Clock clock = identity::systemClock());
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // Starts the worker thread. Takes back expired leases first (when settings.recoverLeases).
    void start();
    // New work may be there (a submit): claim now instead of at the next poll. Thread-safe, cheap.
    void notify();
    // Stops claiming, cancels running handlers, waits for them to report, and joins the thread.
    void stop();

    [[nodiscard]] const std::string& holder() const { return settings_.holder; }
    [[nodiscard]] bool serves(std::string_view queue) const {
        return std::find(settings_.queues.begin(), settings_.queues.end(), queue) != settings_.queues.end();
    }

  private:
    struct Running;

    struct Waiting {
        store::JobRecord job;
        std::chrono::steady_clock::time_point claimed;
    };

    boost::asio::awaitable<void> dispatch();
    // Starts waiting jobs while slots are free, oldest first.
    void startWaiting();
    // Gives back (releaseJobs) the waiting jobs claimed before `before` (all with the max time point).
    boost::asio::awaitable<void> releaseWaiting(std::chrono::steady_clock::time_point before);
    // Jobs that may be claimed now: free slots, plus the claim-ahead while a slot turns over.
    [[nodiscard]] int claimable() const;
    boost::asio::awaitable<void> recoverLoop();
    boost::asio::awaitable<void> runJob(store::JobRecord job);
    boost::asio::awaitable<void> keepLease(std::shared_ptr<Running> running);
    boost::asio::awaitable<void> reportLoop();
    [[nodiscard]] store::Millis now() const;
    // Store failures come in bursts (a database restart fails every claim, heartbeat and report at
    // once): the first is logged, then at most one line per kStoreWarningInterval saying how many
    // were left out.
    void warnStoreFailure(std::string_view what, const std::exception& error);
    static constexpr std::chrono::seconds kStoreWarningInterval{10};

    store::JobStore& store_;
    const TaskRegistry& registry_;
    WorkerSettings settings_;
    egress::EgressClient* egress_;
    identity::Clock clock_;

    boost::asio::io_context io_{1};
    boost::asio::steady_timer wake_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    int running_ = 0;  // these are touched only on io_'s one thread
    bool notified_ = false;
    std::vector<std::shared_ptr<Running>> active_;
    std::deque<Waiting> waiting_;  // claimed, not started yet (claim-ahead)
    double averageRun_ = -1;       // recent jobs' run time in seconds (moving average); -1: none ran yet
    bool gaveBack_ = false;        // jobs were given back since the last job finished: claim none ahead
    // Each queue's running-jobs gauge (settings_.metrics), looked up at construction.
    std::vector<std::pair<std::string, prometheus::Gauge*>> runningGauges_;
    // The task types this pool may claim; empty: every type (no external type is registered).
    std::vector<std::string> inProcessTasks_;
    [[nodiscard]] prometheus::Gauge* runningGauge(const std::string& queue) const;
    std::vector<store::AttemptReport> reports_;  // ended attempts not yet handed to the store
    // reports_[i]'s run span and when the run ended: recorded once the store accepts the report (a refused
    // one's run is recorded by the node that took the job back).
    std::vector<std::pair<obs::Span, std::uint64_t>> reportSpans_;
    bool reporting_ = false;  // reportLoop is running
    std::chrono::steady_clock::time_point nextStoreWarning_{};
    int unloggedStoreWarnings_ = 0;
};

}  // namespace rampart::jobs
