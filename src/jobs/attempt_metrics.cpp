// The one mapping from a store's account of an attempt's end to the job metrics (and, for leases taken back,
// to the lost runs' spans).
#include "jobs/attempt_metrics.hpp"

#include "jobs/job_tracing.hpp"

namespace rampart::jobs {

namespace {
double secondsBetween(store::Millis from, store::Millis to) {
    return static_cast<double>(to - from) / 1000.0;
}
}  // namespace

void recordReported(obs::JobMetrics& metrics,
                    const std::vector<std::optional<store::FinishedAttempt>>& finished, store::Millis now,
                    bool withAttempts) {
    using Outcome = obs::JobMetrics::Outcome;
    for (const auto& attempt : finished) {
        if (!attempt) continue;  // refused: the attempt was not the reporter's to end
        const auto& series = metrics.series(attempt->queue, attempt->task);
        if (withAttempts) {
            // Only a success report ends in succeeded; a failure one in failed, dead or canceled.
            const Outcome outcome = attempt->state == JobState::succeeded  ? Outcome::succeeded
                                    : attempt->state == JobState::canceled ? Outcome::canceled
                                                                           : Outcome::failed;
            const double ran = attempt->attemptStarted ? secondsBetween(*attempt->attemptStarted, now) : 0.0;
            obs::JobMetrics::attemptEnded(series, outcome, ran);
        }
        obs::JobMetrics::jobMoved(series, attempt->state, secondsBetween(attempt->created, now));
    }
}

void recordTakenBack(obs::JobMetrics* metrics, obs::Tracer* tracer,
                     const std::vector<store::FinishedAttempt>& taken, store::Millis now) {
    if (metrics != nullptr) {
        for (const store::FinishedAttempt& job : taken) {
            const auto& series = metrics->series(job.queue, job.task);
            obs::JobMetrics::leaseLost(series);
            obs::JobMetrics::jobMoved(series, job.state, secondsBetween(job.created, now));
        }
    }
    recordLostRuns(tracer, taken, now);
}

}  // namespace rampart::jobs
