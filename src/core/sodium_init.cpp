// libsodium's sodium_init, run once per process.
#include "core/sodium_init.hpp"

#include <stdexcept>

#include <sodium.h>

namespace rampart {

void ensureSodiumInitialised() {
    // A function-local static gives the once-only, thread-safe start without a lock on later calls.
    static const bool initialised = sodium_init() >= 0;
    if (!initialised) throw std::runtime_error("cannot initialise libsodium");
}

}  // namespace rampart
