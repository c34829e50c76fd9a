// Which TCP peers may speak for the client (X-Forwarded-For, X-Forwarded-Proto), so a client cannot
// pick its own address or claim TLS it did not use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "http/exchange.hpp"

namespace rampart::http {

class TrustedProxies {
  public:
    // Entries are addresses or CIDR networks; throws std::invalid_argument for a malformed entry.
    explicit TrustedProxies(const std::vector<std::string>& entries);

    [[nodiscard]] bool trusted(const boost::asio::ip::address& address) const;

    // The client's address: the peer, or, when the peer is a trusted proxy, the right-most address in
    // X-Forwarded-For that is not itself a trusted proxy.
    [[nodiscard]] boost::asio::ip::address clientAddress(const Exchange& ex) const;

    // The request reached us over TLS, or a trusted proxy says it reached the proxy over TLS.
    [[nodiscard]] bool secure(const Exchange& ex) const;

  private:
    std::vector<boost::asio::ip::network_v4> v4_;
    std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace rampart::http
