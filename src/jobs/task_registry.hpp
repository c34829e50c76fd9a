// Task types: what a job may run. Each has a name, a JSON Schema for its arguments, defaults (queue,
// priority, timeout, attempts, back-off) and either a C++ handler (the built-ins, run in process) or
// none (types declared in the configuration, run only by external workers, with an optional schema
// for their results). A client only ever picks a registered name and passes JSON, never code.
// Arguments are validated here, before a job exists; results of external types when reported.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/job_state.hpp"
#include "obs/tracer.hpp"

namespace rampart::egress {
class EgressClient;
}

namespace rampart::jobs {

// Set by cancel requests and timeouts; handlers look at it between steps (and cancellable waits do).
class CancelToken {
  public:
    void cancel() { canceled_.store(true, std::memory_order_release); }
    [[nodiscard]] bool canceled() const { return canceled_.load(std::memory_order_acquire); }

  private:
    std::atomic<bool> canceled_{false};
};

// What a handler gets. `progress` reports 0-100 and a short message; the worker stores it.
struct TaskContext {
    const boost::json::object& args;
    const CancelToken& cancel;
    std::function<void(int percent, std::string_view message)> progress;
    egress::EgressClient* egress = nullptr;  // the only way a task may reach the network
    // The attempt's run span (off without tracing): a handler's own spans are its children.
    const obs::Span& trace = obs::Span::off();
};

// Thrown by a handler for a failure worth reporting as the job's error (safe to show its owner). Any
// other exception fails the attempt with a generic error, and is logged.
class TaskFailed : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using TaskHandler = std::function<boost::asio::awaitable<boost::json::value>(TaskContext&)>;

struct TaskType {
    std::string name;           // isValidTaskName
    std::string description{};  // one line, for GET /api/v1/tasks
    boost::json::object
        argsSchema;  // JSON Schema (draft 7); objects refuse unknown fields unless it says otherwise
    std::string defaultQueue = "default";
    int priority = 0;  // a submission's priority when it names none; -100..100
    std::chrono::milliseconds timeout{std::chrono::minutes{5}};
    int maxAttempts = 3;
    RetryPolicy retry{};
    TaskHandler handler{};  // in process; empty for an external type
    // No handler: only external workers run it (a type declared in the configuration).
    bool external = false;
    // For external types: the JSON Schema a reported result must fit (a worker's `complete` is refused
    // with the pointers otherwise). Unset: any JSON result.
    std::optional<boost::json::object> resultSchema{};
};

// One field at fault: a JSON pointer into the arguments ("/url", "" for the whole) and what is wrong.
struct ArgumentError {
    std::string pointer;
    std::string detail;
};

// The rule for queue names (and the built-in task types): 1-64 characters of [a-z0-9._-].
[[nodiscard]] bool isValidName(std::string_view name);
// The rule for task type names: 1-128 characters of letters, digits and [._-] ("reports.generate").
inline constexpr std::size_t kMaxTaskName = 128;
[[nodiscard]] bool isValidTaskName(std::string_view name);

class TaskRegistry {
  public:
    TaskRegistry();
    ~TaskRegistry();
    TaskRegistry(const TaskRegistry&) = delete;
    TaskRegistry& operator=(const TaskRegistry&) = delete;

    // Throws std::invalid_argument for a bad name, a duplicate, a schema valijson cannot read, a
    // missing handler (or a handler on an external type, or a result schema on an in-process one) or
    // defaults out of range. An object schema without "additionalProperties" gets
    // "additionalProperties": false, so that unknown fields are refused by default; a result schema
    // is taken as written.
    void add(TaskType type);

    [[nodiscard]] const TaskType* find(std::string_view name) const;
    [[nodiscard]] std::vector<const TaskType*> all() const;  // by name

    // Empty when `args` fits the task's schema; else one entry per violation (deepest first).
    [[nodiscard]] std::vector<ArgumentError> validate(const TaskType& type,
                                                      const boost::json::value& args) const;
    // Empty when `result` fits the type's result schema, or it has none.
    [[nodiscard]] std::vector<ArgumentError> validateResult(const TaskType& type,
                                                            const boost::json::value& result) const;

  private:
    struct Compiled;
    std::map<std::string, std::unique_ptr<Compiled>, std::less<>> types_;
};

}  // namespace rampart::jobs
