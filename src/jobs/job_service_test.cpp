// The jobs service's rules that are not a store's: who may submit to which queue (roles and queue:NAME
// scopes), who sees a job's history, the queue overview and pause switch for admins, the workers'
// wake-up after a submission, and the ids jobs get.
#include "jobs/job_service.hpp"

#include <set>

#include <gtest/gtest.h>

#include "jobs/builtin_tasks.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using identity::Principal;
using identity::Role;
using testing::runToCompletion;

Principal principal(std::string id, Role role, std::vector<std::string> scopes = {"*"}) {
    return Principal{.userId = id,
                     .username = id,
                     .role = role,
                     .credential = identity::CredentialKind::apiToken,
                     .scopes = std::move(scopes),
                     .credentialId = "",
                     .totpEnabled = false};
}

JobsSettings twoQueues() {
    return JobsSettings{.queues = {QueueSettings{.name = "default"},
                                   QueueSettings{.name = "reports", .submitRoles = {Role::admin}},
                                   QueueSettings{.name = "gpu", .externalWorkers = false}},
                        .maxBatch = 10};
}

TEST(QueuePermissions, RolesAndQueueScopesDecide) {
    const auto settings = twoQueues();
    const QueueSettings& defaults = *settings.queue("default");
    const QueueSettings& reports = *settings.queue("reports");
    const QueueSettings& gpu = *settings.queue("gpu");
    EXPECT_EQ(settings.queue("nope"), nullptr);

    EXPECT_TRUE(maySubmitTo(defaults, principal("u", Role::user)));
    EXPECT_FALSE(maySubmitTo(reports, principal("u", Role::user))) << "admins only";
    EXPECT_TRUE(maySubmitTo(reports, principal("a", Role::admin)));
    EXPECT_FALSE(maySubmitTo(defaults, principal("c", Role::auditor)));
    EXPECT_FALSE(maySubmitTo(defaults, principal("w", Role::worker)));

    // A token narrowed to some queues reaches only those, whatever the role allows.
    const auto narrowed = principal("a", Role::admin, {"jobs:write", "queue:reports"});
    EXPECT_TRUE(maySubmitTo(reports, narrowed));
    EXPECT_FALSE(maySubmitTo(defaults, narrowed));
    EXPECT_FALSE(narrowed.mayUseQueue("report")) << "the whole name, not a prefix";
    EXPECT_FALSE(narrowed.mayUseQueue("sreports")) << "nor a suffix";

    EXPECT_TRUE(mayLeaseFrom(defaults, principal("w", Role::worker)));
    EXPECT_FALSE(mayLeaseFrom(gpu, principal("w", Role::worker))) << "in-process only";
    EXPECT_FALSE(mayLeaseFrom(defaults, principal("a", Role::admin))) << "only workers lease";
    EXPECT_FALSE(mayLeaseFrom(defaults, principal("w", Role::worker, {"worker", "queue:reports"})));
    EXPECT_TRUE(mayLeaseFrom(reports, principal("w", Role::worker, {"worker", "queue:reports"})));
}

TEST(QueuePermissions, QueueScopesAreKnownScopesOnlyWithAValidName) {
    EXPECT_TRUE(identity::isKnownScope("queue:reports"));
    EXPECT_TRUE(identity::isKnownScope("queue:a.b-c_1"));
    EXPECT_FALSE(identity::isKnownScope("queue:"));
    EXPECT_FALSE(identity::isKnownScope("queue:Reports"));
    EXPECT_FALSE(identity::isKnownScope("queue:*"));
    EXPECT_FALSE(identity::isKnownScope("queue:" + std::string(65, 'a')));
    EXPECT_FALSE(identity::isKnownScope("queues:reports"));
}

class JobServiceTest : public ::testing::Test {
  protected:
    JobServiceTest() : store_(dir_.path() / "rampart.db") {
        store_.setAuditKey(rampart::testing::testAuditKey());
        store_.migrate();
        for (const char* id : {"alice", "bob", "root"}) {
            store::UserRecord user;
            user.id = id;
            user.username = id;
            user.role = "user";
            runToCompletion(store_.createUser(user));
        }
        addBuiltinTasks(registry_);
    }
    ~JobServiceTest() override { store_.close(); }

    Submission noop(std::optional<std::string> queue = std::nullopt) {
        Submission submission;
        submission.task = "noop";
        submission.args = boost::json::object{};
        submission.queue = std::move(queue);
        return submission;
    }

