// Initialises libsodium once before any code draws random bytes, hashes or compares secrets.
#pragma once

namespace rampart {

// Thread-safe and cheap after the first call; throws std::runtime_error if libsodium cannot start
// (no usable randomness source), which only happens at start-up on a broken system.
void ensureSodiumInitialised();

}  // namespace rampart
