// The worker API's rules over the store's lease calls. Every report goes to the store with the holder
// the caller's identity and lease id make, so the store alone decides whether it is accepted; only a
// refused report looks further (the job's lease history) to choose between 409 and 404. (Coroutines
// here follow docs/development.md's g++ 12 rules.)
#include "jobs/lease_service.hpp"

#include <algorithm>
#include <set>

#include <boost/asio/this_coro.hpp>
#include <boost/json/serialize.hpp>

#include "identity/api_token.hpp"
#include "jobs/attempt_metrics.hpp"
#include "jobs/job_tracing.hpp"
#include "jobs/retry.hpp"

namespace rampart::jobs {
namespace {

using Kind = JobError::Kind;

[[noreturn]] void invalid(std::string pointer, std::string detail) {
    std::vector<JobError::FieldError> errors;
    errors.push_back({std::move(pointer), detail});
    throw JobError(Kind::invalid, "invalid-field", "the request body has an invalid field",
                   std::move(errors));
}

// Lease ids are base64url; anything else cannot be one we issued, and never reaches the store.
void checkLeaseId(std::string_view leaseId) {
    const bool wellFormed = !leaseId.empty() && leaseId.size() <= LeaseService::kMaxLeaseId &&
                            std::all_of(leaseId.begin(), leaseId.end(), [](char c) {
                                return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                       (c >= '0' && c <= '9') || c == '-' || c == '_';
                            });
    if (!wellFormed) invalid("/lease_id", "is not a lease id");
}

void checkDuration(std::chrono::seconds duration) {
    if (duration < LeaseService::kMinLease || duration > LeaseService::kMaxLease)
        invalid("/lease_seconds", "must be between 5 and 3600");
}

}  // namespace

bool mayLease(const JobsSettings& settings, const identity::Principal& caller, std::string_view queue) {
    if (caller.userId.empty() || !caller.hasScope("worker")) return false;
    const QueueSettings* configured = settings.queue(queue);
    return configured != nullptr && mayLeaseFrom(*configured, caller);
}

LeaseService::LeaseService(store::JobStore& store, const TaskRegistry& registry, JobsSettings settings,
                           identity::Clock clock)
    : store_(store), registry_(registry), settings_(std::move(settings)), clock_(std::move(clock)) {
    for (const TaskType* type : registry_.all())
        resultSchemas_ = resultSchemas_ || type->resultSchema.has_value();
}

store::Millis LeaseService::now() const {
    return store::toMillis(clock_());
}

std::string LeaseService::holderFor(const identity::Principal& caller, std::string_view leaseId) {
    std::string holder = "api:";
    holder += caller.userId;
    holder += ':';
    holder += leaseId;
    return holder;
}

boost::asio::awaitable<Lease> LeaseService::lease(identity::Principal caller, LeaseRequest request,
                                                  const obs::Span& trace) {
    if (request.queues.empty() || static_cast<int>(request.queues.size()) > kMaxQueues)
        invalid("/queues", "must hold 1 to 32 queue names");
    if (request.max < 1 || request.max > kMaxJobs) invalid("/max", "must be between 1 and 100");
    checkDuration(request.duration);
    if (request.wait < std::chrono::seconds(0) || request.wait > kMaxWait)
        invalid("/wait_seconds", "must be between 0 and 30");
    std::vector<JobError::FieldError> refused;
    std::vector<std::string> queues;
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < request.queues.size(); ++i) {
        const std::string& queue = request.queues[i];
        if (!mayLease(settings_, caller, queue)) {
            refused.push_back({"/queues/" + std::to_string(i), "is not a queue you may lease jobs from"});
        } else if (seen.insert(queue).second) {
            queues.push_back(queue);
        }
    }
    // Unknown and forbidden queues get the same answer: a worker learns of no queue it may not use.
    if (!refused.empty()) {
        throw JobError(Kind::forbidden, "queue-not-allowed",
                       "you may not lease jobs from some of these queues", std::move(refused));
    }

