// The job history (job_events, which the Store interface does not expose) after races of claims,
// cancels, reports from holders and intruders, and lease recovery: every job's events form one chain
// of legal transitions from its submission to its current state, and nothing follows a terminal state.
#include <future>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "jobs/job_state.hpp"
#include "store/sqlite/row_helpers.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/race.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using jobs::JobState;
using sqlite::Connection;
using testing::runToCompletion;

constexpr Millis kM0 = 1'800'000'000'000;
constexpr Millis kLease = 30'000;

struct Event {
    std::optional<std::string> from;
    std::string to;
    std::string detail;
};

JobOutcome outcomeOf(bool succeeded) {
    JobOutcome outcome;
    outcome.succeeded = succeeded;
    if (succeeded) {
        outcome.result = "{}";
    } else {
        outcome.error = "boom";
        outcome.retryAt = kM0 + 1000;
    }
    return outcome;
}

boost::asio::awaitable<std::vector<JobRecord>> claimUntilEmpty(Store& store, std::string holder, Millis now) {
    std::vector<JobRecord> claimed;
    for (;;) {
        std::vector<std::string> queues{"default"};
        auto batch = co_await store.claimJobs(std::move(queues), 5, holder, kLease, now);
        if (batch.empty()) break;
        for (auto& job : batch) claimed.push_back(std::move(job));
    }
    co_return claimed;
}

class SqliteJobsHistoryTest : public ::testing::Test {
  protected:
    SqliteJobsHistoryTest() : store_(dir_.path() / "rampart.db") {
        store_.migrate();
        runToCompletion(store_.write([](Connection& db) {
            db.execute(
                "INSERT INTO users (id, username, role, active, password_hash, totp_secret, totp_enabled, "
                "created, failed_logins) VALUES ('u1', 'alice', 'user', 1, '', '', 0, 0, 0)");
        }));
    }
    ~SqliteJobsHistoryTest() override { store_.close(); }

    std::map<std::string, std::vector<Event>> histories() {
        return runToCompletion(store_.read([](Connection& db) {
            std::map<std::string, std::vector<Event>> events;
            auto select_ =
                db.prepare("SELECT job_id, from_state, to_state, detail FROM job_events ORDER BY id");
            while (select_.step()) {
                events[select_.columnText(0)].push_back(Event{.from = sqlite::optionalText(select_, 1),
                                                              .to = select_.columnText(2),
                                                              .detail = select_.columnText(3)});
            }
            return events;
        }));
    }

    rampart::testing::TempDirectory dir_;
    SqliteStore store_;
};

TEST_F(SqliteJobsHistoryTest, RacedJobsHaveOneLegalChainOfEventsThatEndsAtTheirState) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kJobs = 80;
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) {
        JobRecord job{.id = "h" + std::to_string(i),
                      .task = "noop",
                      .args = "{}",
                      .queue = "default",
                      .maxAttempts = 1 + i % 3,
                      .runAt = i % 4 == 0 ? kM0 - 10 : kM0 - 1,  // every fourth one scheduled, and due
                      .timeoutMs = 1000,
                      .ownerId = "u1"};
        ids.push_back(runToCompletion(store_.submitJob(std::move(job), kM0 - 100)).job.id);
    }

    // Round 1: three holders claim everything while every third job is canceled.
    std::map<std::string, std::string> holderOf;
    {
        rampart::testing::Race race(seed);
        std::vector<std::future<std::vector<JobRecord>>> claims(3);
        for (int h = 0; h < 3; ++h) {
            const std::string holder = "w" + std::to_string(h);
            race.add<std::vector<JobRecord>>(claims[h],
                                             [this, holder] { return claimUntilEmpty(store_, holder, kM0); });
        }
        std::vector<std::future<std::optional<JobRecord>>> cancels(kJobs);
        for (int i = 0; i < kJobs; i += 3) {
            const std::string id = ids[i];
            race.add<std::optional<JobRecord>>(cancels[i], [this, id] { return store_.cancelJob(id, kM0); });
        }
        race.run();
        for (int h = 0; h < 3; ++h)
            for (const auto& job : claims[h].get()) holderOf[job.id] = "w" + std::to_string(h);
        for (auto& cancel : cancels)
            if (cancel.valid()) cancel.get();
    }

    // Round 2: half of the running jobs get cancels and both reports from their holder and one from an
    // intruder; the other half's holders have died, and recovery takes their leases back.
    {
        rampart::testing::Race race(seed + 1);
        std::vector<std::future<std::optional<JobRecord>>> cancels(kJobs);
        std::vector<std::future<std::optional<JobState>>> reports(kJobs * 3);
        for (int i = 0; i < kJobs; i += 2) {
            const std::string id = ids[i];
            if (!holderOf.contains(id)) continue;
            const std::string holder = holderOf[id];
            race.add<std::optional<JobRecord>>(cancels[i],
                                               [this, id] { return store_.cancelJob(id, kM0 + 1); });
            race.add<std::optional<JobState>>(reports[i * 3], [this, id, holder] {
                return store_.finishAttempt(id, holder, outcomeOf(true), kM0 + 1);
            });
            race.add<std::optional<JobState>>(reports[i * 3 + 1], [this, id, holder] {
                return store_.finishAttempt(id, holder, outcomeOf(false), kM0 + 1);
            });
            race.add<std::optional<JobState>>(reports[i * 3 + 2], [this, id] {
                return store_.finishAttempt(id, "intruder", outcomeOf(true), kM0 + 1);
            });
        }
        std::future<int> recovered;
        race.add<int>(recovered, [this] { return store_.recoverExpiredLeases(kM0 + kLease); });
        race.run();
        recovered.get();
        for (auto& report : reports)
            if (report.valid()) report.get();
    }

    // Round 3: whatever can run again is claimed and succeeds.
    const auto again = runToCompletion(claimUntilEmpty(store_, "w9", kM0 + 2 * kLease));
    for (const auto& job : again) {
        EXPECT_EQ(runToCompletion(store_.finishAttempt(job.id, "w9", outcomeOf(true), kM0 + 2 * kLease)),
                  JobState::succeeded);
    }

    const auto events = histories();
    for (const auto& id : ids) {
        SCOPED_TRACE(id);
        const auto job = runToCompletion(store_.findJob(id));
        ASSERT_TRUE(job);
        ASSERT_TRUE(events.contains(id));
        const auto& history = events.at(id);
        ASSERT_FALSE(history.empty());
        EXPECT_FALSE(history.front().from) << "the first event is the submission";
        EXPECT_TRUE(history.front().to == "scheduled" || history.front().to == "queued");
        int claims = 0;
        for (std::size_t i = 1; i < history.size(); ++i) {
            const auto& event = history[i];
            ASSERT_TRUE(event.from);
            EXPECT_EQ(*event.from, history[i - 1].to) << "event " << i << " continues from the one before";
            const auto from = jobs::parseState(*event.from);
            const auto to = jobs::parseState(event.to);
            ASSERT_TRUE(from && to);
            EXPECT_FALSE(jobs::isTerminal(*from))
                << "event " << i << " (" << event.detail << ") after the end";
            EXPECT_TRUE(jobs::transitionAllowed(*from, *to)) << *event.from << " -> " << event.to;
            if (event.detail == "claimed") ++claims;
        }
        EXPECT_EQ(history.back().to, jobs::stateName(job->state)) << "the history ends at the job's state";
        EXPECT_EQ(claims, job->attempts);
        EXPECT_LE(job->attempts, job->maxAttempts);
    }
}

}  // namespace
}  // namespace rampart::store
