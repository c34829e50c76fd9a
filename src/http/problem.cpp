// The single mapping from ApiError to an application/problem+json response (RFC 9457).
#include "http/problem.hpp"

#include <boost/json/serialize.hpp>

namespace rampart::http {

ApiError ApiError::badRequest(std::string detail) {
    return {Status::bad_request, "bad-request", "Bad request", std::move(detail)};
}
ApiError ApiError::invalidField(std::string_view pointer, std::string_view detail) {
    return badRequest("the request body has an invalid field").withFieldError(pointer, detail);
}
ApiError& ApiError::withFieldError(std::string_view pointer, std::string_view detail) {
    errors_.emplace_back(boost::json::object{{"pointer", pointer}, {"detail", detail}});
    return *this;
}
ApiError ApiError::notFound() {
    return {Status::not_found, "not-found", "Not found", "No resource exists at this path."};
}
ApiError ApiError::methodNotAllowed(std::string allow) {
    ApiError error{Status::method_not_allowed, "method-not-allowed", "Method not allowed",
                   "This resource does not support the request method."};
    error.withHeader("Allow", std::move(allow));
    return error;
}
ApiError ApiError::notAcceptable(std::string detail) {
    return {Status::not_acceptable, "not-acceptable", "Not acceptable", std::move(detail)};
}
ApiError ApiError::unsupportedMediaType(std::string detail) {
    return {Status::unsupported_media_type, "unsupported-media-type", "Unsupported media type",
            std::move(detail)};
}
ApiError ApiError::payloadTooLarge(std::size_t limit) {
    return {Status::payload_too_large, "payload-too-large", "Payload too large",
            "The request body exceeds the limit of " + std::to_string(limit) + " bytes for this route."};
}
ApiError ApiError::headersTooLarge() {
    return {Status::request_header_fields_too_large, "headers-too-large", "Request header fields too large",
            "The request line and headers exceed the configured limit."};
}
ApiError ApiError::invalidHost() {
    return {Status::bad_request, "invalid-host", "Invalid Host header",
            "The Host header is missing or not in the allowed hosts."};
}
ApiError ApiError::forbidden(std::string detail) {
    return {Status::forbidden, "forbidden", "Forbidden", std::move(detail)};
}
namespace {
constexpr std::string_view kUnauthorizedDetail =
    "Authentication is required, or the credential presented is not valid.";
}  // namespace

ApiError ApiError::unauthorized() {
    ApiError error{Status::unauthorized, "unauthorized", "Unauthorized", std::string(kUnauthorizedDetail)};
    error.withHeader("WWW-Authenticate", R"(Bearer realm="rampart", error="invalid_token")");
    return error;
}
ApiError ApiError::authenticationRequired() {
    ApiError error{Status::unauthorized, "unauthorized", "Unauthorized", std::string(kUnauthorizedDetail)};
    error.withHeader("WWW-Authenticate", R"(Bearer realm="rampart")");
    return error;
}
ApiError ApiError::csrfFailed() {
    return {Status::forbidden, "csrf-failed", "CSRF check failed",
            "A state-changing request with a session cookie needs the X-CSRF-Token header and a same-origin "
            "or allowed Origin."};
}
ApiError ApiError::totpRequired() {
    return {Status::forbidden, "totp-required", "Two-factor authentication required",
            "Administrators must enrol TOTP (POST /api/v1/me/totp) before using this route."};
}
ApiError ApiError::serviceUnavailable(std::string detail) {
    return {Status::service_unavailable, "service-unavailable", "Service unavailable", std::move(detail)};
}
ApiError ApiError::internal() {
    return {Status::internal_server_error, "internal", "Internal server error",
            "The server could not complete the request. Quote the instance when reporting it."};
}

boost::json::object problemJson(const ApiError& error, std::string_view requestId) {
    boost::json::object body;
    body["type"] = "urn:rampart:problem:" + error.slug();
    body["title"] = error.title();
    body["status"] = static_cast<unsigned>(error.status());
    if (!error.detail().empty()) body["detail"] = error.detail();
    body["instance"] = "urn:rampart:request:" + std::string(requestId);
    if (!error.errors().empty()) body["errors"] = error.errors();
    return body;
}

void writeProblem(Exchange& ex, const ApiError& error) {
    const boost::json::object body = problemJson(error, ex.requestId);
    Response response{error.status(), ex.request.version()};
    response.set(beast_http::field::content_type, "application/problem+json");
    for (const auto& [name, value] : error.headers()) response.set(name, value);
    response.body() = boost::json::serialize(body);
    ex.response = std::move(response);
}

}  // namespace rampart::http
