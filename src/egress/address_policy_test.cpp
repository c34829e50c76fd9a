// The address policy: every special-purpose range refused at its first and last address with its reason;
// public unicast allowed.
#include "egress/address_policy.hpp"

#include <string>

#include <gtest/gtest.h>

namespace rampart::egress {
namespace {

struct Case {
    const char* address;
    const char* reason;  // nullptr: allowed
};

void PrintTo(const Case& c, std::ostream* out) {
    *out << c.address;
}

class EgressAddressPolicyTest : public ::testing::TestWithParam<Case> {};

TEST_P(EgressAddressPolicyTest, RefusesWithItsReasonOrAllows) {
    const Case& c = GetParam();
    const auto reason = refusedBecause(boost::asio::ip::make_address(c.address));
    if (c.reason == nullptr) {
        EXPECT_FALSE(reason.has_value()) << c.address << " refused as " << reason.value_or("");
    } else {
        ASSERT_TRUE(reason.has_value()) << c.address << " allowed";
        EXPECT_EQ(*reason, c.reason) << c.address;
    }
}

INSTANTIATE_TEST_SUITE_P(
    EgressIpv4Ranges, EgressAddressPolicyTest,
    ::testing::Values(
        Case{"0.0.0.0", "this_network"}, Case{"0.255.255.255", "this_network"}, Case{"10.0.0.0", "private"},
        Case{"10.255.255.255", "private"}, Case{"100.64.0.0", "shared_address_space"},
        Case{"100.127.255.255", "shared_address_space"}, Case{"127.0.0.0", "loopback"},
        Case{"127.255.255.255", "loopback"}, Case{"169.254.0.0", "link_local"},
        Case{"169.254.169.254", "link_local"}, Case{"169.254.255.255", "link_local"},
        Case{"172.16.0.0", "private"}, Case{"172.31.255.255", "private"}, Case{"192.0.0.0", "reserved"},
        Case{"192.0.0.255", "reserved"}, Case{"192.0.2.0", "documentation"},
        Case{"192.0.2.255", "documentation"}, Case{"192.88.99.0", "6to4"}, Case{"192.88.99.255", "6to4"},
        Case{"192.168.0.0", "private"}, Case{"192.168.255.255", "private"},
        Case{"198.18.0.0", "benchmarking"}, Case{"198.19.255.255", "benchmarking"},
        Case{"198.51.100.0", "documentation"}, Case{"198.51.100.255", "documentation"},
        Case{"203.0.113.0", "documentation"}, Case{"203.0.113.255", "documentation"},
        Case{"224.0.0.0", "multicast"}, Case{"239.255.255.255", "multicast"}, Case{"240.0.0.0", "reserved"},
        Case{"255.255.255.254", "reserved"}, Case{"255.255.255.255", "broadcast"}));

INSTANTIATE_TEST_SUITE_P(
    EgressIpv6Ranges, EgressAddressPolicyTest,
    ::testing::Values(
        Case{"::", "unspecified"}, Case{"::1", "loopback"}, Case{"::ffff:0.0.0.0", "ipv4_mapped"},
        Case{"::ffff:127.0.0.1", "ipv4_mapped"}, Case{"::ffff:8.8.8.8", "ipv4_mapped"},
        Case{"::ffff:255.255.255.255", "ipv4_mapped"}, Case{"::0.0.0.2", "ipv4_compatible"},
        Case{"::127.0.0.1", "ipv4_compatible"}, Case{"::255.255.255.255", "ipv4_compatible"},
        Case{"::ffff:0:0.0.0.0", "ipv4_translated"}, Case{"64:ff9b::", "nat64"},
        Case{"64:ff9b::7f00:1", "nat64"}, Case{"64:ff9b::ffff:ffff", "nat64"}, Case{"64:ff9b:1::", "nat64"},
        Case{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "nat64"}, Case{"100::", "discard"},
        Case{"100::ffff:ffff:ffff:ffff", "discard"}, Case{"2001::", "teredo"},
        Case{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "teredo"}, Case{"2001:2::", "benchmarking"},
        Case{"2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking"}, Case{"2001:db8::", "documentation"},
        Case{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"}, Case{"2002::", "6to4"},
        Case{"2002:7f00:1::", "6to4"}, Case{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "6to4"},
        Case{"3fff::", "documentation"}, Case{"fc00::", "unique_local"},
        Case{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "unique_local"}, Case{"fe80::", "link_local"},
        Case{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link_local"}, Case{"fec0::", "site_local"},
        Case{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site_local"}, Case{"ff00::", "multicast"},
        Case{"ff02::1", "multicast"}, Case{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},
        Case{"1::", "reserved"}, Case{"4000::", "reserved"}));

INSTANTIATE_TEST_SUITE_P(EgressPublicAddresses, EgressAddressPolicyTest,
                         ::testing::Values(Case{"8.8.8.8", nullptr}, Case{"1.1.1.1", nullptr},
                                           Case{"9.255.255.255", nullptr}, Case{"11.0.0.0", nullptr},
                                           Case{"100.63.255.255", nullptr}, Case{"100.128.0.0", nullptr},
                                           Case{"172.15.255.255", nullptr}, Case{"172.32.0.0", nullptr},
                                           Case{"223.255.255.255", nullptr},
                                           Case{"2606:4700:4700::1111", nullptr},
                                           Case{"2001:4860:4860::8888", nullptr},
                                           Case{"2a00:1450:4001::1", nullptr}));

}  // namespace
}  // namespace rampart::egress
