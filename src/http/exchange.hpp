// One request/response pair as it travels through the pipeline, with what the stages learn about it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "identity/principal.hpp"
#include "obs/tracer.hpp"

namespace rampart::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Status = beast_http::status;
using Verb = beast_http::verb;

struct Route;
class ApiError;
struct RateLimitContext;

struct Exchange {
    Request request;
    Response response;

    std::string requestId;
    boost::asio::ip::address peer;  // the TCP peer (a proxy, when there is one)
    bool tls = false;               // arrived over TLS on our own listener
    // Set by the client address stage, first in the pipeline: the client (the peer, or what a trusted
    // proxy says) and whether the request used TLS, here or at a trusted proxy in front of us.
    boost::asio::ip::address client;
    bool secure = false;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

    // Set by the router's lookup, which the transport does once the header is read (the route decides
    // the body limit). `route` is null for unknown paths and wrong methods.
    const Route* route = nullptr;
    std::string_view routeTemplate =
        "unmatched";  // the matched pattern, for metrics and logs: never the raw path
    std::vector<std::pair<std::string_view, std::string>> pathParams;
    std::string_view path;   // target without the query string
    std::string_view query;  // after '?', without it

    // An error found by the transport (body too large, malformed header) that the pipeline answers.
    std::shared_ptr<const ApiError> transportError;

    // Header lines ("Name: value\r\n"...) every response carries, serialized once at start-up: the
    // security headers. The transport writes them after the response's own fields.
    std::string_view fixedHeaders;

    // The request's server span, set by the tracing stage when tracing is on (off otherwise): handlers
    // start their store and egress spans under it, and a submitted job carries its context.
    obs::Span trace;

    std::string userId;  // set by authentication, for the access log
    // Set by the authentication stage when the request carried a good credential; routes whose
    // policy is public may still see it empty.
    std::optional<identity::Principal> principal;
    // Set by the authentication stage, instead of answering 401 itself, when the Authorization header was
    // refused and the rate-limit stage follows: it spends the client address's budget, then answers 401.
    bool credentialRefused = false;
    // Set by the rate-limit stage while the rest of the pipeline runs, so a handler can spend a scope
    // under its own key (the login route: the username) through limitScope(); null otherwise.
    RateLimitContext* rateLimit = nullptr;
    bool closeConnection = false;  // answer, then close (after errors that leave the stream unusable)

    [[nodiscard]] std::string_view pathParam(std::string_view name) const {
        for (const auto& [key, value] : pathParams)
            if (key == name) return value;
        return {};
    }
};

}  // namespace rampart::http