    // Task types: those named (each one the caller may run) or, with none named, those its task:NAME
    // scopes allow (none: any). Unknown and forbidden names get one answer, like queues.
    if (request.tasks.size() > kMaxTasks) invalid("/tasks", "must hold at most 64 task type names");
    std::vector<std::string> tasks;
    for (std::size_t i = 0; i < request.tasks.size(); ++i) {
        const std::string& task = request.tasks[i];
        if (registry_.find(task) == nullptr || !caller.mayRunTask(task)) {
            refused.push_back({"/tasks/" + std::to_string(i), "is not a task type you may lease"});
        } else if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
            tasks.push_back(task);
        }
    }
    if (!refused.empty()) {
        throw JobError(Kind::forbidden, "task-not-allowed",
                       "you may not lease jobs of some of these task types", std::move(refused));
    }
    if (tasks.empty() && caller.restrictsTasks()) {
        for (const TaskType* type : registry_.all())
            if (caller.mayRunTask(type->name)) tasks.push_back(type->name);
        if (tasks.empty())
            co_return Lease{.leaseId = identity::randomToken(16), .expires = now(), .jobs = {}};
    }

    if (request.wait == std::chrono::seconds(0) || waiters_ == nullptr) {
        co_return co_await claim(caller, std::move(queues), std::move(tasks), request.max, request.duration,
                                 trace);
    }

    // Long-poll: register, claim, and only then wait, so a wake that comes during the claim is not lost.
    // A wake is a hint that one job is ready; a woken call that finds it taken waits again.
    const auto deadline = std::chrono::steady_clock::now() + request.wait;
    const auto executor = co_await boost::asio::this_coro::executor;
    for (bool first = true;; first = false) {
        auto ticket = waiters_->enter(caller.userId, queues, tasks, executor);
        if (!ticket && !first) {
            // Woken, found nothing, and its place was taken meanwhile: answer what a wait that ended
            // answers, not a 429 for a call that was let in.
            co_return co_await claim(caller, queues, tasks, request.max, request.duration, trace);
        }
        if (!ticket) {
            throw JobError(Kind::throttled, "too-many-waiting-leases",
                           "too many lease calls are waiting already; try again shortly");
        }
        Lease lease = co_await claim(caller, queues, tasks, request.max, request.duration, trace);
        if (!lease.jobs.empty()) {
            // There may be more than this call took (a batch is one hint), or a hint for another job
            // came in while it claimed: pass it on to the next waiter.
            if (static_cast<int>(lease.jobs.size()) == request.max || ticket->woken())
                waiters_->wake(lease.jobs.back().queue, "");
            co_return lease;
        }
        if (ticket->shuttingDown() || std::chrono::steady_clock::now() >= deadline) co_return lease;
        const bool woken = co_await ticket->wait(deadline);
        if (!woken || ticket->shuttingDown()) co_return lease;
    }
}

boost::asio::awaitable<Lease> LeaseService::claim(const identity::Principal& caller,
                                                  std::vector<std::string> queues,
                                                  std::vector<std::string> tasks, int max,
                                                  std::chrono::seconds duration, const obs::Span& trace) {
    const store::Millis time = now();
    // Expired leases first, so that a job whose worker died is leased again even with no in-process
    // workers running; at most once a second, whatever the number of workers polling.
    store::Millis last = lastRecovery_.load();
    if (time - last >= kRecoveryInterval.count() && lastRecovery_.compare_exchange_strong(last, time)) {
        const auto taken = co_await store_.recoverExpiredLeases(time);
        recordTakenBack(metrics_, tracer_, taken, time);
    }

    Lease lease;
    lease.leaseId = identity::randomToken(16);
    const store::Millis millis = std::chrono::milliseconds(duration).count();
    lease.expires = time + millis;
    auto claiming = storeSpan(trace, store_, "claimJobs");
    lease.jobs = co_await store_.claimJobs(std::move(queues), std::move(tasks), max,
                                           holderFor(caller, lease.leaseId), millis, time);
    claiming.end();
    if (tracer_) {
        for (const store::JobRecord& job : lease.jobs)
            lease.traceParents.push_back(obs::formatTraceparent(
                runContext(tracer_->sampler(), job.id, job.attempts, job.traceParent)));
    }
    if (metrics_) {
        // The claim starts the attempt (as the store's attempt deadline counts from it); the job was
        // ready since its creation, or its run_at when later.
        for (const store::JobRecord& job : lease.jobs)
            obs::JobMetrics::attemptStarted(metrics_->series(job.queue, job.task),
                                            (time - std::max(job.created, job.runAt)) / 1000.0);
    }
    co_return lease;
}

