// The jobs service: submitting (task type, arguments against its schema, queue, idempotency), reading
// and canceling jobs, with the object-level rule applied in one place: a job is visible to its owner,
// admins and auditors, cancelable by its owner and admins, and to everyone else it does not exist.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include "identity/jwt.hpp"
#include "identity/principal.hpp"
#include "jobs/recent_jobs.hpp"
#include "jobs/task_registry.hpp"
#include "obs/metrics.hpp"
#include "obs/tracer.hpp"
#include "store/audit_sink.hpp"
#include "store/job_store.hpp"

namespace rampart::jobs {

// A refusal the client sees: kind maps to the HTTP status; `errors` hold JSON pointers into the
// request body ("/args/url") with what is wrong.
class JobError : public std::runtime_error {
  public:
    // throttled: too many requests of a kind at once (429, try again in a second).
    enum class Kind { invalid, unprocessable, notFound, conflict, forbidden, throttled };
    struct FieldError {
        std::string pointer;
        std::string detail;
    };
    JobError(Kind kind, std::string slug, std::string message, std::vector<FieldError> errors = {})
        : std::runtime_error(std::move(message)),
          kind_(kind),
          slug_(std::move(slug)),
          errors_(std::move(errors)) {}

    [[nodiscard]] Kind kind() const { return kind_; }
    [[nodiscard]] const std::string& slug() const { return slug_; }
    [[nodiscard]] const std::vector<FieldError>& errors() const { return errors_; }

  private:
    Kind kind_;
    std::string slug_;
    std::vector<FieldError> errors_;
};

// One submission as the API received it; unset fields take the task type's defaults.
struct Submission {
    std::string task;
    boost::json::value args;
    std::optional<std::string> queue;
    std::optional<int> priority;  // unset: the task type's (0 for the built-ins)
    std::optional<std::chrono::system_clock::time_point> runAt;
    std::optional<int> maxAttempts;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<std::string> idempotencyKey;
};

// A queue for admins and auditors: the configured ones, and any other the store still holds jobs of.
struct QueueOverview {
    std::string name;
    bool configured = true;
    bool paused = false;
    std::vector<std::pair<JobState, std::int64_t>> counts{};  // states with jobs only
};

// Who asked, for the audit log.
struct AuditContext {
    std::string requestId;
    std::string client;
};

struct Submitted {
    store::JobRecord job;
    bool created = true;  // false: an idempotent replay returned the earlier job
};

// A queue and who may use it.
struct QueueSettings {
    std::string name;
    std::vector<identity::Role> submitRoles = {identity::Role::admin, identity::Role::user};
    bool externalWorkers = true;  // callers with the worker role may lease its jobs
};

struct JobsSettings {
    std::vector<QueueSettings> queues = {QueueSettings{.name = "default"}};  // the queues that exist
    int maxBatch = 1000;

    [[nodiscard]] const QueueSettings* queue(std::string_view name) const;
};

// Whether the caller may submit to, or (as an external worker) lease from, a queue that exists: its role
// must be among the queue's submitRoles (workers: the queue takes external workers), and a credential
// that names queues (queue:NAME scopes) must name this one.
[[nodiscard]] bool maySubmitTo(const QueueSettings& queue, const identity::Principal& caller);
[[nodiscard]] bool mayLeaseFrom(const QueueSettings& queue, const identity::Principal& caller);

// Sets the queue gauges from an overview: every state of every queue (0 when it holds none of them).
void publishQueueMetrics(const std::vector<QueueOverview>& queues, obs::QueueMetrics& metrics);

class JobService {
  public:
    JobService(store::JobStore& store, store::AuditSink& audit, const TaskRegistry& registry,
               JobsSettings settings, identity::Clock clock = identity::systemClock());

