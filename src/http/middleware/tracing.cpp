// The server span of a request, with OpenTelemetry's HTTP attributes: what was asked (method, route
// template, path without its query) and by whom (the client address), never query strings, headers,
// cookies or bodies. A malformed or repeated traceparent is ignored: the request goes on in a new trace.
#include "http/middleware/tracing.hpp"

#include "http/middleware/metrics.hpp"
#include "http/router.hpp"

namespace rampart::http {
namespace {

std::optional<obs::SpanContext> incomingContext(const Request& request) {
    // Two headers: which one the caller meant is unknowable.
    if (request.count("traceparent") != 1) return std::nullopt;
    auto context = obs::parseTraceparent(request["traceparent"]);
    if (!context) return std::nullopt;
    if (request.count("tracestate") == 1) context->traceState = obs::acceptTraceState(request["tracestate"]);
    return context;
}

}  // namespace

boost::asio::awaitable<void> TracingStage::handle(Exchange& ex, Next next) {
    const auto incoming = incomingContext(ex.request);
    const std::string_view method = methodLabel(ex.request);
    obs::SpanName name;
    if (ex.route && ex.route->method == ex.request.method()) {
        name = obs::StaticText{ex.route->spanName};  // the common case: no copy
    } else {
        std::string text(method);
        if (ex.route) {
            text += ' ';
            text += ex.routeTemplate;
        }
        name = std::move(text);
    }
    ex.trace = tracer_.start(std::move(name), obs::SpanKind::server, incoming ? &*incoming : nullptr);
    if (ex.trace.recording()) {
        // The method's name and the route template live as long as the server: views, not copies.
        ex.trace.setAttribute("http.request.method", obs::StaticText{method});
        if (ex.route) ex.trace.setAttribute("http.route", obs::StaticText{ex.routeTemplate});
        ex.trace.setAttribute("url.path", ex.path);
        ex.trace.setAttribute("url.scheme", obs::StaticText{ex.secure ? "https" : "http"});
        ex.trace.setAttribute("client.address", ex.client.to_string());
        ex.trace.setAttribute("network.protocol.version",
                              obs::StaticText{ex.request.version() == 10 ? "1.0" : "1.1"});
    }
    co_await next(ex);
    const unsigned status = ex.response.result_int();
    if (ex.trace.recording()) {
        ex.trace.setAttribute("http.response.status_code", static_cast<std::int64_t>(status));
        // A server span is an error only for 5xx: a 4xx is the client's mistake, answered correctly.
        if (status >= 500) ex.trace.setStatus(obs::SpanStatus::error);
    }
    std::array<char, obs::kTraceparentSize> traceparent;
    obs::formatTraceparent(ex.trace.context(), traceparent);
    ex.response.set("traceparent", std::string_view(traceparent.data(), traceparent.size()));
    ex.trace.end();
}

}  // namespace rampart::http
