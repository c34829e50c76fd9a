// Built-in task types. Long ones give the I/O thread back between steps and look at their cancel
// token there, so a cancel or a timeout stops them within one step.
#include "jobs/builtin_tasks.hpp"

#include "egress/egress_client.hpp"
#include "egress/url.hpp"

#include <openssl/evp.h>

#include <array>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

namespace rampart::jobs {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr std::size_t kMaxHashPayload = 1024 * 1024;
constexpr std::int64_t kMaxHashIterations = 1'000'000;
constexpr std::int64_t kHashIterationsPerStep = 1000;
constexpr auto kSleepStep = std::chrono::milliseconds(50);
constexpr std::size_t kFetchExcerptBytes = 1024;

json::object schema(std::string_view text) {
    return json::parse(text).as_object();
}

std::string hex(const unsigned char* bytes, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 0xf];
    }
    return out;
}

asio::awaitable<json::value> noop(TaskContext&) {
    co_return nullptr;
}

asio::awaitable<json::value> echo(TaskContext& context) {
    co_return context.args;
}

asio::awaitable<json::value> sleep(TaskContext& context) {
    const double seconds = context.args.at("seconds").to_number<double>();
    const auto total =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(seconds));
    const auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    auto slept = std::chrono::milliseconds::zero();
    while (slept < total && !context.cancel.canceled()) {
        const auto step = std::min(kSleepStep, total - slept);
        timer.expires_after(step);
        co_await timer.async_wait(asio::use_awaitable);
        slept += step;
    }
    json::object result;
    result["slept_ms"] = slept.count();
    co_return result;
}

asio::awaitable<json::value> sha256(TaskContext& context) {
    const auto& payload = context.args.at("payload").as_string();
    const std::int64_t iterations = context.args.at("iterations").to_number<std::int64_t>();
    std::array<unsigned char, 32> digest{};
    unsigned int size = 0;
    if (EVP_Digest(payload.data(), payload.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
        throw TaskFailed("SHA-256 failed");
    }
    const auto executor = co_await asio::this_coro::executor;
    for (std::int64_t i = 1; i < iterations; ++i) {
        if (i % kHashIterationsPerStep == 0) {
            if (context.cancel.canceled()) throw TaskFailed("canceled");
            if (context.progress) context.progress(static_cast<int>(i * 100 / iterations), "hashing");
            co_await asio::post(executor, asio::use_awaitable);
        }
        EVP_Digest(digest.data(), digest.size(), digest.data(), &size, EVP_sha256(), nullptr);
    }
    json::object result;
    result["sha256"] = hex(digest.data(), digest.size());
    result["iterations"] = iterations;
    co_return result;
}

// A body excerpt that is always valid JSON text: printable ASCII and whitespace kept, anything else
// shown as '.', so a binary or mis-encoded page cannot corrupt the job's result.
std::string excerptOf(std::string_view body) {
    std::string excerpt(body.substr(0, kFetchExcerptBytes));
    for (char& c : excerpt) {
        const auto u = static_cast<unsigned char>(c);
        if (!(u >= 0x20 && u < 0x7f) && c != '\n' && c != '\t' && c != '\r') c = '.';
    }
    return excerpt;
}

// The scraper: every byte goes through the egress guard, which refuses internal addresses in any
// encoding, re-checks redirects and bounds size and time.
asio::awaitable<json::value> httpFetch(TaskContext& context) {
    if (!context.egress) throw TaskFailed("outbound requests are not available to this worker");
    egress::FetchRequest request;
    request.url = std::string(context.args.at("url").as_string());
    if (const auto* method = context.args.if_contains("method"); method && method->as_string() == "HEAD") {
        request.method = egress::FetchMethod::head;
    }
    if (const auto* maxBytes = context.args.if_contains("max_bytes")) {
        request.maxBytes = static_cast<std::size_t>(maxBytes->to_number<std::int64_t>());
    }
    if (const auto* timeout = context.args.if_contains("timeout_seconds")) {
        request.timeout =
            std::chrono::milliseconds(static_cast<std::int64_t>(timeout->to_number<double>() * 1000));
    }
    // A client span with the host and the address the guard let the connection reach; never the URL,
    // whose path and query may carry the caller's secrets.
    const auto target = egress::parseUrl(request.url);
    const std::string_view method = request.method == egress::FetchMethod::head ? "HEAD" : "GET";
    auto span = context.trace.child(std::string(method), obs::SpanKind::client);
    span.setAttribute("http.request.method", method);
    if (target) span.setAttribute("server.address", target->host);
    auto result = co_await context.egress->fetch(std::move(request));
    if (!result.remoteAddress.empty()) span.setAttribute("network.peer.address", result.remoteAddress);
    if (result.status)
        span.setAttribute("http.response.status_code", static_cast<std::int64_t>(result.status));
    if (result.refused) span.setAttribute("rampart.egress.refused", true);
    if (!result.ok) span.setStatus(obs::SpanStatus::error);
    span.end();
    if (!result.ok) throw TaskFailed(result.error);
    std::array<unsigned char, 32> digest{};
    unsigned int size = 0;
    EVP_Digest(result.body.data(), result.body.size(), digest.data(), &size, EVP_sha256(), nullptr);
    json::object headers;
    for (const auto& [name, value] : result.headers) headers[name] = excerptOf(value);
    json::object out;
    out["status"] = result.status;
    out["headers"] = std::move(headers);
    out["size"] = result.body.size();
    out["sha256"] = hex(digest.data(), size);
    out["excerpt"] = excerptOf(result.body);
    out["final_url"] = result.finalUrl;
    out["redirects"] = result.redirects;
    co_return out;
}

}  // namespace

