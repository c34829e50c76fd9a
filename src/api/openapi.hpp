// The OpenAPI 3.1 document, built from the route table so it cannot drift from what is served.
#pragma once

#include <boost/json/object.hpp>

#include "http/router.hpp"

namespace rampart::api {

boost::json::object buildOpenApi(const http::Router& router);

}  // namespace rampart::api