    JobError::Kind refusal(Principal caller, Submission submission) {
        try {
            runToCompletion(service_.submit(std::move(caller), std::move(submission)));
        } catch (const JobError& error) {
            return error.kind();
        }
        ADD_FAILURE() << "the submission was accepted";
        return JobError::Kind::invalid;
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    TaskRegistry registry_;
    JobService service_{store_, store_, registry_, twoQueues()};
};

TEST_F(JobServiceTest, SubmissionsGoOnlyToQueuesTheCallerMayUse) {
    const auto alice = principal("alice", Role::user);
    EXPECT_EQ(refusal(alice, noop("reports")), JobError::Kind::forbidden);
    EXPECT_EQ(refusal(alice, noop("nope")), JobError::Kind::unprocessable);
    EXPECT_EQ(refusal(principal("root", Role::admin, {"jobs:write", "queue:reports"}), noop()),
              JobError::Kind::forbidden)
        << "the token names only reports; the task's default queue is not in it";
    EXPECT_EQ(runToCompletion(service_.submit(principal("root", Role::admin), noop("reports"))).job.queue,
              "reports");
    EXPECT_EQ(runToCompletion(service_.submit(alice, noop())).job.queue, "default");
}

TEST_F(JobServiceTest, AJobsHistoryIsVisibleToThoseWhoSeeTheJob) {
    const auto alice = principal("alice", Role::user);
    const auto job = runToCompletion(service_.submit(alice, noop())).job;
    auto events = runToCompletion(service_.events(alice, job.id));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].to, JobState::queued);
    EXPECT_EQ(runToCompletion(service_.events(principal("x", Role::auditor), job.id)).size(), 1u);
    EXPECT_THROW(runToCompletion(service_.events(principal("bob", Role::user), job.id)), JobError);
    EXPECT_THROW(runToCompletion(service_.events(alice, "no-such-job")), JobError);
}

// get() keeps what it read for a moment (RecentJobs): every write through the store must show at once,
// and a kept job is still shown only to those who may see it.
TEST_F(JobServiceTest, AReadJobIsKeptButEveryWriteShowsAtOnceAndOnlyToThoseWhoMaySee) {
    const auto alice = principal("alice", Role::user);
    const auto job = runToCompletion(service_.submit(alice, noop())).job;
    EXPECT_EQ(runToCompletion(service_.get(alice, job.id)).state, JobState::queued);
    EXPECT_EQ(runToCompletion(service_.get(alice, job.id)).state, JobState::queued);  // from memory
    EXPECT_THROW(runToCompletion(service_.get(principal("bob", Role::user), job.id)), JobError)
        << "another user's job is not found, kept or not";

    const auto stamp = store_.localWriteStamp();
    ASSERT_TRUE(stamp);
    runToCompletion(service_.cancel(alice, job.id, {}));
    EXPECT_NE(store_.localWriteStamp(), stamp);
    EXPECT_EQ(runToCompletion(service_.get(alice, job.id)).state, JobState::canceled)
        << "a write committed through this process shows in the next read";

    // A write straight to the store (the workers' path) shows too.
    const auto other = runToCompletion(service_.submit(alice, noop())).job;
    EXPECT_EQ(runToCompletion(service_.get(alice, other.id)).state, JobState::queued);
    const auto claimed =
        runToCompletion(store_.claimJobs({"default"}, {}, 1, "w1", 60'000, other.created + 1));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(runToCompletion(service_.get(alice, other.id)).state, JobState::running);
}

TEST_F(JobServiceTest, QueuesAreListedWithCountsAndPausedOnlyWhenConfigured) {
    const auto admin = principal("root", Role::admin);
    runToCompletion(service_.submit(admin, noop("reports")));
    runToCompletion(service_.setQueuePaused(admin, "gpu", true, AuditContext{}));
    EXPECT_THROW(runToCompletion(service_.setQueuePaused(admin, "nope", true, AuditContext{})), JobError);

    // A queue the configuration no longer names still shows, so its jobs are not forgotten.
    store::JobRecord stray;
    stray.id = "stray";
    stray.task = "noop";
    stray.args = "{}";
    stray.queue = "retired";
    stray.ownerId = "alice";
    stray.timeoutMs = 1000;
    runToCompletion(store_.submitJob(stray, 1));

    auto queues = runToCompletion(service_.queues());
    ASSERT_EQ(queues.size(), 4u);
    EXPECT_EQ(queues[0].name, "default");
    EXPECT_TRUE(queues[0].counts.empty());
    EXPECT_EQ(queues[1].name, "reports");
    ASSERT_EQ(queues[1].counts.size(), 1u);
    EXPECT_EQ(queues[1].counts[0], std::make_pair(JobState::queued, std::int64_t{1}));
    EXPECT_EQ(queues[2].name, "gpu");
    EXPECT_TRUE(queues[2].paused);
    EXPECT_EQ(queues[3].name, "retired");
    EXPECT_FALSE(queues[3].configured);

    // Pausing is audited with who did it.
    auto audit = runToCompletion(store_.listAudit(store::AuditQuery{.action = "queue.pause"}));
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].event.actor, "root");
    EXPECT_EQ(audit[0].event.target, "queue:gpu");
}

