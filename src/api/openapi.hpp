// The OpenAPI 3.1 document, built from the route table so it cannot drift from what is served: paths,
// operations and parameters from the routes (and what each route says of its bodies and answers),
// security from the policy table, shared schemas from openapi_schemas.cpp. Also the few words routes
// use to describe themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "http/router.hpp"

namespace rampart::api {

// `secureCookies` names the session cookie as the server sets it (__Host-rampart_session, else
// rampart_session).
boost::json::object buildOpenApi(const http::Router& router, bool secureCookies = true);

// An answer with a body of the schema `schema` (a name under #/components/schemas); none when empty.
inline http::RouteAnswer answer(int status, std::string description, std::string schema = {}) {
    return http::RouteAnswer{
        .status = status, .description = std::move(description), .schema = std::move(schema)};
}
// An error this route answers besides the ones every route of its kind shares.
inline http::RouteAnswer problemAnswer(int status, std::string description) {
    return http::RouteAnswer{.status = status, .description = std::move(description), .schema = "Problem"};
}

inline http::QueryParameter queryString(std::string name, std::string description) {
    return http::QueryParameter{.name = std::move(name),
                                .description = std::move(description),
                                .schema = boost::json::object{{"type", "string"}}};
}
inline http::QueryParameter queryInteger(std::string name, std::string description, std::int64_t minimum,
                                         std::int64_t maximum, std::int64_t fallback) {
    return http::QueryParameter{
        .name = std::move(name),
        .description = std::move(description),
        .schema = boost::json::object{
            {"type", "integer"}, {"minimum", minimum}, {"maximum", maximum}, {"default", fallback}}};
}

}  // namespace rampart::api
