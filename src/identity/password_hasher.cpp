// The password pool: how big it is, and what it answers when full.
#include "identity/password_hasher.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "core/secret_string.hpp"
#include "identity/auth_error.hpp"
#include "obs/traced.hpp"

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

// A hash may wait; a request on a network thread should not wait for one. So by default the pool's threads
// run under SCHED_IDLE (Linux sets it per thread, no privilege needed): they get a core only when no other
// thread wants it, and a network thread that wakes up takes the core from them at once. On a machine kept
// busy by other work, logins slow down first, and are refused with 503 once the queue is full; "low" (nice
// 10) trades some of that protection for logins that keep a share of the CPU. Where SCHED_IDLE is refused,
// nice 19 does nearly as well.
constexpr int kLowNiceness = 10;
constexpr int kFallbackNiceness = 19;

bool setNiceness(int niceness) {
    return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), niceness) == 0;
}

// Once per pool thread: the priority, and Argon2's memory kept from one hash to the next (see
// keepArgon2MemoryOnThisThread: releasing it after every hash stalls the network threads).
void prepareHashingThread(const PasswordHashing& params, AuthSettings::HashPriority priority) {
    thread_local const bool prepared = [&params, priority] {
        keepArgon2MemoryOnThisThread(params.memLimitBytes);
        // Best effort: a thread that keeps its priority still hashes.
        switch (priority) {
            case AuthSettings::HashPriority::normal:
                return true;
            case AuthSettings::HashPriority::low:
                return setNiceness(kLowNiceness);
            case AuthSettings::HashPriority::idle:
                break;
        }
        const sched_param idle{};
        return pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) == 0 ||
               setNiceness(kFallbackNiceness);
    }();
    (void)prepared;
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
                                .refusal = [] { return std::make_exception_ptr(busy()); },
                                .onIdle = releaseArgon2MemoryOnThisThread,
                                .idleAfter = PasswordHasher::kKeepMemoryWhileIdle};
}

}  // namespace

PasswordHasher::PasswordHasher(const AuthSettings& settings)
    : params_(settings.hashing), priority_(settings.passwordHashPriority), pool_(poolOptions(settings)) {
    prepareDummyHash(params_);
}

void PasswordHasher::refuseIfBusy() const {
    if (pool_.full()) throw busy();
}

boost::asio::awaitable<std::optional<std::string>> PasswordHasher::hash(std::string_view password,
                                                                        const obs::Span& trace) {
    return obs::tracedChild(
        trace, obs::StaticText{"password.hash"}, obs::SpanKind::internal,
        pool_.run([password = SecretString(std::string(password)), params = params_, priority = priority_] {
            prepareHashingThread(params, priority);
            return hashPassword(password.reveal(), params);
        }));
}

boost::asio::awaitable<bool> PasswordHasher::verify(std::string_view password, std::string_view encodedHash,
                                                    const obs::Span& trace) {
    return obs::tracedChild(
        trace, obs::StaticText{"password.verify"}, obs::SpanKind::internal,
        pool_.run([password = SecretString(std::string(password)), encoded = std::string(encodedHash),
                   params = params_, priority = priority_] {
            prepareHashingThread(params, priority);
            return verifyPassword(password.reveal(), encoded);
        }));
}

boost::asio::awaitable<bool> PasswordHasher::verifyAgainstDummy(std::string_view password,
                                                                const obs::Span& trace) {
    // The same span as verify(): a trace must not tell an unknown name from a wrong password either.
    return obs::tracedChild(
        trace, obs::StaticText{"password.verify"}, obs::SpanKind::internal,
        pool_.run([password = SecretString(std::string(password)), params = params_, priority = priority_] {
            prepareHashingThread(params, priority);
            return identity::verifyAgainstDummy(password.reveal(), params);
        }));
}

}  // namespace rampart::identity