// Without the wake-up a single submit would wait for the workers' next poll (200 ms by default), and a
// waiting lease call for the next recheck.
TEST_F(JobServiceTest, ASubmitWakesTheWorkersButAReplayDoesNot) {
    int wakeUps = 0;
    std::vector<std::string> kinds;
    service_.onSubmitted([&](std::string_view queue, std::string_view task) {
        ++wakeUps;
        kinds.push_back(std::string(queue) + "/" + std::string(task));
    });
    const auto alice = principal("alice", Role::user);
    runToCompletion(service_.submit(alice, noop()));
    EXPECT_EQ(wakeUps, 1);
    EXPECT_EQ(kinds.back(), "default/noop") << "the wake-up says which queue and task type";
    auto keyed = noop();
    keyed.idempotencyKey = "key-1";
    EXPECT_TRUE(runToCompletion(service_.submit(alice, keyed)).created);
    EXPECT_EQ(wakeUps, 2);
    EXPECT_FALSE(runToCompletion(service_.submit(alice, keyed)).created);
    EXPECT_EQ(wakeUps, 2) << "a replay stored nothing";
    std::vector<Submission> batch;
    batch.push_back(noop());
    batch.push_back(noop());
    runToCompletion(service_.submitBatch(alice, std::move(batch)));
    EXPECT_EQ(wakeUps, 3) << "once per batch";
    // A batch of two kinds: one wake-up each. A job due later wakes nobody (nothing is ready).
    std::vector<Submission> mixed;
    mixed.push_back(noop());
    mixed.push_back(noop());
    mixed.back().task = "echo";
    mixed.back().args = boost::json::object{{"message", "hi"}};
    mixed.push_back(noop());
    mixed.back().runAt = std::chrono::system_clock::now() + std::chrono::hours(1);
    mixed.back().task = "sleep";
    mixed.back().args = boost::json::object{{"seconds", 1}};
    runToCompletion(service_.submitBatch(alice, std::move(mixed)));
    EXPECT_EQ(wakeUps, 5);
    EXPECT_EQ(kinds[3], "default/noop");
    EXPECT_EQ(kinds[4], "default/echo");
    auto later = noop();
    later.runAt = std::chrono::system_clock::now() + std::chrono::hours(1);
    runToCompletion(service_.submit(alice, later));
    EXPECT_EQ(wakeUps, 5) << "a job due in an hour is not ready";
}

// A retry: the owner's and admins' to ask for, of a failed or dead job only; it wakes the workers and is
// audited with the job's owner when an admin retried someone else's job.
TEST_F(JobServiceTest, ARetryIsTheOwnersOrAnAdminsOfAFailedOrDeadJobOnly) {
    int wakeUps = 0;
    service_.onSubmitted([&](std::string_view, std::string_view) { ++wakeUps; });
    const auto alice = principal("alice", Role::user);
    const auto job = runToCompletion(service_.submit(alice, noop())).job;
    const auto refusedAs = [&](const Principal& caller, const std::string& id) {
        try {
            runToCompletion(service_.retry(caller, id, {}));
        } catch (const JobError& error) {
            return error.slug();
        }
        return std::string("accepted");
    };
    EXPECT_EQ(refusedAs(alice, job.id), "job-not-retryable") << "queued";
    const auto claimed = runToCompletion(store_.claimJobs({"default"}, {}, 1, "w1", 60'000, job.created + 1));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(refusedAs(alice, job.id), "job-not-retryable") << "running";
    store::JobOutcome failed{.succeeded = false, .result = {}, .error = "boom", .retryAt = 0, .retry = false};
    ASSERT_EQ(runToCompletion(store_.finishAttempt(job.id, "w1", failed, job.created + 2)), JobState::dead);

    EXPECT_EQ(refusedAs(principal("bob", Role::user), job.id), "not-found") << "another user's job";
    EXPECT_EQ(refusedAs(principal("x", Role::auditor), job.id), "not-found") << "auditors change nothing";
    EXPECT_EQ(refusedAs(alice, "no-such-job"), "not-found");
    EXPECT_EQ(wakeUps, 1) << "only the submit so far";

    const auto retried = runToCompletion(service_.retry(principal("root", Role::admin), job.id, {}));
    EXPECT_EQ(retried.state, JobState::queued);
    EXPECT_EQ(wakeUps, 2) << "the workers hear of it as of a submit";
    auto audit = runToCompletion(store_.listAudit(store::AuditQuery{.action = "job.retry"}));
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].event.actor, "root");
    EXPECT_EQ(audit[0].event.target, "job:" + job.id);
    EXPECT_EQ(audit[0].event.details.at("owner").as_string(), "alice");
    EXPECT_EQ(audit[0].event.details.at("from").as_string(), "dead");
    EXPECT_EQ(refusedAs(alice, job.id), "job-not-retryable") << "queued again: a second retry is refused";
}

