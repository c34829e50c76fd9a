// What every API handler does the same way: answer with a JSON document, and name the caller that
// the authorization stage has already let through.
#pragma once

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "http/exchange.hpp"
#include "http/problem.hpp"

namespace rampart::api {

inline void reply(http::Exchange& ex, http::Status status, const boost::json::value& body) {
    ex.response.result(status);
    ex.response.set(http::beast_http::field::content_type, "application/json");
    ex.response.body() = boost::json::serialize(body);
}

// For routes whose policy is not public: the authorization stage lets no request through without one.
inline const identity::Principal& caller(const http::Exchange& ex) {
    if (!ex.principal) throw http::ApiError::internal();
    return *ex.principal;
}

}  // namespace rampart::api
