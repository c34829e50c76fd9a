// CORS per the Fetch standard, the strict way: exact origins, explicit headers, no wildcard reflection.
#include "http/middleware/cors.hpp"

#include <algorithm>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/beast/core/string.hpp>

#include "http/problem.hpp"

namespace rampart::http {
namespace beast = boost::beast;
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

CorsStage::CorsStage(const CorsSettings& config, const Router& router)
    : maxAge_(std::to_string(config.maxAge.count())), credentials_(config.allowCredentials), router_(router) {
    for (const auto& origin : config.allowedOrigins)
        if (origin != "*") origins_.push_back(boost::algorithm::to_lower_copy(origin));
    for (const auto& header : config.allowedHeaders) {
        allowedHeaders_.push_back(boost::algorithm::to_lower_copy(header));
        if (!allowedHeadersValue_.empty()) allowedHeadersValue_ += ", ";
        allowedHeadersValue_ += header;
    }
}

bool CorsStage::originAllowed(std::string_view origin) const {
    // "null" (sandboxed frames, file://) is never allowed; comparison is exact, case-insensitively
    // for scheme and host as browsers serialise them lower-case anyway.
    if (origin.empty() || origin == "null") return false;
    return std::any_of(origins_.begin(), origins_.end(),
                       [&](const std::string& allowed) { return beast::iequals(allowed, origin); });
}

boost::asio::awaitable<void> CorsStage::preflight(Exchange& ex, std::string_view origin) {
    auto requestedMethod = trim(ex.request["Access-Control-Request-Method"]);
    if (!originAllowed(origin)) throw ApiError::forbidden("This origin is not allowed to call the API.");
    auto allow = router_.allowedMethods(ex.path);
    if (allow.empty()) throw ApiError::notFound();
    bool methodAllowed = false;
    std::string_view rest = allow;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        if (trim(rest.substr(0, comma)) == requestedMethod) methodAllowed = true;
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    if (!methodAllowed)
        throw ApiError::forbidden("This method is not allowed for cross-origin requests here.");
    std::string_view headers = ex.request["Access-Control-Request-Headers"];
    while (!headers.empty()) {
        auto comma = headers.find(',');
        auto name = boost::algorithm::to_lower_copy(std::string(trim(headers.substr(0, comma))));
        headers = comma == std::string_view::npos ? std::string_view{} : headers.substr(comma + 1);
        if (!name.empty() &&
            std::find(allowedHeaders_.begin(), allowedHeaders_.end(), name) == allowedHeaders_.end())
            throw ApiError::forbidden("A requested header is not allowed for cross-origin requests.");
    }
    Response response{Status::no_content, ex.request.version()};
    response.set(beast_http::field::access_control_allow_origin, origin);
    response.set(beast_http::field::access_control_allow_methods, allow);
    response.set(beast_http::field::access_control_allow_headers, allowedHeadersValue_);
    response.set(beast_http::field::access_control_max_age, maxAge_);
    if (credentials_) response.set(beast_http::field::access_control_allow_credentials, "true");
    response.set(beast_http::field::vary,
                 "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    ex.response = std::move(response);
    co_return;
}

boost::asio::awaitable<void> CorsStage::handle(Exchange& ex, Next next) {
    std::string_view origin = ex.request[beast_http::field::origin];
    if (ex.request.method() == Verb::options && !origin.empty() &&
        ex.request.count("Access-Control-Request-Method") > 0) {
        // Preflights carry no credentials and reach no handler.
        if (ex.routeTemplate == "unmatched") throw ApiError::notFound();
        co_await preflight(ex, origin);
        co_return;
    }
    co_await next(ex);
    // The response depends on Origin whenever CORS is in play, so caches must key on it.
    ex.response.set(beast_http::field::vary, "Origin");
    if (originAllowed(origin)) {
        ex.response.set(beast_http::field::access_control_allow_origin, origin);
        if (credentials_) ex.response.set(beast_http::field::access_control_allow_credentials, "true");
    }
}

}  // namespace rampart::http
