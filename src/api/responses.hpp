// What every API handler does the same way: answer with a JSON document, name the caller that the
// authorization stage has already let through, and stand in the route table as a named function.
#pragma once

#include <memory>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "http/exchange.hpp"
#include "http/problem.hpp"
#include "http/router.hpp"
#include "jobs/job_service.hpp"

namespace rampart::api {

inline void reply(http::Exchange& ex, http::Status status, const boost::json::value& body) {
    ex.response.result(status);
    ex.response.set(http::beast_http::field::content_type, "application/json");
    ex.response.body() = boost::json::serialize(body);
}

// The same with a document already serialized (JSON text).
inline void replyText(http::Exchange& ex, http::Status status, std::string body) {
    ex.response.result(status);
    ex.response.set(http::beast_http::field::content_type, "application/json");
    ex.response.body() = std::move(body);
}

// A route handler that is a named function of a service (`awaitable<void> getJob(JobService&, Exchange&)`),
// bound to the service for the route table: `.handler = handler<getJob>(service)`.
template <auto Function, class Service>
http::Handler handler(Service& service) {
    return [&service](http::Exchange& ex) { return Function(service, ex); };
}
// The same for what the route table owns itself (a bundle of services made for the handlers).
template <auto Function, class Service>
http::Handler handler(std::shared_ptr<Service> service) {
    return [service = std::move(service)](http::Exchange& ex) { return Function(*service, ex); };
}

// For routes whose policy is not public: the authorization stage lets no request through without one.
inline const identity::Principal& caller(const http::Exchange& ex) {
    if (!ex.principal) throw http::ApiError::internal();
    return *ex.principal;
}

// Who asked, for the audit events a service writes on the caller's behalf.
inline jobs::AuditContext auditContext(const http::Exchange& ex) {
    return jobs::AuditContext{.requestId = ex.requestId, .client = ex.client.to_string()};
}

}  // namespace rampart::api
