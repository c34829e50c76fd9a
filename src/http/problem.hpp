// Typed API errors and the one place that turns them into RFC 9457 application/problem+json responses.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/status.hpp>
#include <boost/json/array.hpp>

#include "http/exchange.hpp"

namespace rampart::http {

// Raised (or stored) by any stage or handler; the error stage of the pipeline maps it to a response.
// `detail` is shown to the client, so it must never hold internals (SQL, paths, library messages).
class ApiError : public std::exception {
  public:
    ApiError(Status status, std::string slug, std::string title, std::string detail = {})
        : status_(status), slug_(std::move(slug)), title_(std::move(title)), detail_(std::move(detail)) {}

    static ApiError badRequest(std::string detail);
    // 400 "the request body has an invalid field", naming the field and what is wrong with it.
    static ApiError invalidField(std::string_view pointer, std::string_view detail);
    static ApiError notFound();
    static ApiError methodNotAllowed(std::string allow);
    static ApiError notAcceptable(std::string detail);
    static ApiError unsupportedMediaType(std::string detail);
    static ApiError payloadTooLarge(std::size_t limit);
    static ApiError headersTooLarge();
    static ApiError invalidHost();
    static ApiError forbidden(std::string detail);
    // 401 for a credential that was presented and refused. One body whatever the reason (expired,
    // revoked, unknown, malformed), so a client learns nothing about which tokens exist.
    static ApiError unauthorized();
    // 401 for a protected route reached without any credential: the same body, and a
    // WWW-Authenticate challenge without an error code (RFC 6750 section 3.1).
    static ApiError authenticationRequired();
    static ApiError csrfFailed();
    static ApiError totpRequired();
    static ApiError serviceUnavailable(std::string detail);
    static ApiError internal();

    // Adds a response header (Allow, Retry-After, ...). Names and values are ours, never the client's.
    ApiError& withHeader(std::string name, std::string value) {
        headers_.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    // One more per-field error in "errors": {"pointer": "/args/url", "detail": "..."}. The pointer is
    // a JSON Pointer (RFC 6901) into the request body.
    ApiError& withFieldError(std::string_view pointer, std::string_view detail);

    [[nodiscard]] const char* what() const noexcept override { return title_.c_str(); }
    [[nodiscard]] Status status() const { return status_; }
    [[nodiscard]] const std::string& slug() const { return slug_; }
    [[nodiscard]] const std::string& title() const { return title_; }
    [[nodiscard]] const std::string& detail() const { return detail_; }
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
    [[nodiscard]] const boost::json::array& errors() const { return errors_; }

  private:
    Status status_;
    std::string slug_;
    std::string title_;
    std::string detail_;
    std::vector<std::pair<std::string, std::string>> headers_;
    boost::json::array errors_;
};

// The problem document for `error`; instance is the request id.
[[nodiscard]] boost::json::object problemJson(const ApiError& error, std::string_view requestId);
// Replaces ex.response with the problem document for `error`.
void writeProblem(Exchange& ex, const ApiError& error);

}  // namespace rampart::http
