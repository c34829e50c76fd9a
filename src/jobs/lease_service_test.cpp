// The worker API's service against a real SQLite store and a clock the test moves: leases count
// attempts and are nobody else's, heartbeats extend them, only the holder may report (another user:
// not found; the same user with a lost lease: conflict), an expired lease goes to the next worker,
// failures retry with the task type's back-off or end the job, and queues are checked.
#include "jobs/lease_service.hpp"

#include <functional>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "jobs/builtin_tasks.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/metric_values.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using identity::Principal;
using identity::Role;
using Kind = JobError::Kind;
using testing::runToCompletion;
namespace json = boost::json;

// A fixed start, in whole milliseconds.
const std::chrono::system_clock::time_point kT0 = std::chrono::sys_days{std::chrono::year{2027} / 3 / 1} + 9h;

store::Millis millis(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

Principal worker(std::string id, std::vector<std::string> scopes = {"*"},
                 identity::CredentialKind kind = identity::CredentialKind::accessToken) {
    return Principal{.userId = id,
                     .username = "name-" + id,
                     .role = Role::worker,
                     .credential = kind,
                     .scopes = std::move(scopes)};
}

// Runs `call` and returns the JobError it throws (fails the test when it throws none).
JobError errorOf(const std::function<void()>& call) {
    try {
        call();
    } catch (const JobError& error) {
        return error;
    }
    ADD_FAILURE() << "no JobError was thrown";
    return JobError(Kind::invalid, "none", "none");
}

class LeaseServiceTest : public ::testing::Test {
  protected:
    LeaseServiceTest() : store_(dir_.path() / "rampart.db") {
        store_.migrate();
        for (auto [id, role] : {std::pair{"owner", "user"}, {"w1", "worker"}, {"w2", "worker"}}) {
            store::UserRecord user;
            user.id = id;
            user.username = std::string("user-") + id;
            user.role = role;
            runToCompletion(store_.createUser(user));
        }
        addBuiltinTasks(registry_);
        registry_.add(TaskType{
            .name = "external.flaky",
            .argsSchema = json::object{{"type", "object"}},
            .maxAttempts = 3,
            .retry = RetryPolicy{.base = 1000ms, .cap = 60'000ms},
            .handler = [](TaskContext&) -> boost::asio::awaitable<json::value> { co_return nullptr; }});
        JobsSettings settings;
        settings.queues = {QueueSettings{.name = "default"}, QueueSettings{.name = "emails"},
                           QueueSettings{.name = "internal", .externalWorkers = false}};
        service_ = std::make_unique<LeaseService>(store_, registry_, settings, [this] { return now_; });
    }
    ~LeaseServiceTest() override { store_.close(); }

    std::string submit(std::string queue = "default", std::string task = "external.flaky",
                       int maxAttempts = 3) {
        store::JobRecord job;
        job.id = "job-" + std::to_string(++counter_);
        job.task = std::move(task);
        job.args = R"({"n":1})";
        job.queue = std::move(queue);
        job.maxAttempts = maxAttempts;
        job.runAt = millis(now_);
        job.timeoutMs = 60'000;
        job.ownerId = "owner";
        runToCompletion(store_.submitJob(job, millis(now_)));
        return job.id;
    }

    Lease lease(const Principal& who, int max = 10, std::chrono::seconds duration = 30s,
                std::vector<std::string> queues = {"default"}) {
        LeaseRequest request{.queues = std::move(queues), .max = max, .duration = duration};
        return runToCompletion(service_->lease(who, std::move(request)));
    }
    Heartbeat beat(const Principal& who, const std::string& id, const std::string& leaseId,
                   std::optional<std::chrono::seconds> duration = std::nullopt) {
        return runToCompletion(service_->heartbeat(who, id, leaseId, duration));
    }
    void progress(const Principal& who, const std::string& id, const std::string& leaseId, int percent,
                  std::string message = {}) {
        runToCompletion(service_->progress(who, id, leaseId, percent, std::move(message)));
    }
    Reported complete(const Principal& who, const std::string& id, const std::string& leaseId,
                      std::optional<json::value> result = std::nullopt) {
        AttemptEnding ending{.jobId = id, .leaseId = leaseId, .succeeded = true, .result = std::move(result)};
        return runToCompletion(service_->report(who, std::move(ending)));
    }
    Reported fail(const Principal& who, const std::string& id, const std::string& leaseId,
                  bool retry = true) {
        AttemptEnding ending{
            .jobId = id, .leaseId = leaseId, .succeeded = false, .error = "it broke", .retry = retry};
        return runToCompletion(service_->report(who, std::move(ending)));
    }
    store::JobRecord job(const std::string& id) { return *runToCompletion(store_.findJob(id)); }

    // Every kind of report by `who` on `id` with `leaseId` fails with `kind`.
    void expectEveryReportRefused(const Principal& who, const std::string& id, const std::string& leaseId,
                                  Kind kind) {
        EXPECT_EQ(errorOf([&] { beat(who, id, leaseId); }).kind(), kind) << "heartbeat";
        EXPECT_EQ(errorOf([&] { progress(who, id, leaseId, 50); }).kind(), kind) << "progress";
        EXPECT_EQ(errorOf([&] { complete(who, id, leaseId); }).kind(), kind) << "complete";
        EXPECT_EQ(errorOf([&] { fail(who, id, leaseId); }).kind(), kind) << "fail";
        EXPECT_EQ(errorOf([&] { fail(who, id, leaseId, false); }).kind(), kind) << "fail without retry";
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    TaskRegistry registry_;
    std::chrono::system_clock::time_point now_ = kT0;
    std::unique_ptr<LeaseService> service_;
    int counter_ = 0;
    const Principal w1_ = worker("w1");
    const Principal w2_ = worker("w2");
};

TEST_F(LeaseServiceTest, ALeaseReturnsRunningJobsCountsAttemptsAndIsNobodyElses) {
    auto a = submit();
    auto b = submit();
    auto c = submit();
    auto first = lease(w1_, 2);
    ASSERT_EQ(first.jobs.size(), 2u);
    EXPECT_EQ(first.jobs[0].id, a);
    EXPECT_EQ(first.jobs[1].id, b);
    for (const auto& leased : first.jobs) {
        EXPECT_EQ(leased.state, JobState::running);
        EXPECT_EQ(leased.attempts, 1);
        EXPECT_EQ(leased.leaseHolder, "api:w1:" + first.leaseId);
    }
    EXPECT_EQ(first.leaseId.size(), 22u) << "16 random bytes, base64url";
    EXPECT_EQ(first.expires, millis(kT0 + 30s));

    auto second = lease(w1_, 10);
    ASSERT_EQ(second.jobs.size(), 1u) << "leased jobs are not leased again";
    EXPECT_EQ(second.jobs[0].id, c);
    EXPECT_NE(second.leaseId, first.leaseId) << "a fresh lease id per call";
    EXPECT_TRUE(lease(w2_).jobs.empty());
    EXPECT_FALSE(lease(w2_).leaseId.empty());
}

TEST_F(LeaseServiceTest, OnlyTheQueuesAskedForAreLeased) {
    auto email = submit("emails");
    submit("default");
    auto leased = lease(w1_, 10, 30s, {"emails"});
    ASSERT_EQ(leased.jobs.size(), 1u);
    EXPECT_EQ(leased.jobs[0].id, email);
    EXPECT_EQ(lease(w1_, 10, 30s, {"default", "emails", "default"}).jobs.size(), 1u)
        << "a queue named twice is asked for once";
}

TEST_F(LeaseServiceTest, HeartbeatsExtendTheLeaseAndCarryTheCancelRequest) {
    auto id = submit();
    auto leased = lease(w1_, 1, 10s);
    now_ += 8s;
    auto first = beat(w1_, id, leased.leaseId, 10s);
    EXPECT_EQ(first.expires, millis(kT0 + 18s));
    EXPECT_FALSE(first.cancelRequested);
    now_ += 8s;  // past the first lease's end, within the extended one
    progress(w1_, id, leased.leaseId, 40, "reading");
    EXPECT_EQ(job(id).progress, 40);
    EXPECT_EQ(job(id).progressMessage, "reading");
    auto defaulted = beat(w1_, id, leased.leaseId);
    EXPECT_EQ(defaulted.expires, millis(kT0 + 16s + 30s)) << "30 s when lease_seconds is not given";
    runToCompletion(store_.cancelJob(id, millis(now_)));
    EXPECT_TRUE(beat(w1_, id, leased.leaseId).cancelRequested);
}

TEST_F(LeaseServiceTest, AnotherUserOrAnUnknownJobIsNotFound) {
    auto id = submit();
    auto other = submit();
    auto leased = lease(w1_, 1);
    ASSERT_EQ(leased.jobs.size(), 1u);
    // w2 with w1's own lease id: the holder is made from the caller's identity, so it is not w1's lease.
    expectEveryReportRefused(w2_, id, leased.leaseId, Kind::notFound);
    auto w2lease = lease(w2_, 1);
    ASSERT_EQ(w2lease.jobs.size(), 1u);
    EXPECT_EQ(w2lease.jobs[0].id, other);
    // w2 never held w1's job, whatever lease id it brings.
    expectEveryReportRefused(w2_, id, w2lease.leaseId, Kind::notFound);
    expectEveryReportRefused(w1_, "no-such-job", leased.leaseId, Kind::notFound);
    // The lease holder's record is untouched by all of that.
    EXPECT_EQ(job(id).state, JobState::running);
    EXPECT_EQ(job(id).progress, 0);
    EXPECT_EQ(complete(w1_, id, leased.leaseId).state, JobState::succeeded);
}

TEST_F(LeaseServiceTest, TheSameUserWithAnotherLeaseIdIsAConflict) {
    auto id = submit();
    submit();
    auto leased = lease(w1_, 1);
    auto otherLease = lease(w1_, 1);
    ASSERT_EQ(otherLease.jobs.size(), 1u);
    expectEveryReportRefused(w1_, id, otherLease.leaseId, Kind::conflict);
    auto refusal = errorOf([&] { beat(w1_, id, "AAAAAAAAAAAAAAAAAAAAAA"); });
    EXPECT_EQ(refusal.kind(), Kind::conflict);
    EXPECT_EQ(refusal.slug(), "lease-lost");
    EXPECT_EQ(beat(w1_, id, leased.leaseId).cancelRequested, false) << "the right lease id still works";
}

TEST_F(LeaseServiceTest, MalformedLeaseIdsAndValuesOutOfRangeAreInvalid) {
    auto id = submit();
    auto leased = lease(w1_, 1);
    for (std::string bad :
         {std::string(), std::string("has space"), std::string("a:b"), std::string(65, 'a')}) {
        auto error = errorOf([&] { beat(w1_, id, bad); });
        EXPECT_EQ(error.kind(), Kind::invalid) << bad;
        ASSERT_EQ(error.errors().size(), 1u);
        EXPECT_EQ(error.errors()[0].pointer, "/lease_id");
    }
    EXPECT_EQ(errorOf([&] { beat(w1_, id, leased.leaseId, 4s); }).errors().at(0).pointer, "/lease_seconds");
    EXPECT_EQ(errorOf([&] { progress(w1_, id, leased.leaseId, 101); }).errors().at(0).pointer, "/percent");
    EXPECT_EQ(
        errorOf([&] { progress(w1_, id, leased.leaseId, 5, std::string(201, 'm')); }).errors().at(0).pointer,
        "/message");
    EXPECT_EQ(
        errorOf([&] {
            AttemptEnding ending{
                .jobId = id, .leaseId = leased.leaseId, .succeeded = false, .error = std::string(2001, 'e')};
            runToCompletion(service_->report(w1_, std::move(ending)));
        })
            .errors()
            .at(0)
            .pointer,
        "/error");
    EXPECT_EQ(errorOf([&] { lease(w1_, 0); }).errors().at(0).pointer, "/max");
    EXPECT_EQ(errorOf([&] { lease(w1_, 101); }).errors().at(0).pointer, "/max");
    EXPECT_EQ(errorOf([&] { lease(w1_, 1, 4s); }).errors().at(0).pointer, "/lease_seconds");
    EXPECT_EQ(errorOf([&] { lease(w1_, 1, 3601s); }).errors().at(0).pointer, "/lease_seconds");
    EXPECT_EQ(errorOf([&] { lease(w1_, 1, 30s, {}); }).errors().at(0).pointer, "/queues");
    EXPECT_EQ(
        errorOf([&] { lease(w1_, 1, 30s, std::vector<std::string>(33, "default")); }).errors().at(0).pointer,
        "/queues");
    EXPECT_EQ(job(id).progress, 0) << "nothing refused was recorded";
}

TEST_F(LeaseServiceTest, AnExpiredLeaseGoesToTheNextWorkerAndTheOldHolderIsRefused) {
    auto id = submit();
    auto old = lease(w1_, 1, 5s);
    ASSERT_EQ(old.jobs.size(), 1u);
    now_ += 6s;
    // Expired but not yet taken back: already lost.
    EXPECT_EQ(errorOf([&] { beat(w1_, id, old.leaseId); }).kind(), Kind::conflict);
    EXPECT_EQ(job(id).state, JobState::running);

    auto fresh = lease(w2_, 1);  // takes the expired lease back first, then leases
    ASSERT_EQ(fresh.jobs.size(), 1u);
    EXPECT_EQ(fresh.jobs[0].id, id);
    EXPECT_EQ(fresh.jobs[0].attempts, 2) << "the lost attempt counts";
    expectEveryReportRefused(w1_, id, old.leaseId, Kind::conflict);
    progress(w2_, id, fresh.leaseId, 70);
    EXPECT_EQ(complete(w2_, id, fresh.leaseId).state, JobState::succeeded);
    expectEveryReportRefused(w1_, id, old.leaseId, Kind::conflict);
    // A finished job takes no reports.
    expectEveryReportRefused(w2_, id, fresh.leaseId, Kind::conflict);
}

TEST_F(LeaseServiceTest, TheSameWorkerCanLeaseAJobAgainAfterItsLeaseExpired) {
    auto id = submit();
    auto old = lease(w1_, 1, 5s);
    now_ += 6s;
    auto again = lease(w1_, 1);
    ASSERT_EQ(again.jobs.size(), 1u);
    EXPECT_EQ(again.jobs[0].id, id);
    expectEveryReportRefused(w1_, id, old.leaseId, Kind::conflict);
    EXPECT_EQ(beat(w1_, id, again.leaseId).cancelRequested, false);
}

TEST_F(LeaseServiceTest, AFailureWithRetryWaitsForTheTaskTypesBackOff) {
    auto id = submit();
    auto leased = lease(w1_, 1);
    auto reported = fail(w1_, id, leased.leaseId);
    EXPECT_EQ(reported.state, JobState::failed);
    ASSERT_TRUE(reported.retryAt);
    // Attempt 1 under base 1 s: a delay in [0, 1 s).
    EXPECT_GE(*reported.retryAt, millis(now_));
    EXPECT_LT(*reported.retryAt, millis(now_ + 1s));
    auto failed = job(id);
    EXPECT_EQ(failed.runAt, *reported.retryAt);
    EXPECT_EQ(failed.error, "it broke");
    now_ += 1s;
    auto retried = lease(w2_, 1);
    ASSERT_EQ(retried.jobs.size(), 1u);
    EXPECT_EQ(retried.jobs[0].attempts, 2);
    // Attempt 2: [0, 2 s).
    auto second = fail(w2_, id, retried.leaseId);
    EXPECT_EQ(second.state, JobState::failed);
    EXPECT_LT(*second.retryAt, millis(now_ + 2s));
    now_ += 2s;
    auto last = lease(w1_, 1);
    ASSERT_EQ(last.jobs.size(), 1u);
    auto dead = fail(w1_, id, last.leaseId);
    EXPECT_EQ(dead.state, JobState::dead) << "no attempts left";
    EXPECT_FALSE(dead.retryAt);
}

TEST_F(LeaseServiceTest, AFailureWithoutRetryIsDeadAtOnce) {
    auto id = submit();
    auto leased = lease(w1_, 1);
    auto reported = fail(w1_, id, leased.leaseId, false);
    EXPECT_EQ(reported.state, JobState::dead);
    EXPECT_FALSE(reported.retryAt);
    EXPECT_EQ(job(id).attempts, 1) << "two attempts were left";
    now_ += 1h;
    EXPECT_TRUE(lease(w1_).jobs.empty());
}

TEST_F(LeaseServiceTest, AFailureAfterACancelRequestEndsTheJobCanceled) {
    for (bool retry : {true, false}) {
        auto id = submit();
        auto leased = lease(w1_, 1);
        runToCompletion(store_.cancelJob(id, millis(now_)));
        ASSERT_TRUE(beat(w1_, id, leased.leaseId).cancelRequested);
        EXPECT_EQ(fail(w1_, id, leased.leaseId, retry).state, JobState::canceled) << retry;
        EXPECT_EQ(job(id).state, JobState::canceled);
    }
}

TEST_F(LeaseServiceTest, CompletingStoresTheResult) {
    auto id = submit();
    auto bare = submit();
    auto leased = lease(w1_, 2);
    auto reported = complete(w1_, id, leased.leaseId, json::parse(R"({"rows":3,"names":["a","b"]})"));
    EXPECT_EQ(reported.state, JobState::succeeded);
    EXPECT_FALSE(reported.retryAt);
    auto done = job(id);
    EXPECT_EQ(done.state, JobState::succeeded);
    EXPECT_EQ(json::parse(*done.result), json::parse(R"({"rows":3,"names":["a","b"]})"));
    EXPECT_EQ(done.progress, 100);
    EXPECT_EQ(complete(w1_, bare, leased.leaseId).state, JobState::succeeded);
    EXPECT_FALSE(job(bare).result) << "no result given, none stored";
}

TEST_F(LeaseServiceTest, QueuesThatMayNotBeLeasedAreRefusedAndNothingIsLeased) {
    auto id = submit();
    auto error = errorOf([&] { lease(w1_, 10, 30s, {"default", "secret", "emails", "internal"}); });
    EXPECT_EQ(error.kind(), Kind::forbidden);
    EXPECT_EQ(error.slug(), "queue-not-allowed");
    ASSERT_EQ(error.errors().size(), 2u);
    EXPECT_EQ(error.errors()[0].pointer, "/queues/1");
    EXPECT_EQ(error.errors()[1].pointer, "/queues/3");
    EXPECT_EQ(job(id).state, JobState::queued) << "a refused call leases nothing";

    // A user, or a worker's API token without the worker scope, may lease from no queue.
    Principal user = worker("owner");
    user.role = Role::user;
    EXPECT_EQ(errorOf([&] { lease(user); }).kind(), Kind::forbidden);
    auto unscoped = worker("w1", {"tokens"}, identity::CredentialKind::apiToken);
    EXPECT_EQ(errorOf([&] { lease(unscoped); }).kind(), Kind::forbidden);
    auto scoped = worker("w1", {"worker"}, identity::CredentialKind::apiToken);
    EXPECT_EQ(lease(scoped).jobs.size(), 1u);
}

TEST(MayLease, NeedsTheWorkerRoleTheWorkerScopeAndAConfiguredQueueForExternalWorkers) {
    JobsSettings settings;
    settings.queues = {QueueSettings{.name = "default"}, QueueSettings{.name = "reports"},
                       QueueSettings{.name = "internal", .externalWorkers = false}};
    EXPECT_FALSE(mayLease(settings, worker("w"), "internal")) << "a queue for in-process workers only";
    EXPECT_FALSE(mayLease(settings, worker("w"), "elsewhere")) << "not configured";
    // A token narrowed to some queues leases only from those.
    auto narrow = worker("w", {"worker", "queue:reports"}, identity::CredentialKind::apiToken);
    EXPECT_TRUE(mayLease(settings, narrow, "reports"));
    EXPECT_FALSE(mayLease(settings, narrow, "default"));
    EXPECT_TRUE(mayLease(settings, worker("w"), "default"));
    EXPECT_TRUE(mayLease(settings, worker("w", {"worker"}, identity::CredentialKind::apiToken), "default"));
    EXPECT_FALSE(mayLease(settings, worker("w"), "Default"));
    EXPECT_FALSE(mayLease(settings, worker("w"), ""));
    EXPECT_FALSE(
        mayLease(settings, worker("w", {"jobs:read"}, identity::CredentialKind::apiToken), "default"));
    EXPECT_FALSE(mayLease(settings, worker(""), "default")) << "no user, no holder";
    for (Role role : {Role::admin, Role::user, Role::auditor}) {
        auto other = worker("w");
        other.role = role;
        EXPECT_FALSE(mayLease(settings, other, "default")) << identity::roleName(role);
    }
}

// A batch of reports: each is taken or refused on its own, by the single routes' rules.
TEST_F(LeaseServiceTest, ABatchOfReportsIsAnsweredReportByReport) {
    const auto done = submit();
    const auto retried = submit();
    const auto others = submit();
    const auto lost = submit();
    auto mine = lease(w1_, 2);
    ASSERT_EQ(mine.jobs.size(), 2u);
    auto theirs = lease(w2_, 1);
    ASSERT_EQ(theirs.jobs.size(), 1u);
    auto expired = lease(w1_, 1, 5s);
    ASSERT_EQ(expired.jobs.size(), 1u);
    ASSERT_EQ(expired.jobs[0].id, lost);
    now_ += 6s;  // w1's second lease runs out; the first (30 s) holds

    std::vector<AttemptEnding> endings;
    endings.push_back({.jobId = done, .leaseId = mine.leaseId, .succeeded = true, .result = json::value(7)});
    endings.push_back({.jobId = retried, .leaseId = mine.leaseId, .succeeded = false, .error = "flaky"});
    endings.push_back({.jobId = others, .leaseId = mine.leaseId, .succeeded = true});  // w2's job
    endings.push_back({.jobId = lost, .leaseId = expired.leaseId, .succeeded = true});
    endings.push_back({.jobId = done, .leaseId = "not a lease id", .succeeded = true});
    auto answers = runToCompletion(service_->reportMany(w1_, std::move(endings)));
    ASSERT_EQ(answers.size(), 5u);
    ASSERT_TRUE(answers[0].reported);
    EXPECT_EQ(answers[0].reported->state, JobState::succeeded);
    ASSERT_TRUE(answers[1].reported);
    EXPECT_EQ(answers[1].reported->state, JobState::failed);
    ASSERT_TRUE(answers[1].reported->retryAt);
    EXPECT_LT(*answers[1].reported->retryAt, millis(now_ + 1s)) << "external.flaky's back-off (jittered)";
    EXPECT_EQ(job(retried).runAt, *answers[1].reported->retryAt);
    ASSERT_TRUE(answers[2].refused);
    EXPECT_EQ(answers[2].refused->kind(), Kind::notFound) << "another worker's job does not exist for w1";
    ASSERT_TRUE(answers[3].refused);
    EXPECT_EQ(answers[3].refused->slug(), "lease-lost");
    ASSERT_TRUE(answers[4].refused);
    EXPECT_EQ(answers[4].refused->kind(), Kind::invalid);
    EXPECT_EQ(job(done).state, JobState::succeeded);
    EXPECT_EQ(job(done).result, "7");
    EXPECT_EQ(job(retried).state, JobState::failed);
    EXPECT_EQ(job(others).state, JobState::running) << "w2 still holds it";

    EXPECT_EQ(errorOf([&] { runToCompletion(service_->reportMany(w1_, {})); }).kind(), Kind::invalid);
    std::vector<AttemptEnding> tooMany(101, AttemptEnding{.jobId = done, .leaseId = mine.leaseId});
    EXPECT_EQ(errorOf([&] { runToCompletion(service_->reportMany(w1_, std::move(tooMany))); }).kind(),
              Kind::invalid);
}

// Long-poll leases (wait_seconds): each waiting call runs on a thread of its own, as requests do on the
// server's I/O threads, and the test plays the wake-ups a submit or a NOTIFY sends.
class WaitingLeaseTest : public LeaseServiceTest {
  protected:
    WaitingLeaseTest() { service_->waitWith(&waiters_); }
    ~WaitingLeaseTest() override {
        waiters_.shutdown();
        joinAll();
    }

    // Starts lease(who, wait) on a thread; the answer (or the JobError's slug) lands in *into.
    void leaseInBackground(const Principal& who, std::chrono::seconds wait, int max, Lease* into,
                           std::string* error = nullptr) {
        calls_.emplace_back([this, who, wait, max, into, error] {
            try {
                LeaseRequest request{.queues = {"default"}, .max = max, .wait = wait};
                *into = runToCompletion(service_->lease(who, std::move(request)));
            } catch (const JobError& refused) {
                if (error != nullptr) *error = refused.slug();
            }
        });
    }
    // Until `count` calls wait (a call registers before it claims, so this is not proof it claimed).
    void awaitWaiting(std::size_t count) {
        for (int i = 0; i < 2000 && waiters_.waiting() != count; ++i) std::this_thread::sleep_for(5ms);
        ASSERT_EQ(waiters_.waiting(), count);
    }
    // Every call started must end before the test's locals it writes to do.
    void joinAll() {
        for (auto& call : calls_)
            if (call.joinable()) call.join();
        calls_.clear();
    }

    LeaseWaiters waiters_{LeaseWaitSettings{.maxTotal = 3, .maxPerAccount = 2, .recheck = 0ms}};
    std::vector<std::thread> calls_;
};

TEST_F(WaitingLeaseTest, AWaitingCallLeasesAJobSubmittedWhileItWaits) {
    Lease answer;
    leaseInBackground(w1_, 30s, 1, &answer);
    awaitWaiting(1);
    std::this_thread::sleep_for(50ms);  // let it finish its first (empty) claim and wait
    const auto id = submit();
    waiters_.wake("default", "external.flaky");
    joinAll();
    ASSERT_EQ(answer.jobs.size(), 1u) << "the wake-up, not the 30 s deadline, ended the wait";
    EXPECT_EQ(answer.jobs[0].id, id);
    EXPECT_EQ(answer.jobs[0].state, JobState::running);
}

TEST_F(WaitingLeaseTest, AJobReadyAtOnceIsLeasedWithoutWaiting) {
    const auto id = submit();
    Lease answer;
    leaseInBackground(w1_, 30s, 5, &answer);
    joinAll();
    ASSERT_EQ(answer.jobs.size(), 1u);
    EXPECT_EQ(answer.jobs[0].id, id);
    EXPECT_EQ(waiters_.waiting(), 0u);
}

TEST_F(WaitingLeaseTest, WithNothingReadyTheWaitEndsEmpty) {
    LeaseRequest request{.queues = {"default"}, .max = 1, .wait = 1s};
    auto answer = runToCompletion(service_->lease(w1_, std::move(request)));
    EXPECT_TRUE(answer.jobs.empty());
    EXPECT_EQ(waiters_.waiting(), 0u) << "the call left the waiting list";
}

TEST_F(WaitingLeaseTest, AHintForAJobAnotherCallTookSendsTheWokenCallBackToWaiting) {
    // A polling worker takes the job before the waiting call starts, so the hint below is for a job
    // that is gone, whenever the waiting call's own first claim runs.
    const auto id = submit();
    ASSERT_EQ(lease(w2_, 1).jobs.size(), 1u);
    Lease answer;
    leaseInBackground(w1_, 30s, 1, &answer);
    awaitWaiting(1);
    waiters_.wake("default", "");
    awaitWaiting(1);  // woken, found nothing, waits again
    const auto second = submit();
    waiters_.wake("default", "");
    joinAll();
    ASSERT_EQ(answer.jobs.size(), 1u);
    EXPECT_EQ(answer.jobs[0].id, second);
    EXPECT_NE(answer.jobs[0].id, id);
}

TEST_F(WaitingLeaseTest, AFullBatchPassesTheWakeUpToTheNextWaiter) {
    Lease first;
    Lease second;
    leaseInBackground(w1_, 30s, 1, &first);
    leaseInBackground(w2_, 30s, 1, &second);
    awaitWaiting(2);
    std::this_thread::sleep_for(50ms);
    submit();
    submit();
    waiters_.wake("default", "");  // one hint for a batch of two
    joinAll();
    EXPECT_EQ(first.jobs.size(), 1u);
    EXPECT_EQ(second.jobs.size(), 1u) << "the first woken call filled its max and woke the next";
}

TEST_F(WaitingLeaseTest, WaitingCallsAreBoundedPerAccountAndInTotalWith429) {
    Lease a;
    Lease b;
    Lease c;
    Lease d;
    std::string third;
    std::string fourth;
    leaseInBackground(w1_, 30s, 1, &a);
    leaseInBackground(w1_, 30s, 1, &b);
    awaitWaiting(2);
    leaseInBackground(w1_, 30s, 1, &c, &third);  // w1's third: over its bound of 2
    calls_.back().join();
    EXPECT_EQ(third, "too-many-waiting-leases");
    leaseInBackground(w2_, 30s, 1, &c);  // another account still may, up to the total of 3
    awaitWaiting(3);
    leaseInBackground(w2_, 30s, 1, &d, &fourth);
    calls_.back().join();
    EXPECT_EQ(fourth, "too-many-waiting-leases");
    // Without wait_seconds a lease never waits, so the bound does not apply.
    EXPECT_TRUE(lease(w1_, 1).jobs.empty());
    waiters_.shutdown();
    joinAll();
}

TEST_F(WaitingLeaseTest, ShutdownAnswersEveryWaitingCallAtOnceWithNoJob) {
    Lease a;
    Lease b;
    const auto start = std::chrono::steady_clock::now();
    leaseInBackground(w1_, 30s, 1, &a);
    leaseInBackground(w2_, 30s, 1, &b);
    awaitWaiting(2);
    waiters_.shutdown();
    joinAll();
    EXPECT_TRUE(a.jobs.empty());
    EXPECT_TRUE(b.jobs.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20s) << "not held until the 30 s deadline";
    // A call that comes after the shutdown does not wait either.
    LeaseRequest late{.queues = {"default"}, .max = 1, .wait = 30s};
    EXPECT_TRUE(runToCompletion(service_->lease(w1_, std::move(late))).jobs.empty());
}

TEST_F(WaitingLeaseTest, WaitSecondsOutOfRangeIsInvalid) {
    for (auto wait : {-1s, 31s}) {
        LeaseRequest request{.queues = {"default"}, .max = 1, .wait = wait};
        auto error = errorOf([&] { runToCompletion(service_->lease(w1_, std::move(request))); });
        EXPECT_EQ(error.kind(), Kind::invalid);
        ASSERT_EQ(error.errors().size(), 1u);
        EXPECT_EQ(error.errors()[0].pointer, "/wait_seconds");
    }
}

// ---- Metrics of external workers' attempts ---------------------------------------------------------

std::vector<std::string> taskNames(const TaskRegistry& registry) {
    std::vector<std::string> names;
    for (const TaskType* type : registry.all()) names.push_back(type->name);
    return names;
}

// The wait is timed from the lease (the claim starts the attempt), the run time and end-to-end time from
// what the store read as it took the report: each attempt once, retries and dead jobs counted.
TEST_F(LeaseServiceTest, ExternalAttemptsAreTimedFromTheClaimAndTheStoredJob) {
    obs::Metrics metrics;
    obs::JobMetrics jobMetrics(metrics, {"default", "emails", "internal"}, taskNames(registry_));
    service_->recordTo(&jobMetrics);
    const prometheus::Labels labels{{"queue", "default"}, {"task", "external.flaky"}};
    auto histogram = [&](const char* name) {
        return rampart::testing::histogramValue(metrics, name, labels)
            .value_or(rampart::testing::HistogramValue{});
    };
    auto counter = [&](const char* name, prometheus::Labels extra = {}) {
        prometheus::Labels all = labels;
        all.insert(extra.begin(), extra.end());
        return rampart::testing::counterValue(metrics, name, all).value_or(-1);
    };

    const auto id = submit("default", "external.flaky", 2);  // created at kT0
    now_ += 2s;
    auto first = lease(w1_, 1);
    ASSERT_EQ(first.jobs.size(), 1u);
    EXPECT_EQ(histogram("rampart_job_wait_seconds").count, 1u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_wait_seconds").sum, 2.0);
    now_ += 3s;
    const Reported failed = fail(w1_, id, first.leaseId);
    ASSERT_EQ(failed.state, JobState::failed);
    ASSERT_TRUE(failed.retryAt);
    EXPECT_EQ(histogram("rampart_job_run_seconds").count, 1u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_run_seconds").sum, 3.0);
    EXPECT_EQ(counter("rampart_job_retries_total"), 1.0);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds").count, 0u) << "the job goes on";

    // The second attempt waits from the back-off's end, not from the job's creation.
    now_ = store::fromMillis(*failed.retryAt) + 500ms;
    auto second = lease(w1_, 1);
    ASSERT_EQ(second.jobs.size(), 1u);
    EXPECT_EQ(histogram("rampart_job_wait_seconds").count, 2u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_wait_seconds").sum, 2.5);
    now_ += 1500ms;
    EXPECT_EQ(fail(w1_, id, second.leaseId).state, JobState::dead);
    // A second report of the same attempt is refused, and counts nothing.
    EXPECT_EQ(errorOf([&] { complete(w1_, id, second.leaseId); }).kind(), Kind::conflict);
    EXPECT_EQ(histogram("rampart_job_run_seconds").count, 2u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_run_seconds").sum, 4.5);
    EXPECT_EQ(counter("rampart_worker_attempts_total", {{"outcome", "failed"}}), 2.0);
    EXPECT_EQ(counter("rampart_worker_attempts_total", {{"outcome", "succeeded"}}), 0.0);
    EXPECT_EQ(counter("rampart_job_retries_total"), 1.0);
    EXPECT_EQ(counter("rampart_job_dead_total"), 1.0);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds").count, 1u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_end_to_end_seconds").sum,
                     std::chrono::duration<double>(now_ - kT0).count());

    // The batch route records the same way.
    const auto batched = submit("default", "external.flaky", 2);
    auto third = lease(w1_, 1);
    ASSERT_EQ(third.jobs.size(), 1u);
    now_ += 4s;
    std::vector<AttemptEnding> endings;
    endings.push_back(AttemptEnding{.jobId = batched, .leaseId = third.leaseId});
    endings.push_back(AttemptEnding{.jobId = id, .leaseId = second.leaseId});  // refused: ended already
    auto answers = runToCompletion(service_->reportMany(w1_, std::move(endings)));
    ASSERT_TRUE(answers[0].reported);
    EXPECT_TRUE(answers[1].refused);
    EXPECT_EQ(counter("rampart_worker_attempts_total", {{"outcome", "succeeded"}}), 1.0);
    EXPECT_EQ(histogram("rampart_job_run_seconds").count, 3u);
    EXPECT_DOUBLE_EQ(histogram("rampart_job_run_seconds").sum, 8.5);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds").count, 2u);

    // A lease that runs out is counted lost once, by the lease call that takes it back; the job's last
    // one leaves it dead, which counts as a dead job and ends its time.
    const auto lost = submit("default", "external.flaky", 2);
    ASSERT_EQ(lease(w1_, 1, 5s).jobs.size(), 1u);
    now_ += 10s;
    ASSERT_EQ(lease(w2_, 1, 5s).jobs.size(), 1u) << "taken back and leased again";
    now_ += 10s;
    EXPECT_TRUE(lease(w2_, 1).jobs.empty());
    EXPECT_EQ(job(lost).state, JobState::dead);
    now_ += 10s;
    lease(w2_, 1);
    EXPECT_EQ(counter("rampart_job_leases_lost_total"), 2.0);
    EXPECT_EQ(counter("rampart_job_dead_total"), 2.0);
    EXPECT_EQ(histogram("rampart_job_end_to_end_seconds").count, 3u);
    EXPECT_EQ(histogram("rampart_job_run_seconds").count, 3u) << "a lost attempt has no known end";
}

// Jobs of task types the configuration does not name (left from an older configuration: the job API
// refuses new ones) reach the worker API anyway; however many names they carry, the label set holds
// the configured names and "other" only.
TEST_F(LeaseServiceTest, ManyUnknownTaskNamesCannotGrowTheMetricLabels) {
    obs::Metrics metrics;
    obs::JobMetrics jobMetrics(metrics, {"default", "emails", "internal"}, taskNames(registry_));
    service_->recordTo(&jobMetrics);
    constexpr int kJobs = 300;
    for (int i = 0; i < kJobs; ++i) submit("default", "made.up." + std::to_string(i));
    int reported = 0;
    for (;;) {
        auto leased = lease(w1_, LeaseService::kMaxJobs);
        if (leased.jobs.empty()) break;
        std::vector<AttemptEnding> endings;
        for (const auto& job : leased.jobs)
            endings.push_back(AttemptEnding{.jobId = job.id, .leaseId = leased.leaseId});
        for (const auto& answer : runToCompletion(service_->reportMany(w1_, std::move(endings))))
            reported += answer.reported ? 1 : 0;
    }
    ASSERT_EQ(reported, kJobs);
    EXPECT_EQ(rampart::testing::seriesCount(metrics, "rampart_job_wait_seconds"), 1u);
    EXPECT_EQ(rampart::testing::seriesCount(metrics, "rampart_job_end_to_end_seconds"), 1u);
    EXPECT_EQ(rampart::testing::seriesCount(metrics, "rampart_worker_attempts_total"),
              obs::JobMetrics::kOutcomes);
    EXPECT_EQ(
        rampart::testing::counterValue(metrics, "rampart_worker_attempts_total",
                                       {{"queue", "default"}, {"task", "other"}, {"outcome", "succeeded"}}),
        kJobs);
    EXPECT_EQ(metrics.render().find("made.up"), std::string::npos);
}

}  // namespace
}  // namespace rampart::jobs
