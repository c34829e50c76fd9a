// The errors every part of the Store throws, apart from the interfaces, so that a caller holding only a
// narrow part (a JobStore, say) can catch them without the whole Store.
#pragma once

#include <stdexcept>

namespace rampart::store {

// The database could not be reached or answered with an error. Its message is safe to log: it never
// holds SQL, file paths or credentials. Callers map it to 503 when transient(), else to 500.
class StoreUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
    // True when the same request may succeed if repeated shortly (the database is down, restarting,
    // overloaded, or a transaction lost a race); false when the database refused the statement itself
    // (a bug in our SQL, a missing table or privilege), which no retry will cure.
    [[nodiscard]] virtual bool transient() const noexcept { return true; }
};

// A unique column already holds the value (a username or email taken, an idempotency key used).
// Callers map it to 409.
class Conflict : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace rampart::store
