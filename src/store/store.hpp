// The Store interface: everything Rampart keeps durably goes through it. SQLite today, PostgreSQL
// later, with no caller changed. Async methods never block the calling (I/O) thread.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "app/secret_string.hpp"

namespace rampart::store {

// The database could not be reached or answered with an error. Its message is safe to log: it never
// holds SQL, file paths or credentials. Callers map it to 503.
class StoreUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class Store {
  public:
    virtual ~Store() = default;

    // Applies every pending numbered migration in order, each in its own transaction; returns how
    // many were applied. Blocking: for start-up and `rampart migrate` only.
    virtual int migrate() = 0;
    // Highest migration applied (0 for an empty database). Blocking.
    virtual int schemaVersion() = 0;
    // Highest migration this binary knows.
    [[nodiscard]] virtual int latestSchemaVersion() const = 0;

    // True when the database answers a trivial query. Runs on the store's own threads and resumes
    // on the caller's executor; for /readyz.
    virtual boost::asio::awaitable<bool> ping() = 0;

    // Finishes queued work and closes connections. Idempotent.
    virtual void close() = 0;
};

// Opens the store named by a database URL: sqlite://PATH (relative or absolute; parent directory
// created) today. Throws StoreUnavailable (message without the URL) when it cannot be opened, and
// std::invalid_argument for an unknown scheme.
std::unique_ptr<Store> openStore(const SecretString& databaseUrl);

}  // namespace rampart::store
