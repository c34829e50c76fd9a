// How identity records become column values on every backend: times as whole Unix seconds and a
// token's scopes as one space-separated string, so SQLite and PostgreSQL store the same values; and the
// user and token columns both select, with how a row becomes a record (read through each backend's
// `Row`, see job_columns.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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

inline std::optional<Seconds> optionalSecondsOf(std::optional<std::int64_t> unix) {
    if (!unix) return std::nullopt;
    return secondsOf(*unix);
}

// Every column of a user, in userOfRow's order.
inline constexpr std::string_view kUserColumns =
    "id, username, email, role, active, password_hash, totp_secret, totp_enabled, totp_last_step, "
    "created, last_login, failed_logins, locked_until, credentials_revoked_at";

template <class Row>
UserRecord userOfRow(const Row& row) {
    return UserRecord{
        .id = row.text(0),
        .username = row.text(1),
        .email = row.optionalText(2),
        .role = row.text(3),
        .active = row.flag(4),
        .passwordHash = row.text(5),
        .totpSecretSealed = row.text(6),
        .totpEnabled = row.flag(7),
        .totpLastStep = row.optionalInt64(8),
        .created = secondsOf(row.int64(9)),
        .lastLogin = optionalSecondsOf(row.optionalInt64(10)),
        .failedLogins = static_cast<int>(row.int64(11)),
        .lockedUntil = optionalSecondsOf(row.optionalInt64(12)),
        .credentialsRevokedAt = optionalSecondsOf(row.optionalInt64(13)),
    };
}

// Every column of a personal API token, in tokenOfRow's order.
inline constexpr std::string_view kTokenColumns =
    "id, user_id, name, token_hash, display_prefix, scopes, created, expires, last_used, revoked";

template <class Row>
ApiTokenRecord tokenOfRow(const Row& row) {
    return ApiTokenRecord{
        .id = row.text(0),
        .userId = row.text(1),
        .name = row.text(2),
        .tokenHash = row.text(3),
        .displayPrefix = row.text(4),
        .scopes = splitScopes(row.text(5)),
        .created = secondsOf(row.int64(6)),
        .expires = optionalSecondsOf(row.optionalInt64(7)),
        .lastUsed = optionalSecondsOf(row.optionalInt64(8)),
        .revoked = optionalSecondsOf(row.optionalInt64(9)),
    };
}

// A browser session, in sessionOfRow's order.
inline constexpr std::string_view kSessionColumns = "id_hash, user_id, created, expires, revoked";

template <class Row>
SessionRecord sessionOfRow(const Row& row) {
    return SessionRecord{
        .idHash = row.text(0),
        .userId = row.text(1),
        .created = secondsOf(row.int64(2)),
        .expires = secondsOf(row.int64(3)),
        .revoked = optionalSecondsOf(row.optionalInt64(4)),
    };
}

// One attempted username's failed logins, in loginNameFailuresOfRow's order.
inline constexpr std::string_view kLoginNameFailureColumns = "failures, last_failure, locked_until";

template <class Row>
LoginNameFailures loginNameFailuresOfRow(const Row& row) {
    return LoginNameFailures{
        .failures = static_cast<int>(row.int64(0)),
        .lastFailure = secondsOf(row.int64(1)),
        .lockedUntil = optionalSecondsOf(row.optionalInt64(2)),
    };
}

}  // namespace rampart::store
