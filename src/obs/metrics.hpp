// Prometheus metrics (prometheus-cpp core): one registry, rendered in the text format on /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/job_state.hpp"

namespace rampart::obs {

class Metrics {
  public:
    Metrics();
    [[nodiscard]] prometheus::Registry& registry() { return *registry_; }
    // The Prometheus text exposition format of every metric.
    [[nodiscard]] std::string render() const;

  private:
    std::shared_ptr<prometheus::Registry> registry_;
};

// HTTP server metrics. Counters are looked up once per thread and label set, then incremented
// without locks on the request path.
class HttpMetrics {
  public:
    explicit HttpMetrics(Metrics& metrics);

    void requestStarted() { inFlight_.Increment(); }
    void requestFinished(std::string_view method, std::string_view route, unsigned status, double seconds);
    void connectionOpened() { connections_.Increment(); }
    void connectionClosed() { connections_.Decrement(); }
    void connectionRejected() { rejectedConnections_.Increment(); }

  private:
    std::uint64_t id_;  // keys the per-thread caches, so a later instance never sees stale pointers
    prometheus::Family<prometheus::Counter>& requests_;
    prometheus::Family<prometheus::Histogram>& latency_;
    prometheus::Gauge& inFlight_;
    prometheus::Gauge& connections_;
    prometheus::Counter& rejectedConnections_;
};

// Queue gauges, refreshed from the store every few seconds: jobs by queue and state, and whether each
// queue is paused. The figures are the cluster's (shared), so in a cluster only the node that holds the
// housekeeping lease reports them; the others clear theirs.
class QueueMetrics {
  public:
    explicit QueueMetrics(Metrics& metrics);

    void setJobs(const std::string& queue, const std::string& state, double count);
    void setPaused(const std::string& queue, bool paused);
    // Removes every series, so a node that no longer reports the figures shows none rather than old ones.
    void clear();

  private:
    prometheus::Family<prometheus::Gauge>& jobs_;
    prometheus::Family<prometheus::Gauge>& paused_;
    std::vector<prometheus::Gauge*> jobSeries_;
    std::vector<prometheus::Gauge*> pausedSeries_;
};

// Jobs this process's in-process workers are running now, by queue. Thread-safe (each worker pool
// runs on its own thread). What their attempts did is in JobMetrics.
class WorkerMetrics {
  public:
    explicit WorkerMetrics(Metrics& metrics);

    // Looked up once per queue: finding a labelled series takes the family's lock and builds a label
    // map, too much for every job.
    prometheus::Gauge* running(const std::string& queue);

  private:
    prometheus::Family<prometheus::Gauge>& running_;
};

// Job latencies and outcomes by queue and task, recorded where attempts end: by the in-process workers
// (jobs::WorkerPool) and by the worker API for external workers (jobs::LeaseService), each attempt
// once. Label values are only the configured queue and task names given here; any other name (a job
// of a task type since removed from the configuration) is counted as "other", so no job, report or
// request can grow the label set. Thread-safe.
class JobMetrics {
  public:
    JobMetrics(Metrics& metrics, std::vector<std::string> queues, std::vector<std::string> tasks);
    ~JobMetrics();
    JobMetrics(const JobMetrics&) = delete;
    JobMetrics& operator=(const JobMetrics&) = delete;

    // The label value for a name that is not configured.
    static constexpr std::string_view kOther = "other";

    // How an attempt ended, rampart_worker_attempts_total's outcome label. timedOut: only the in-process
    // workers know it (an external worker reports a timeout as a failure).
    enum class Outcome { succeeded, failed, canceled, timedOut };
    static constexpr std::size_t kOutcomes = 4;
    [[nodiscard]] static std::string_view outcomeName(Outcome outcome);

    struct Series {
        prometheus::Histogram* wait = nullptr;      // ready (created or run_at) to the attempt's start
        prometheus::Histogram* run = nullptr;       // the attempt's start to its end
        prometheus::Histogram* endToEnd = nullptr;  // created to the job's final state
        std::array<prometheus::Counter*, kOutcomes> attempts{};
        prometheus::Counter* retries = nullptr;     // attempts that failed with another one to come
        prometheus::Counter* dead = nullptr;        // attempts that left the job dead
        prometheus::Counter* leasesLost = nullptr;  // leases that ran out and were taken back
    };
    // The series of (queue, task), created on first use; after that two map lookups and an atomic load,
    // no lock.
    [[nodiscard]] const Series& series(std::string_view queue, std::string_view task);

    // An attempt started `waitSeconds` after the job was ready to run.
    static void attemptStarted(const Series& series, double waitSeconds);
    static void attemptEnded(const Series& series, Outcome outcome, double runSeconds);
    // The state an attempt's end took the job to: failed counts a retry, dead a dead job, and a final
    // state (succeeded, dead, canceled) the job's time from its creation.
    static void jobMoved(const Series& series, jobs::JobState state, double sinceCreatedSeconds);
    // A lease that ran out and was taken back (its worker died or stalled); counted by whichever process
    // took it back, each lease once.
    static void leaseLost(const Series& series) { series.leasesLost->Increment(); }

