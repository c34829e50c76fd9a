// Submissions are checked completely before the store sees them; the store makes them durable and
// answers idempotent replays atomically. (Coroutines here follow docs/development.md's g++ 12 rules.)
#include "jobs/job_service.hpp"

#include <algorithm>
#include <array>

#include <sodium.h>

#include <fmt/format.h>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/canonical_json.hpp"
#include "core/sha256.hpp"
#include "core/sodium_init.hpp"
#include "jobs/job_tracing.hpp"
#include "obs/audit.hpp"
#include "obs/traced.hpp"
#include "store/store_errors.hpp"

namespace rampart::jobs {
namespace {

using Kind = JobError::Kind;
using identity::Role;

constexpr int kMaxPriority = 100;
constexpr int kMaxAttempts = 100;
constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24);

// A job id: the submit time (48 bits of Unix milliseconds) then 128 random bits, in base64 with the
// URL-safe alphabet in ASCII order, so ids sort by time. New rows then land at the end of the jobs
// table's id index and of its history's job index instead of on a random page each, which keeps the
// pages a commit writes few and shared. The random part keeps ids as unguessable as randomToken(16)'s.
std::string newJobId(store::Millis now) {
    static constexpr char kSortedBase64[] =
        "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    std::array<unsigned char, 22> bytes{};
    const auto time = static_cast<std::uint64_t>(now);
    for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(time >> (8 * (5 - i)));
    ensureSodiumInitialised();
    randombytes_buf(bytes.data() + 6, 16);
    std::string id;
    id.reserve(30);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            id += kSortedBase64[(buffer >> bits) & 0x3f];
        }
    }
    if (bits > 0) id += kSortedBase64[(buffer << (6 - bits)) & 0x3f];
    sodium_memzero(bytes.data(), bytes.size());
    return id;
}

// What an idempotency key stands for: the whole request but the key, canonically serialized, hashed.
std::string requestHash(const Submission& submission, int priority) {
    boost::json::object canonical;
    canonical["task"] = submission.task;
    canonical["args"] = submission.args;
    canonical["queue"] =
        submission.queue ? boost::json::value(*submission.queue) : boost::json::value(nullptr);
    canonical["priority"] = priority;  // as the job has it, the task type's default included
    canonical["run_at"] = submission.runAt ? boost::json::value(store::toMillis(*submission.runAt))
                                           : boost::json::value(nullptr);
    canonical["max_attempts"] =
        submission.maxAttempts ? boost::json::value(*submission.maxAttempts) : boost::json::value(nullptr);
    canonical["timeout_ms"] =
        submission.timeout ? boost::json::value(submission.timeout->count()) : boost::json::value(nullptr);
    return hexLower(sha256(canonicalJson(canonical)));
}

}  // namespace

JobService::JobService(store::JobStore& store, store::AuditSink& audit, const TaskRegistry& registry,
                       JobsSettings settings, identity::Clock clock)
    : store_(store),
      audit_(audit),
      registry_(registry),
      settings_(std::move(settings)),
      clock_(std::move(clock)) {}

store::Millis JobService::now() const {
    return store::toMillis(clock_());
}

bool JobService::maySee(const identity::Principal& caller, const store::JobRecord& job) {
    return job.ownerId == caller.userId || caller.role == Role::admin || caller.role == Role::auditor;
}

bool JobService::mayChange(const identity::Principal& caller, const store::JobRecord& job) {
    return job.ownerId == caller.userId || caller.role == Role::admin;
}

void publishQueueMetrics(const std::vector<QueueOverview>& queues, obs::QueueMetrics& metrics) {
    for (const QueueOverview& queue : queues) {
        for (JobState state : kAllStates) {
            std::int64_t count = 0;
            for (const auto& [counted, n] : queue.counts)
                if (counted == state) count = n;
            metrics.setJobs(queue.name, std::string(stateName(state)), static_cast<double>(count));
        }
        metrics.setPaused(queue.name, queue.paused);
    }
}

const QueueSettings* JobsSettings::queue(std::string_view name) const {
    for (const QueueSettings& queue : queues)
        if (queue.name == name) return &queue;
    return nullptr;
}

bool maySubmitTo(const QueueSettings& queue, const identity::Principal& caller) {
    return std::find(queue.submitRoles.begin(), queue.submitRoles.end(), caller.role) !=
               queue.submitRoles.end() &&
           caller.mayUseQueue(queue.name);
}

bool mayLeaseFrom(const QueueSettings& queue, const identity::Principal& caller) {
    return caller.role == identity::Role::worker && queue.externalWorkers && caller.mayUseQueue(queue.name);
}

