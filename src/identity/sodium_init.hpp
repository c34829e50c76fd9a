// Initialises libsodium once before the identity code draws random bytes or hashes a password.
#pragma once

namespace rampart::identity {

// Thread-safe and cheap after the first call; throws std::runtime_error if libsodium cannot start
// (no usable randomness source), which only happens at start-up on a broken system.
void ensureSodiumInitialised();

}  // namespace rampart::identity
