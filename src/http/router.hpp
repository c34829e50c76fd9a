// The route table: method + path template ("/api/v1/jobs/{id}") -> handler, with what the transport,
// the rate-limit stage and the OpenAPI document need to know about each route; who may call it is the
// policy table's (api/policy.cpp), keyed by method and pattern.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "http/exchange.hpp"

namespace rampart::http {

using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;

// What the OpenAPI document (api/openapi.cpp) says about one answer of a route: its status, what it
// means, and its body by the name of a schema under #/components/schemas ("Job"; empty: no body).
// "Problem" answers are application/problem+json. `headers` name entries of #/components/headers.
struct RouteAnswer {
    int status = 200;
    std::string description{};
    std::string schema{};
    std::string mediaType = "application/json";
    std::vector<std::string> headers{};
};

// A query parameter a route reads, for the OpenAPI document; the handler refuses any other (400).
struct QueryParameter {
    std::string name;
    std::string description{};
    boost::json::object schema{};  // JSON Schema of the value
};

struct Route {
    Verb method = Verb::get;
    std::string pattern{};  // literal segments and {name} parameters
    Handler handler{};
    std::string summary{};         // one line, for OpenAPI
    std::string tag = "system";    // OpenAPI grouping
    bool jsonBody = false;         // expects an application/json body (else 415)
    std::size_t maxBodyBytes = 0;  // 0: the configured default
    // Rate limits (src/http/middleware/rate_limit.hpp): whether the caller's limit applies at all
    // (probes and the metrics scrape are exempt), and the named scope the route spends besides it
    // ("login", "jobs.submit"; empty for none).
    bool rateLimited = true;
    std::string rateLimitScope{};
    // For the OpenAPI document: the JSON body's schema (a name under #/components/schemas), the query
    // parameters, the answers the handler gives (the errors every route shares are added from the rest
    // of the route and its policy), and schemas the route adds to the components (built at start-up,
    // like the task types' arguments), which replace a shared one of the same name.
    std::string operationId{};  // a name for generated clients ("submitJob"); else made from the path
    std::string requestSchema{};
    std::vector<QueryParameter> query{};
    std::vector<RouteAnswer> answers{};
    boost::json::object schemas{};
    // Set by Router::add: "<METHOD> <pattern>", the name of the route's server span (kept for the server's
    // life, so a span names it without a copy).
    std::string spanName{};
};

class Router {
  public:
    // Throws std::invalid_argument for a malformed pattern or a duplicate method + pattern.
    void add(Route route);

    // Fills ex.route, ex.routeTemplate, ex.pathParams, ex.path, ex.query from the request target.
    // Unknown paths and wrong methods leave ex.route null; the router stage answers them.
    // Throws ApiError (400) for targets that are not origin-form or that try traversal or encoded
    // separators.
    void match(Exchange& ex) const;

    // The body limit of the route a request header names (the route's own, else `fallback`); the
    // transport sets it on the parser before reading the body.
    [[nodiscard]] std::size_t bodyLimit(const Request& header, std::size_t fallback) const;

    // The methods a path template answers, for Allow and CORS preflight ("GET, POST").
    [[nodiscard]] std::string allowedMethods(std::string_view path) const;

    [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }

    // A request path split on '/' once, without allocating; a path of more segments than any route
    // has matches none.
    static constexpr std::size_t kMaxSegments = 16;
    struct Segments {
        std::array<std::string_view, kMaxSegments> items{};
        std::size_t count = 0;
        bool tooMany = false;
    };

  private:
    struct Compiled {
        std::vector<std::string> segments;  // "{name}" marks a parameter
    };
    [[nodiscard]] static bool matches(const Compiled& compiled, const Segments& path,
                                      std::vector<std::pair<std::string_view, std::string>>* params);

    std::vector<Route> routes_;
    std::vector<Compiled> compiled_;
};

// Handles the request with ex.route's handler, or answers 404/405/415.
boost::asio::awaitable<void> dispatch(const Router& router, Exchange& ex);

}  // namespace rampart::http
