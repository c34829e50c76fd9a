// Argon2id hashes and verifications on a bounded pool of their own threads, so that a flood of logins
// (each a 64 MiB, 3-pass hash, the dummy one for unknown users included) waits in that pool's queue, or
// is refused with AuthError unavailable (503 with Retry-After), instead of holding the network threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/bounded_pool.hpp"
#include "identity/auth_settings.hpp"
#include "identity/password.hpp"
#include "obs/tracer.hpp"

namespace rampart::identity {

class PasswordHasher {
  public:
    // settings.hashing is the cost; settings.passwordHashThreads (0: one per core) and
    // settings.passwordHashQueue (0: four per thread) size the pool.
    // A pool thread keeps Argon2's memory (the hash's cost in memory, 64 MiB by default) from one hash to
    // the next while logins keep coming, and gives it back after this long without one: an idle server
    // holds none of it.
    static constexpr std::chrono::milliseconds kKeepMemoryWhileIdle{60'000};

    explicit PasswordHasher(const AuthSettings& settings);

    // Each of these copies the password, runs on the pool and resumes on the caller's executor. Each
    // throws AuthError unavailable, before any hashing, when the pool's queue is full. Each is a span under
    // `trace` ("password.hash" or "password.verify": the wait for a pool thread and the hash).
    // hashPassword(): nullopt for a password over kMaxPasswordBytes or when Argon2 runs out of memory.
    boost::asio::awaitable<std::optional<std::string>> hash(std::string_view password,
                                                            const obs::Span& trace = obs::Span::off());
    // verifyPassword(): false for a wrong password, an overlong one and a malformed hash.
    boost::asio::awaitable<bool> verify(std::string_view password, std::string_view encodedHash,
                                        const obs::Span& trace = obs::Span::off());
    // verifyAgainstDummy(): the same work, the same refusal and the same span as verify() for a known user,
    // so neither the time taken, a 503 nor a trace tells whether an account exists. Always false.
    boost::asio::awaitable<bool> verifyAgainstDummy(std::string_view password,
                                                    const obs::Span& trace = obs::Span::off());
    // Throws AuthError unavailable when the pool is full now, so a login can be refused before it reads
    // the store; the calls above still refuse if it fills meanwhile.
    void refuseIfBusy() const;

    // Finishes the queued hashes and stops the threads; every call refuses from then on. For shutting
    // down after the server's connections are closed and before its io_contexts go.
    void shutdown() { pool_.shutdown(); }

    [[nodiscard]] const PasswordHashing& params() const { return params_; }
    // The pool itself: its size for the logs, and tests that fill it.
    [[nodiscard]] BoundedPool& pool() { return pool_; }

  private:
    PasswordHashing params_;
    AuthSettings::HashPriority priority_;
    BoundedPool pool_;
};

}  // namespace rampart::identity
