// What the jobs API and the worker API share: a job as clients see it.
#pragma once

#include <optional>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "jobs/job_service.hpp"
#include "store/job_store.hpp"

namespace rampart::api {

// A job as GET /api/v1/jobs/{id} shows it. The lease holder is never shown.
[[nodiscard]] boost::json::object jobJson(const store::JobRecord& job);

// The same document as text, written straight into one string (no intermediate tree): byte for byte
// boost::json::serialize(jobJson(job)), for the hot GET /api/v1/jobs/{id}.
[[nodiscard]] std::string jobJsonText(const store::JobRecord& job);

// A duration in seconds: whole seconds as an integer (Boost.JSON writes the double 10.0 as 1E1), else
// a fraction.
[[nodiscard]] boost::json::value secondsJson(std::int64_t milliseconds);

// An optional time as RFC 3339 text, or null (finished, last_tick...).
[[nodiscard]] boost::json::value optionalTime(const std::optional<store::Millis>& millis);

}  // namespace rampart::api
