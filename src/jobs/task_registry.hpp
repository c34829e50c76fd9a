// Task types: what a job may run. Each is registered in C++ with a name, a JSON Schema for its
// arguments, defaults (queue, timeout, attempts, back-off) and a handler; a client only ever picks a
// registered name and passes JSON, never code. Arguments are validated here, before a job exists.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/job_state.hpp"

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
};

// Thrown by a handler for a failure worth reporting as the job's error (safe to show its owner). Any
// other exception fails the attempt with a generic error, and is logged.
class TaskFailed : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using TaskHandler = std::function<boost::asio::awaitable<boost::json::value>(TaskContext&)>;

struct TaskType {
    std::string name;           // [a-z0-9._-], 1-64 characters
    std::string description{};  // one line, for GET /api/v1/tasks
    boost::json::object
        argsSchema;  // JSON Schema (draft 7); objects refuse unknown fields unless it says otherwise
    std::string defaultQueue = "default";
    std::chrono::milliseconds timeout{std::chrono::minutes{5}};
    int maxAttempts = 3;
    RetryPolicy retry{};
    TaskHandler handler;
};

// One field at fault: a JSON pointer into the arguments ("/url", "" for the whole) and what is wrong.
struct ArgumentError {
    std::string pointer;
    std::string detail;
};

// The rule for task type and queue names: 1-64 characters of [a-z0-9._-].
[[nodiscard]] bool isValidName(std::string_view name);

class TaskRegistry {
  public:
    TaskRegistry();
    ~TaskRegistry();
    TaskRegistry(const TaskRegistry&) = delete;
    TaskRegistry& operator=(const TaskRegistry&) = delete;

    // Throws std::invalid_argument for a bad name, a duplicate, a schema valijson cannot read, a
    // missing handler or defaults out of range. An object schema without "additionalProperties" gets
    // "additionalProperties": false, so that unknown fields are refused by default.
    void add(TaskType type);

    [[nodiscard]] const TaskType* find(std::string_view name) const;
    [[nodiscard]] std::vector<const TaskType*> all() const;  // by name

    // Empty when `args` fits the task's schema; else one entry per violation (deepest first).
    [[nodiscard]] std::vector<ArgumentError> validate(const TaskType& type,
                                                      const boost::json::value& args) const;

  private:
    struct Compiled;
    std::map<std::string, std::unique_ptr<Compiled>, std::less<>> types_;
};

}  // namespace rampart::jobs
