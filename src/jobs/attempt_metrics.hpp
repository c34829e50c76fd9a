// Records into obs::JobMetrics what the store says the ends of attempts did (store::FinishedAttempt),
// for the in-process workers and the worker API alike, so both count the same way.
#pragma once

#include <optional>
#include <vector>

#include "obs/metrics.hpp"
#include "obs/tracer.hpp"
#include "store/job_store.hpp"

namespace rampart::jobs {

// The jobs that reports moved (a refused report, nullopt, moved none): retries, dead jobs, end-to-end
// times; with `withAttempts`, also each attempt's outcome and run time from its start in the store (the
// worker API's case: the in-process workers record theirs as the handler returns, when they can still
// tell a timeout from a failure).
void recordReported(obs::JobMetrics& metrics,
                    const std::vector<std::optional<store::FinishedAttempt>>& finished, store::Millis now,
                    bool withAttempts);

// Leases taken back (recoverExpiredLeases): in the metrics (when given) each a lost lease, and the dead and
// canceled jobs among them reach their final state; in the traces (when given) each sampled run ends in
// an error span (recordLostRuns). Every caller that takes leases back calls this.
void recordTakenBack(obs::JobMetrics* metrics, obs::Tracer* tracer,
                     const std::vector<store::FinishedAttempt>& taken, store::Millis now);

}  // namespace rampart::jobs
