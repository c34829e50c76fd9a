// Domain refusals as HTTP answers: a too-many-waiting-leases refusal is a 429 the client can retry, a
// full password-hashing pool a 503 it can retry.
#include "api/error_mapping.hpp"

#include <gtest/gtest.h>

namespace rampart::api {
namespace {

std::string header(const http::ApiError& error, std::string_view name) {
    for (const auto& [key, value] : error.headers())
        if (key == name) return value;
    return {};
}

TEST(ErrorMapping, AThrottledJobErrorIs429WithRetryAfter) {
    const auto problem =
        apiErrorFor(jobs::JobError(jobs::JobError::Kind::throttled, "too-many-waiting-leases",
                                   "too many lease calls are waiting already"));
    EXPECT_EQ(problem.status(), http::Status::too_many_requests);
    EXPECT_EQ(problem.slug(), "too-many-waiting-leases");
    EXPECT_EQ(header(problem, "Retry-After"), "1");
}

TEST(ErrorMapping, ANotFoundJobErrorSaysNothingOfTheJob) {
    const auto problem =
        apiErrorFor(jobs::JobError(jobs::JobError::Kind::notFound, "not-found", "no such job"));
    EXPECT_EQ(problem.status(), http::Status::not_found);
    EXPECT_EQ(problem.detail(), http::ApiError::notFound().detail()) << "the same 404 as an unknown path";
}

TEST(ErrorMapping, ABusyPasswordPoolIs503WithRetryAfter) {
    identity::AuthError busy(identity::AuthError::Kind::unavailable, "password_hashing_busy",
                             "the server is busy checking passwords; try again shortly");
    busy.retryAfter = std::chrono::seconds(2);
    const auto problem = apiErrorFor(busy);
    EXPECT_EQ(problem.status(), http::Status::service_unavailable);
    EXPECT_EQ(problem.slug(), "password-hashing-busy");
    EXPECT_EQ(header(problem, "Retry-After"), "2");
}

}  // namespace
}  // namespace rampart::api
