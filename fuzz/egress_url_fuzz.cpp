// libFuzzer target for the egress guard's URL and address parsing (egress::parseUrl, resolveLocation,
// refusedBecause): the URLs a task asks to fetch and the Location headers a hostile server answers with.
// Invariants: a host kept as a DNS name is nothing the C library would read as a numeric address
// (inet_aton's octal, hex and short IPv4 forms; inet_pton's IPv6), a host read as an address is the one
// inet_aton/inet_pton read from the normalized text, a parsed URL reads back the same from its text(), and
// every address the guard allows is public under an independent check (Boost.Asio's classification plus
// the special-purpose registries written here as CIDR text, not the guard's table).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "egress/address_policy.hpp"
#include "egress/url.hpp"

namespace {

namespace ip = boost::asio::ip;
using rampart::egress::Url;

// IANA's IPv4 and IPv6 special-purpose registries (plus multicast, 240/4 and 6to4/Teredo/NAT64 wrappers
// that carry an IPv4 address): none is a place a task may connect to.
const std::vector<ip::network_v4>& nonPublicV4() {
    static const std::vector<ip::network_v4> networks = [] {
        std::vector<ip::network_v4> out;
        for (const char* text :
             {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
              "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"})
            out.push_back(ip::make_network_v4(text));
        return out;
    }();
    return networks;
}

const std::vector<ip::network_v6>& nonPublicV6() {
    static const std::vector<ip::network_v6> networks = [] {
        std::vector<ip::network_v6> out;
        for (const char* text : {"::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96",
                                 "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:2::/48", "2001:db8::/32",
                                 "2002::/16", "3fff::/20", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"})
            out.push_back(ip::make_network_v6(text));
        return out;
    }();
    return networks;
}

bool isPublic(const ip::address& address) {
    if (address.is_unspecified() || address.is_loopback() || address.is_multicast()) return false;
    if (address.is_v4()) {
        const ip::network_v4 host(address.to_v4(), 32);
        for (const auto& network : nonPublicV4())
            if (host == network || host.is_subnet_of(network)) return false;
        return true;
    }
    const ip::address_v6 v6 = address.to_v6();
    if (v6.is_link_local() || v6.is_site_local() || v6.is_v4_mapped()) return false;
    const ip::network_v6 host(v6, 128);
    for (const auto& network : nonPublicV6())
        if (host.is_subnet_of(network)) return false;
    // Global unicast is 2000::/3; the rest of the space is unassigned.
    return (v6.to_bytes()[0] & 0xe0) == 0x20;
}

// What the C library makes of the host text: the resolver takes these forms as numbers, never as names.
std::optional<ip::address> libcNumeric(const std::string& host) {
    in_addr v4{};
    if (inet_aton(host.c_str(), &v4) != 0) return ip::address_v4(ntohl(v4.s_addr));
    std::array<unsigned char, 16> v6{};
    if (inet_pton(AF_INET6, host.c_str(), v6.data()) == 1) return ip::address_v6(v6);
    return std::nullopt;
}

// The host exactly as written in "scheme://host[:port][/?#...]", lower-cased, without one trailing dot;
// nullopt for an IPv6 literal or anything with userinfo.
std::optional<std::string> writtenHost(std::string_view text) {
    const auto start = text.find("://");
    if (start == std::string_view::npos) return std::nullopt;
    std::string_view authority = text.substr(start + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (authority.empty() || authority.front() == '[' || authority.find('@') != std::string_view::npos)
        return std::nullopt;
    std::string host(authority.substr(0, authority.find(':')));
    for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (host.size() > 1 && host.back() == '.') host.pop_back();
    return host;
}

bool sameUrl(const Url& a, const Url& b) {
    return a.tls == b.tls && a.host == b.host && a.address == b.address && a.port == b.port &&
           a.target == b.target;
}

void check(const Url& url) {
    if (url.host.empty() || url.target.empty() || url.target.front() != '/' || url.port == 0) std::abort();
    for (char c : url.target) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f || c == '#' || c == '\\') std::abort();
    }
    const auto numeric = libcNumeric(url.host);
    if (url.address) {
        // The normalized text is the address, in the form every library reads the same way.
        if (url.host != url.address->to_string() || !numeric || *numeric != *url.address) std::abort();
        const bool allowed = !rampart::egress::refusedBecause(*url.address).has_value();
        if (allowed && !isPublic(*url.address)) std::abort();
    } else {
        // A name the C library would take for an address bypasses the address check: never allowed.
        if (numeric) std::abort();
        for (char c : url.host)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) std::abort();
    }
    // The text the client sends reads back as the same URL.
    const auto again = rampart::egress::parseUrl(url.text());
    if (!again || !sameUrl(*again, url) || again->text() != url.text()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    static const Url kBases[] = {
        *rampart::egress::parseUrl("https://api.example.com/v1/items/list?page=2"),
        *rampart::egress::parseUrl("http://93.184.215.14:8080/a/b/"),
        *rampart::egress::parseUrl("https://[2606:4700:4700::1111]/"),
    };
    // The first byte picks: a URL as a task submits it, or a redirect's Location against one of the bases.
    const unsigned mode = data[0] % 4;
    std::string error;
    const auto url = mode == 0 ? rampart::egress::parseUrl(text, &error)
                               : rampart::egress::resolveLocation(kBases[mode - 1], text, &error);
    if (url) {
        check(*url);
        // A host the C library reads as an IPv4 number is that same address to the guard, never a name
        // (the guard may read more forms as numbers than libc does, "0x" for one: those it then checks).
        if (const auto host = writtenHost(text); mode == 0 && host) {
            in_addr libc{};
            if (inet_aton(host->c_str(), &libc) != 0 &&
                (!url->address || !url->address->is_v4() ||
                 url->address->to_v4().to_uint() != ntohl(libc.s_addr)))
                std::abort();
        }
    } else if (error.empty()) {
        std::abort();  // every refusal says why
    }
    return 0;
}
