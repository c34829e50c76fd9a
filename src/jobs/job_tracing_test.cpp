// A job's trace from its submission to its run: the submission's context stored with the job, the store
// calls as spans, and the run in its own trace linked back, by the in-process workers and through the
// worker API alike; with tracing off, nothing is kept.
#include "jobs/job_tracing.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "jobs/attempt_metrics.hpp"
#include "jobs/builtin_tasks.hpp"
#include "jobs/job_service.hpp"
#include "jobs/lease_service.hpp"
#include "jobs/schedule_service.hpp"
#include "jobs/worker_pool.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/forwarding_job_store.hpp"
#include "testing/recording_span_sink.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using identity::Principal;
using identity::Role;
using testing::RecordingSpanSink;
using testing::runToCompletion;

Principal user() {
    return Principal{.userId = "alice", .username = "alice", .role = Role::user, .scopes = {"*"}};
}

Principal worker() {
    return Principal{.userId = "w1", .username = "w1", .role = Role::worker, .scopes = {"*"}};
}

const obs::SpanData* find(const std::vector<obs::SpanData>& spans, std::string_view name) {
    for (const auto& span : spans)
        if (span.name == name) return &span;
    return nullptr;
}

class JobTracingTest : public ::testing::Test {
  protected:
    JobTracingTest() : store_(dir_.path() / "rampart.db") {
        store_.setAuditKey(rampart::testing::testAuditKey());
        store_.migrate();
        for (auto [id, role] : {std::pair{"alice", "user"}, {"w1", "worker"}}) {
            store::UserRecord account;
            account.id = id;
            account.username = id;
            account.role = role;
            runToCompletion(store_.createUser(account));
        }
        addBuiltinTasks(registry_);
    }
    ~JobTracingTest() override {
        if (pool_) pool_->stop();
        store_.close();
    }

    store::JobRecord submitTraced(const obs::Span& parent, std::string task = "echo") {
        Submission submission;
        submission.task = std::move(task);
        // noop takes no arguments; echo's reach no span.
        submission.args = submission.task == "noop" ? boost::json::object{} : boost::json::object{{"n", 1}};
        return runToCompletion(service_.submit(user(), std::move(submission), parent)).job;
    }

    store::JobRecord stored(const std::string& id) { return *runToCompletion(store_.findJob(id)); }

