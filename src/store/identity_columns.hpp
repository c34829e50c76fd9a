// How identity records become column values on every backend: times as whole Unix seconds and a
// token's scopes as one space-separated string, so SQLite and PostgreSQL store the same values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/identity_store.hpp"

namespace rampart::store {

inline std::int64_t unixOf(Seconds time) {
    return time.time_since_epoch().count();
}

inline Seconds secondsOf(std::int64_t unix) {
    return Seconds{std::chrono::seconds{unix}};
}

// Scopes are kept as one space-separated column, so a scope can hold no space: throws
// std::invalid_argument for an empty scope or one with a space.
std::string joinScopes(const std::vector<std::string>& scopes);
std::vector<std::string> splitScopes(std::string_view joined);

}  // namespace rampart::store
