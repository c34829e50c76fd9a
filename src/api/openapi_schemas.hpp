// The shared parts of the OpenAPI document: the JSON Schemas of the request and answer bodies under
// #/components/schemas, the response headers under #/components/headers, and the credential kinds
// under #/components/securitySchemes. What one route alone knows stays with the route (http::Route).
#pragma once

#include <string_view>

#include <boost/json/object.hpp>

namespace rampart::api {

// Every body schema the handlers answer with or read, written once; bounds are the handlers' (lengths
// the server counts in UTF-8 bytes). Request bodies refuse unknown fields (JsonBody::finish), and so
// do these schemas; answers are closed too, so that a field the document lacks is a failing test.
[[nodiscard]] const boost::json::object& openApiSchemas();

[[nodiscard]] const boost::json::object& openApiHeaders();

// The session cookie is `sessionCookie` (__Host-rampart_session with secure_cookies, else
// rampart_session).
[[nodiscard]] boost::json::object openApiSecuritySchemes(std::string_view sessionCookie);

}  // namespace rampart::api
