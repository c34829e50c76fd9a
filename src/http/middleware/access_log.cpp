// Builds the access record from what the pipeline learnt; never from headers or the body.
#include "http/middleware/access_log.hpp"

#include "http/middleware/metrics.hpp"

namespace rampart::http {

boost::asio::awaitable<void> AccessLogStage::handle(Exchange& ex, Next next) {
    co_await next(ex);
    obs::AccessRecord record;
    record.method = methodLabel(ex.request);
    record.route = ex.routeTemplate;
    record.status = ex.response.result_int();
    record.durationMs =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.start).count();
    record.bytes = ex.response.body().size();
    record.requestId = ex.requestId;
    record.client = ex.client.to_string();
    record.userId = ex.userId;
    if (ex.trace.on()) record.trace = &ex.trace.context();
    log_.write(record);
}

}  // namespace rampart::http
