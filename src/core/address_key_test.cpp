// Client addresses as counting keys: one /64 is one key, IPv4-mapped IPv6 is its IPv4 address.
#include "core/address_key.hpp"

#include <string>

#include <gtest/gtest.h>

namespace rampart {
namespace {

std::string keyOf(const char* text) {
    return std::string(AddressKey(boost::asio::ip::make_address(text)).view());
}

TEST(AddressKey, OneIpv6Slash64IsOneKeyAndIpv4MappedIsIpv4) {
    EXPECT_EQ(keyOf("2001:db8:1:2::1"), keyOf("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    EXPECT_NE(keyOf("2001:db8:1:2::1"), keyOf("2001:db8:1:3::1"));
    EXPECT_EQ(keyOf("::ffff:192.0.2.7"), keyOf("192.0.2.7"));
    EXPECT_NE(keyOf("192.0.2.7"), keyOf("192.0.2.8"));
    EXPECT_EQ(keyOf("192.0.2.7").size(), 7u);
    EXPECT_EQ(keyOf("2001:db8::1").size(), 11u);
}

}  // namespace
}  // namespace rampart
