// The special-purpose address registries (RFC 6890 and its IANA successors) as prefix tables; the first
// matching row names the reason, so narrower rows stand before the wider ones they sit in.
#include "egress/address_policy.hpp"

#include <array>
#include <cstdint>

namespace rampart::egress {
namespace {

struct V4Range {
    std::uint32_t network;
    unsigned prefix;
    std::string_view reason;
};

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr std::array kV4Ranges{
    V4Range{v4(255, 255, 255, 255), 32, "broadcast"},  // before 240/4, which holds it
    V4Range{v4(0, 0, 0, 0), 8, "this_network"},
    V4Range{v4(10, 0, 0, 0), 8, "private"},
    V4Range{v4(100, 64, 0, 0), 10, "shared_address_space"},
    V4Range{v4(127, 0, 0, 0), 8, "loopback"},
    V4Range{v4(169, 254, 0, 0), 16, "link_local"},  // 169.254.169.254, the cloud metadata service
    V4Range{v4(172, 16, 0, 0), 12, "private"},
    V4Range{v4(192, 0, 0, 0), 24, "reserved"},  // IETF protocol assignments
    V4Range{v4(192, 0, 2, 0), 24, "documentation"},
    V4Range{v4(192, 88, 99, 0), 24, "6to4"},  // the 6to4 relay anycast
    V4Range{v4(192, 168, 0, 0), 16, "private"},
    V4Range{v4(198, 18, 0, 0), 15, "benchmarking"},
    V4Range{v4(198, 51, 100, 0), 24, "documentation"},
    V4Range{v4(203, 0, 113, 0), 24, "documentation"},
    V4Range{v4(224, 0, 0, 0), 4, "multicast"},
    V4Range{v4(240, 0, 0, 0), 4, "reserved"},
};

struct V6Range {
    std::array<std::uint8_t, 16> network;
    unsigned prefix;
    std::string_view reason;
};

using Bytes16 = std::array<std::uint8_t, 16>;

constexpr std::array kV6Ranges{
    V6Range{Bytes16{}, 128, "unspecified"},
    V6Range{Bytes16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    V6Range{Bytes16{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "ipv4_mapped"},
    V6Range{Bytes16{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "ipv4_translated"},  // RFC 2765 SIIT
    V6Range{Bytes16{}, 96, "ipv4_compatible"},  // after :: and ::1, which it holds
    V6Range{Bytes16{0, 0x64, 0xff, 0x9b}, 96, "nat64"},
    V6Range{Bytes16{0, 0x64, 0xff, 0x9b, 0, 1}, 48, "nat64"},  // local-use NAT64 (RFC 8215)
    V6Range{Bytes16{0x01, 0x00}, 64, "discard"},
    V6Range{Bytes16{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "benchmarking"},
    V6Range{Bytes16{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    V6Range{Bytes16{0x20, 0x01, 0x00, 0x00}, 32, "teredo"},
    V6Range{Bytes16{0x20, 0x02}, 16, "6to4"},
    V6Range{Bytes16{0x3f, 0xff}, 20, "documentation"},  // RFC 9637
    V6Range{Bytes16{0xfc}, 7, "unique_local"},
    V6Range{Bytes16{0xfe, 0x80}, 10, "link_local"},
    V6Range{Bytes16{0xfe, 0xc0}, 10, "site_local"},
    V6Range{Bytes16{0xff}, 8, "multicast"},
};

bool inside(const Bytes16& address, const Bytes16& network, unsigned prefix) {
    for (unsigned i = 0; i < 16 && prefix > 0; ++i) {
        const unsigned bits = prefix >= 8 ? 8 : prefix;
        const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
        if ((address[i] & mask) != (network[i] & mask)) return false;
        prefix -= bits;
    }
    return true;
}

}  // namespace

std::optional<std::string_view> refusedBecause(const boost::asio::ip::address& address) {
    if (address.is_v4()) {
        const std::uint32_t value = address.to_v4().to_uint();
        for (const auto& range : kV4Ranges) {
            const std::uint32_t mask = range.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - range.prefix);
            if ((value & mask) == range.network) return range.reason;
        }
        return std::nullopt;
    }
    const Bytes16 bytes = address.to_v6().to_bytes();
    for (const auto& range : kV6Ranges) {
        if (inside(bytes, range.network, range.prefix)) return range.reason;
    }
    // Only 2000::/3 is allocated for global unicast; anything else is not a place a task should reach.
    if ((bytes[0] & 0xe0) != 0x20) return "reserved";
    return std::nullopt;
}

}  // namespace rampart::egress
