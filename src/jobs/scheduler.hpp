// The scheduler: in every process that runs one, a loop that takes (or renews) the leader lease and,
// while it holds it, turns due schedule ticks into jobs. Each tick is recorded with its job in one
// transaction under UNIQUE (schedule, fire time), so however many schedulers run, and whichever of them
// believes it leads, a tick makes one job at most. After downtime the misfire policy decides what the
// missed ticks become; skip_if_running records a tick as skipped while the schedule's previous job waits
// or runs. Each owner's schedules together submit at most schedules.max_jobs_per_owner_per_minute jobs.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "identity/jwt.hpp"
#include "jobs/job_service.hpp"
#include "jobs/schedule_timing.hpp"
#include "store/identity_store.hpp"
#include "store/job_store.hpp"
#include "store/schedule_store.hpp"

namespace rampart::jobs {

struct SchedulerSettings {
    std::string holder;  // this process, unique (see schedulerHolderId)
    std::chrono::milliseconds lease = std::chrono::seconds(10);  // renewed every round, well before it ends
    std::chrono::milliseconds poll = std::chrono::milliseconds(500);  // between rounds
    // A tick at most this late fires as usual; a later one is missed and the misfire policy applies.
    std::chrono::milliseconds misfireGrace = std::chrono::seconds(5);
    int batch = 100;  // due schedules read per round
    // schedules.max_jobs_per_owner_per_minute: jobs this scheduler submits for one owner's schedules in
    // any 60 seconds; a tick beyond it is recorded as skipped, with why, and submits nothing.
    int maxJobsPerOwnerPerMinute = 600;
    // Each tick that submits a job starts a trace of its own (a producer span), which the job keeps, so
    // its runs link to it as a request's jobs link to the request. Null: no tracing.
    obs::Tracer* tracer = nullptr;
};

// What one round did, for tests, logs and metrics.
struct SchedulerRound {
    bool leader = false;
    int fired = 0;    // ticks recorded with a job
    int skipped = 0;  // ticks recorded without one (skip_if_running, an owner that may no longer submit, ...)
    int missed = 0;   // ticks the misfire policy dropped
    int duplicates = 0;  // ticks another scheduler had recorded already
    int overBudget =
        0;  // ticks recorded without a job because their owner's budget was spent (not in skipped)
};

// "host:pid:random": unique per process start, so a restarted process does not inherit its old lease.
[[nodiscard]] std::string schedulerHolderId();

class Scheduler {
  public:
    // jobStore: only to read a schedule's previous job (skip_if_running); users: only to read its owner.
    Scheduler(store::ScheduleStore& store, store::JobStore& jobStore, store::IdentityStore& users,
              const JobService& jobs, SchedulerSettings settings,
              identity::Clock clock = identity::systemClock());

    // One round: take or renew the lease; if held, handle every due schedule (up to batch). Never throws
    // for a store failure (it logs it and reports a round without the lease).
    boost::asio::awaitable<SchedulerRound> runOnce();
    // Gives the lease up (at shutdown), so that another node's scheduler takes over at once.
    boost::asio::awaitable<void> resign();

    // Called after a round that queued jobs (the in-process workers' wake-up).
    void onSubmitted(std::function<void()> callback) { onSubmitted_ = std::move(callback); }

    [[nodiscard]] const SchedulerSettings& settings() const { return settings_; }

  private:
    boost::asio::awaitable<void> handle(const store::ScheduleRecord& schedule, store::Millis now,
                                        SchedulerRound& round);
    // Whether the owner's schedules may submit one more job at `now` (the last 60 s hold fewer than
    // maxJobsPerOwnerPerMinute of theirs); submitted() counts one.
    bool withinBudget(const std::string& owner, store::Millis now);
    void submitted(const std::string& owner, store::Millis now);

    store::ScheduleStore& store_;
    store::JobStore& jobStore_;
    store::IdentityStore& users_;
    const JobService& jobs_;
    SchedulerSettings settings_;
    identity::Clock clock_;
    std::function<void()> onSubmitted_;
    bool leaderLost_ = false;
    // The times of the jobs submitted in the last 60 s, by owner. In this process's memory: only the
    // leader submits, so the budget holds cluster-wide except across a change of leader (the new one
    // starts counting afresh: at most twice the budget in the minute of a failover).
    std::unordered_map<std::string, std::deque<store::Millis>> submittedBy_;
};

}  // namespace rampart::jobs
