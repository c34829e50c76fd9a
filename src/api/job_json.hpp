// What the jobs API and the worker API share: a job as clients see it, times as RFC 3339 text, and
// jobs::JobError as the problem+json answer it becomes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "http/exchange.hpp"
#include "jobs/job_service.hpp"
#include "store/job_store.hpp"

namespace rampart::api {

// A job as GET /api/v1/jobs/{id} shows it. The lease holder is never shown.
[[nodiscard]] boost::json::object jobJson(const store::JobRecord& job);

// RFC 3339 in UTC with six fractional digits ("2026-01-31T12:00:00.000000Z").
[[nodiscard]] std::string timeText(store::Millis millis);

// A JobError as the client sees it: invalid 400, unprocessable 422, notFound 404 (always the plain
// not-found answer), conflict 409, forbidden 403; the field errors go into "errors" with their pointers.
[[noreturn]] void throwAsApiError(const jobs::JobError& error);

// Wraps a route handler so that a JobError it throws becomes throwAsApiError's answer.
template <class Body>
auto withJobErrors(Body body) {
    return [body](http::Exchange& ex) -> boost::asio::awaitable<void> {
        try {
            co_await body(ex);
        } catch (const jobs::JobError& error) {
            throwAsApiError(error);
        }
    };
}

}  // namespace rampart::api
