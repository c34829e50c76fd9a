// Small rules that more than one identity service applies, kept in one place so they cannot drift:
// what a username may be (login looks up only valid names, account creation refuses the rest), how a
// presented secret is hashed for its lookup, the TOTP seal's context, and the time and address forms
// the store and the audit log use.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "identity/api_token.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

inline constexpr std::string_view kTotpSealContext = "rampart totp v1";
inline constexpr std::size_t kMaxUsernameBytes = 150;

// Django's username alphabet: letters, digits and @.+-_ (ASCII only, so look-alikes cannot collide).
inline bool validUsername(std::string_view name) {
    return !name.empty() && name.size() <= kMaxUsernameBytes &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '.' || c == '+' ||
                      c == '-' || c == '_';
           });
}

// The hex SHA-256 under which API tokens and session ids are stored and looked up.
inline std::string sha256Hex(std::string_view text) {
    return hashHex(hashApiToken(text));
}

inline store::Seconds toSeconds(std::chrono::system_clock::time_point time) {
    return std::chrono::floor<std::chrono::seconds>(time);
}

inline std::string clientText(const boost::asio::ip::address& client) {
    return client.is_unspecified() ? std::string() : client.to_string();
}

}  // namespace rampart::identity
