// Metric families of the HTTP server, with a per-thread cache so the hot path takes no registry lock.
#include "obs/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include <prometheus/text_serializer.h>

namespace rampart::obs {

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

std::string Metrics::render() const {
    prometheus::TextSerializer serializer;
    return serializer.Serialize(registry_->Collect());
}

namespace {
std::atomic<std::uint64_t> nextInstanceId{1};
}  // namespace

HttpMetrics::HttpMetrics(Metrics& metrics)
    : id_(nextInstanceId++),
      requests_(prometheus::BuildCounter()
                    .Name("rampart_http_requests_total")
                    .Help("HTTP requests by method, route template and status")
                    .Register(metrics.registry())),
      latency_(
          prometheus::BuildHistogram()
              .Name("rampart_http_request_duration_seconds")
              .Help("Time from the end of reading a request to the response being ready, by route template")
              .Register(metrics.registry())),
      inFlight_(prometheus::BuildGauge()
                    .Name("rampart_http_requests_in_flight")
                    .Help("Requests being handled now")
                    .Register(metrics.registry())
                    .Add({})),
      connections_(prometheus::BuildGauge()
                       .Name("rampart_http_open_connections")
                       .Help("Open client connections")
                       .Register(metrics.registry())
                       .Add({})),
      rejectedConnections_(prometheus::BuildCounter()
                               .Name("rampart_http_rejected_connections_total")
                               .Help("Connections closed at once because the connection limit was reached")
                               .Register(metrics.registry())
                               .Add({})) {}

namespace {

// Route templates and method names are stable strings (the route table, Beast's verb names), so
// their addresses identify them.
struct LabelKey {
    std::uint64_t instance;
    const void* method;
    const void* route;
    unsigned status;
    bool operator==(const LabelKey&) const = default;
};
struct LabelKeyHash {
    std::size_t operator()(const LabelKey& key) const {
        return key.instance * 31 ^ std::hash<const void*>()(key.method) ^
               (std::hash<const void*>()(key.route) << 1) ^ key.status;
    }
};

std::mutex familyMutex;  // Family::Add is thread-safe, but a miss is rare; keep the cache fill simple

}  // namespace

void HttpMetrics::requestFinished(std::string_view method, std::string_view route, unsigned status,
                                  double seconds) {
    inFlight_.Decrement();
    thread_local std::unordered_map<LabelKey, prometheus::Counter*, LabelKeyHash> counters;
    thread_local std::unordered_map<LabelKey, prometheus::Histogram*, LabelKeyHash> histograms;
    LabelKey key{id_, method.data(), route.data(), status};
    auto counter = counters.find(key);
    if (counter == counters.end()) {
        std::lock_guard lock(familyMutex);
        auto& added = requests_.Add({{"method", std::string(method)},
                                     {"route", std::string(route)},
                                     {"status", std::to_string(status)}});
        counter = counters.emplace(key, &added).first;
    }
    counter->second->Increment();
    LabelKey routeKey{id_, nullptr, route.data(), 0};
    auto histogram = histograms.find(routeKey);
    if (histogram == histograms.end()) {
        std::lock_guard lock(familyMutex);
        static const prometheus::Histogram::BucketBoundaries kBuckets{
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
        auto& added = latency_.Add({{"route", std::string(route)}}, kBuckets);
        histogram = histograms.emplace(routeKey, &added).first;
    }
    histogram->second->Observe(seconds);
}

QueueMetrics::QueueMetrics(Metrics& metrics)
    : jobs_(prometheus::BuildGauge()
                .Name("rampart_jobs")
                .Help("Jobs in the store by queue and state")
                .Register(metrics.registry())),
      paused_(prometheus::BuildGauge()
                  .Name("rampart_queue_paused")
                  .Help("1 while a queue is paused")
                  .Register(metrics.registry())) {}

void QueueMetrics::setJobs(const std::string& queue, const std::string& state, double count) {
    auto& gauge = jobs_.Add({{"queue", queue}, {"state", state}});
    if (std::find(jobSeries_.begin(), jobSeries_.end(), &gauge) == jobSeries_.end())
        jobSeries_.push_back(&gauge);
    gauge.Set(count);
}

void QueueMetrics::setPaused(const std::string& queue, bool paused) {
    auto& gauge = paused_.Add({{"queue", queue}});
    if (std::find(pausedSeries_.begin(), pausedSeries_.end(), &gauge) == pausedSeries_.end())
        pausedSeries_.push_back(&gauge);
    gauge.Set(paused ? 1 : 0);
}

void QueueMetrics::clear() {
    for (prometheus::Gauge* gauge : jobSeries_) jobs_.Remove(gauge);
    for (prometheus::Gauge* gauge : pausedSeries_) paused_.Remove(gauge);
    jobSeries_.clear();
    pausedSeries_.clear();
}

WorkerMetrics::WorkerMetrics(Metrics& metrics)
    : running_(prometheus::BuildGauge()
                   .Name("rampart_worker_jobs_running")
                   .Help("Jobs this process's workers are running now, by queue")
                   .Register(metrics.registry())) {}

prometheus::Gauge* WorkerMetrics::running(const std::string& queue) {
    return &running_.Add({{"queue", queue}});
}

namespace {

// Jobs last from milliseconds (a no-op handler, a wait in an idle queue) to hours (a report, an export;
// a timeout may be up to a day): roughly 1-2.5-5 steps up to a minute, then the minutes and hours an
// operator reads a backlog in. 20 boundaries, so the three histograms cost 66 series per queue and task.
const prometheus::Histogram::BucketBoundaries kJobBuckets{
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400};

std::vector<std::string> labelValues(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::erase(names, std::string(JobMetrics::kOther));
    names.emplace_back(JobMetrics::kOther);
    return names;
}

prometheus::Family<prometheus::Histogram>& jobHistogram(Metrics& metrics, const char* name,
                                                        const char* help) {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(metrics.registry());
}

prometheus::Family<prometheus::Counter>& jobCounter(Metrics& metrics, const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(metrics.registry());
}

}  // namespace

JobMetrics::JobMetrics(Metrics& metrics, std::vector<std::string> queues, std::vector<std::string> tasks)
    : queues_(labelValues(std::move(queues))),
      tasks_(labelValues(std::move(tasks))),
      wait_(jobHistogram(metrics, "rampart_job_wait_seconds",
                         "Time from a job being ready (created, or its run_at or retry time if later) to "
                         "the start of an attempt, by queue and task")),
      run_(jobHistogram(metrics, "rampart_job_run_seconds",
                        "Time from the start of an attempt to its end, by queue and task")),
      endToEnd_(jobHistogram(metrics, "rampart_job_end_to_end_seconds",
                             "Time from a job's creation to its final state (succeeded, dead, canceled) "
                             "reached by an attempt's end, by queue and task")),
      attempts_(jobCounter(metrics, "rampart_worker_attempts_total",
                           "Job attempts ended by this process's workers or reported to its worker API, by "
                           "queue, task and outcome: succeeded, failed, canceled, timed_out")),
      retries_(jobCounter(metrics, "rampart_job_retries_total",
                          "Attempts that failed with another attempt to come, by queue and task")),
      dead_(
          jobCounter(metrics, "rampart_job_dead_total",
                     "Jobs that ended dead (attempts used up, or failed without retry), by queue and task")),
      leasesLost_(jobCounter(metrics, "rampart_job_leases_lost_total",
                             "Job leases that ran out and were taken back by this process (the worker died "
                             "or stalled), by queue and task")),
      table_(std::make_unique<std::atomic<const Series*>[]>(queues_.size() * tasks_.size())) {}

JobMetrics::~JobMetrics() = default;

std::string_view JobMetrics::outcomeName(Outcome outcome) {
    switch (outcome) {
        case Outcome::succeeded:
            return "succeeded";
        case Outcome::failed:
            return "failed";
        case Outcome::canceled:
            return "canceled";
        case Outcome::timedOut:
            return "timed_out";
    }
    return "failed";
}

std::size_t JobMetrics::indexOf(const std::vector<std::string>& names, std::string_view name) const {
    // Sorted, "other" last: a binary search over the configured names before it.
    const auto end = names.end() - 1;
    const auto found = std::lower_bound(names.begin(), end, name,
                                        [](const std::string& a, std::string_view b) { return a < b; });
    if (found != end && *found == name) return static_cast<std::size_t>(found - names.begin());
    return names.size() - 1;
}

const JobMetrics::Series& JobMetrics::series(std::string_view queue, std::string_view task) {
    const std::size_t queueIndex = indexOf(queues_, queue);
    const std::size_t taskIndex = indexOf(tasks_, task);
    std::atomic<const Series*>& slot = table_[queueIndex * tasks_.size() + taskIndex];
    if (const Series* found = slot.load(std::memory_order_acquire)) return *found;

    std::lock_guard lock(mutex_);
    if (const Series* found = slot.load(std::memory_order_acquire)) return *found;
    const prometheus::Labels labels{{"queue", queues_[queueIndex]}, {"task", tasks_[taskIndex]}};
    auto made = std::make_unique<Series>();
    made->wait = &wait_.Add(labels, kJobBuckets);
    made->run = &run_.Add(labels, kJobBuckets);
    made->endToEnd = &endToEnd_.Add(labels, kJobBuckets);
    for (std::size_t i = 0; i < kOutcomes; ++i) {
        prometheus::Labels withOutcome = labels;
        withOutcome.emplace("outcome", std::string(outcomeName(static_cast<Outcome>(i))));
        made->attempts[i] = &attempts_.Add(withOutcome);
    }
    made->retries = &retries_.Add(labels);
    made->dead = &dead_.Add(labels);
    made->leasesLost = &leasesLost_.Add(labels);
    const Series* series = made.get();
    created_.push_back(std::move(made));
    slot.store(series, std::memory_order_release);
    return *series;
}

void JobMetrics::attemptStarted(const Series& series, double waitSeconds) {
    series.wait->Observe(std::max(0.0, waitSeconds));  // a clock step must not make a negative wait
}

void JobMetrics::attemptEnded(const Series& series, Outcome outcome, double runSeconds) {
    series.attempts[static_cast<std::size_t>(outcome)]->Increment();
    series.run->Observe(std::max(0.0, runSeconds));
}

void JobMetrics::jobMoved(const Series& series, jobs::JobState state, double sinceCreatedSeconds) {
    if (state == jobs::JobState::failed) series.retries->Increment();
    if (state == jobs::JobState::dead) series.dead->Increment();
    if (jobs::isTerminal(state)) series.endToEnd->Observe(std::max(0.0, sinceCreatedSeconds));
}

namespace {
prometheus::Family<prometheus::Counter>& backendFailures(Metrics& metrics) {
    return prometheus::BuildCounter()
        .Name("rampart_rate_limit_backend_failures_total")
        .Help(
            "Rate-limit decisions Redis could not take, by outcome: fallback (the in-memory limiter decided) "
            "or refused (503, fail_closed)")
        .Register(metrics.registry());
}
}  // namespace

RateLimitMetrics::RateLimitMetrics(Metrics& metrics)
    : decisions_(prometheus::BuildCounter()
                     .Name("rampart_rate_limit_decisions_total")
                     .Help("Rate-limit decisions by policy and decision (allowed, limited)")
                     .Register(metrics.registry())),
      failures_(backendFailures(metrics)),
      fallbacks_(failures_.Add({{"outcome", "fallback"}})),
      refusals_(failures_.Add({{"outcome", "refused"}})),
      fallbackActive_(prometheus::BuildGauge()
                          .Name("rampart_rate_limit_fallback_active")
                          .Help("1 while rate limits are decided in memory because Redis is unreachable")
                          .Register(metrics.registry())
                          .Add({})) {}

prometheus::Counter& RateLimitMetrics::decisions(const std::string& policy, std::string_view decision) {
    std::lock_guard lock(familyMutex);
    return decisions_.Add({{"policy", policy}, {"decision", std::string(decision)}});
}

std::string_view AuthMetrics::reasonName(Failure failure) {
    switch (failure) {
        case Failure::badPassword:
            return "bad_password";
        case Failure::unknownUser:
            return "unknown_user";
        case Failure::inactiveUser:
            return "inactive_user";
        case Failure::badTotp:
            return "bad_totp";
        case Failure::locked:
            return "locked";
        case Failure::badToken:
            return "bad_token";
        case Failure::expired:
            return "expired";
        case Failure::revoked:
            return "revoked";
        case Failure::external:
            return "external";
    }
    return "bad_token";
}

AuthMetrics::AuthMetrics(Metrics& metrics)
    : lockouts_(prometheus::BuildCounter()
                    .Name("rampart_lockouts_total")
                    .Help("Lockouts started by failed logins (of a username or a client address)")
                    .Register(metrics.registry())
                    .Add({})) {
    auto& family = prometheus::BuildCounter()
                       .Name("rampart_auth_failures_total")
                       .Help("Failed logins and refused credentials by reason")
                       .Register(metrics.registry());
    // Every series from the start, at zero, so that rate() sees the first failure.
    for (std::size_t i = 0; i < kFailureKinds; ++i) {
        failures_[i] = &family.Add({{"reason", std::string(reasonName(static_cast<Failure>(i)))}});
    }
}

TraceExportMetrics::TraceExportMetrics(Metrics& metrics)
    : exported_(prometheus::BuildCounter()
                    .Name("rampart_trace_spans_exported_total")
                    .Help("Spans the OTLP collector accepted")
                    .Register(metrics.registry())
                    .Add({})) {
    auto& drops = prometheus::BuildCounter()
                      .Name("rampart_trace_spans_dropped_total")
                      .Help(
                          "Spans dropped before the collector accepted them, by reason: queue_full, "
                          "export_failed, shutdown")
                      .Register(metrics.registry());
    // Every series from the start, at zero, so that rate() sees the first drop.
    drops_[static_cast<std::size_t>(Drop::queueFull)] = &drops.Add({{"reason", "queue_full"}});
    drops_[static_cast<std::size_t>(Drop::exportFailed)] = &drops.Add({{"reason", "export_failed"}});
    drops_[static_cast<std::size_t>(Drop::shutdown)] = &drops.Add({{"reason", "shutdown"}});
    auto& exports = prometheus::BuildCounter()
                        .Name("rampart_trace_exports_total")
                        .Help(
                            "OTLP export requests by outcome: ok, retry (failed, tried again), failed "
                            "(failed, batch dropped)")
                        .Register(metrics.registry());
    exports_[static_cast<std::size_t>(Export::ok)] = &exports.Add({{"outcome", "ok"}});
    exports_[static_cast<std::size_t>(Export::retry)] = &exports.Add({{"outcome", "retry"}});
    exports_[static_cast<std::size_t>(Export::failed)] = &exports.Add({{"outcome", "failed"}});
}

}  // namespace rampart::obs
