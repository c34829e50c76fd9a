// The strict URL grammar for what a task may fetch: http(s) only, no userinfo, a DNS name or an IP literal
// (IPv4 in every numeric encoding a browser or inet_aton would accept, so none can slip past the policy).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace rampart::egress {

constexpr std::size_t kMaxUrlSize = 8192;

struct Url {
    bool tls = false;  // https
    // Lower-case DNS name without a trailing dot, or the canonical text of the IP literal (IPv6 without
    // brackets).
    std::string host;
    // Set when the host is an IP literal, in whatever encoding it was written.
    std::optional<boost::asio::ip::address> address;
    std::uint16_t port = 80;
    std::string target = "/";  // path and query as written; never empty

    std::string scheme() const { return tls ? "https" : "http"; }
    // host[:port] as the Host header carries it: brackets around IPv6, the port only when not the default.
    std::string authority() const;
    std::string text() const;  // scheme://authority/target, the fragment gone
};

// The URL, or nullopt with *error saying which rule it broke ("scheme ftp is not allowed (http and https
// only)", "must not carry a user name or password", ...).
std::optional<Url> parseUrl(std::string_view text, std::string* error = nullptr);

// Where a redirect's Location points, relative to the URL that answered; the result obeys parseUrl's
// rules, so a redirect to file:, to userinfo or to an odd encoding is refused the same way.
std::optional<Url> resolveLocation(const Url& base, std::string_view location, std::string* error = nullptr);

}  // namespace rampart::egress
