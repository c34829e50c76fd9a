// Deleting finished jobs past jobs.retention_hours: sweeps that go on until nothing is due, paced so
// that the store's writer stays free for submits, on a runner and a thread of their own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "app/housekeeping.hpp"
#include "store/store.hpp"

namespace rampart {

struct SweepLimits {
    int perWrite = 100;  // jobs deleted per write (with their history): what a submit may wait behind
    // A sweep ends after this long even with jobs still due; the next one goes on. Below the retention
    // task's interval, so that its cluster lease (two intervals) never runs out during a sweep.
    std::chrono::milliseconds budget = std::chrono::minutes(5);
};

struct SweepResult {
    std::int64_t deleted = 0;
    bool complete = false;  // nothing due was left; false: the budget ran out, or `stopping` was set
};

// Deletes the jobs that ended before `finishedBefore`, `limits.perWrite` at a time, until none is left,
// the budget is spent or `stopping` is set (checked between writes). After each write it waits as long
// as that write took (its wait for the writer included): the sweep takes at most half of the store's
// writer, less when the writer is busy, and a submit waits behind one write of the sweep at most.
SweepResult sweepFinishedJobs(store::JobStore& store, store::Millis finishedBefore,
                              const std::atomic<bool>& stopping, SweepLimits limits = {});

// The cluster-wide "retention" task (every kRetentionInterval, on the node holding its lease): a
// sweep of the jobs that ended more than `retention` ago (none with 0), logged when it deleted any.
// On its own runner and thread: a sweep of millions of jobs takes minutes, which on the node's main
// runner would hold up the scheduler, the other periodic tasks and the signals.
class RetentionSweeper {
  public:
    static constexpr std::chrono::minutes kRetentionInterval{10};

    struct Settings {
        std::chrono::hours retention;                               // jobs.retention_hours
        std::chrono::milliseconds first = std::chrono::minutes(1);  // from start to the first sweep
        SweepLimits limits{};
    };

    RetentionSweeper(obs::Metrics& metrics, store::Store& store, std::string holder, Settings settings);
    ~RetentionSweeper();
    RetentionSweeper(const RetentionSweeper&) = delete;
    RetentionSweeper& operator=(const RetentionSweeper&) = delete;

    // Ends a sweep under way after its current write, joins the thread and gives up the lease. Once.
    void stop();

  private:
    boost::asio::io_context context_;
    Housekeeping runner_;
    std::atomic<bool> stopping_ = false;
    std::thread thread_;
};

}  // namespace rampart
