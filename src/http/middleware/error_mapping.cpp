// Maps failures to responses in one place; unexpected exceptions are logged with the request id and
// answered with a generic 500 that leaks nothing.
#include "http/middleware/error_mapping.hpp"

#include <spdlog/spdlog.h>

#include "http/problem.hpp"

namespace rampart::http {

boost::asio::awaitable<void> ErrorMappingStage::handle(Exchange& ex, Next next) {
    std::exception_ptr failure;
    try {
        co_await next(ex);
        co_return;
    } catch (...) {
        failure = std::current_exception();
    }
    try {
        std::rethrow_exception(failure);
    } catch (const ApiError& error) {
        writeProblem(ex, error);
    } catch (const std::exception& error) {
        spdlog::error("request {} failed: {}", ex.requestId, error.what());
        auto problem = ApiError::internal();
        if (verbose_)
            problem =
                ApiError(Status::internal_server_error, "internal", "Internal server error", error.what());
        writeProblem(ex, problem);
    } catch (...) {
        spdlog::error("request {} failed with an unknown exception", ex.requestId);
        writeProblem(ex, ApiError::internal());
    }
}

}  // namespace rampart::http
