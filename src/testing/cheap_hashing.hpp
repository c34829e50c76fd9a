// The cheapest password hashing the policy allows (Argon2id at its floor), so suites that hash stay quick.
#pragma once

#include <cstddef>

#include "identity/password.hpp"

namespace rampart::testing {

inline identity::PasswordHashing cheapestHashing() {
    return identity::PasswordHashing{.opsLimit = 2, .memLimitBytes = std::size_t{19} * 1024 * 1024};
}

}  // namespace rampart::testing