    store::JobRecord waitFinished(const std::string& id) {
        for (int i = 0; i < 500; ++i) {
            auto current = stored(id);
            if (isTerminal(current.state)) return current;
            std::this_thread::sleep_for(20ms);
        }
        return stored(id);
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    TaskRegistry registry_;
    JobService service_{store_, store_, registry_, JobsSettings{}};
    std::shared_ptr<RecordingSpanSink> sink_ = std::make_shared<RecordingSpanSink>();
    obs::Tracer tracer_{{}, sink_};
    std::unique_ptr<WorkerPool> pool_;
};

TEST_F(JobTracingTest, ASubmissionIsAProducerSpanTheJobKeepsWithItsStoreCallUnderIt) {
    std::string serverSpanId;
    store::JobRecord job;
    {
        auto request = tracer_.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
        serverSpanId = obs::toHex(request.context().spanId);
        job = submitTraced(request);
    }
    const auto spans = sink_->spans();
    const auto* submit = find(spans, "submit echo");
    const auto* storeCall = find(spans, "submitJob");
    ASSERT_TRUE(submit && storeCall);
    EXPECT_EQ(submit->kind, obs::SpanKind::producer);
    EXPECT_EQ(obs::toHex(submit->parentSpanId), serverSpanId);
    EXPECT_EQ(RecordingSpanSink::attribute(*submit, "rampart.job.id"), job.id);
    EXPECT_EQ(storeCall->kind, obs::SpanKind::client);
    EXPECT_EQ(storeCall->parentSpanId, submit->context.spanId);
    EXPECT_EQ(RecordingSpanSink::attribute(*storeCall, "db.system"), "sqlite");
    EXPECT_EQ(RecordingSpanSink::attribute(*storeCall, "db.operation.name"), "submitJob");
    // The stored job names the submission, as read back from the store.
    EXPECT_EQ(stored(job.id).traceParent, obs::formatTraceparent(submit->context));
    // No argument reaches a span.
    for (const auto& span : spans)
        for (const auto& attribute : span.attributes)
            EXPECT_EQ(RecordingSpanSink::attribute(span, attribute.key).find("\"n\""), std::string::npos);
}

TEST_F(JobTracingTest, ABatchIsOneSubmissionSpanEveryJobKeeps) {
    auto request = tracer_.start("POST /api/v1/jobs/batch", obs::SpanKind::server, nullptr);
    std::vector<Submission> batch(3);
    for (auto& submission : batch) {
        submission.task = "noop";
        submission.args = boost::json::object{};
    }
    auto jobs = runToCompletion(service_.submitBatch(user(), std::move(batch), request));
    request.end();
    const auto spans = sink_->spans();
    const auto* submit = find(spans, "submit noop");
    ASSERT_TRUE(submit);
    EXPECT_EQ(RecordingSpanSink::attribute(*submit, "messaging.batch.message_count"), "3");
    for (const auto& job : jobs)
        EXPECT_EQ(stored(job.id).traceParent, obs::formatTraceparent(submit->context));
}

TEST_F(JobTracingTest, WithTracingOffAJobKeepsNoContext) {
    auto job = submitTraced(obs::Span::off());
    EXPECT_FALSE(stored(job.id).traceParent.has_value());
    EXPECT_TRUE(sink_->spans().empty());
}

TEST_F(JobTracingTest, AnInProcessRunIsItsOwnTraceLinkedToTheSubmission) {
    pool_ = std::make_unique<WorkerPool>(store_, registry_,
                                         WorkerSettings{.pollInterval = 20ms, .tracer = &tracer_}, nullptr);
    pool_->start();
    obs::SpanContext submission;
    store::JobRecord job;
    {
        auto request = tracer_.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
        job = submitTraced(request);
        submission = *obs::parseTraceparent(*job.traceParent);
    }
    pool_->notify();
    EXPECT_EQ(waitFinished(job.id).state, JobState::succeeded);
    pool_->stop();
    const auto spans = sink_->spans();
    const auto* run = find(spans, "run echo");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->kind, obs::SpanKind::consumer);
    EXPECT_NE(run->context.traceId, submission.traceId) << "the worker's trace is its own";
    EXPECT_EQ(run->parentSpanId, obs::SpanId{});
    ASSERT_EQ(run->links.size(), 1u);
    EXPECT_EQ(run->links[0].context.traceId, submission.traceId);
    EXPECT_EQ(run->links[0].context.spanId, submission.spanId);
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.id"), job.id);
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.queue"), "default");
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.task"), "echo");
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.attempt"), "1");
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.outcome"), "succeeded");
    EXPECT_EQ(run->status, obs::SpanStatus::unset);
    // The ids any node derives for this attempt.
    EXPECT_EQ(run->context.spanId, runContext(tracer_.sampler(), job.id, 1, job.traceParent).spanId);
}

TEST_F(JobTracingTest, AnExternalRunIsRecordedWhenReportedUnderTheContextItsLeaseGave) {
    LeaseService leases(store_, registry_, JobsSettings{});
    leases.traceTo(&tracer_);
    store::JobRecord job;
    {
        auto request = tracer_.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
        job = submitTraced(request, "noop");
    }
    const auto submission = *obs::parseTraceparent(*job.traceParent);
    auto lease = runToCompletion(leases.lease(worker(), LeaseRequest{.queues = {"default"}, .max = 5}));
    ASSERT_EQ(lease.jobs.size(), 1u);
    ASSERT_EQ(lease.traceParents.size(), 1u);
    const auto given = obs::parseTraceparent(lease.traceParents[0]);
    ASSERT_TRUE(given);
    EXPECT_TRUE(given->sampled);
    EXPECT_NE(given->traceId, submission.traceId);

    runToCompletion(leases.report(worker(), AttemptEnding{.jobId = job.id,
                                                          .leaseId = lease.leaseId,
                                                          .succeeded = false,
                                                          .error = "broke",
                                                          .retry = false}));
    const auto spans = sink_->spans();
    const auto* run = find(spans, "run noop");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->context.traceId, given->traceId);
    EXPECT_EQ(run->context.spanId, given->spanId);
    ASSERT_EQ(run->links.size(), 1u);
    EXPECT_EQ(run->links[0].context.spanId, submission.spanId);
    EXPECT_EQ(run->status, obs::SpanStatus::error);
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.state"), "dead");
    EXPECT_EQ(run->statusMessage, "") << "a worker's error text is not exported";
    EXPECT_LE(run->startUnixNanos, run->endUnixNanos);
}