store::JobRecord JobService::prepare(const identity::Principal& caller, Submission submission,
                                     std::string_view prefix, store::Millis now) const {
    const std::string at(prefix);
    const TaskType* type = registry_.find(submission.task);
    if (!type) {
        throw JobError(Kind::unprocessable, "unknown-task", "no such task type; see GET /api/v1/tasks",
                       {{at + "/task", "is not a registered task type"}});
    }
    auto problems = registry_.validate(*type, submission.args);
    if (!problems.empty()) {
        std::vector<JobError::FieldError> errors;
        for (auto& problem : problems) errors.push_back({at + "/args" + problem.pointer, problem.detail});
        throw JobError(Kind::unprocessable, "invalid-args", "the arguments do not fit the task's schema",
                       std::move(errors));
    }
    const std::string queue = submission.queue.value_or(type->defaultQueue);
    const QueueSettings* queueSettings = settings_.queue(queue);
    if (queueSettings == nullptr) {
        throw JobError(Kind::unprocessable, "unknown-queue", "there is no such queue",
                       {{at + "/queue", "is not a configured queue"}});
    }
    if (!maySubmitTo(*queueSettings, caller)) {
        throw JobError(Kind::forbidden, "queue-not-allowed",
                       "your role or token may not submit to the queue " + queue,
                       {{at + "/queue", "is not a queue you may submit to"}});
    }
    const int priority = submission.priority.value_or(type->priority);
    if (priority < -kMaxPriority || priority > kMaxPriority) {
        throw JobError(Kind::invalid, "invalid-field", "priority must be between -100 and 100",
                       {{at + "/priority", "must be between -100 and 100"}});
    }
    const int maxAttempts = submission.maxAttempts.value_or(type->maxAttempts);
    if (maxAttempts < 1 || maxAttempts > kMaxAttempts) {
        throw JobError(Kind::invalid, "invalid-field", "max_attempts must be between 1 and 100",
                       {{at + "/max_attempts", "must be between 1 and 100"}});
    }
    const auto timeout = submission.timeout.value_or(type->timeout);
    if (timeout < std::chrono::seconds(1) || timeout > kMaxTimeout) {
        throw JobError(Kind::invalid, "invalid-field", "timeout_seconds must be between 1 and 86400",
                       {{at + "/timeout_seconds", "must be between 1 and 86400"}});
    }
    store::JobRecord job;
    job.id = newJobId(now);
    job.task = type->name;
    job.args = boost::json::serialize(submission.args);
    job.queue = queue;
    job.priority = priority;
    job.maxAttempts = maxAttempts;
    job.runAt = submission.runAt ? store::toMillis(*submission.runAt) : now;
    job.timeoutMs = timeout.count();
    job.ownerId = caller.userId;
    if (submission.idempotencyKey) {
        job.requestHash = requestHash(submission, priority);
        job.idempotencyKey = std::move(submission.idempotencyKey);
    }
    return job;
}

boost::asio::awaitable<Submitted> JobService::submit(identity::Principal caller, Submission submission,
                                                     const obs::Span& trace) {
    const store::Millis time = now();
    store::JobRecord job = prepare(caller, std::move(submission), "", time);
    auto submitting = submitSpan(trace, job.task, job.queue);
    submitting.setAttribute("rampart.job.id", job.id);
    job.traceParent = traceParentOf(submitting);
    auto storing = storeSpan(submitting, store_, "submitJob");
    auto stored = co_await store_.submitJob(std::move(job), time);
    storing.end();
    if (stored.outcome == store::SubmitOutcome::conflict) {
        std::vector<JobError::FieldError> errors;
        errors.push_back({"/idempotency_key", "already used for a different request"});
        throw JobError(Kind::conflict, "idempotency-key-reused",
                       "this idempotency key was used for a different request", std::move(errors));
    }
    const bool created = stored.outcome == store::SubmitOutcome::created;
    if (created && onSubmitted_ && stored.job.runAt <= time) onSubmitted_(stored.job.queue, stored.job.task);
    co_return Submitted{.job = std::move(stored.job), .created = created};
}

