// 308 keeps the method and body, unlike 301/302; the host was checked against the allowlist
// before this stage, so the redirect cannot point anywhere else. The port is dropped: HTTPS is
// served on 443 by whatever terminates it.
#include "http/middleware/https_redirect.hpp"

#include "http/middleware/host_allowlist.hpp"

namespace rampart::http {

boost::asio::awaitable<void> HttpsRedirectStage::handle(Exchange& ex, Next next) {
    if (ex.secure) {
        co_await next(ex);
        co_return;
    }
    Response response{Status::permanent_redirect, ex.request.version()};
    response.set(beast_http::field::location,
                 "https://" +
                     HostAllowlistStage::hostName(ex.request[beast_http::field::host]).value_or("localhost") +
                     std::string(ex.request.target()));
    response.set(beast_http::field::content_type, "application/json");
    response.body() = R"({"detail":"This service is served over HTTPS only."})";
    ex.response = std::move(response);
    ex.closeConnection = true;
}

}  // namespace rampart::http
