// Query strings of API routes: decoded strictly, each parameter at most once, unknown names refused
// (like unknown body fields), and the shared "limit" rule.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "http/exchange.hpp"

namespace rampart::api {

using QueryParams = std::map<std::string, std::string, std::less<>>;

// application/x-www-form-urlencoded pairs of ex.query. Throws ApiError 400 for a bad escape, an unknown
// name or a repeated one.
QueryParams queryParams(const http::Exchange& ex, std::initializer_list<std::string_view> known);

// "limit": absent gives `fallback`; else an integer 1..max, or ApiError 400.
int limitParam(const QueryParams& params, int fallback, int max);

}  // namespace rampart::api