boost::asio::awaitable<std::vector<store::JobRecord>> JobService::submitBatch(
    identity::Principal caller, std::vector<Submission> submissions, const obs::Span& trace) {
    if (submissions.empty() || static_cast<int>(submissions.size()) > settings_.maxBatch) {
        std::vector<JobError::FieldError> errors;
        errors.push_back({"/jobs", "must hold 1 to " + std::to_string(settings_.maxBatch) + " jobs"});
        throw JobError(Kind::invalid, "invalid-field",
                       "a batch holds 1 to " + std::to_string(settings_.maxBatch) + " jobs",
                       std::move(errors));
    }
    const store::Millis time = now();
    std::vector<store::JobRecord> jobs;
    jobs.reserve(submissions.size());
    for (std::size_t i = 0; i < submissions.size(); ++i) {
        jobs.push_back(prepare(caller, std::move(submissions[i]), "/jobs/" + std::to_string(i), time));
    }
    // One producer span for the batch (a span per job would cost more than storing it); every job keeps it.
    auto submitting = submitSpan(trace, jobs.front().task, jobs.front().queue);
    submitting.setAttribute("messaging.batch.message_count", static_cast<std::int64_t>(jobs.size()));
    if (const auto traceParent = traceParentOf(submitting))
        for (auto& job : jobs) job.traceParent = traceParent;
    bool conflict = false;
    std::vector<store::JobRecord> stored;
    auto storing = storeSpan(submitting, store_, "submitJobs");
    try {
        stored = co_await store_.submitJobs(std::move(jobs), time);
    } catch (const store::Conflict&) {
        conflict = true;
    }
    storing.end();
    if (conflict) {
        throw JobError(Kind::conflict, "idempotency-key-reused",
                       "an idempotency key of the batch was used before; nothing was stored");
    }
    if (onSubmitted_) {
        // One wake-up per queue and task type of the jobs ready now (a batch is mostly of one kind).
        std::vector<std::pair<std::string_view, std::string_view>> woken;
        for (const auto& job : stored) {
            if (job.runAt > time) continue;
            std::pair<std::string_view, std::string_view> kind{job.queue, job.task};
            if (std::find(woken.begin(), woken.end(), kind) != woken.end()) continue;
            woken.push_back(kind);
            onSubmitted_(job.queue, job.task);
        }
    }
    co_return stored;
}

boost::asio::awaitable<store::JobRecord> JobService::get(identity::Principal caller, std::string id,
                                                         const obs::Span& trace) {
    // Stamp and time first: a write that commits during the read makes what it read stale.
    const std::optional<std::uint64_t> stamp = store_.localWriteStamp();
    const auto readAt = RecentJobs::Clock::now();
    if (stamp) {
        if (auto kept = recent_.find(id, *stamp, readAt)) {
            if (!maySee(caller, *kept)) throw JobError(Kind::notFound, "not-found", "no such job");
            co_return *kept;
        }
    }
    auto reading = storeSpan(trace, store_, "findJob");
    auto job = co_await store_.findJob(std::move(id));
    reading.end();
    if (!job || !maySee(caller, *job)) throw JobError(Kind::notFound, "not-found", "no such job");
    if (stamp) recent_.keep(*job, *stamp, readAt);
    co_return std::move(*job);
}

boost::asio::awaitable<store::JobPage> JobService::list(identity::Principal caller, store::JobQuery query,
                                                        const obs::Span& trace) {
    const bool seesAll = caller.role == Role::admin || caller.role == Role::auditor;
    if (!seesAll) query.ownerId = caller.userId;  // whatever the query asked for
    auto reading = storeSpan(trace, store_, "listJobs");
    co_return co_await store_.listJobs(std::move(query));
}

boost::asio::awaitable<store::JobRecord> JobService::cancel(identity::Principal caller, std::string id,
                                                            AuditContext context, const obs::Span& trace) {
    auto reading = storeSpan(trace, store_, "findJob");
    auto job = co_await store_.findJob(id);
    reading.end();
    if (!job || !mayChange(caller, *job)) {
        // Auditors never get here (the route's policy); for a user, someone else's job does not exist.
        throw JobError(Kind::notFound, "not-found", "no such job");
    }
    if (isTerminal(job->state)) {
        throw JobError(Kind::conflict, "job-finished", "the job has finished already");
    }
    auto canceling = storeSpan(trace, store_, "cancelJob");
    auto canceled = co_await store_.cancelJob(std::move(id), now());
    canceling.end();
    if (!canceled) throw JobError(Kind::notFound, "not-found", "no such job");
    // It may have ended between the read above and the cancel: that is the answer for a finished job.
    if (isTerminal(canceled->state) && canceled->state != JobState::canceled) {
        throw JobError(Kind::conflict, "job-finished", "the job has finished already");
    }
    // Not the arguments (they may hold what the task needs); the state says canceled, or still running
    // with the cancel requested.
    boost::json::object details{
        {"queue", canceled->queue}, {"task", canceled->task}, {"state", stateName(canceled->state)}};
    if (canceled->ownerId != caller.userId) details["owner"] = canceled->ownerId;
    obs::AuditEvent event{.time = clock_(),
                          .action = "job.cancel",
                          .actor = caller.userId,
                          .client = std::move(context.client),
                          .requestId = std::move(context.requestId),
                          .target = "job:" + canceled->id,
                          .outcome = "success",
                          .details = std::move(details)};
    co_await obs::tracedStore(trace, audit_, "appendAudit", audit_.appendAudit(std::move(event)));
    co_return std::move(*canceled);
}

