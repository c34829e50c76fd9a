// The jobs service: submitting (task type, arguments against its schema, queue, idempotency), reading
// and canceling jobs, with the object-level rule applied in one place: a job is visible to its owner,
// admins and auditors, cancelable by its owner and admins, and to everyone else it does not exist.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include "identity/jwt.hpp"
#include "identity/principal.hpp"
#include "jobs/task_registry.hpp"
#include "store/store.hpp"

namespace rampart::jobs {

// A refusal the client sees: kind maps to the HTTP status; `errors` hold JSON pointers into the
// request body ("/args/url") with what is wrong.
class JobError : public std::runtime_error {
  public:
    enum class Kind { invalid, unprocessable, notFound, conflict, forbidden };
    struct FieldError {
        std::string pointer;
        std::string detail;
    };
    JobError(Kind kind, std::string slug, std::string message, std::vector<FieldError> errors = {})
        : std::runtime_error(std::move(message)),
          kind_(kind),
          slug_(std::move(slug)),
          errors_(std::move(errors)) {}

    [[nodiscard]] Kind kind() const { return kind_; }
    [[nodiscard]] const std::string& slug() const { return slug_; }
    [[nodiscard]] const std::vector<FieldError>& errors() const { return errors_; }

  private:
    Kind kind_;
    std::string slug_;
    std::vector<FieldError> errors_;
};

// One submission as the API received it; unset fields take the task type's defaults.
struct Submission {
    std::string task;
    boost::json::value args;
    std::optional<std::string> queue;
    int priority = 0;
    std::optional<std::chrono::system_clock::time_point> runAt;
    std::optional<int> maxAttempts;
    std::optional<std::chrono::milliseconds> timeout;
    std::optional<std::string> idempotencyKey;
};

struct Submitted {
    store::JobRecord job;
    bool created = true;  // false: an idempotent replay returned the earlier job
};

struct JobsSettings {
    std::vector<std::string> queues = {"default"};  // the queues jobs may be submitted to
    int maxBatch = 1000;
};

class JobService {
  public:
    JobService(store::Store& store, const TaskRegistry& registry, JobsSettings settings,
               identity::Clock clock = identity::systemClock());

    // Throws JobError: unknown task or queue, arguments that do not fit the schema (unprocessable, each
    // field named), an idempotency key reused for another request (conflict).
    boost::asio::awaitable<Submitted> submit(identity::Principal caller, Submission submission);
    // All or none. Throws JobError like submit (pointers prefixed with "/jobs/<index>").
    boost::asio::awaitable<std::vector<store::JobRecord>> submitBatch(identity::Principal caller,
                                                                      std::vector<Submission> submissions);

    // The job if the caller may see it; JobError notFound otherwise.
    boost::asio::awaitable<store::JobRecord> get(identity::Principal caller, std::string id);
    // The caller's jobs; admins and auditors see everyone's (and may filter by owner).
    boost::asio::awaitable<store::JobPage> list(identity::Principal caller, store::JobQuery query);
    // Cancels if the caller owns the job or is an admin; JobError notFound otherwise, conflict when it
    // had finished already.
    boost::asio::awaitable<store::JobRecord> cancel(identity::Principal caller, std::string id);

    // Called after every stored submission (the in-process workers' wake-up). Set before serving.
    void onSubmitted(std::function<void()> callback) { onSubmitted_ = std::move(callback); }

    [[nodiscard]] static bool maySee(const identity::Principal& caller, const store::JobRecord& job);
    [[nodiscard]] static bool mayCancel(const identity::Principal& caller, const store::JobRecord& job);

  private:
    store::JobRecord prepare(const identity::Principal& caller, Submission submission,
                             std::string_view pointerPrefix, store::Millis now) const;
    [[nodiscard]] store::Millis now() const;

    store::Store& store_;
    const TaskRegistry& registry_;
    JobsSettings settings_;
    identity::Clock clock_;
    std::function<void()> onSubmitted_;
};

}  // namespace rampart::jobs
