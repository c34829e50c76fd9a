// Client address stage: the one place that reads the forwarding headers.
#include "http/middleware/client_address.hpp"

namespace rampart::http {

boost::asio::awaitable<void> ClientAddressStage::handle(Exchange& ex, Next next) {
    ex.client = proxies_.clientAddress(ex);
    ex.secure = proxies_.secure(ex);
    co_await next(ex);
}

}  // namespace rampart::http
