// The spans of the jobs layer: a store call under a request's span, a submission (whose context the job
// keeps), and the run of an attempt, in its own trace with a link to the submission. An attempt's run
// context is derived from the job id and the attempt number, so the node that leases a job to an external
// worker and the node that hears how it ended (any API node of a cluster) name the same span without
// sharing any state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "obs/tracer.hpp"
#include "store/job_store.hpp"

namespace rampart::jobs {

// A client span for one store call: db.system (the store's), db.operation.name (the store method, a
// literal: it is kept as a view), never a value. Off when the parent is.
[[nodiscard]] obs::Span storeSpan(const obs::Span& parent, const store::JobStore& store,
                                  std::string_view operation);

// A producer span under `parent` for jobs being submitted; a job keeps its context (traceParentOf).
[[nodiscard]] obs::Span submitSpan(const obs::Span& parent, std::string_view task, std::string_view queue);

// What JobRecord::traceParent stores for a span: its traceparent, none when tracing is off.
[[nodiscard]] std::optional<std::string> traceParentOf(const obs::Span& span);

// The context of attempt `attempt` of job `jobId`: ids derived from both, sampled as the job's submission
// was (a parent-based sampler) or by the sampler alone. Never remote.
[[nodiscard]] obs::SpanContext runContext(const obs::Sampler& sampler, std::string_view jobId, int attempt,
                                          const std::optional<std::string>& submittedBy);

// The run span of an attempt an in-process worker starts now: consumer kind, named after the task, with
// the job's id, queue, task and attempt, and a link to the submission when the job has one.
[[nodiscard]] obs::Span startRun(obs::Tracer& tracer, const store::JobRecord& job);

// The run span of an external worker's attempt, recorded when its end is reported (the server never
// sees it start): from the attempt's start in the store to `now`, an error unless the job succeeded.
void recordReportedRun(obs::Tracer& tracer, const store::FinishedAttempt& attempt, store::Millis now);

// The run spans of attempts whose lease ran out (store::JobStore::recoverExpiredLeases), recorded as they are
// taken back (`now`): the worker died or went silent, so the server ends them, as errors with
// rampart.job.lease_lost and the job's next state. Nothing when `tracer` is null.
void recordLostRuns(obs::Tracer* tracer, const std::vector<store::FinishedAttempt>& taken, store::Millis now);

}  // namespace rampart::jobs
