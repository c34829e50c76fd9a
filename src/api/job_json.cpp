// The job document, in one place for every route that shows jobs.
#include "api/job_json.hpp"

#include <charconv>
#include <chrono>
#include <iterator>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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

namespace {

void appendKey(std::string& out, std::string_view key) {
    out += '"';
    out += key;  // fixed ASCII names: nothing to escape
    out += "\":";
}

// A JSON string as boost::json::serialize writes it (its escapes, lower-case hex), into `out` directly.
void appendQuoted(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    std::size_t plain = 0;  // start of the run not yet copied
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(text.data() + plain, i - plain);
        plain = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 15];
        }
    }
    out.append(text.data() + plain, text.size() - plain);
    out += '"';
}

void appendString(std::string& out, std::string_view key, std::string_view text) {
    appendKey(out, key);
    appendQuoted(out, text);
    out += ',';
}

void appendInt(std::string& out, std::string_view key, std::int64_t number) {
    appendKey(out, key);
    char digits[24];
    const auto end = std::to_chars(std::begin(digits), std::end(digits), number).ptr;
    out.append(digits, end);
    out += ',';
}

void appendValue(std::string& out, std::string_view key, const json::value& value) {
    appendKey(out, key);
    out += json::serialize(value);
    out += ',';
}

void appendOptionalString(std::string& out, std::string_view key, const std::optional<std::string>& text) {
    if (text) {
        appendString(out, key, *text);
    } else {
        appendKey(out, key);
        out += "null,";
    }
}

void appendTime(std::string& out, std::string_view key, store::Millis millis) {
    appendString(out, key, timeText(store::fromMillis(millis)));
}

}  // namespace

std::string jobJsonText(const store::JobRecord& job) {
    std::string out;
    out.reserve(512 + job.args.size() + (job.result ? job.result->size() : 0));
    out += '{';
    appendString(out, "id", job.id);
    appendString(out, "task", job.task);
    appendValue(out, "args", storedJson(job.args));
    appendString(out, "queue", job.queue);
    appendInt(out, "priority", job.priority);
    appendString(out, "state", jobs::stateName(job.state));
    appendInt(out, "attempts", job.attempts);
    appendInt(out, "max_attempts", job.maxAttempts);
    appendTime(out, "run_at", job.runAt);
    appendValue(out, "timeout_seconds", secondsJson(job.timeoutMs));
    appendString(out, "owner", job.ownerId);
    appendOptionalString(out, "idempotency_key", job.idempotencyKey);
    appendInt(out, "progress", job.progress);
    appendString(out, "progress_message", job.progressMessage);
    if (job.result) {
        appendValue(out, "result", storedJson(job.result));
    } else {
        out += "\"result\":null,";
    }
    appendOptionalString(out, "error", job.error);
    appendKey(out, "cancel_requested");
    out += job.cancelRequested ? "true," : "false,";
    appendTime(out, "created", job.created);
    appendTime(out, "updated", job.updated);
    appendKey(out, "finished");
    if (job.finished) {
        appendQuoted(out, timeText(store::fromMillis(*job.finished)));
    } else {
        out += "null";
    }
    out += '}';
    return out;
}

}  // namespace rampart::api
