// A scheduler round: lease, due schedules, and for each the ticks since its nextDue, sorted into on-time
// ones (they fire) and missed ones (the misfire policy picks which fire). Each tick's job is prepared as a
// submit by the schedule's owner, as the owner is now (disabled owners' schedules stop firing).
// (Coroutines here follow docs/development.md's g++ 12 rules.)
#include "jobs/scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <deque>

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>

#include "identity/api_token.hpp"
#include "jobs/job_tracing.hpp"

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;

// Ticks looked at per schedule and round, at most: bounds the work an every-second schedule after a
// long downtime costs (only the newest ticks matter to any misfire policy).
constexpr int kMaxEnumerated = 200'000;
// On-time ticks fired per schedule and round, at most (an every-second schedule with a long grace).
constexpr std::size_t kMaxOnTime = 120;
// The window of the per-owner budget.
constexpr store::Millis kBudgetWindow = 60'000;

struct DueTicks {
    std::deque<TimePoint> missed;  // the newest `keep` missed ticks, oldest first
    std::vector<TimePoint> onTime;
    std::int64_t missedTotal = 0;  // in the window looked at
};

// The ticks in (from, now]: all on-time ones, and the newest `keep` missed ones. The window starts an
// hour back and grows until it holds `keep` missed ticks or reaches `from`, so a long downtime costs
// no more than the ticks the policy may fire.
DueTicks dueTicks(const ScheduleTiming& timing, TimePoint from, TimePoint now,
                  std::chrono::milliseconds grace, std::size_t keep) {
    std::chrono::system_clock::duration window = 1h;
    while (true) {
        const TimePoint start = (now - from > window) ? now - window : from;
        DueTicks ticks;
        TimePoint after = start;
        for (int i = 0; i < kMaxEnumerated; ++i) {
            const auto next = timing.next(after);
            if (!next || *next > now) break;
            if (now - *next > grace) {
                ++ticks.missedTotal;
                if (keep > 0) {
                    ticks.missed.push_back(*next);
                    if (ticks.missed.size() > keep) ticks.missed.pop_front();
                }
            } else if (ticks.onTime.size() < kMaxOnTime) {
                ticks.onTime.push_back(*next);
            }
            after = *next;
        }
        if (start == from || ticks.missed.size() >= keep) return ticks;
        window *= 16;
    }
}

std::size_t missedToKeep(const store::ScheduleRecord& schedule) {
    if (schedule.misfirePolicy == "catch_up")
        return static_cast<std::size_t>(std::max(schedule.catchUpMax, 0));
    if (schedule.misfirePolicy == "skip") return 0;
    return 1;  // run_once
}

bool waiting(JobState state) {
    return state == JobState::queued || state == JobState::scheduled || state == JobState::running;
}

}  // namespace

std::string schedulerHolderId() {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    return std::string(host.data()) + ":" + std::to_string(::getpid()) + ":" + identity::randomToken(16);
}

Scheduler::Scheduler(store::ScheduleStore& store, store::JobStore& jobStore, store::IdentityStore& users,
                     const JobService& jobs, SchedulerSettings settings, identity::Clock clock)
    : store_(store),
      jobStore_(jobStore),
      users_(users),
      jobs_(jobs),
      settings_(std::move(settings)),
      clock_(std::move(clock)) {}