// A worker that dies holding a lease never reports: the server ends its run span when it takes the job back,
// as an error that says the lease was lost, in the run's trace with the link to the submission.
TEST_F(JobTracingTest, ARunWhoseLeaseRanOutIsRecordedWhenTheJobIsTakenBack) {
    auto clockNow =
        std::make_shared<std::atomic<std::int64_t>>(store::toMillis(std::chrono::system_clock::now()));
    LeaseService leases(store_, registry_, JobsSettings{}, [clockNow] {
        return std::chrono::system_clock::time_point(std::chrono::milliseconds(clockNow->load()));
    });
    leases.traceTo(&tracer_);
    store::JobRecord job;
    {
        auto request = tracer_.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
        job = submitTraced(request, "noop");
    }
    const auto submission = *obs::parseTraceparent(*job.traceParent);
    auto lease = runToCompletion(leases.lease(
        worker(), LeaseRequest{.queues = {"default"}, .max = 1, .duration = std::chrono::seconds(5)}));
    ASSERT_EQ(lease.traceParents.size(), 1u);
    const auto given = *obs::parseTraceparent(lease.traceParents[0]);
    EXPECT_FALSE(find(sink_->spans(), "run noop"));

    // The worker is gone; the next worker's lease, a minute on, takes the job back first.
    clockNow->fetch_add(60'000);
    auto next = runToCompletion(leases.lease(worker(), LeaseRequest{.queues = {"default"}, .max = 1}));
    ASSERT_EQ(next.jobs.size(), 1u) << "taken back and leased again";
    const auto spans = sink_->spans();
    const auto* run = find(spans, "run noop");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->context.traceId, given.traceId);
    EXPECT_EQ(run->context.spanId, given.spanId);
    EXPECT_EQ(run->status, obs::SpanStatus::error);
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.lease_lost"), "true");
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.state"), "queued");
    EXPECT_EQ(RecordingSpanSink::attribute(*run, "rampart.job.attempt"), "1");
    ASSERT_EQ(run->links.size(), 1u);
    EXPECT_EQ(run->links[0].context.spanId, submission.spanId);
    // From the claim to the take-back: a minute.
    EXPECT_GE(run->endUnixNanos - run->startUnixNanos, 59'000'000'000u);
    // The second attempt is another run, in a trace of its own.
    const auto second = *obs::parseTraceparent(next.traceParents[0]);
    EXPECT_NE(second.traceId, given.traceId);
}

// A run whose lease another node takes back, for the tests of who records its span.
class TakenBackRunTest : public JobTracingTest {
  protected:
    // Registers "held.sleep" (the builtin sleep; one attempt, so a job taken back is dead) with `handler`
    // around it when given, starts a pool on `store` (a 300 ms lease, no lease recovery of its own),
    // submits a traced job sleeping `seconds`, and waits until it runs.
    store::JobRecord startHeldSleep(store::JobStore& store, int seconds,
                                    std::function<TaskHandler(TaskHandler)> wrap = {}) {
        TaskType held = *registry_.find("sleep");
        held.name = "held.sleep";
        held.maxAttempts = 1;
        if (wrap) held.handler = wrap(std::move(held.handler));
        registry_.add(std::move(held));
        pool_ = std::make_unique<WorkerPool>(
            store, registry_,
            WorkerSettings{.lease = 300ms, .pollInterval = 20ms, .recoverLeases = false, .tracer = &tracer_},
            nullptr);
        pool_->start();
        store::JobRecord job;
        {
            auto request = tracer_.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
            Submission submission;
            submission.task = "held.sleep";
            submission.args = boost::json::object{{"seconds", seconds}};
            job = runToCompletion(service_.submit(user(), std::move(submission), request)).job;
        }
        pool_->notify();
        for (int i = 0; i < 500 && stored(job.id).state != JobState::running; ++i)
            std::this_thread::sleep_for(10ms);
        EXPECT_EQ(stored(job.id).state, JobState::running);
        return job;
    }

    // Another node, its clock past the lease, takes the job back and records the run as lost.
    void takeBackElsewhere() {
        const store::Millis later = store::toMillis(std::chrono::system_clock::now() + 10min);
        const auto taken = runToCompletion(store_.recoverExpiredLeases(later));
        ASSERT_EQ(taken.size(), 1u);
        recordTakenBack(nullptr, &tracer_, taken, later);
    }

    // The spans recorded for the job's first run, each checked to be the take-back's.
    std::size_t runSpans(const store::JobRecord& job) {
        const auto runId = runContext(tracer_.sampler(), job.id, 1, job.traceParent).spanId;
        std::size_t runs = 0;
        for (const auto& span : sink_->spans()) {
            if (span.context.spanId != runId) continue;
            ++runs;
            EXPECT_EQ(RecordingSpanSink::attribute(span, "rampart.job.lease_lost"), "true");
        }
        return runs;
    }
};

// An in-process worker whose lease another node took back (its heartbeats stalled past the lease) leaves the
// run's span to that node: one span per run, not one from each.
TEST_F(TakenBackRunTest, AnInProcessRunWhoseLeaseWasTakenBackIsRecordedOnce) {
    auto returned = std::make_shared<std::atomic<bool>>(false);
    const auto job = startHeldSleep(store_, 60, [returned](TaskHandler sleep) -> TaskHandler {
        return [returned, sleep](TaskContext& context) -> boost::asio::awaitable<boost::json::value> {
            auto result = co_await sleep(context);
            *returned = true;
            co_return result;
        };
    });
    takeBackElsewhere();
    // The worker's next heartbeat finds the lease gone and stops the handler; stop() waits for the rest.
    for (int i = 0; i < 500 && !*returned; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(*returned);
    pool_->stop();
    EXPECT_EQ(runSpans(job), 1u) << "the run is recorded by the node that took the job back, and only there";
}

// Heartbeats that meet store errors leave the worker unaware its lease ran out; the node that took the job
// back recorded the run, so the worker's refused report records nothing more.
TEST_F(TakenBackRunTest, ARunWhoseReportIsRefusedAfterFailedHeartbeatsIsRecordedOnce) {
    struct HeartbeatsFail : testing::ForwardingJobStore {
        using ForwardingJobStore::ForwardingJobStore;
        Awaitable<std::optional<store::LeaseRenewal>> heartbeatJob(std::string, std::string, Millis,
                                                                   Millis) override {
            throw std::runtime_error("database is locked");
        }
        Awaitable<std::vector<std::optional<store::FinishedAttempt>>> finishAttempts(
            std::vector<store::AttemptReport> reports, Millis now) override {
            ++reported;
            return inner_.finishAttempts(std::move(reports), now);
        }
        std::atomic<int> reported{0};
    };
    HeartbeatsFail failing(store_);
    const auto job = startHeldSleep(failing, 1);
    takeBackElsewhere();
    // The handler sleeps its second out (no heartbeat told it to stop) and reports; the report is refused.
    for (int i = 0; i < 300 && failing.reported == 0; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(failing.reported, 1);
    pool_->stop();  // lets the report's store call finish
    EXPECT_EQ(stored(job.id).state, JobState::dead) << "as the node that took it back left it";
    EXPECT_EQ(runSpans(job), 1u) << "recorded by the node that took the job back, and only there";
}

TEST_F(JobTracingTest, ARunIsRecordedAsItsSubmissionWasAndEachAttemptHasItsOwnSpan) {
    obs::Tracer keepsNone({.kind = obs::SamplerKind::parentBasedAlwaysOff}, sink_);
    auto unsampled = keepsNone.start("POST /api/v1/jobs", obs::SpanKind::server, nullptr);
    auto job = submitTraced(unsampled);
    ASSERT_TRUE(job.traceParent);
    // A parent-based sampler follows the submission: an unrecorded request's job runs unrecorded,
    EXPECT_FALSE(runContext(tracer_.sampler(), job.id, 1, job.traceParent).sampled);
    // and a new trace (a job submitted with tracing off) is the sampler's own decision.
    EXPECT_TRUE(runContext(tracer_.sampler(), job.id, 1, std::nullopt).sampled);
    auto first = runContext(tracer_.sampler(), job.id, 1, job.traceParent);
    auto again = runContext(tracer_.sampler(), job.id, 1, job.traceParent);
    auto second = runContext(tracer_.sampler(), job.id, 2, job.traceParent);
    EXPECT_EQ(first.traceId, again.traceId);
    EXPECT_EQ(first.spanId, again.spanId);
    EXPECT_NE(first.traceId, second.traceId);
    EXPECT_FALSE(first.remote);
}

// Every store call a request makes through the job and schedule routes is a span of the request's, the
// audit record of a change too; none holds a job's or a schedule's arguments.
TEST_F(JobTracingTest, CancelsAndSchedulesStoreCallsAndTheirAuditRecordsAreSpansOfTheRequest) {
    ScheduleService schedules(store_, store_, store_, service_,
                              ScheduleSettings{.allowUsers = true, .minIntervalSeconds = 1});
    auto job = submitTraced(obs::Span::off());
    std::vector<std::string> called;
    obs::SpanId requestId{};
    const auto spansUnder = [&](auto&& call) {
        const std::size_t before = sink_->spans().size();
        {
            auto request = tracer_.start("request", obs::SpanKind::server, nullptr);
            requestId = request.context().spanId;
            call(request);
        }
        const auto all = sink_->spans();
        std::vector<obs::SpanData> spans;
        for (std::size_t i = before; i < all.size(); ++i)
            if (all[i].context.spanId != requestId) spans.push_back(all[i]);
        for (const auto& span : spans) {
            EXPECT_EQ(span.parentSpanId, requestId) << span.name;
            EXPECT_EQ(RecordingSpanSink::attribute(span, "db.system"), "sqlite") << span.name;
            for (const auto& attribute : span.attributes)
                EXPECT_EQ(RecordingSpanSink::attribute(span, attribute.key).find("s3cret-arg"),
                          std::string::npos);
        }
        std::vector<std::string> names;
        for (const auto& span : spans) names.emplace_back(span.name.view());
        return names;
    };
    EXPECT_EQ(spansUnder([&](const obs::Span& request) {
                  runToCompletion(service_.cancel(user(), job.id,
                                                  AuditContext{.requestId = "r", .client = "c"}, request));
              }),
              (std::vector<std::string>{"findJob", "cancelJob", "appendAudit"}));

    store::ScheduleRecord schedule;
    EXPECT_EQ(spansUnder([&](const obs::Span& request) {
                  ScheduleDraft draft;
                  draft.name = "nightly";
                  draft.task = "echo";
                  draft.args = boost::json::object{{"n", "s3cret-arg"}};
                  draft.everySeconds = 60;
                  schedule = runToCompletion(schedules.create(
                      user(), std::move(draft), AuditContext{.requestId = "r", .client = "c"}, request));
              }),
              (std::vector<std::string>{"createSchedule", "appendAudit"}));
    EXPECT_EQ(spansUnder([&](const obs::Span& request) {
                  runToCompletion(schedules.list(user(), store::ScheduleQuery{}, request));
                  runToCompletion(schedules.ticks(user(), schedule.id, 10, request));
              }),
              (std::vector<std::string>{"listSchedules", "findSchedule", "scheduleTicks"}));
    EXPECT_EQ(spansUnder([&](const obs::Span& request) {
                  runToCompletion(schedules.remove(user(), schedule.id,
                                                   AuditContext{.requestId = "r", .client = "c"}, request));
              }),
              (std::vector<std::string>{"findSchedule", "deleteSchedule", "appendAudit"}));
}

}  // namespace
}  // namespace rampart::jobs
