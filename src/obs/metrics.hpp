// Prometheus metrics (prometheus-cpp core): one registry, rendered in the text format on /metrics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

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

// What this process's in-process workers did: attempts ended, by queue and outcome, and jobs running
// now. Thread-safe (each worker pool runs on its own thread).
class WorkerMetrics {
  public:
    explicit WorkerMetrics(Metrics& metrics);

    // The series of one queue, looked up once: finding a labelled series takes the family's lock and
    // builds a label map, too much for every job. outcome: succeeded, failed (an error; a retry may
    // follow), canceled, timed_out.
    struct QueueSeries {
        prometheus::Counter* succeeded;
        prometheus::Counter* failed;
        prometheus::Counter* canceled;
        prometheus::Counter* timedOut;
        prometheus::Gauge* running;
    };
    QueueSeries series(const std::string& queue);

  private:
    prometheus::Family<prometheus::Counter>& attempts_;
    prometheus::Family<prometheus::Gauge>& running_;
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

}  // namespace rampart::obs