boost::asio::awaitable<void> LeaseService::refuse(identity::Principal caller, std::string jobId) {
    const std::string mine = holderFor(caller, "");
    auto holders = co_await store_.leaseHolders(std::move(jobId));
    const bool heldOnce = !caller.userId.empty() &&
                          std::any_of(holders.begin(), holders.end(), [&mine](const std::string& holder) {
                              return holder.starts_with(mine);
                          });
    if (heldOnce) {
        throw JobError(Kind::conflict, "lease-lost",
                       "you no longer hold a lease on this job (it expired, the job was leased again or has "
                       "finished, or the lease id is not the current one)");
    }
    throw JobError(Kind::notFound, "not-found", "no such job");
}

boost::asio::awaitable<Heartbeat> LeaseService::heartbeat(identity::Principal caller, std::string jobId,
                                                          std::string leaseId,
                                                          std::optional<std::chrono::seconds> duration) {
    checkLeaseId(leaseId);
    const auto extension = duration.value_or(kDefaultLease);
    checkDuration(extension);
    const store::Millis time = now();
    const store::Millis millis = std::chrono::milliseconds(extension).count();
    auto beat = co_await store_.heartbeatJob(jobId, holderFor(caller, leaseId), millis, time);
    if (!beat) co_await refuse(std::move(caller), std::move(jobId));
    co_return Heartbeat{.expires = beat ? beat->leaseExpires : time + millis,
                        .cancelRequested = beat && beat->cancelRequested};
}

boost::asio::awaitable<void> LeaseService::progress(identity::Principal caller, std::string jobId,
                                                    std::string leaseId, int percent, std::string message) {
    checkLeaseId(leaseId);
    if (percent < 0 || percent > 100) invalid("/percent", "must be between 0 and 100");
    if (message.size() > kMaxProgressMessage) invalid("/message", "must be at most 200 bytes");
    const bool recorded =
        co_await store_.reportProgress(jobId, holderFor(caller, leaseId), percent, std::move(message), now());
    if (!recorded) co_await refuse(std::move(caller), std::move(jobId));
}

boost::asio::awaitable<store::AttemptReport> LeaseService::outcomeOf(const identity::Principal& caller,
                                                                     const AttemptEnding& ending,
                                                                     store::Millis time) {
    checkLeaseId(ending.leaseId);
    store::AttemptReport report{
        .id = ending.jobId, .holder = holderFor(caller, ending.leaseId), .outcome = {}};
    store::JobOutcome& outcome = report.outcome;
    outcome.succeeded = ending.succeeded;
    if (ending.succeeded) {
        // A declared type's result schema: a result that does not fit is refused and the job stays
        // leased (the worker may fail it instead). Only the job's current holder learns the pointers.
        std::optional<store::JobRecord> job;
        if (resultSchemas_) job = co_await store_.findJob(ending.jobId);
        if (job && job->leaseHolder == report.holder) {
            if (const TaskType* type = registry_.find(job->task)) {
                auto errors =
                    registry_.validateResult(*type, ending.result.value_or(boost::json::value(nullptr)));
                if (!errors.empty()) {
                    std::vector<JobError::FieldError> fields;
                    for (auto& error : errors)
                        fields.push_back({"/result" + error.pointer, std::move(error.detail)});
                    throw JobError(Kind::invalid, "invalid-result",
                                   "the result does not fit the task type's result_schema",
                                   std::move(fields));
                }
            }
        }
        if (ending.result) outcome.result = boost::json::serialize(*ending.result);
        co_return report;
    }
    if (ending.error.size() > kMaxError) invalid("/error", "must be at most 2000 bytes");
    outcome.error = ending.error;
    outcome.retry = ending.retry;
    if (ending.retry) {
        // The back-off needs the task type and the attempt that failed; the store call decides whether
        // the caller holds the job, so this read tells nobody anything.
        auto job = co_await store_.findJob(ending.jobId);
        if (job) outcome.retryAt = nextRetryAt(registry_, job->task, job->attempts, time);
    }
    co_return report;
}

