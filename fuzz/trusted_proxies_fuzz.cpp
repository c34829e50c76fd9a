// libFuzzer target for the trusted-proxy headers (http::TrustedProxies): X-Forwarded-For and
// X-Forwarded-Proto as any client may send them. The first byte picks the TCP peer (a trusted proxy in
// IPv4, IPv6 or IPv4-mapped form, or an outsider); the rest is "X-Forwarded-For value\nX-Forwarded-Proto
// value", where \x1f separates field lines of one header (a client's line and the lines proxies
// appended). Invariants: an outsider's headers change nothing; the client address is the peer or one of
// the hops of all X-Forwarded-For lines joined by commas, never a trusted proxy unless it is the peer; a
// client can only name an address when every hop to its right is a trusted proxy (walked here
// independently, left to right); and only a trusted peer, with exactly one X-Forwarded-Proto line, can
// make the request count as TLS.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "http/trusted_proxies.hpp"

namespace {

namespace ip = boost::asio::ip;
using rampart::http::TrustedProxies;

std::string_view trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// IPv4-mapped as IPv4, and without an IPv6 scope id ("%eth0"): neither changes which host it is.
ip::address unmapped(const ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        return ip::make_address_v4(ip::v4_mapped, address.to_v6());
    if (address.is_v6()) return ip::address_v6(address.to_v6().to_bytes());
    return address;
}

// The trusted networks, checked with Boost.Asio's own subnet test rather than the class's masks.
bool inTrustedNetwork(const ip::address& raw) {
    const ip::address address = unmapped(raw);
    if (address.is_v4()) {
        const ip::network_v4 host(address.to_v4(), 32);
        for (const char* network : {"10.0.0.0/8", "192.168.1.7/32"})
            if (host.is_subnet_of(ip::make_network_v4(network)) || host == ip::make_network_v4(network))
                return true;
        return false;
    }
    const ip::network_v6 host(address.to_v6(), 128);
    return host.is_subnet_of(ip::make_network_v6("fd00:1::/32"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const TrustedProxies proxies({"10.0.0.0/8", "192.168.1.7", "fd00:1::/32"});
    static const ip::address kPeers[] = {ip::make_address("10.1.2.3"), ip::make_address("fd00:1::5"),
                                         ip::make_address("::ffff:192.168.1.7"),
                                         ip::make_address("203.0.113.9"), ip::make_address("2001:db8::1")};
    if (size == 0) return 0;
    const ip::address peer = kPeers[data[0] % 5];
    const bool tls = (data[0] / 5) % 2 == 1;
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const auto newline = rest.find('\n');
    std::string forwardedFor(rest.substr(0, newline));
    std::string forwardedProto(newline == std::string_view::npos ? "" : rest.substr(newline + 1));
    // Beast's parser never gives a field value with CR, LF or NUL; neither do we.
    for (std::string* value : {&forwardedFor, &forwardedProto})
        std::erase_if(*value, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });

    rampart::http::Exchange ex;
    ex.peer = peer;
    ex.tls = tls;
    // Each \x1f starts another field line; RFC 9110 section 5.3 makes them one comma-joined list.
    auto insertLines = [&](std::string_view name, const std::string& value) {
        std::size_t lines = 0;
        for (std::size_t start = 0;; ++lines) {
            const auto separator = value.find('\x1f', start);
            ex.request.insert(
                name, std::string_view(value).substr(
                          start, separator == std::string::npos ? std::string::npos : separator - start));
            if (separator == std::string::npos) return lines + 1;
            start = separator + 1;
        }
    };
    insertLines("X-Forwarded-For", forwardedFor);
    const std::size_t protoLines = insertLines("X-Forwarded-Proto", forwardedProto);
    std::replace(forwardedFor.begin(), forwardedFor.end(), '\x1f', ',');

    const ip::address client = proxies.clientAddress(ex);
    const bool secure = proxies.secure(ex);
    const bool peerTrusted = inTrustedNetwork(peer);
    if (proxies.trusted(peer) != peerTrusted) std::abort();

    if (!peerTrusted) {
        if (client != unmapped(peer) || secure != tls) std::abort();  // kPeers have no scope id
        return 0;
    }
    if (!tls && secure) {  // only one line of "https", in any letter case, vouches for TLS
        if (protoLines != 1) std::abort();
        std::string proto(trimmed(forwardedProto));
        for (char& c : proto) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (proto != "https") std::abort();
    }
    if (client == unmapped(peer)) return 0;
    // The hops as written, left to right; the client must be one of them with only trusted proxies to
    // its right, each a well-formed address.
    std::vector<std::string_view> hops;
    std::string_view list = forwardedFor;
    for (std::size_t start = 0;;) {
        const auto comma = list.find(',', start);
        hops.push_back(trimmed(list.substr(start, comma == std::string_view::npos ? comma : comma - start)));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (inTrustedNetwork(client)) std::abort();
    const ip::address clientHost = unmapped(client);
    for (std::size_t i = hops.size(); i-- > 0;) {
        boost::system::error_code ec;
        const ip::address hop = ip::make_address(std::string(hops[i]), ec);
        if (ec) std::abort();  // the walk must have stopped at a malformed hop
        if (unmapped(hop) == clientHost) return 0;
        if (!inTrustedNetwork(hop)) std::abort();  // passed over an address a client could have written
    }
    std::abort();  // the client address appears nowhere in the header
}
