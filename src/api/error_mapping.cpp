// Domain errors as problem documents, in one place.
#include "api/error_mapping.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace rampart::api {

using http::Status;

http::ApiError apiErrorFor(const jobs::JobError& error) {
    using Kind = jobs::JobError::Kind;
    auto withFields = [&error](http::ApiError problem) {
        for (const auto& field : error.errors()) problem.withFieldError(field.pointer, field.detail);
        return problem;
    };
    switch (error.kind()) {
        case Kind::invalid:
            return withFields(http::ApiError(Status::bad_request, error.slug(), "Bad Request", error.what()));
        case Kind::unprocessable:
            return withFields(http::ApiError(Status::unprocessable_entity, error.slug(),
                                             "Unprocessable Content", error.what()));
        case Kind::notFound:
            return http::ApiError::notFound();
        case Kind::conflict:
            return withFields(http::ApiError(Status::conflict, error.slug(), "Conflict", error.what()));
        case Kind::forbidden:
            return withFields(http::ApiError(Status::forbidden, error.slug(), "Forbidden", error.what()));
        case Kind::throttled:
            return http::ApiError(Status::too_many_requests, error.slug(), "Too Many Requests", error.what())
                .withHeader("Retry-After", "1");
    }
    return http::ApiError::internal();
}

http::ApiError apiErrorFor(const identity::AuthError& error) {
    using Kind = identity::AuthError::Kind;
    // Problem types use hyphens ("invalid-credentials", "password-too-short") like every other one.
    std::string slug = error.slug();
    std::replace_if(
        slug.begin(), slug.end(), [](char c) { return c == '_' || c == '.'; }, '-');
    switch (error.kind()) {
        case Kind::invalid: {
            http::ApiError problem(Status::bad_request, slug, "Bad Request", error.what());
            if (!error.field().empty()) problem.withFieldError(error.field(), error.what());
            return problem;
        }
        case Kind::unauthorized:
        case Kind::totpRequired:
            return http::ApiError(Status::unauthorized, slug, "Unauthorized", error.what())
                .withHeader("WWW-Authenticate", R"(Bearer realm="rampart")");
        case Kind::forbidden:
            return http::ApiError(Status::forbidden, slug, "Forbidden", error.what());
        case Kind::notFound:
            return http::ApiError::notFound();
        case Kind::conflict:
            return http::ApiError(Status::conflict, slug, "Conflict", error.what());
        case Kind::throttled:
            return http::ApiError(Status::too_many_requests, slug, "Too Many Requests", error.what())
                .withHeader("Retry-After",
                            std::to_string(std::max<std::int64_t>(1, error.retryAfter.count())));
        case Kind::unavailable:
            return http::ApiError(Status::service_unavailable, slug, "Service Unavailable", error.what())
                .withHeader("Retry-After",
                            std::to_string(std::max<std::int64_t>(1, error.retryAfter.count())));
    }
    return http::ApiError::internal();
}

std::optional<http::ApiError> translateDomainError(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const jobs::JobError& error) {
        return apiErrorFor(error);
    } catch (const identity::AuthError& error) {
        return apiErrorFor(error);
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace rampart::api
