// PostgresStore's jobs where the conformance suite cannot look: two stores on one database (two
// processes) claiming at once, claims that skip rows another transaction holds, the wake-up NOTIFY,
// and the state trigger against the machine's table. Plus a throughput print, run on demand.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "core/job_state.hpp"
#include "store/migrations/postgres_migrations.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "testing/postgres_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using jobs::JobState;
using rampart::testing::runToCompletion;

constexpr Millis kM0 = 1'800'000'000'000;  // a fixed "now", in Unix milliseconds
constexpr Millis kLeaseMs = 30'000;

JobRecord jobRecord(std::string id, Millis runAt = kM0, std::string queue = "default") {
    return JobRecord{.id = std::move(id),
                     .task = "noop",
                     .args = "{}",
                     .queue = std::move(queue),
                     .maxAttempts = 2,
                     .runAt = runAt,
                     .timeoutMs = 1000,
                     .ownerId = "u1"};
}

// A migrated database with the one user the jobs belong to, written directly: the identity calls are
// not what these tests are about.
class PgJobsTest : public ::testing::Test {
  protected:
    PgJobsTest() : PgJobsTest(rampart::testing::freshDatabaseUrl()) {}
    explicit PgJobsTest(std::string url) : url_(std::move(url)) {
        store_.migrate();
        pg::BlockingConnection db{SecretString(url_)};
        db.exec(
            "INSERT INTO users (id, username, role, active, password_hash, totp_secret, totp_enabled, "
            "created, failed_logins) VALUES ('u1', 'alice', 'user', true, '', '', false, 0, 0)");
    }
    ~PgJobsTest() override { store_.close(); }

    std::vector<JobRecord> submitAll(std::vector<JobRecord> jobs, Millis now = kM0) {
        return runToCompletion(store_.submitJobs(std::move(jobs), now));
    }

    std::string url_;
    PostgresStore store_{SecretString(url_)};
};

// A batch travels as array literals: whatever the texts hold comes back as it was given, and an unset
// key stays NULL (not the text "NULL").
TEST_F(PgJobsTest, ABatchKeepsEveryTextAsGiven) {
    const std::vector<std::string> texts{R"({"quote":"\"","slash":"\\"})",
                                         "a,b",
                                         "{x,y}",
                                         "NULL",
                                         "",
                                         " ",
                                         "line\nbreak",
                                         "caf\u00e9 \u2603",
                                         R"(\")"};
    std::vector<JobRecord> batch;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        auto job = jobRecord("t" + std::to_string(i));
        job.args = texts[i];
        job.task = texts[i];
        job.idempotencyKey = texts[i];
        job.requestHash = texts[i];
        batch.push_back(std::move(job));
    }
    batch.push_back(jobRecord("unkeyed"));
    submitAll(std::move(batch));
    for (std::size_t i = 0; i < texts.size(); ++i) {
        const auto job = runToCompletion(store_.findJob("t" + std::to_string(i)));
        ASSERT_TRUE(job) << i;
        EXPECT_EQ(job->args, texts[i]);
        EXPECT_EQ(job->task, texts[i]);
        EXPECT_EQ(job->idempotencyKey, texts[i]);
        EXPECT_EQ(job->requestHash, texts[i]);
    }
    const auto unkeyed = runToCompletion(store_.findJob("unkeyed"));
    ASSERT_TRUE(unkeyed);
    EXPECT_FALSE(unkeyed->idempotencyKey);
    EXPECT_FALSE(unkeyed->requestHash);
}

// Claims batches of `max` until a claim comes back empty; the ids it got.
asio::awaitable<std::vector<std::string>> claimUntilEmpty(Store& store, std::string holder, int max) {
    std::vector<std::string> claimed;
    for (;;) {
        std::vector<std::string> queues{"default"};
        auto batch = co_await store.claimJobs(std::move(queues), max, holder, kLeaseMs, kM0);
        if (batch.empty()) break;
        for (const auto& job : batch) claimed.push_back(job.id);
    }
    co_return claimed;
}