void addBuiltinTasks(TaskRegistry& registry) {
    registry.add(TaskType{.name = "noop",
                          .description = "Does nothing and succeeds: for tests and benchmarks",
                          .argsSchema = schema(R"({"type": "object"})"),
                          .timeout = std::chrono::seconds(10),
                          .handler = noop});
    registry.add(TaskType{.name = "echo",
                          .description = "Returns its arguments as its result",
                          .argsSchema = schema(R"({"type": "object", "additionalProperties": true})"),
                          .timeout = std::chrono::seconds(10),
                          .handler = echo});
    registry.add(TaskType{.name = "sleep",
                          .description = "Waits the given number of seconds (cancellable)",
                          .argsSchema = schema(
                              R"({"type": "object", "required": ["seconds"],
                "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 3600}}})"),
                          .timeout = std::chrono::hours(1) + std::chrono::minutes(1),
                          .handler = sleep});
    registry.add(TaskType{.name = "hash.sha256",
                          .description = "SHA-256 of a payload, iterated: CPU work in cancellable steps",
                          .argsSchema = schema(
                              R"({"type": "object", "required": ["payload", "iterations"],
                "properties": {"payload": {"type": "string", "maxLength": )" +
                              std::to_string(kMaxHashPayload) + R"(},
                               "iterations": {"type": "integer", "minimum": 1, "maximum": )" +
                              std::to_string(kMaxHashIterations) + R"(}}})"),
                          .timeout = std::chrono::minutes(5),
                          .handler = sha256});
    registry.add(TaskType{
        .name = "http.fetch",
        .description =
            "Fetches a public http(s) URL through the egress guard: status, headers, size, SHA-256, excerpt",
        .argsSchema = schema(
            R"({"type": "object", "required": ["url"],
                "properties": {"url": {"type": "string", "minLength": 1, "maxLength": 8192},
                               "method": {"enum": ["GET", "HEAD"]},
                               "max_bytes": {"type": "integer", "minimum": 1, "maximum": 104857600},
                               "timeout_seconds": {"type": "number", "minimum": 0.1, "maximum": 300}}})"),
        .timeout = std::chrono::minutes(6),
        .handler = httpFetch});
}

}  // namespace rampart::jobs
