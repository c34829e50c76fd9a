// Hand-written rather than Boost.URL's parse_query, which misread the last value of a view into the
// request target when linked against Debian's libboost_url (docs/development.md).
#include "api/query.hpp"

#include <algorithm>
#include <charconv>

#include "http/problem.hpp"

namespace rampart::api {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte; a bad escape is a 400.
std::string decodeQueryPart(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] != '%') {
            out += text[i];
        } else {
            const int high = i + 2 < text.size() ? hexValue(text[i + 1]) : -1;
            const int low = i + 2 < text.size() ? hexValue(text[i + 2]) : -1;
            if (high < 0 || low < 0) throw http::ApiError::badRequest("the query string is malformed");
            out += static_cast<char>(high * 16 + low);
            i += 2;
        }
    }
    return out;
}

}  // namespace

QueryParams queryParams(const http::Exchange& ex, std::initializer_list<std::string_view> known) {
    QueryParams params;
    std::string_view rest = ex.query;
    while (!rest.empty()) {
        const auto end = rest.find('&');
        const std::string_view pair = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (pair.empty()) continue;
        const auto equals = pair.find('=');
        std::string key = decodeQueryPart(pair.substr(0, equals));
        std::string value =
            equals == std::string_view::npos ? std::string() : decodeQueryPart(pair.substr(equals + 1));
        if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end()) {
            throw http::ApiError::badRequest("unknown query parameter");
        }
        if (!params.emplace(std::move(key), std::move(value)).second) {
            throw http::ApiError::badRequest("a query parameter appears twice");
        }
    }
    return params;
}

int limitParam(const QueryParams& params, int fallback, int max) {
    auto found = params.find("limit");
    if (found == params.end()) return fallback;
    int limit = 0;
    auto [end, ec] =
        std::from_chars(found->second.data(), found->second.data() + found->second.size(), limit);
    if (ec != std::errc() || end != found->second.data() + found->second.size() || limit < 1 || limit > max) {
        throw http::ApiError::badRequest("limit must be an integer from 1 to " + std::to_string(max));
    }
    return limit;
}

}  // namespace rampart::api
