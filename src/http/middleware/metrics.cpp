// Times from the end of reading the request to the response being ready.
#include "http/middleware/metrics.hpp"

namespace rampart::http {

std::string_view methodLabel(const Request& request) {
    if (request.method() == Verb::unknown) return "OTHER";
    return beast_http::to_string(request.method());
}

boost::asio::awaitable<void> MetricsStage::handle(Exchange& ex, Next next) {
    metrics_.requestStarted();
    co_await next(ex);
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - ex.start).count();
    metrics_.requestFinished(methodLabel(ex.request), ex.routeTemplate, ex.response.result_int(), elapsed);
}

}  // namespace rampart::http
