// Spans of store calls, submissions and runs, with the attribute names every one of them shares.
#include "jobs/job_tracing.hpp"

#include <cstring>

#include "core/sha256.hpp"

namespace rampart::jobs {
namespace {

void describeJob(obs::SpanAttributes& attributes, std::string_view id, std::string_view queue,
                 std::string_view task, int attempt) {
    attributes.push_back({"rampart.job.id", std::string(id)});
    attributes.push_back({"rampart.job.queue", std::string(queue)});
    attributes.push_back({"rampart.job.task", std::string(task)});
    attributes.push_back({"rampart.job.attempt", static_cast<std::int64_t>(attempt)});
}

std::optional<obs::SpanLink> submissionLink(const std::optional<std::string>& traceParent) {
    if (!traceParent) return std::nullopt;
    auto context = obs::parseTraceparent(*traceParent);
    if (!context) return std::nullopt;
    context->remote = false;  // written by a node of ours
    return obs::SpanLink{.context = std::move(*context), .attributes = {}};
}

}  // namespace

obs::Span storeSpan(const obs::Span& parent, const store::JobStore& store, std::string_view operation) {
    return obs::dbSpan(parent, store.databaseSystem(), operation);
}

obs::Span submitSpan(const obs::Span& parent, std::string_view task, std::string_view queue) {
    if (!parent.recording()) return parent.child({}, obs::SpanKind::producer);
    std::string name = "submit ";
    name += task;
    auto span = parent.child(std::move(name), obs::SpanKind::producer);
    span.setAttribute("rampart.job.task", task);
    span.setAttribute("rampart.job.queue", queue);
    return span;
}

std::optional<std::string> traceParentOf(const obs::Span& span) {
    if (!span.on()) return std::nullopt;
    return obs::formatTraceparent(span.context());
}

obs::SpanContext runContext(const obs::Sampler& sampler, std::string_view jobId, int attempt,
                            const std::optional<std::string>& submittedBy) {
    std::string seed = "rampart run\n";
    seed += jobId;
    seed += '\n';
    seed += std::to_string(attempt);
    const Sha256Digest digest = sha256(seed);
    obs::SpanContext context;
    std::memcpy(context.traceId.data(), digest.data(), context.traceId.size());
    std::memcpy(context.spanId.data(), digest.data() + context.traceId.size(), context.spanId.size());
    if (!context.valid()) context.spanId[0] = 1;  // all zeros: 1 in 2^64 ids
    // The submission's decision, when there is one: a recorded request's job is recorded too.
    const auto link = submissionLink(submittedBy);
    context.sampled = sampler.sample(context.traceId, link ? &link->context : nullptr);
    return context;
}

obs::Span startRun(obs::Tracer& tracer, const store::JobRecord& job) {
    auto span = tracer.adopt(runContext(tracer.sampler(), job.id, job.attempts, job.traceParent),
                             "run " + job.task, obs::SpanKind::consumer);
    if (!span.recording()) return span;
    obs::SpanAttributes attributes;
    describeJob(attributes, job.id, job.queue, job.task, job.attempts);
    for (auto& attribute : attributes) span.setAttribute(std::move(attribute));
    if (auto link = submissionLink(job.traceParent)) span.addLink(std::move(*link));
    return span;
}

namespace {

// The run span of an attempt that ended at `now` without an in-process worker's span: none when unsampled.
std::optional<obs::SpanData> endedRun(obs::Tracer& tracer, const store::FinishedAttempt& attempt,
                                      store::Millis now) {
    obs::SpanData span;
    span.context = runContext(tracer.sampler(), attempt.id, attempt.attempt, attempt.traceParent);
    if (!span.context.sampled) return std::nullopt;
    span.name = "run " + attempt.task;
    span.kind = obs::SpanKind::consumer;
    const store::Millis started = attempt.attemptStarted.value_or(now);
    span.startUnixNanos = static_cast<std::uint64_t>(started) * 1'000'000;
    span.endUnixNanos = static_cast<std::uint64_t>(now) * 1'000'000;
    describeJob(span.attributes, attempt.id, attempt.queue, attempt.task, attempt.attempt);
    span.attributes.push_back({"rampart.job.state", std::string(stateName(attempt.state))});
    if (attempt.state != JobState::succeeded) span.status = obs::SpanStatus::error;
    if (auto link = submissionLink(attempt.traceParent)) span.links.push_back(std::move(*link));
    return span;
}

}  // namespace

void recordReportedRun(obs::Tracer& tracer, const store::FinishedAttempt& attempt, store::Millis now) {
    if (auto span = endedRun(tracer, attempt, now)) tracer.record(std::move(*span));
}

void recordLostRuns(obs::Tracer* tracer, const std::vector<store::FinishedAttempt>& taken,
                    store::Millis now) {
    if (!tracer) return;
    for (const auto& attempt : taken) {
        auto span = endedRun(*tracer, attempt, now);
        if (!span) continue;
        span->attributes.push_back({"rampart.job.lease_lost", true});
        span->statusMessage = "the lease ran out: the worker stopped reporting";
        tracer->record(std::move(*span));
    }
}

}  // namespace rampart::jobs