    // Throws JobError: unknown task or queue, arguments that do not fit the schema (unprocessable, each
    // field named), an idempotency key reused for another request (conflict).
    // `trace` is the request's span: the submission and the store call are spans under it, and the job
    // keeps the submission's context (its run links to it). The same for the `trace` of every method.
    boost::asio::awaitable<Submitted> submit(identity::Principal caller, Submission submission,
                                             const obs::Span& trace = obs::Span::off());
    // All or none. Throws JobError like submit (pointers prefixed with "/jobs/<index>").
    boost::asio::awaitable<std::vector<store::JobRecord>> submitBatch(
        identity::Principal caller, std::vector<Submission> submissions,
        const obs::Span& trace = obs::Span::off());

    // The job if the caller may see it; JobError notFound otherwise.
    boost::asio::awaitable<store::JobRecord> get(identity::Principal caller, std::string id,
                                                 const obs::Span& trace = obs::Span::off());
    // The caller's jobs; admins and auditors see everyone's (and may filter by owner).
    boost::asio::awaitable<store::JobPage> list(identity::Principal caller, store::JobQuery query,
                                                const obs::Span& trace = obs::Span::off());
    // Cancels if the caller owns the job or is an admin; JobError notFound otherwise, conflict when it
    // had finished already. Audited (job.cancel), with the job's owner when it is not the caller.
    boost::asio::awaitable<store::JobRecord> cancel(identity::Principal caller, std::string id,
                                                    AuditContext context,
                                                    const obs::Span& trace = obs::Span::off());

    // Runs a failed or dead job again now, if the caller owns it or is an admin: queued at once, a dead job
    // with no attempt left given one more. JobError notFound as cancel; conflict ("job-not-retryable")
    // in any other state, or when its task type is no longer declared here. Audited (job.retry).
    boost::asio::awaitable<store::JobRecord> retry(identity::Principal caller, std::string id,
                                                   AuditContext context,
                                                   const obs::Span& trace = obs::Span::off());

    // The job's history, oldest first, if the caller may see the job; JobError notFound otherwise.
    boost::asio::awaitable<std::vector<store::JobEventRecord>> events(
        identity::Principal caller, std::string id, const obs::Span& trace = obs::Span::off());

    // Every queue with its counts by state (the route's policy admits admins and auditors only).
    boost::asio::awaitable<std::vector<QueueOverview>> queues(const obs::Span& trace = obs::Span::off());
    // Pauses or resumes a configured queue (JobError notFound for any other), audited.
    boost::asio::awaitable<void> setQueuePaused(identity::Principal caller, std::string queue, bool paused,
                                                AuditContext context,
                                                const obs::Span& trace = obs::Span::off());

    [[nodiscard]] int maxBatch() const { return settings_.maxBatch; }

    // Called after every stored submission of jobs ready now (the workers' wake-up): once for each queue
    // and task type a submission or batch filled, and with an empty task when a resumed queue's jobs may
    // be claimed again. Set before serving.
    using Wakeup = std::function<void(std::string_view queue, std::string_view task)>;
    void onSubmitted(Wakeup callback) { onSubmitted_ = std::move(callback); }

    [[nodiscard]] static bool maySee(const identity::Principal& caller, const store::JobRecord& job);
    // Cancel and retry: the job's owner and admins.
    [[nodiscard]] static bool mayChange(const identity::Principal& caller, const store::JobRecord& job);

    // A submission checked completely (task, arguments against its schema, queue and the caller's right to
    // it, priority, attempts, timeout) and made a job record of the caller's, not stored. Throws JobError
    // with pointers prefixed by pointerPrefix. The scheduler prepares each tick's job with this, as its
    // schedule's owner, so scheduled jobs pass the checks every submit passes.
    [[nodiscard]] store::JobRecord prepare(const identity::Principal& caller, Submission submission,
                                           std::string_view pointerPrefix, store::Millis now) const;

  private:
    [[nodiscard]] store::Millis now() const;

    store::JobStore& store_;
    store::AuditSink& audit_;
    const TaskRegistry& registry_;
    JobsSettings settings_;
    identity::Clock clock_;
    Wakeup onSubmitted_;
    RecentJobs recent_;  // what get() read lately
};

}  // namespace rampart::jobs
