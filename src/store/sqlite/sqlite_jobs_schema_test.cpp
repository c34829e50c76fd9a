// The state triggers (migration 13's rewrite of migration 4's) against core/job_state.cpp's table: for
// every (from, to) pair of states, the store accepts the UPDATE exactly when the machine allows it. And
// the indexes the listing by state walks (migration 14).
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/job_state.hpp"
#include "store/sqlite/job_rows.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using jobs::JobState;
using sqlite::Connection;
using testing::runToCompletion;

constexpr JobState kStates[] = {JobState::scheduled, JobState::queued, JobState::running, JobState::failed,
                                JobState::succeeded, JobState::dead,   JobState::canceled};

class SqliteJobsSchemaTest : public ::testing::Test {
  protected:
    SqliteJobsSchemaTest() : store_(dir_.path() / "rampart.db") {
        store_.migrate();
        runToCompletion(store_.write([](Connection& db) {
            db.execute(
                "INSERT INTO users (id, username, role, active, password_hash, totp_secret, totp_enabled, "
                "created, failed_logins) VALUES ('u1', 'alice', 'user', 1, '', '', 0, 0, 0)");
        }));
    }
    ~SqliteJobsSchemaTest() override { store_.close(); }

    // Inserts a job as `initial`; throws when the store refuses.
    void insertJob(const std::string& id, std::string_view initial) {
        runToCompletion(store_.write([id, state = std::string(initial)](Connection& db) {
            db.prepare(
                  "INSERT INTO jobs (id, task, args, queue, state, max_attempts, run_at, timeout_ms, "
                  "owner_id, "
                  "created, updated) VALUES (?1, 'noop', '{}', 'default', ?2, 3, 0, 1000, 'u1', 0, 0)")
                .bindText(1, id)
                .bindText(2, state)
                .step();
        }));
    }

    // Moves a job to `to`; false when the store refuses.
    bool move(const std::string& id, JobState to) {
        try {
            runToCompletion(store_.write([id, state = std::string(jobs::stateName(to))](Connection& db) {
                db.prepare("UPDATE jobs SET state = ?2 WHERE id = ?1")
                    .bindText(1, id)
                    .bindText(2, state)
                    .step();
            }));
            return true;
        } catch (const StoreUnavailable&) {
            return false;
        }
    }

    // A job in `state`, reached along legal edges only.
    std::string jobIn(JobState state) {
        const std::string id = "job-" + std::to_string(++counter_);
        switch (state) {
            case JobState::scheduled:
                insertJob(id, "scheduled");
                return id;
            case JobState::queued:
                insertJob(id, "queued");
                return id;
            default:
                break;
        }
        insertJob(id, "queued");
        if (state == JobState::canceled) {
            EXPECT_TRUE(move(id, JobState::canceled));
            return id;
        }
        EXPECT_TRUE(move(id, JobState::running));
        if (state != JobState::running) {
            EXPECT_TRUE(move(id, state));
        }
        return id;
    }

    rampart::testing::TempDirectory dir_;
    SqliteStore store_;
    int counter_ = 0;
};

TEST_F(SqliteJobsSchemaTest, EveryTransitionIsAcceptedExactlyWhenTheMachineAllowsIt) {
    for (JobState from : kStates) {
        for (JobState to : kStates) {
            if (from == to) continue;  // not a transition: the trigger lets an unchanged state through
            const std::string id = jobIn(from);
            EXPECT_EQ(move(id, to), jobs::transitionAllowed(from, to))
                << jobs::stateName(from) << " -> " << jobs::stateName(to);
        }
    }
}

TEST_F(SqliteJobsSchemaTest, AJobStartsScheduledOrQueuedAndWithAKnownState) {
    EXPECT_NO_THROW(insertJob("a", "scheduled"));
    EXPECT_NO_THROW(insertJob("b", "queued"));
    for (std::string_view state : {"running", "succeeded", "dead", "canceled", "failed", "paused"}) {
        EXPECT_THROW(insertJob("c-" + std::string(state), state), StoreUnavailable) << state;
    }
}

TEST_F(SqliteJobsSchemaTest, OneIdempotencyKeyPerOwner) {
    auto insertKeyed = [&](const std::string& id) {
        runToCompletion(store_.write([id](Connection& db) {
            db.prepare(
                  "INSERT INTO jobs (id, task, args, queue, state, max_attempts, run_at, timeout_ms, "
                  "owner_id, "
                  "idempotency_key, created, updated) VALUES (?1, 'noop', '{}', 'default', 'queued', 3, 0, "
                  "1000, "
                  "'u1', 'key-1', 0, 0)")
                .bindText(1, id)
                .step();
        }));
    };
    insertKeyed("first");
    EXPECT_THROW(insertKeyed("second"), StoreUnavailable);
}

// SQLite's plan for `sql`: one line per step, as `EXPLAIN QUERY PLAN` words them.
std::vector<std::string> planOf(SqliteStore& store, const std::string& sql) {
    return runToCompletion(store.read([sql](Connection& db) {
        auto explain = db.prepare("EXPLAIN QUERY PLAN " + sql);
        std::vector<std::string> steps;
        while (explain.step()) steps.push_back(explain.columnText(3));
        return steps;
    }));
}

// Without statistics SQLite walked the whole table newest first for any state, reading every retained
// job to list the few queued ones, and sorted all of an owner's jobs for each page of theirs. Each state
// now walks an index holding only its rows, whatever other filters come with it; succeeded jobs, most of
// a store, and listings without a state come newest first from the table or the owner's index, unsorted.
TEST_F(SqliteJobsSchemaTest, ListingAStateWalksOnlyThatStatesIndex) {
    using ::testing::Contains;
    using ::testing::Each;
    using ::testing::Eq;
    using ::testing::HasSubstr;
    using ::testing::Not;
    const std::pair<JobState, std::string> kIndexes[] = {
        {JobState::queued, "jobs_claim"},          {JobState::running, "jobs_leases"},
        {JobState::scheduled, "jobs_rare_states"}, {JobState::failed, "jobs_rare_states"},
        {JobState::dead, "jobs_rare_states"},      {JobState::canceled, "jobs_rare_states"}};
    std::vector<JobQuery> shapes(3);
    shapes[1].ownerId = "u1";
    shapes[1].before = 1000;
    shapes[2].queue = "default";
    shapes[2].task = "noop";
    shapes[2].createdSince = 1;
    shapes[2].createdUntil = 2;
    for (JobQuery query : shapes) {
        for (const auto& [state, index] : kIndexes) {
            query.state = state;
            const auto plan = planOf(store_, sqlite::jobListingSql(query));
            EXPECT_THAT(plan, Contains(HasSubstr("jobs USING INDEX " + index))) << jobs::stateName(state);
            EXPECT_THAT(plan, Each(Not(Eq("SCAN jobs")))) << "no walk of the whole table";
            if (index == "jobs_rare_states") {
                EXPECT_THAT(plan, Each(Not(HasSubstr("TEMP B-TREE")))) << "already in rowid order";
            }
        }
        for (auto state : {std::optional(JobState::succeeded), std::optional<JobState>()}) {
            query.state = state;
            EXPECT_THAT(planOf(store_, sqlite::jobListingSql(query)), Each(Not(HasSubstr("TEMP B-TREE"))))
                << "newest first as the table (or an owner's index) is walked";
        }
    }
}

}  // namespace
}  // namespace rampart::store