boost::asio::awaitable<SchedulerRound> Scheduler::runOnce() {
    SchedulerRound round;
    leaderLost_ = false;
    const store::Millis now = store::toMillis(clock_());
    std::vector<store::ScheduleRecord> due;
    bool failed = false;
    try {
        round.leader = co_await store_.acquireLease(store::kSchedulerLease, settings_.holder,
                                                    settings_.lease.count(), now);
        if (round.leader) due = co_await store_.dueSchedules(now, settings_.batch);
    } catch (const std::exception& error) {
        spdlog::warn("scheduler: the store failed: {}", error.what());
        failed = true;
    }
    if (failed) {
        round.leader = false;
        co_return round;
    }
    // Owners whose last job left the window are forgotten, so the map holds only the last minute's.
    std::erase_if(submittedBy_, [now](const auto& entry) {
        return entry.second.empty() || entry.second.back() <= now - kBudgetWindow;
    });
    for (const store::ScheduleRecord& schedule : due) {
        if (leaderLost_) break;
        std::string problem;
        try {
            co_await handle(schedule, now, round);
        } catch (const std::exception& error) {
            problem = error.what();
        }
        if (!problem.empty()) spdlog::error("scheduler: schedule {} failed: {}", schedule.id, problem);
    }
    if (leaderLost_) {
        round.leader = false;
        spdlog::warn("scheduler: lost the leader lease; another scheduler fires the ticks now");
    }
    if (round.fired > 0 && onSubmitted_) onSubmitted_();
    co_return round;
}

bool Scheduler::withinBudget(const std::string& owner, store::Millis now) {
    auto found = submittedBy_.find(owner);
    if (found == submittedBy_.end()) return settings_.maxJobsPerOwnerPerMinute > 0;
    auto& times = found->second;
    while (!times.empty() && times.front() <= now - kBudgetWindow) times.pop_front();
    return static_cast<std::int64_t>(times.size()) < settings_.maxJobsPerOwnerPerMinute;
}

void Scheduler::submitted(const std::string& owner, store::Millis now) {
    submittedBy_[owner].push_back(now);
}

boost::asio::awaitable<void> Scheduler::resign() {
    std::string problem;
    try {
        co_await store_.releaseLease(store::kSchedulerLease, settings_.holder);
    } catch (const std::exception& error) {
        problem = error.what();
    }
    if (!problem.empty()) spdlog::warn("scheduler: could not give up the lease: {}", problem);
}

