// Redis connection URLs: redis://[user[:password]@]host[:port][/db] and rediss://... (TLS). The password is
// kept in a SecretString; redacted() is the form for logs and messages.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/secret_string.hpp"

namespace rampart::redis {

struct RedisUrl {
    static constexpr std::uint16_t kDefaultPort = 6379;

    bool tls = false;            // rediss://
    std::string host;            // a name, or an address (IPv6 without brackets)
    bool hostIsAddress = false;  // IPv4 or IPv6 literal: no SNI, the certificate must name the address
    std::uint16_t port = kDefaultPort;
    std::string user;       // empty: `AUTH password` (the default user)
    SecretString password;  // empty: no AUTH
    unsigned database = 0;  // SELECT after AUTH when not 0

    // host:port, with brackets around an IPv6 address.
    [[nodiscard]] std::string authority() const;
    // The URL with the password replaced by "***": safe for logs, errors and /readyz.
    [[nodiscard]] std::string redacted() const;
    // True for localhost, 127.0.0.0/8 and ::1.
    [[nodiscard]] bool isLoopback() const;
};

// A URL that cannot be used. The message says what is wrong and never quotes the URL or its password.
class InvalidRedisUrl : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// Parses and percent-decodes `text`. Refuses other schemes, a missing host, a bad port, a database that is
// not a number, a user name without a password, query strings and fragments.
RedisUrl parseRedisUrl(std::string_view text);

}  // namespace rampart::redis