// A job queued again when its worker's lease ran out wakes idle workers on every node at once (NOTIFY),
// as a submit does, instead of waiting for their next poll.
TEST_F(PgJobsTest, AJobQueuedAgainFromAnExpiredLeaseWakesTheWorkers) {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, int> wakes;
    ASSERT_TRUE(store_.watchQueuedJobs([&](const std::string& queue) {
        const std::lock_guard lock(mutex);
        ++wakes[queue];
        changed.notify_all();
    }));
    const auto wokenMoreThan = [&](const std::string& queue, int seen) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, 10s, [&] { return wakes[queue] > seen; });
    };
    ASSERT_TRUE(wokenMoreThan("", 0)) << "listening";
    submitAll({jobRecord("j1", kM0, "reports")});
    ASSERT_TRUE(wokenMoreThan("reports", 0)) << "the submit";
    const auto claimed = runToCompletion(store_.claimJobs({"reports"}, 1, "w1", kLeaseMs, kM0));
    ASSERT_EQ(claimed.size(), 1u);
    std::this_thread::sleep_for(200ms);  // any late wake-up of the submit arrives before the count
    const int before = [&] {
        const std::lock_guard lock(mutex);
        return wakes["reports"];
    }();

    EXPECT_EQ(runToCompletion(store_.recoverExpiredLeases(kM0 + kLeaseMs)).size(), 1u);
    EXPECT_TRUE(wokenMoreThan("reports", before)) << "the job queued again woke nobody";
    const auto again = runToCompletion(store_.claimJobs({"reports"}, 1, "w2", kLeaseMs, kM0 + kLeaseMs));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].attempts, 2);
}

// Single submits that arrive together are stored together, each as given, with its own created time and
// history row; one that the database refuses (its owner does not exist) fails alone.
TEST_F(PgJobsTest, ConcurrentSingleSubmitsAreStoredTogetherAndARefusedOneFailsAlone) {
    constexpr int kSubmits = 300;
    constexpr int kRefused = 150;
    asio::thread_pool callers(4);
    std::vector<std::future<SubmitResult>> results;
    for (int i = 0; i < kSubmits; ++i) {
        JobRecord job = jobRecord("s" + std::to_string(i));
        if (i == kRefused) job.ownerId = "nobody";
        results.push_back(
            asio::co_spawn(callers, store_.submitJob(std::move(job), kM0 + i), asio::use_future));
    }
    for (int i = 0; i < kSubmits; ++i) {
        if (i == kRefused) {
            EXPECT_THROW(results[i].get(), StoreUnavailable) << "the job of an unknown owner";
            continue;
        }
        const SubmitResult result = results[i].get();
        EXPECT_EQ(result.outcome, SubmitOutcome::created);
        EXPECT_EQ(result.job.id, "s" + std::to_string(i));
        EXPECT_EQ(result.job.created, kM0 + i);
        EXPECT_EQ(result.job.state, JobState::queued);
    }
    callers.join();

    pg::BlockingConnection db{SecretString(url_)};
    EXPECT_EQ(db.exec("SELECT count(*) FROM jobs").int64(0, 0), kSubmits - 1);
    EXPECT_EQ(db.exec("SELECT count(*) FROM jobs WHERE created <> " + std::to_string(kM0) +
                      " + substr(id, 2)::bigint OR updated <> created")
                  .int64(0, 0),
              0)
        << "each job keeps its own submit time";
    EXPECT_EQ(db.exec("SELECT count(*) FROM jobs j JOIN job_events e ON e.job_id = j.id AND e.to_state = "
                      "'queued' AND e.detail = 'submitted' AND e.time = j.created")
                  .int64(0, 0),
              kSubmits - 1)
        << "each with its history row";
    // Rows inserted by one statement share its transaction id.
    const auto transactions = db.exec("SELECT count(DISTINCT xmin::text) FROM jobs").int64(0, 0);
    EXPECT_LT(transactions, kSubmits / 2) << "the submits were stored one by one";
    std::printf("%d concurrent single submits stored in %lld transactions\n", kSubmits - 1,
                static_cast<long long>(transactions));
}

