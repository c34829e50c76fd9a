// The domain errors of the services as HTTP answers: the one mapping from jobs::JobError and
// identity::AuthError to problem documents. Handlers just throw; the pipeline's error stage calls this.
#pragma once

#include <exception>
#include <optional>

#include "http/problem.hpp"
#include "identity/auth_error.hpp"
#include "jobs/job_service.hpp"

namespace rampart::api {

// invalid 400, unprocessable 422, notFound 404 (always the plain not-found answer), conflict 409,
// forbidden 403; the field errors go into "errors" with their pointers.
[[nodiscard]] http::ApiError apiErrorFor(const jobs::JobError& error);

// invalid 400 (with the field at fault), unauthorized and totpRequired 401 with a challenge, forbidden
// 403, notFound 404, conflict 409, throttled 429 with Retry-After. Slugs use hyphens.
[[nodiscard]] http::ApiError apiErrorFor(const identity::AuthError& error);

// For the error stage (http::ErrorTranslator): the answer to a domain error, nullopt for anything else.
[[nodiscard]] std::optional<http::ApiError> translateDomainError(const std::exception_ptr& failure);

}  // namespace rampart::api
