// SecretString: wiping and constant-time comparison through libsodium.
#include "core/secret_string.hpp"

#include <sodium.h>

namespace rampart {

SecretString::~SecretString() {
    if (!value_.empty()) sodium_memzero(value_.data(), value_.size());
}

bool SecretString::equals(std::string_view other) const {
    if (other.size() != value_.size()) return false;
    return sodium_memcmp(value_.data(), other.data(), value_.size()) == 0;
}

}  // namespace rampart