TEST_F(PgJobsTest, TwoStoresOnOneDatabaseLeaseEveryJobExactlyOnce) {
    constexpr int kQueued = 400;
    constexpr int kDue = 100;  // scheduled before kM0 and due at it: the claims themselves queue them
    std::vector<JobRecord> queued;
    for (int i = 0; i < kQueued; ++i) queued.push_back(jobRecord("q" + std::to_string(i)));
    submitAll(std::move(queued));
    std::vector<JobRecord> due;
    for (int i = 0; i < kDue; ++i) due.push_back(jobRecord("s" + std::to_string(i), kM0 - 500));
    submitAll(std::move(due), kM0 - 1000);

    // Another process: its own store, pool and event loop on the same database.
    PostgresStore other{SecretString(url_)};
    constexpr int kClaimersPerStore = 3;
    std::vector<std::future<std::vector<std::string>>> claims;
    for (int i = 0; i < 2 * kClaimersPerStore; ++i) {
        Store& store = i % 2 == 0 ? static_cast<Store&>(store_) : static_cast<Store&>(other);
        const std::string holder = "w" + std::to_string(i);
        claims.push_back(std::async(std::launch::async, [&store, holder] {
            return runToCompletion(claimUntilEmpty(store, holder, 7));
        }));
    }
    std::map<std::string, int> leases;
    for (auto& claim : claims)
        for (const auto& id : claim.get()) ++leases[id];
    other.close();

    EXPECT_EQ(leases.size(), static_cast<std::size_t>(kQueued + kDue)) << "every job was leased";
    for (const auto& [id, count] : leases) EXPECT_EQ(count, 1) << id << " was leased " << count << " times";
    pg::BlockingConnection db{SecretString(url_)};
    const auto states = db.exec("SELECT state, attempts, count(*) FROM jobs GROUP BY state, attempts");
    ASSERT_EQ(states.rows(), 1);
    EXPECT_EQ(states.text(0, 0), "running");
    EXPECT_EQ(states.int64(0, 1), 1);
    const auto claimsRecorded =
        db.exec("SELECT count(*), count(DISTINCT job_id) FROM job_events WHERE detail = 'claimed'");
    EXPECT_EQ(claimsRecorded.int64(0, 0), kQueued + kDue) << "one claim in each job's history";
    EXPECT_EQ(claimsRecorded.int64(0, 1), kQueued + kDue);
}

TEST_F(PgJobsTest, AClaimSkipsRowsAnotherTransactionHoldsInsteadOfWaiting) {
    auto held = jobRecord("held");
    held.priority = 10;  // the first a claim would take
    submitAll({held, jobRecord("free-1"), jobRecord("free-2")});
    submitAll({jobRecord("held-due", kM0 - 500), jobRecord("free-due", kM0 - 500)}, kM0 - 1000);

    // Another session locks a queued job and a due one, as a cancel in flight would.
    pg::BlockingConnection other{SecretString(url_)};
    other.execScript("BEGIN");
    const auto locked = other.exec("SELECT id FROM jobs WHERE id IN ('held', 'held-due') FOR UPDATE");
    ASSERT_EQ(locked.rows(), 2);

    const auto start = std::chrono::steady_clock::now();
    auto claim = std::async(std::launch::async, [this] {
        return runToCompletion(store_.claimJobs({"default"}, 10, "w1", kLeaseMs, kM0));
    });
    const bool prompt = claim.wait_for(5s) == std::future_status::ready;
    const auto waited = std::chrono::steady_clock::now() - start;
    other.execScript("ROLLBACK");  // lets a claim that did block finish, so the test ends either way
    const auto claimed = claim.get();
    EXPECT_TRUE(prompt) << "the claim waited for the other session's locks";
    EXPECT_LT(waited, 2s);
    std::set<std::string> ids;
    for (const auto& job : claimed) ids.insert(job.id);
    EXPECT_EQ(ids, (std::set<std::string>{"free-1", "free-2", "free-due"}));

    // Once released, the skipped jobs are claimable like any other.
    auto rest = runToCompletion(store_.claimJobs({"default"}, 10, "w2", kLeaseMs, kM0 + 1));
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0].id, "held");
    EXPECT_EQ(rest[1].id, "held-due");
}