Reported LeaseService::reportedOf(JobState state, store::Millis retryAt) {
    Reported reported{.state = state};
    if (state == JobState::failed) reported.retryAt = retryAt;
    return reported;
}

boost::asio::awaitable<Reported> LeaseService::report(identity::Principal caller, AttemptEnding ending,
                                                      const obs::Span& trace) {
    const store::Millis time = now();
    store::AttemptReport stored = co_await outcomeOf(caller, ending, time);
    const store::Millis retryAt = stored.outcome.retryAt;
    // finishAttempts for the one report: the same write as finishAttempt, and it says where and when
    // the attempt ran, for the metrics.
    std::vector<store::AttemptReport> reports;
    reports.push_back(std::move(stored));
    auto storing = storeSpan(trace, store_, "finishAttempts");
    auto finished = co_await store_.finishAttempts(std::move(reports), time);
    storing.end();
    if (metrics_) recordReported(*metrics_, finished, time, true);
    recordRuns(finished, time);
    std::optional<JobState> state;
    if (!finished.empty() && finished.front()) state = finished.front()->state;
    if (!state) co_await refuse(std::move(caller), std::move(ending.jobId));
    co_return reportedOf(state.value_or(JobState::dead), retryAt);
}

void LeaseService::recordRuns(const std::vector<std::optional<store::FinishedAttempt>>& finished,
                              store::Millis time) {
    if (!tracer_) return;
    for (const auto& attempt : finished)
        if (attempt) recordReportedRun(*tracer_, *attempt, time);
}

boost::asio::awaitable<std::vector<BatchReported>> LeaseService::reportMany(
    identity::Principal caller, std::vector<AttemptEnding> endings, const obs::Span& trace) {
    if (endings.empty() || endings.size() > kMaxReports) invalid("/reports", "must hold 1 to 100 reports");
    const store::Millis time = now();
    std::vector<BatchReported> answers(endings.size());
    std::vector<store::AttemptReport> toStore;
    std::vector<std::size_t> storedAt;  // toStore[k] is endings[storedAt[k]]
    for (std::size_t i = 0; i < endings.size(); ++i) {
        try {
            auto stored = co_await outcomeOf(caller, endings[i], time);
            toStore.push_back(std::move(stored));
            storedAt.push_back(i);
        } catch (const JobError& refused) {
            answers[i].refused = refused;
        }
    }
    if (toStore.empty()) co_return answers;
    std::vector<store::Millis> retryAts;
    for (const auto& stored : toStore) retryAts.push_back(stored.outcome.retryAt);
    auto storing = storeSpan(trace, store_, "finishAttempts");
    auto finished = co_await store_.finishAttempts(std::move(toStore), time);
    storing.end();
    if (metrics_) recordReported(*metrics_, finished, time, true);
    recordRuns(finished, time);
    for (std::size_t k = 0; k < storedAt.size(); ++k) {
        const std::size_t i = storedAt[k];
        if (finished.at(k)) {
            answers[i].reported = reportedOf(finished[k]->state, retryAts[k]);
            continue;
        }
        try {
            co_await refuse(caller, endings[i].jobId);
        } catch (const JobError& refused) {
            answers[i].refused = refused;
        }
    }
    co_return answers;
}

}  // namespace rampart::jobs
