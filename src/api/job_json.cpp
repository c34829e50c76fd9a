// The job document, in one place for every route that shows jobs.
#include "api/job_json.hpp"

#include <chrono>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include "core/rfc3339.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
// Stored JSON text back to a value; the store only ever holds what we serialized.
json::value storedJson(const std::optional<std::string>& text) {
    if (!text) return nullptr;
    boost::system::error_code ec;
    auto value = json::parse(*text, ec);
    return ec ? json::value(nullptr) : value;
}

}  // namespace

json::value optionalTime(const std::optional<store::Millis>& millis) {
    return millis ? json::value(timeText(store::fromMillis(*millis))) : json::value(nullptr);
}

json::value secondsJson(std::int64_t milliseconds) {
    if (milliseconds % 1000 == 0) return json::value(milliseconds / 1000);
    return json::value(static_cast<double>(milliseconds) / 1000.0);
}

json::object jobJson(const store::JobRecord& job) {
    return {{"id", job.id},
            {"task", job.task},
            {"args", storedJson(job.args)},
            {"queue", job.queue},
            {"priority", job.priority},
            {"state", jobs::stateName(job.state)},
            {"attempts", job.attempts},
            {"max_attempts", job.maxAttempts},
            {"run_at", timeText(store::fromMillis(job.runAt))},
            {"timeout_seconds", secondsJson(job.timeoutMs)},
            {"owner", job.ownerId},
            {"idempotency_key", job.idempotencyKey ? json::value(*job.idempotencyKey) : json::value(nullptr)},
            {"progress", job.progress},
            {"progress_message", job.progressMessage},
            {"result", storedJson(job.result)},
            {"error", job.error ? json::value(*job.error) : json::value(nullptr)},
            {"cancel_requested", job.cancelRequested},
            {"created", timeText(store::fromMillis(job.created))},
            {"updated", timeText(store::fromMillis(job.updated))},
            {"finished", optionalTime(job.finished)}};
}

}  // namespace rampart::api