boost::asio::awaitable<void> Scheduler::handle(const store::ScheduleRecord& schedule, store::Millis now,
                                               SchedulerRound& round) {
    std::optional<ScheduleTiming> timing;
    try {
        timing = ScheduleTiming::of(schedule);
    } catch (const std::exception& error) {
        // Saved valid, so the system changed under it (a time zone gone from tzdata): it stops firing.
        spdlog::error("scheduler: schedule {} can no longer be computed ({}); it will not fire until changed",
                      schedule.id, error.what());
    }
    if (!timing) {
        store::TickWrite stop{
            .scheduleId = schedule.id, .revision = schedule.revision, .holder = settings_.holder};
        const auto outcome = co_await store_.recordTick(std::move(stop), store::toMillis(clock_()));
        if (outcome == store::TickOutcome::notLeader) leaderLost_ = true;
        co_return;
    }
    const TimePoint nowTime = fromMillis(now);
    const TimePoint from = fromMillis(*schedule.nextDue) - 1ms;  // nextDue is itself a fire time
    const DueTicks due = dueTicks(*timing, from, nowTime, settings_.misfireGrace, missedToKeep(schedule));
    std::vector<TimePoint> toFire(due.missed.begin(), due.missed.end());
    toFire.insert(toFire.end(), due.onTime.begin(), due.onTime.end());
    round.missed += static_cast<int>(due.missedTotal - static_cast<std::int64_t>(due.missed.size()));
    const auto future = timing->next(nowTime);
    const std::optional<store::Millis> nextAfterNow =
        future ? std::optional<store::Millis>(store::toMillis(*future)) : std::nullopt;
    if (toFire.empty()) {
        // Every due tick was missed and the policy fires none of them: only move on.
        store::TickWrite advance{
            .scheduleId = schedule.id, .revision = schedule.revision, .holder = settings_.holder};
        advance.nextDue = nextAfterNow;
        const auto outcome = co_await store_.recordTick(std::move(advance), store::toMillis(clock_()));
        if (outcome == store::TickOutcome::notLeader) leaderLost_ = true;
        co_return;
    }
    std::optional<std::string> lastJobId = schedule.lastJobId;
    for (std::size_t i = 0; i < toFire.size(); ++i) {
        // Until the last tick is written, nextDue is the next tick to fire: a crash in between loses none.
        const std::optional<store::Millis> nextDue =
            i + 1 < toFire.size() ? std::optional<store::Millis>(store::toMillis(toFire[i + 1]))
                                  : nextAfterNow;
        std::optional<std::string> skipReason;
        bool overBudget = false;
        if (schedule.skipIfRunning && lastJobId) {
            const auto last = co_await jobStore_.findJob(*lastJobId);
            if (last && waiting(last->state)) {
                skipReason =
                    "the previous job " + last->id + " is still " + std::string(stateName(last->state));
            }
        }
        const store::Millis writeTime = store::toMillis(clock_());
        std::optional<store::JobRecord> job;
        if (!skipReason) {
            const auto owner = co_await users_.findUserById(schedule.ownerId);
            if (!owner || !owner->active) {
                skipReason = "the schedule's owner is disabled";
            } else if (!withinBudget(schedule.ownerId, writeTime)) {
                overBudget = true;
                skipReason =
                    "the owner's schedules submitted " + std::to_string(settings_.maxJobsPerOwnerPerMinute) +
                    " jobs in the last minute, the most schedules.max_jobs_per_owner_per_minute allows";
            } else {
                identity::Principal principal{
                    .userId = owner->id,
                    .username = owner->username,
                    .role = identity::parseRole(owner->role).value_or(identity::Role::user),
                    .scopes = {std::string(identity::kAllScopes)}};
                Submission submission;
                submission.task = schedule.task;
                submission.args = boost::json::parse(schedule.args);
                submission.queue = schedule.queue;
                submission.priority = schedule.priority;
                try {
                    job = jobs_.prepare(principal, std::move(submission), "", writeTime);
                } catch (const JobError& error) {
                    // The task, its schema, the queue or the owner's rights changed since the schedule was
                    // saved.
                    skipReason = std::string("the job was refused: ") + error.what();
                }
            }
        }
        obs::Span tick;
        if (job && settings_.tracer) {
            tick = settings_.tracer->start("schedule " + job->task, obs::SpanKind::producer, nullptr);
            tick.setAttribute("rampart.schedule.id", schedule.id);
            tick.setAttribute("rampart.job.id", job->id);
            tick.setAttribute("rampart.job.task", job->task);
            tick.setAttribute("rampart.job.queue", job->queue);
            job->traceParent = traceParentOf(tick);
        }
        store::TickWrite write{
            .scheduleId = schedule.id, .revision = schedule.revision, .holder = settings_.holder};
        write.fireTime = store::toMillis(toFire[i]);
        write.job = job;
        write.skipReason = skipReason.value_or("");
        write.nextDue = nextDue;
        const auto outcome = co_await store_.recordTick(std::move(write), writeTime);
        if (outcome == store::TickOutcome::recorded) {
            if (job) {
                ++round.fired;
                lastJobId = job->id;
                submitted(schedule.ownerId, writeTime);
            } else if (overBudget) {
                ++round.overBudget;
                spdlog::debug("scheduler: schedule {} is over its owner's budget: {}", schedule.id,
                              *skipReason);
            } else {
                ++round.skipped;
                spdlog::debug("scheduler: schedule {} skipped its tick: {}", schedule.id, *skipReason);
            }
        } else if (outcome == store::TickOutcome::duplicate) {
            tick.discard();  // another scheduler's tick: its span is that one's
            ++round.duplicates;
        } else {
            tick.discard();
            // stale: it changed since this round read it (the next round reads it again); notLeader: stop.
            if (outcome == store::TickOutcome::notLeader) leaderLost_ = true;
            co_return;
        }
    }
}

}  // namespace rampart::jobs