boost::asio::awaitable<store::JobRecord> JobService::retry(identity::Principal caller, std::string id,
                                                           AuditContext context, const obs::Span& trace) {
    auto reading = storeSpan(trace, store_, "findJob");
    auto job = co_await store_.findJob(id);
    reading.end();
    if (!job || !mayChange(caller, *job)) throw JobError(Kind::notFound, "not-found", "no such job");
    const auto notRetryable = [](JobState state) {
        return JobError(
            Kind::conflict, "job-not-retryable",
            fmt::format("only a failed or dead job can be retried; this one is {}", stateName(state)));
    };
    if (job->state != JobState::failed && job->state != JobState::dead) throw notRetryable(job->state);
    // A type no longer declared here would wait for a worker that never comes.
    if (registry_.find(job->task) == nullptr) {
        throw JobError(Kind::conflict, "job-not-retryable",
                       "the job's task type is no longer declared on this server");
    }
    const JobState before = job->state;
    auto retrying = storeSpan(trace, store_, "retryJob");
    auto retried = co_await store_.retryJob(std::move(id), now());
    retrying.end();
    if (!retried) throw JobError(Kind::notFound, "not-found", "no such job");
    // Another request may have retried it (or a due failed job been claimed) between the read and the write.
    if (retried->state != JobState::queued) throw notRetryable(retried->state);
    if (onSubmitted_) onSubmitted_(retried->queue, retried->task);
    boost::json::object details{{"queue", retried->queue},
                                {"task", retried->task},
                                {"from", stateName(before)},
                                {"attempts", retried->attempts},
                                {"max_attempts", retried->maxAttempts}};
    if (retried->ownerId != caller.userId) details["owner"] = retried->ownerId;
    obs::AuditEvent event{.time = clock_(),
                          .action = "job.retry",
                          .actor = caller.userId,
                          .client = std::move(context.client),
                          .requestId = std::move(context.requestId),
                          .target = "job:" + retried->id,
                          .outcome = "success",
                          .details = std::move(details)};
    co_await obs::tracedStore(trace, audit_, "appendAudit", audit_.appendAudit(std::move(event)));
    co_return std::move(*retried);
}

boost::asio::awaitable<std::vector<store::JobEventRecord>> JobService::events(identity::Principal caller,
                                                                              std::string id,
                                                                              const obs::Span& trace) {
    auto reading = storeSpan(trace, store_, "findJob");
    auto job = co_await store_.findJob(id);
    reading.end();
    if (!job || !maySee(caller, *job)) throw JobError(Kind::notFound, "not-found", "no such job");
    auto history = storeSpan(trace, store_, "jobEvents");
    co_return co_await store_.jobEvents(std::move(id));
}

boost::asio::awaitable<std::vector<QueueOverview>> JobService::queues(const obs::Span& trace) {
    auto stats = co_await obs::tracedStore(trace, store_, "queueStats", store_.queueStats());
    std::vector<QueueOverview> overview;
    for (const QueueSettings& queue : settings_.queues) overview.push_back(QueueOverview{.name = queue.name});
    for (auto& entry : stats) {
        auto known = std::find_if(overview.begin(), overview.end(),
                                  [&](const QueueOverview& q) { return q.name == entry.name; });
        if (known == overview.end()) {
            // Jobs left in a queue that the configuration no longer names: shown, so they are not forgotten.
            overview.push_back(QueueOverview{.name = entry.name, .configured = false});
            known = std::prev(overview.end());
        }
        known->paused = entry.paused;
        known->counts = std::move(entry.counts);
    }
    co_return overview;
}

boost::asio::awaitable<void> JobService::setQueuePaused(identity::Principal caller, std::string queue,
                                                        bool paused, AuditContext context,
                                                        const obs::Span& trace) {
    if (settings_.queue(queue) == nullptr) throw JobError(Kind::notFound, "not-found", "no such queue");
    co_await obs::tracedStore(trace, store_, "setQueuePaused", store_.setQueuePaused(queue, paused, now()));
    obs::AuditEvent event{.time = clock_(),
                          .action = paused ? "queue.pause" : "queue.resume",
                          .actor = caller.userId,
                          .client = std::move(context.client),
                          .requestId = std::move(context.requestId),
                          .target = "queue:" + queue,
                          .outcome = "success",
                          .details = {}};
    co_await obs::tracedStore(trace, audit_, "appendAudit", audit_.appendAudit(std::move(event)));
    // Jobs that waited in the queue may be claimed now.
    if (!paused && onSubmitted_) onSubmitted_(queue, "");
}

}  // namespace rampart::jobs