// Notifications that arrive on `db` within `window`, until `enough` have.
asio::awaitable<std::vector<pg::Notification>> notificationsWithin(pg::Connection& db,
                                                                   std::chrono::milliseconds window,
                                                                   std::size_t enough) {
    std::vector<pg::Notification> received = db.takeNotifications();
    const auto deadline = std::chrono::steady_clock::now() + window;
    while (received.size() < enough) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) break;
        co_await db.waitReadable(left);
        for (auto& notification : db.takeNotifications()) received.push_back(std::move(notification));
    }
    co_return received;
}

std::multiset<std::string> payloadsOn(const std::vector<pg::Notification>& notifications,
                                      const std::string& channel) {
    std::multiset<std::string> payloads;
    for (const auto& notification : notifications)
        if (notification.channel == channel) payloads.insert(notification.payload);
    return payloads;
}

TEST_F(PgJobsTest, SubmitsThatQueueJobsNotifyEachQueueOnceOnCommit) {
    constexpr std::size_t kAny = std::numeric_limits<std::size_t>::max();
    auto work = [](PostgresStore& store, std::string url) -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        auto listener = co_await pg::Connection::open(executor, SecretString(std::move(url)), 5s);
        co_await listener->query("LISTEN rampart_jobs");

        std::vector<JobRecord> batch{jobRecord("a1"), jobRecord("a2"), jobRecord("e1", kM0, "emails"),
                                     jobRecord("later", kM0 + 60'000, "reports")};
        co_await store.submitJobs(std::move(batch), kM0);
        auto woken = co_await notificationsWithin(*listener, 5s, 2);
        const auto more = co_await notificationsWithin(*listener, 300ms, kAny);
        woken.insert(woken.end(), more.begin(), more.end());
        EXPECT_EQ(payloadsOn(woken, "rampart_jobs"), (std::multiset<std::string>{"default", "emails"}))
            << "once per queue that got queued jobs; none for a queue whose only job waits";
        EXPECT_EQ(woken.size(), 2u);

        // A refused batch is rolled back, its notification with it.
        auto keyed = jobRecord("k1");
        keyed.idempotencyKey = "used";
        co_await store.submitJob(std::move(keyed), kM0);
        co_await notificationsWithin(*listener, 5s, 1);
        auto clash = jobRecord("k2");
        clash.idempotencyKey = "used";
        std::vector<JobRecord> refused{jobRecord("r1", kM0, "refused"), clash};
        bool conflict = false;
        try {
            co_await store.submitJobs(std::move(refused), kM0);
        } catch (const Conflict&) {
            conflict = true;
        }
        EXPECT_TRUE(conflict);
        const auto afterRefusal = co_await notificationsWithin(*listener, 300ms, kAny);
        EXPECT_TRUE(afterRefusal.empty()) << afterRefusal.size() << " notifications of a refused batch";

        // A single submit wakes its queue; a replay of a used key and a scheduled job wake nobody.
        co_await store.submitJob(jobRecord("one", kM0, "single"), kM0);
        const auto single = co_await notificationsWithin(*listener, 5s, 1);
        EXPECT_EQ(payloadsOn(single, "rampart_jobs"), (std::multiset<std::string>{"single"}));
        auto replay = jobRecord("k3");
        replay.idempotencyKey = "used";
        co_await store.submitJob(std::move(replay), kM0);
        co_await store.submitJob(jobRecord("wait", kM0 + 60'000, "waiting"), kM0);
        const auto quiet = co_await notificationsWithin(*listener, 300ms, kAny);
        EXPECT_TRUE(quiet.empty()) << quiet.size() << " notifications without a queued job";
    };
    runToCompletion(work(store_, url_));
}

// Migration 4's state trigger against core/job_state.cpp's table, as sqlite_jobs_schema_test.cpp
// checks SQLite's: for every (from, to) pair, the UPDATE is accepted exactly when the machine allows
// the transition, and a refusal carries the schema's SQLSTATE.
class PgJobsSchemaTest : public PgJobsTest {
  protected:
    void insertJob(const std::string& id, std::string_view initial) {
        db_.exec(
            "INSERT INTO jobs (id, task, args, queue, state, max_attempts, run_at, timeout_ms, owner_id, "
            "created, updated) VALUES ($1, 'noop', '{}', 'default', $2, 3, 0, 1000, 'u1', 0, 0)",
            pg::Params(id, initial));
    }

    // Moves a job to `to`; false when the schema refuses.
    bool move(const std::string& id, JobState to) {
        try {
            db_.exec("UPDATE jobs SET state = $2 WHERE id = $1", pg::Params(id, jobs::stateName(to)));
            return true;
        } catch (const pg::QueryError& error) {
            EXPECT_EQ(error.sqlstate(), postgres::kJobStateRefused) << error.what();
            return false;
        }
    }

    // A job in `state`, reached along legal edges only.
    std::string jobIn(JobState state) {
        const std::string id = "job-" + std::to_string(++counter_);
        if (state == JobState::scheduled || state == JobState::queued) {
            insertJob(id, jobs::stateName(state));
            return id;
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

    pg::BlockingConnection db_{SecretString(url_)};
    int counter_ = 0;
};

TEST_F(PgJobsSchemaTest, EveryTransitionIsAcceptedExactlyWhenTheMachineAllowsIt) {
    for (JobState from : jobs::kAllStates) {
        for (JobState to : jobs::kAllStates) {
            if (from == to) continue;  // not a transition: the trigger lets an unchanged state through
            const std::string id = jobIn(from);
            EXPECT_EQ(move(id, to), jobs::transitionAllowed(from, to))
                << jobs::stateName(from) << " -> " << jobs::stateName(to);
        }
    }
}

TEST_F(PgJobsSchemaTest, AJobStartsScheduledOrQueuedAndWithAKnownState) {
    EXPECT_NO_THROW(insertJob("a", "scheduled"));
    EXPECT_NO_THROW(insertJob("b", "queued"));
    for (std::string_view state : {"running", "succeeded", "dead", "canceled", "failed", "paused"}) {
        EXPECT_THROW(insertJob("c-" + std::string(state), state), pg::QueryError) << state;
    }
}

TEST_F(PgJobsSchemaTest, OneIdempotencyKeyPerOwner) {
    auto insertKeyed = [this](const std::string& id) {
        db_.exec(
            "INSERT INTO jobs (id, task, args, queue, state, max_attempts, run_at, timeout_ms, owner_id, "
            "idempotency_key, created, updated) "
            "VALUES ($1, 'noop', '{}', 'default', 'queued', 3, 0, 1000, 'u1', 'key-1', 0, 0)",
            pg::Params(id));
    };
    insertKeyed("first");
    try {
        insertKeyed("second");
        ADD_FAILURE() << "a second job with the key was stored";
    } catch (const pg::QueryError& error) {
        EXPECT_TRUE(error.uniqueViolation()) << error.what();
    }
}

// --- throughput, on demand: --gtest_also_run_disabled_tests --gtest_filter='PgJobsThroughput.*' ---

double perSecond(std::size_t count, std::chrono::steady_clock::duration elapsed) {
    return static_cast<double>(count) / std::chrono::duration<double>(elapsed).count();
}

// Claims `max` at a time and reports them all at once, `rounds` times; how many it finished.
asio::awaitable<std::size_t> claimAndFinish(Store& store, std::string holder, int max, int rounds) {
    std::size_t finished = 0;
    for (int round = 0; round < rounds; ++round) {
        std::vector<std::string> queues{"default"};
        auto claimed = co_await store.claimJobs(std::move(queues), max, holder, kLeaseMs, kM0);
        if (claimed.empty()) break;
        std::vector<AttemptReport> reports;
        for (const auto& job : claimed) {
            reports.push_back(AttemptReport{
                .id = job.id, .holder = holder, .outcome = {.succeeded = true, .result = "{}"}});
        }
        if (reports.size() == 1) {
            auto outcome = reports.front().outcome;
            co_await store.finishAttempt(reports.front().id, holder, std::move(outcome), kM0 + 1);
        } else {
            co_await store.finishAttempts(std::move(reports), kM0 + 1);
        }
        finished += claimed.size();
    }
    co_return finished;
}

// On the empty database RAMPART_THROUGHPUT_DATABASE_URL names (a server configured like production),
// else on the test server, whose fsync is off.
class PgJobsThroughput : public PgJobsTest {
  protected:
    PgJobsThroughput() : PgJobsTest(databaseUrl()) {}
    static std::string databaseUrl() {
        const char* url = std::getenv("RAMPART_THROUGHPUT_DATABASE_URL");
        return url != nullptr ? std::string(url) : rampart::testing::freshDatabaseUrl();
    }
};

TEST_F(PgJobsThroughput, DISABLED_BatchSubmitsAndClaimFinishCycles) {
    constexpr int kBatches = 100;
    constexpr int kBatchSize = 1000;
    auto start = std::chrono::steady_clock::now();
    for (int b = 0; b < kBatches; ++b) {
        std::vector<JobRecord> batch;
        batch.reserve(kBatchSize);
        for (int i = 0; i < kBatchSize; ++i) {
            auto job = jobRecord("b" + std::to_string(b) + "-" + std::to_string(i));
            job.args = R"({"to":"someone@example.com","template":"welcome","n":)" + std::to_string(i) + "}";
            job.priority = i % 3;
            batch.push_back(std::move(job));
        }
        submitAll(std::move(batch));
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    std::printf("submitJobs: %d batches of %d in %.2f s: %.0f jobs/s, %.1f ms per batch\n", kBatches,
                kBatchSize, std::chrono::duration<double>(elapsed).count(),
                perSecond(kBatches * kBatchSize, elapsed),
                std::chrono::duration<double, std::milli>(elapsed).count() / kBatches);
    pg::BlockingConnection db{SecretString(url_)};
    db.exec("ANALYZE jobs");

    // Each with the rest of the 100,000-job backlog still queued behind it.
    struct Shape {
        const char* name;
        int workers;
        int max;
        int rounds;
    };
    for (const Shape shape : {Shape{"1 worker, claim 1 + finishAttempt", 1, 1, 2000},
                              Shape{"1 worker, claim 10 + finishAttempts", 1, 10, 500},
                              Shape{"1 worker, claim 100 + finishAttempts", 1, 100, 100},
                              Shape{"8 workers, claim 1 + finishAttempt", 8, 1, 500},
                              Shape{"8 workers, claim 10 + finishAttempts", 8, 10, 100}}) {
        start = std::chrono::steady_clock::now();
        std::vector<std::future<std::size_t>> workers;
        for (int w = 0; w < shape.workers; ++w) {
            workers.push_back(std::async(std::launch::async, [this, w, shape] {
                return runToCompletion(
                    claimAndFinish(store_, "w" + std::to_string(w), shape.max, shape.rounds));
            }));
        }
        std::size_t finished = 0;
        for (auto& worker : workers) finished += worker.get();
        elapsed = std::chrono::steady_clock::now() - start;
        std::printf("%-40s %6zu jobs in %.2f s: %.0f jobs/s\n", shape.name, finished,
                    std::chrono::duration<double>(elapsed).count(), perSecond(finished, elapsed));
    }
}

}  // namespace
}  // namespace rampart::store
