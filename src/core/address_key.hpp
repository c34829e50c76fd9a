// The key under which a client address is counted, by the rate limiter and by the login lockout alike:
// IPv6 cut to the /64 a single host is usually given (rotating through its own /64 must not give a
// client a fresh budget or a fresh lockout), IPv4-mapped IPv6 counted as the IPv4 address.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace rampart {

// Raw bytes after a tag ("a4:" and 4 bytes, "a6:" and the 8 bytes of the /64), held inline: the
// request path makes one per decision without touching the heap.
class AddressKey {
  public:
    explicit AddressKey(const boost::asio::ip::address& address);

    [[nodiscard]] std::string_view view() const { return {bytes_.data(), size_}; }

  private:
    std::array<char, 11> bytes_{};
    std::size_t size_ = 0;
};

}  // namespace rampart
