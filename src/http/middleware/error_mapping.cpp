// Maps failures to responses in one place; unexpected exceptions are logged with the request id and
// answered with a generic 500 that leaks nothing; a database that cannot be reached is a 503.
#include "http/middleware/error_mapping.hpp"

#include <atomic>
#include <chrono>

#include <spdlog/spdlog.h>

#include "http/problem.hpp"
#include "obs/app_log.hpp"
#include "store/store.hpp"

namespace rampart::http {
namespace {

constexpr std::chrono::seconds kStoreFailureLogInterval{10};

// During a database outage every request fails the same way: one line per interval says so, with how
// many failures the quiet time left out, instead of one line per request.
void logStoreFailure(const std::string& requestId, const char* what) {
    static std::atomic<std::int64_t> nextLineAt{0};  // steady clock, ms
    static std::atomic<int> leftOut{0};
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t next = nextLineAt.load();
    const std::int64_t later =
        now + std::chrono::duration_cast<std::chrono::milliseconds>(kStoreFailureLogInterval).count();
    if (now < next || !nextLineAt.compare_exchange_strong(next, later)) {
        ++leftOut;
        return;
    }
    spdlog::warn(
        "request {}: the database is unavailable ({}); answered 503 ({} more such answers left out "
        "of the log before this one)",
        requestId, what, leftOut.exchange(0));
}

}  // namespace

boost::asio::awaitable<void> ErrorMappingStage::handle(Exchange& ex, Next next) {
    std::exception_ptr failure;
    try {
        co_await next(ex);
        co_return;
    } catch (...) {
        failure = std::current_exception();
    }
    // What is logged from here on is about this request: the lines name its trace.
    obs::LogTrace logTrace(ex.trace);
    if (translate_) {
        if (std::optional<ApiError> translated = translate_(failure)) {
            writeProblem(ex, *translated);
            co_return;
        }
    }
    try {
        std::rethrow_exception(failure);
    } catch (const ApiError& error) {
        writeProblem(ex, error);
    } catch (const store::StoreUnavailable& error) {
        if (!error.transient()) {
            // The database refused the statement itself: our bug or a missing privilege, not an outage.
            // Saying 503 would send clients to retry, and hide the bug among outage lines.
            spdlog::error("request {} failed: the database refused a statement: {}", ex.requestId,
                          error.what());
            writeProblem(ex, ApiError::internal());
        } else {
            // The database is down or unreachable (a restart, a failover, a full pool): the request may
            // succeed if repeated shortly, which is what 503 and Retry-After tell the client. The store's
            // message stays in the log.
            logStoreFailure(ex.requestId, error.what());
            auto problem = ApiError::serviceUnavailable("The database is not reachable; try again shortly.");
            problem.withHeader("Retry-After", "1");
            writeProblem(ex, problem);
        }
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
