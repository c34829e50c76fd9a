// The password pool: how big it is, and what it answers when full.
#include "identity/password_hasher.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/secret_string.hpp"
#include "identity/auth_error.hpp"

namespace rampart::identity {
namespace {

// Four waiting hashes per thread: with the default cost (about 0.2 s a hash here) a login waits at
// most about a second for its turn before it is refused, and the queue holds only passwords (at most
// kMaxPasswordBytes each), not Argon2's 64 MiB, which only running hashes allocate.
constexpr std::size_t kQueuedPerThread = 4;

std::size_t threadsFor(const AuthSettings& settings) {
    if (settings.passwordHashThreads > 0) return settings.passwordHashThreads;
    return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

// A hash may wait; a request on a network thread should not wait for one. So the pool's threads run at a
// lower priority (Linux sets it per thread): when both want a core, the scheduler prefers the network
// threads, and hashing slows down instead of every other request.
constexpr int kHashingNiceness = 10;

void lowerThisThreadsPriority() {
    thread_local const bool lowered =
        setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kHashingNiceness) == 0;
    (void)lowered;  // best effort: a thread that keeps its priority still hashes
}

AuthError busy() {
    AuthError error(AuthError::Kind::unavailable, "password_hashing_busy",
                    "the server is busy checking passwords; try again shortly");
    error.retryAfter = std::chrono::seconds(1);
    return error;
}

BoundedPool::Options poolOptions(const AuthSettings& settings) {
    const std::size_t threads = threadsFor(settings);
    return BoundedPool::Options{.threads = threads,
                                .queueCapacity = settings.passwordHashQueue > 0 ? settings.passwordHashQueue
                                                                                : kQueuedPerThread * threads,
                                .refusal = [] { return std::make_exception_ptr(busy()); }};
}

}  // namespace

PasswordHasher::PasswordHasher(const AuthSettings& settings)
    : params_(settings.hashing), pool_(poolOptions(settings)) {
    prepareDummyHash(params_);
}

void PasswordHasher::refuseIfBusy() const {
    if (pool_.full()) throw busy();
}

boost::asio::awaitable<std::optional<std::string>> PasswordHasher::hash(std::string_view password) {
    return pool_.run([password = SecretString(std::string(password)), params = params_] {
        lowerThisThreadsPriority();
        return hashPassword(password.reveal(), params);
    });
}

boost::asio::awaitable<bool> PasswordHasher::verify(std::string_view password, std::string_view encodedHash) {
    return pool_.run([password = SecretString(std::string(password)), encoded = std::string(encodedHash)] {
        lowerThisThreadsPriority();
        return verifyPassword(password.reveal(), encoded);
    });
}

boost::asio::awaitable<bool> PasswordHasher::verifyAgainstDummy(std::string_view password) {
    return pool_.run([password = SecretString(std::string(password)), params = params_] {
        lowerThisThreadsPriority();
        return identity::verifyAgainstDummy(password.reveal(), params);
    });
}

}  // namespace rampart::identity
