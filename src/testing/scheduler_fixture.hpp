// What scheduler tests share: a clock they move by hand, a store with one user and the built-in tasks,
// and the race of two schedulers (each with its own Store, as two processes would have) on one database,
// run against SQLite (scheduler_test.cpp) and PostgreSQL (scheduler_pgtest.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "jobs/builtin_tasks.hpp"
#include "jobs/job_service.hpp"
#include "jobs/schedule_service.hpp"
#include "jobs/scheduler.hpp"
#include "store/store.hpp"
#include "testing/race.hpp"
#include "testing/recording_span_sink.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::testing {

// 2026-01-01T00:00:00Z: a whole minute, so cron ticks fall on round numbers of seconds from here.
inline constexpr store::Millis kSchedulerT0 = 1'767'225'600'000;

class ManualClock {
  public:
    explicit ManualClock(store::Millis start = kSchedulerT0) : now_(start) {}
    void set(store::Millis now) { now_.store(now); }
    void advance(std::chrono::milliseconds by) { now_.fetch_add(by.count()); }
    [[nodiscard]] store::Millis now() const { return now_.load(); }
    [[nodiscard]] identity::Clock clock() {
        return
            [this] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(now_.load())); };
    }

  private:
    std::atomic<store::Millis> now_;
};

inline identity::Principal userPrincipal(std::string id, identity::Role role = identity::Role::user) {
    return identity::Principal{.userId = id,
                               .username = id,
                               .role = role,
                               .credential = identity::CredentialKind::apiToken,
                               .scopes = {"*"},
                               .credentialId = "",
                               .totpEnabled = false};
}

inline void createUser(store::Store& store, const std::string& id, const std::string& role = "user") {
    store::UserRecord user{.id = id, .username = id, .role = role, .passwordHash = "x"};
    runToCompletion(store.createUser(std::move(user)));
}

inline jobs::ScheduleDraft cronDraft(std::string cron, std::string name = "every tick") {
    jobs::ScheduleDraft draft;
    draft.name = std::move(name);
    draft.task = "noop";
    draft.cron = std::move(cron);
    return draft;
}

// Two schedulers, each on its own Store of one database, run round after round at the same moments of a
// shared clock, each round started concurrently. Scheduler a crashes for a while (b takes over once a's
// lease expires) and later b resigns (a takes over at once). With `sameHolder`, both claim to be the
// same holder, so both pass every lease check: two processes that both believe they lead. Either way each
// tick must be recorded once with one job, and (all within the misfire grace) none may be lost.
inline void raceTwoSchedulers(const std::function<std::unique_ptr<store::Store>()>& open, bool sameHolder) {
    const auto seed = raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    auto storeA = open();
    storeA->migrate();
    auto storeB = open();
    createUser(*storeA, "alice");
    jobs::TaskRegistry tasks;
    jobs::addBuiltinTasks(tasks);
    ManualClock clock;
    jobs::JobService jobsA(*storeA, *storeA, tasks, jobs::JobsSettings{}, clock.clock());
    jobs::JobService jobsB(*storeB, *storeB, tasks, jobs::JobsSettings{}, clock.clock());
    jobs::ScheduleService schedules(*storeA, *storeA, *storeA, jobsA,
                                    jobs::ScheduleSettings{.allowUsers = true, .minIntervalSeconds = 1},
                                    clock.clock());
    const auto alice = userPrincipal("alice");
    std::vector<std::string> ids;
    ids.push_back(runToCompletion(schedules.create(alice, cronDraft("* * * * * *"), {})).id);
    jobs::ScheduleDraft interval;
    interval.name = "every 2 s";
    interval.task = "noop";
    interval.everySeconds = 2;
    ids.push_back(runToCompletion(schedules.create(alice, interval, {})).id);
    ids.push_back(runToCompletion(schedules.create(alice, cronDraft("*/3 * * * * *"), {})).id);

    using namespace std::chrono_literals;
    // Both trace their ticks: each tick that made a job is one span, whichever scheduler recorded it.
    auto spans = std::make_shared<RecordingSpanSink>();
    obs::Tracer tracer(obs::SamplerSettings{.kind = obs::SamplerKind::alwaysOn}, spans);
    jobs::SchedulerSettings settingsA{.holder = "a", .lease = 3s, .tracer = &tracer};
    jobs::SchedulerSettings settingsB{.holder = sameHolder ? "a" : "b", .lease = 3s, .tracer = &tracer};
    jobs::Scheduler a(*storeA, *storeA, *storeA, jobsA, settingsA, clock.clock());
    jobs::Scheduler b(*storeB, *storeB, *storeB, jobsB, settingsB, clock.clock());
    int leaderRounds = 0;
    for (int round = 1; round <= 40; ++round) {
        clock.set(kSchedulerT0 + round * 1000 + 100);
        const bool aRuns = round < 15 || round > 25;  // a is down for rounds 15..25
        if (round == 30) runToCompletion(b.resign());
        const bool bRuns = round < 30;
        Race race(seed + static_cast<std::uint32_t>(round));
        std::future<jobs::SchedulerRound> roundA;
        std::future<jobs::SchedulerRound> roundB;
        if (aRuns) race.add<jobs::SchedulerRound>(roundA, [&a] { return a.runOnce(); });
        if (bRuns) race.add<jobs::SchedulerRound>(roundB, [&b] { return b.runOnce(); });
        race.run(2);
        int leaders = 0;
        if (aRuns) leaders += roundA.get().leader ? 1 : 0;
        if (bRuns) leaders += roundB.get().leader ? 1 : 0;
        if (!sameHolder) {
            EXPECT_LE(leaders, 1) << "round " << round;
        }
        leaderRounds += leaders > 0 ? 1 : 0;
    }
    EXPECT_GE(leaderRounds, 35);

    // Hand-counted: ticks in (T0, T0 + 40 s]: every second 40, every 2 s 20, every third second 13.
    const std::vector<std::size_t> expected = {40, 20, 13};
    std::set<std::string> jobIds;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        SCOPED_TRACE("schedule " + std::to_string(i));
        const auto ticks = runToCompletion(storeA->scheduleTicks(ids[i], 1000));
        std::set<store::Millis> fireTimes;
        for (const auto& tick : ticks) {
            EXPECT_TRUE(fireTimes.insert(tick.fireTime).second) << "tick " << tick.fireTime << " twice";
            ASSERT_TRUE(tick.jobId) << "no tick was skipped here";
            EXPECT_TRUE(jobIds.insert(*tick.jobId).second);
        }
        EXPECT_EQ(ticks.size(), expected[i]) << "a tick was lost or repeated";
    }
    store::JobQuery all;
    all.limit = 500;
    const auto jobs = runToCompletion(storeA->listJobs(all)).jobs;
    EXPECT_EQ(jobs.size(), jobIds.size()) << "exactly one job per tick";
    for (const auto& job : jobs) EXPECT_TRUE(jobIds.contains(job.id)) << job.id << " belongs to no tick";
    std::set<std::string> tickSpans;
    for (const auto& span : spans->spans()) {
        if (!span.name.view().starts_with("schedule ")) continue;
        const std::string jobId = RecordingSpanSink::attribute(span, "rampart.job.id");
        EXPECT_TRUE(jobIds.contains(jobId)) << "a span for a tick another scheduler recorded: " << jobId;
        EXPECT_TRUE(tickSpans.insert(jobId).second) << "two spans for " << jobId;
    }
    EXPECT_EQ(tickSpans.size(), jobIds.size());
    storeA->close();
    storeB->close();
}

}  // namespace rampart::testing
