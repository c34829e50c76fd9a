// The transport stores what went wrong while reading; this stage turns it into the answer.
#include "http/middleware/transport_limits.hpp"

#include "http/problem.hpp"

namespace rampart::http {

boost::asio::awaitable<void> TransportLimitsStage::handle(Exchange& ex, Next next) {
    if (ex.transportError) {
        ex.closeConnection = true;
        throw ApiError(*ex.transportError);
    }
    co_await next(ex);
}

}  // namespace rampart::http
