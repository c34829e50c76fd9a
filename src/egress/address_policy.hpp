// Which IP addresses a task's outbound request may reach: only public unicast. Everything the guard refuses
// is named by a stable reason so the job error and the audit log say why.
#pragma once

#include <optional>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace rampart::egress {

// The reason the address is not public ("loopback", "private", "link_local", "ipv4_mapped", ...), or nullopt
// when a task may connect to it. IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo IPv6 addresses are
// refused outright rather than unwrapped: each can carry an internal IPv4 address.
std::optional<std::string_view> refusedBecause(const boost::asio::ip::address& address);

}  // namespace rampart::egress
