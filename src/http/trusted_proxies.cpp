// Trusted-proxy networks and the client address / scheme they may vouch for.
#include "http/trusted_proxies.hpp"

#include <iterator>
#include <stdexcept>

#include <boost/beast/core/string.hpp>

namespace rampart::http {
namespace beast = boost::beast;
namespace {

boost::asio::ip::address normalize(const boost::asio::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    return address;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

TrustedProxies::TrustedProxies(const std::vector<std::string>& entries) {
    for (const auto& entry : entries) {
        boost::system::error_code ec;
        std::string text = entry;
        if (text.find('/') == std::string::npos) {
            auto address = boost::asio::ip::make_address(text, ec);
            if (ec) throw std::invalid_argument("trusted_proxies: not an address or network: " + entry);
            text += address.is_v4() ? "/32" : "/128";
        }
        if (text.find(':') == std::string::npos) {
            auto network = boost::asio::ip::make_network_v4(text, ec);
            if (ec) throw std::invalid_argument("trusted_proxies: not an address or network: " + entry);
            v4_.push_back(network.canonical());
        } else {
            auto network = boost::asio::ip::make_network_v6(text, ec);
            if (ec) throw std::invalid_argument("trusted_proxies: not an address or network: " + entry);
            v6_.push_back(network.canonical());
        }
    }
}

bool TrustedProxies::trusted(const boost::asio::ip::address& raw) const {
    auto address = normalize(raw);
    if (address.is_v4()) {
        for (const auto& network : v4_) {
            auto mask = network.netmask().to_uint();
            if ((address.to_v4().to_uint() & mask) == network.network().to_uint()) return true;
        }
        return false;
    }
    for (const auto& network : v6_) {
        auto bytes = address.to_v6().to_bytes();
        auto base = network.network().to_bytes();
        unsigned bits = network.prefix_length();
        bool inside = true;
        for (unsigned i = 0; i < 16 && bits > 0 && inside; ++i) {
            unsigned take = bits >= 8 ? 8 : bits;
            unsigned char mask = static_cast<unsigned char>(0xFF << (8 - take));
            inside = (bytes[i] & mask) == (base[i] & mask);
            bits -= take;
        }
        if (inside) return true;
    }
    return false;
}

boost::asio::ip::address TrustedProxies::clientAddress(const Exchange& ex) const {
    auto peer = normalize(ex.peer);
    if ((v4_.empty() && v6_.empty()) || !trusted(peer)) return peer;
    // Walk X-Forwarded-For from the right: each hop appended the address it saw. Several field lines are
    // one list, joined in the order they came (RFC 9110 section 5.3): a proxy that adds a line of its own
    // (HAProxy's `option forwardfor`) leaves the client's own line first, so the walk starts at the last
    // line. Beast keeps the lines of one name together and in order; nothing is copied.
    const auto [first, last] = ex.request.equal_range("X-Forwarded-For");
    for (auto line = last; line != first;) {
        --line;
        // Every element counts, the empty ones too (an empty line, "a,,b", or one before a leading
        // comma): the walk stops there rather than skip into what a client wrote.
        std::string_view header = line->value();
        for (;;) {
            const auto comma = header.rfind(',');
            const auto item = trim(comma == std::string_view::npos ? header : header.substr(comma + 1));
            boost::system::error_code ec;
            auto address = boost::asio::ip::make_address(item, ec);
            if (ec) return peer;  // a malformed or empty hop: trust nothing further left
            address = normalize(address);
            if (!trusted(address)) return address;
            if (comma == std::string_view::npos) break;
            header = header.substr(0, comma);
        }
    }
    return peer;
}

bool TrustedProxies::secure(const Exchange& ex) const {
    if (ex.tls) return true;
    if (!trusted(ex.peer)) return false;
    // Exactly one X-Forwarded-Proto line holding exactly "https". Several lines, or a list in one, mean
    // something other than our proxy wrote it (a client's line passed along beside the proxy's): not secure.
    const auto [first, last] = ex.request.equal_range("X-Forwarded-Proto");
    if (first == last || std::next(first) != last) return false;
    return beast::iequals(trim(first->value()), "https");
}

}  // namespace rampart::http