// A job whose task type is no longer declared would wait for a worker that never comes.
TEST_F(JobServiceTest, ARetryOfATaskTypeNoLongerDeclaredIsRefused) {
    const auto alice = principal("alice", Role::user);
    auto submission = noop();
    submission.task = "echo";
    submission.args = boost::json::object{{"message", "hi"}};
    const auto job = runToCompletion(service_.submit(alice, std::move(submission))).job;
    ASSERT_EQ(runToCompletion(store_.claimJobs({"default"}, {}, 1, "w1", 60'000, job.created + 1)).size(),
              1u);
    store::JobOutcome failed{.succeeded = false, .result = {}, .error = "boom", .retryAt = 0, .retry = false};
    ASSERT_EQ(runToCompletion(store_.finishAttempt(job.id, "w1", failed, job.created + 2)), JobState::dead);
    TaskRegistry onlyNoop;
    onlyNoop.add(*registry_.find("noop"));
    JobService elsewhere{store_, store_, onlyNoop, twoQueues()};
    try {
        runToCompletion(elsewhere.retry(alice, job.id, {}));
        ADD_FAILURE() << "retried";
    } catch (const JobError& error) {
        EXPECT_EQ(error.kind(), JobError::Kind::conflict);
        EXPECT_EQ(error.slug(), "job-not-retryable");
    }
    EXPECT_EQ(runToCompletion(store_.findJob(job.id))->state, JobState::dead) << "left as it was";
}

// Ids sort by submit time (so new rows land together in the store's indexes) and stay unguessable.
TEST_F(JobServiceTest, JobIdsSortBySubmitTimeAndCarry128RandomBits) {
    auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
    JobService service(store_, store_, registry_, twoQueues(), [&time] { return time; });
    const auto alice = principal("alice", Role::user);
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        if (i % 10 == 0) time += std::chrono::milliseconds(1);
        auto submitted = runToCompletion(service.submit(alice, noop()));
        const std::string& id = submitted.job.id;
        ASSERT_EQ(id.size(), 30u) << id;  // 48 time bits and 128 random bits in 6-bit characters
        EXPECT_EQ(id.find_first_not_of("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"),
                  std::string::npos)
            << id;
        EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id;
        ids.push_back(id);
    }
    for (std::size_t i = 10; i < ids.size(); ++i)
        EXPECT_LT(ids[i - 10], ids[i]) << "a later millisecond sorts later";
    EXPECT_EQ(ids[0].substr(0, 8), ids[9].substr(0, 8)) << "one millisecond, one time prefix";
    auto found = runToCompletion(store_.findJob(ids.back()));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->created, 1'700'000'000'005);
}

TEST_F(JobServiceTest, QueueGaugesShowEveryStateOfEveryQueue) {
    const auto admin = principal("root", Role::admin);
    runToCompletion(service_.submit(admin, noop()));
    runToCompletion(service_.submit(admin, noop()));
    runToCompletion(service_.setQueuePaused(admin, "reports", true, AuditContext{}));
    obs::Metrics metrics;
    obs::QueueMetrics gauges(metrics);
    publishQueueMetrics(runToCompletion(service_.queues()), gauges);
    const std::string text = metrics.render();
    EXPECT_NE(text.find(R"(rampart_jobs{queue="default",state="queued"} 2)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(rampart_jobs{queue="default",state="running"} 0)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(rampart_jobs{queue="gpu",state="succeeded"} 0)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(rampart_queue_paused{queue="reports"} 1)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(rampart_queue_paused{queue="default"} 0)"), std::string::npos) << text;
}

}  // namespace
}  // namespace rampart::jobs
