// The external worker API's service: workers (any language, role `worker`) lease jobs over HTTP and
// report on them. A lease is held by "api:<user id>:<lease id>", the lease id being fresh random per
// lease call, so only the user that leased a job, presenting that call's lease id, can report on it.
//
// Refusals of a report (heartbeat, progress, complete, fail) on job J by user U with lease id L:
//   - "api:U:L" holds a live lease on J: accepted;
//   - else, when some lease of U ever held J (its lease expired, another worker re-leased the job, the
//     job has finished, or L is not the lease id U holds it under): JobError conflict "lease-lost";
//   - else (no such job, or a job U never leased: another user's, an in-process worker's, a job in
//     any queue, in any state): JobError notFound, the answer for a job that does not exist.
// So a 409 tells a worker only about a job it has leased itself, and nobody learns anything about the
// jobs of anyone else.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include "identity/jwt.hpp"
#include "identity/principal.hpp"
#include "jobs/job_service.hpp"
#include "jobs/lease_waiters.hpp"
#include "jobs/task_registry.hpp"
#include "obs/metrics.hpp"
#include "obs/tracer.hpp"
#include "store/job_store.hpp"

namespace rampart::jobs {

// Whether `caller` may lease jobs of `queue`: the queue is configured and takes external workers, the
// caller has the worker role, and its credential carries the "worker" scope (login credentials carry
// every scope) and, if it names queues (queue:NAME scopes), this one (jobs::mayLeaseFrom). The one
// place the worker API asks.
[[nodiscard]] bool mayLease(const JobsSettings& settings, const identity::Principal& caller,
                            std::string_view queue);

struct LeaseRequest {
    std::vector<std::string> queues;    // 1..32 names
    int max = 1;                        // 1..100 jobs
    std::chrono::seconds duration{30};  // 5..3600 s
    // The task types the worker can run (0..64 names); empty: any. A credential with task:NAME scopes
    // leases only those types, whatever the request says.
    std::vector<std::string> tasks{};
    // With no job ready, wait up to this long (0..30 s) for one (long-poll; LeaseWaiters).
    std::chrono::seconds wait{0};
};

struct Lease {
    std::string leaseId;  // what every report on these jobs must present
    store::Millis expires =
        0;  // the longest a job's lease lasts; each job's own (leaseExpires) may be shorter
    std::vector<store::JobRecord> jobs;  // running, leased to the caller; possibly none
    // With tracing on, each job's run context (jobs[i]'s is traceParents[i]): the worker sends it as the
    // traceparent of its reports on the job, and its own spans of the run are its children.
    std::vector<std::string> traceParents{};
};

struct Heartbeat {
    store::Millis expires = 0;
    bool cancelRequested = false;  // the worker must stop and report a failure (the job ends canceled)
};

struct Reported {
    JobState state = JobState::running;      // where the report took the job
    std::optional<store::Millis> retryAt{};  // when it failed and will run again
};

// How an attempt ended, as its worker reports it: a success with its result, or a failure.
struct AttemptEnding {
    std::string jobId;
    std::string leaseId;
    bool succeeded = true;
    std::optional<boost::json::value> result{};  // with a success; none stores no result
    std::string error{};                         // with a failure
    bool retry = true;                           // with a failure: after the back-off, attempts allowing
};

// One report of a batch: where it took the job, or the refusal the single route would have thrown.
struct BatchReported {
    std::optional<Reported> reported{};
    std::optional<JobError> refused{};
};

class LeaseService {
  public:
    static constexpr int kMaxQueues = 32;
    static constexpr int kMaxJobs = 100;
    static constexpr std::size_t kMaxTasks = 64;
    static constexpr std::chrono::seconds kMinLease{5};
    static constexpr std::chrono::seconds kMaxLease{3600};
    static constexpr std::chrono::seconds kDefaultLease{30};
    static constexpr std::chrono::seconds kMaxWait{30};
    static constexpr std::size_t kMaxLeaseId = 64;
    static constexpr std::size_t kMaxProgressMessage = store::kMaxProgressMessage;
    static constexpr std::size_t kMaxError = 2000;
    static constexpr std::size_t kMaxReports = 100;
    // Expired leases are taken back before a lease call at most this often (the in-process workers do
    // it too, when they run), so a job whose external worker died runs again.
    static constexpr std::chrono::milliseconds kRecoveryInterval{1000};

    LeaseService(store::JobStore& store, const TaskRegistry& registry, JobsSettings settings,
                 identity::Clock clock = identity::systemClock());