  private:
    [[nodiscard]] std::size_t indexOf(const std::vector<std::string>& names, std::string_view name) const;

    std::vector<std::string> queues_;  // sorted, "other" last
    std::vector<std::string> tasks_;   // sorted, "other" last
    prometheus::Family<prometheus::Histogram>& wait_;
    prometheus::Family<prometheus::Histogram>& run_;
    prometheus::Family<prometheus::Histogram>& endToEnd_;
    prometheus::Family<prometheus::Counter>& attempts_;
    prometheus::Family<prometheus::Counter>& retries_;
    prometheus::Family<prometheus::Counter>& dead_;
    prometheus::Family<prometheus::Counter>& leasesLost_;
    std::mutex mutex_;  // creating a series
    std::vector<std::unique_ptr<Series>> created_;
    std::unique_ptr<std::atomic<const Series*>[]> table_;  // [queue * tasks_.size() + task]
};

// Rate-limit decisions per policy, and the state of the Redis backend's fallback to memory.
class RateLimitMetrics {
  public:
    explicit RateLimitMetrics(Metrics& metrics);

    // rampart_rate_limit_decisions_total{policy, decision="allowed|limited"}; look up once, then
    // increment without locks.
    prometheus::Counter& decisions(const std::string& policy, std::string_view decision);
    // The Redis backend could not decide, and the in-memory limiter did (fallback) or the request was
    // refused with 503 (fail_closed).
    void backendFailed(bool fellBack) { (fellBack ? fallbacks_ : refusals_).Increment(); }
    // 1 while decisions are taken by the in-memory fallback instead of Redis.
    void setFallbackActive(bool active) { fallbackActive_.Set(active ? 1 : 0); }

  private:
    prometheus::Family<prometheus::Counter>& decisions_;
    prometheus::Family<prometheus::Counter>& failures_;
    prometheus::Counter& fallbacks_;
    prometheus::Counter& refusals_;
    prometheus::Gauge& fallbackActive_;
};

// Failed authentications and the lockouts they started, for brute-force alerts
// (deploy/prometheus/alerts.yml). Labels are a fixed set: never a username, a token or an address.
class AuthMetrics {
  public:
    // rampart_auth_failures_total{reason}. Logins: bad_password, unknown_user, inactive_user, bad_totp,
    // locked (refused during a lockout). Credentials on requests and refreshes: bad_token (malformed,
    // badly signed, unknown), expired, revoked, inactive_user, external (an external provider's token).
    enum class Failure {
        badPassword,
        unknownUser,
        inactiveUser,
        badTotp,
        locked,
        badToken,
        expired,
        revoked,
        external
    };
    static constexpr std::size_t kFailureKinds = 9;
    [[nodiscard]] static std::string_view reasonName(Failure failure);

    explicit AuthMetrics(Metrics& metrics);

    void failed(Failure failure) { failures_[static_cast<std::size_t>(failure)]->Increment(); }
    // rampart_lockouts_total: a failed login started (or lengthened) a lockout of a name or an address.
    void lockoutStarted() { lockouts_.Increment(); }

  private:
    std::array<prometheus::Counter*, kFailureKinds> failures_{};
    prometheus::Counter& lockouts_;
};

// The OTLP trace exporter's counters (otlp::OtlpExporter). Label values are a fixed set. Thread-safe.
class TraceExportMetrics {
  public:
    explicit TraceExportMetrics(Metrics& metrics);

    // rampart_trace_spans_dropped_total's reason: queue_full (accept found the queue at its bound),
    // export_failed (the collector refused the batch, or still failed when the retries ran out), shutdown
    // (still queued when the flush at stop ran out of time).
    enum class Drop { queueFull, exportFailed, shutdown };
    static constexpr std::size_t kDropReasons = 3;
    // rampart_trace_exports_total's outcome, one per POST: ok, retry (failed, and will be tried again),
    // failed (failed, and the batch is dropped).
    enum class Export { ok, retry, failed };
    static constexpr std::size_t kExportOutcomes = 3;

    void exported(std::size_t spans) { exported_.Increment(static_cast<double>(spans)); }
    void dropped(Drop reason, std::size_t spans) {
        drops_[static_cast<std::size_t>(reason)]->Increment(static_cast<double>(spans));
    }
    void exportEnded(Export outcome) { exports_[static_cast<std::size_t>(outcome)]->Increment(); }

  private:
    prometheus::Counter& exported_;
    std::array<prometheus::Counter*, kDropReasons> drops_{};
    std::array<prometheus::Counter*, kExportOutcomes> exports_{};
};

}  // namespace rampart::obs