    // Long-poll leases wait with these (set before serving; without, a lease never waits).
    void waitWith(LeaseWaiters* waiters) { waiters_ = waiters; }
    // External workers' attempts are recorded here (set before serving; without, nothing is recorded):
    // the wait when a job is leased, the run time, outcome and where the job went when it is reported.
    void recordTo(obs::JobMetrics* metrics) { metrics_ = metrics; }
    // With a tracer, leases carry each job's run context and reported ends record the run spans; the
    // store calls are spans under each call's `trace`, the request's span.
    void traceTo(obs::Tracer* tracer) { tracer_ = tracer; }

    // Leases up to request.max queued jobs of request.queues (highest priority, then earliest run_at),
    // each counting an attempt. With none ready and request.wait > 0, waits for one (up to request.wait,
    // or until the server stops) and then leases at once; the answer may still hold none. Throws
    // JobError: invalid for counts or durations out of range, forbidden ("queue-not-allowed", each
    // refused queue named by its pointer "/queues/<i>") when the caller may not lease from one of the
    // queues; then nothing is leased; throttled ("too-many-waiting-leases") when the caller's account, or
    // the node, has as many lease calls waiting as it allows.
    boost::asio::awaitable<Lease> lease(identity::Principal caller, LeaseRequest request,
                                        const obs::Span& trace = obs::Span::off());

    // Each throws JobError notFound or conflict "lease-lost" by the rules above, and invalid for values
    // out of range (a lease id that is not one we could have issued included).
    boost::asio::awaitable<Heartbeat> heartbeat(identity::Principal caller, std::string jobId,
                                                std::string leaseId,
                                                std::optional<std::chrono::seconds> duration);
    boost::asio::awaitable<void> progress(identity::Principal caller, std::string jobId, std::string leaseId,
                                          int percent, std::string message);
    // Ends an attempt. A success stores its result (JSON; none stores no result), which must fit the
    // task type's result_schema (else JobError invalid "invalid-result", "/result/..." pointers, and
    // the job stays leased). A failure with `retry` waits for its back-off (the task type's
    // RetryPolicy, as the in-process workers do) while attempts remain, else the job is dead; without,
    // it is dead now. A job whose cancel was requested ends canceled either way.
    boost::asio::awaitable<Reported> report(identity::Principal caller, AttemptEnding ending,
                                            const obs::Span& trace = obs::Span::off());
    // Up to kMaxReports endings in one store write (the worker API's batch route). Each is accepted or
    // refused on its own, by the rules of report(); throws JobError invalid only for a batch of none or
    // too many.
    boost::asio::awaitable<std::vector<BatchReported>> reportMany(identity::Principal caller,
                                                                  std::vector<AttemptEnding> endings,
                                                                  const obs::Span& trace = obs::Span::off());

    [[nodiscard]] static std::string holderFor(const identity::Principal& caller, std::string_view leaseId);

  private:
    boost::asio::awaitable<void> refuse(identity::Principal caller, std::string jobId);
    // What `ending` stores, checked (JobError invalid: a malformed lease id or error, a result that
    // does not fit; the result is checked only while the caller holds the job).
    boost::asio::awaitable<store::AttemptReport> outcomeOf(const identity::Principal& caller,
                                                           const AttemptEnding& ending, store::Millis time);
    [[nodiscard]] static Reported reportedOf(JobState state, store::Millis retryAt);
    // One claim: expired leases taken back first (at most once per kRecoveryInterval), then the jobs.
    boost::asio::awaitable<Lease> claim(const identity::Principal& caller, std::vector<std::string> queues,
                                        std::vector<std::string> tasks, int max,
                                        std::chrono::seconds duration, const obs::Span& trace);
    // The run spans of the attempts whose ends were reported (with a tracer).
    void recordRuns(const std::vector<std::optional<store::FinishedAttempt>>& finished, store::Millis time);
    [[nodiscard]] store::Millis now() const;

    store::JobStore& store_;
    const TaskRegistry& registry_;
    bool resultSchemas_ = false;  // some registered type checks its results
    JobsSettings settings_;
    identity::Clock clock_;
    std::atomic<store::Millis> lastRecovery_{0};
    LeaseWaiters* waiters_ = nullptr;
    obs::JobMetrics* metrics_ = nullptr;
    obs::Tracer* tracer_ = nullptr;
};

}  // namespace rampart::jobs
