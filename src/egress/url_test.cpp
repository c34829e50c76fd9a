// The URL grammar: numeric IPv4 in every encoding is recognised as the address it is (so the policy sees
// it), and every form outside http(s)://host[:port]/target is refused with a reason.
#include "egress/url.hpp"

#include <string>

#include <gtest/gtest.h>

#include "egress/address_policy.hpp"

namespace rampart::egress {
namespace {

struct Encoding {
    const char* url;
    const char* address;
};

void PrintTo(const Encoding& e, std::ostream* out) {
    *out << e.url;
}

class EgressUrlNumericHostTest : public ::testing::TestWithParam<Encoding> {};

TEST_P(EgressUrlNumericHostTest, IsTheAddressItEncodesAndThePolicyRefusesIt) {
    const Encoding& e = GetParam();
    std::string error;
    const auto url = parseUrl(e.url, &error);
    ASSERT_TRUE(url.has_value()) << e.url << ": " << error;
    ASSERT_TRUE(url->address.has_value()) << e.url;
    EXPECT_EQ(url->address->to_string(), e.address) << e.url;
    EXPECT_EQ(url->host, e.address);
    EXPECT_TRUE(refusedBecause(*url->address).has_value()) << e.url;
}

INSTANTIATE_TEST_SUITE_P(
    EgressLoopback, EgressUrlNumericHostTest,
    ::testing::Values(
        Encoding{"http://127.0.0.1/", "127.0.0.1"}, Encoding{"http://2130706433/", "127.0.0.1"},
        Encoding{"http://0x7f000001/", "127.0.0.1"}, Encoding{"http://0X7F000001/", "127.0.0.1"},
        Encoding{"http://0177.0.0.1/", "127.0.0.1"}, Encoding{"http://017700000001/", "127.0.0.1"},
        Encoding{"http://127.1/", "127.0.0.1"}, Encoding{"http://127.0.1/", "127.0.0.1"},
        Encoding{"http://0x7f.1/", "127.0.0.1"}, Encoding{"http://0x7f.0.0.0x1/", "127.0.0.1"},
        Encoding{"http://0177.0x0.1/", "127.0.0.1"}, Encoding{"http://127.0.0.1./", "127.0.0.1"},
        Encoding{"http://2130706433./", "127.0.0.1"}, Encoding{"http://127.000.000.001/", "127.0.0.1"},
        Encoding{"https://0/", "0.0.0.0"}, Encoding{"http://0x/", "0.0.0.0"}));

INSTANTIATE_TEST_SUITE_P(
    EgressMetadata, EgressUrlNumericHostTest,
    ::testing::Values(Encoding{"http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
                      Encoding{"http://2852039166/", "169.254.169.254"},
                      Encoding{"http://0xa9fea9fe/", "169.254.169.254"},
                      Encoding{"http://0251.0376.0251.0376/", "169.254.169.254"},
                      Encoding{"http://169.254.43518/", "169.254.169.254"},
                      Encoding{"http://169.16689662/", "169.254.169.254"},
                      Encoding{"http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254"},
                      Encoding{"http://0xa9.254.0251.0xfe/", "169.254.169.254"},
                      Encoding{"http://2852039166./", "169.254.169.254"},
                      Encoding{"http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"}));

INSTANTIATE_TEST_SUITE_P(EgressIpv6Literals, EgressUrlNumericHostTest,
                         ::testing::Values(Encoding{"http://[::1]/", "::1"},
                                           Encoding{"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"},
                                           Encoding{"http://[::ffff:7f00:1]/", "::ffff:127.0.0.1"},
                                           Encoding{"http://[0:0:0:0:0:0:0:1]:8080/", "::1"},
                                           Encoding{"http://[::]/", "::"},
                                           Encoding{"http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1"}));

struct Refused {
    const char* url;
    const char* reason;  // a fragment of the error
};

void PrintTo(const Refused& r, std::ostream* out) {
    *out << r.url;
}

class EgressUrlRefusedTest : public ::testing::TestWithParam<Refused> {};

TEST_P(EgressUrlRefusedTest, IsRefusedWithAReason) {
    const Refused& r = GetParam();
    std::string error;
    const auto url = parseUrl(r.url, &error);
    EXPECT_FALSE(url.has_value()) << r.url << " parsed as " << url->text();
    EXPECT_NE(error.find(r.reason), std::string::npos) << r.url << ": " << error;
}

INSTANTIATE_TEST_SUITE_P(
    EgressCorpus, EgressUrlRefusedTest,
    ::testing::Values(
        Refused{"http://user:pw@example.com/", "user name or password"},
        Refused{"http://example.com@127.0.0.1/", "user name or password"},
        Refused{"http://@example.com/", "user name or password"},
        Refused{"file:///etc/passwd", "scheme file"}, Refused{"gopher://example.com:70/_x", "scheme gopher"},
        Refused{"ftp://example.com/", "scheme ftp"}, Refused{"javascript:alert(1)", "scheme javascript"},
        Refused{"dict://127.0.0.1:11211/", "scheme dict"}, Refused{"http:example.com/", "scheme://host"},
        Refused{"//example.com/", "not an absolute URL"}, Refused{"example.com", "not an absolute URL"},
        Refused{"", "is empty"}, Refused{"http://example.com:0/", "outside 1-65535"},
        Refused{"http://example.com:99999/", "outside 1-65535"},
        Refused{"http://example.com:65536/", "outside 1-65535"},
        Refused{"http://example.com:/", "invalid port"}, Refused{"http://example.com:8o/", "invalid port"},
        Refused{"http://example.com:-1/", "invalid port"}, Refused{"http://exa mple.com/", "space"},
        Refused{"http://example.com/a b", "space"}, Refused{" http://example.com/", "space"},
        Refused{"http://example.com/\r\nX-Injected: 1", "control character"},
        Refused{"http://example.com\\@127.0.0.1/", "backslash"}, Refused{"http:\\\\127.0.0.1\\", "backslash"},
        Refused{"http://example.com/\\..\\", "backslash"},
        Refused{"http://ex\xc3\xa4mple.com/", "non-ASCII host"},
        Refused{"http://\xe2\x91\xa0\xe2\x91\xa1\xe2\x91\xa6.0.0.1/", "non-ASCII host"},
        Refused{"http://example.com/\xc3\xa4", "non-ASCII path"}, Refused{"http:///path", "has no host"},
        Refused{"http://", "has no host"}, Refused{"http://:80/", "has no host"},
        Refused{"http://256.0.0.1/", "malformed IPv4"}, Refused{"http://1.2.3.4.5/", "malformed IPv4"},
        Refused{"http://example.123/", "malformed IPv4"}, Refused{"http://4294967296/", "malformed IPv4"},
        Refused{"http://0x100000000/", "malformed IPv4"}, Refused{"http://08.0.0.1/", "malformed IPv4"},
        Refused{"http://127.0.0.1../", "invalid host name"},
        Refused{"http://exa_mple.com/", "invalid host name"},
        Refused{"http://-example.com/", "invalid host name"}, Refused{"http://a..b/", "invalid host name"},
        Refused{"http://%31%32%37.0.0.1/", "malformed IPv4"},
        Refused{"http://%65xample.com/", "invalid host name"}, Refused{"http://[::1/", "unterminated IPv6"},
        Refused{"http://[::1]x/", "after the IPv6 literal"},
        Refused{"http://[fe80::1%25eth0]/", "invalid IPv6"}, Refused{"http://[127.0.0.1]/", "invalid IPv6"},
        Refused{"http://[]/", "invalid IPv6"}, Refused{"http://::1/", "has no host"}));

TEST(EgressUrlTest, LongHostNamesAndLabelsAreRefused) {
    std::string error;
    std::string longLabel = "http://";
    longLabel.append(64, 'a');
    longLabel += ".example/";
    EXPECT_FALSE(parseUrl(longLabel, &error));
    EXPECT_NE(error.find("invalid host name"), std::string::npos) << error;
    std::string host;
    while (host.size() < 254) host += "abcdefghi.";
    host += "com";
    host.insert(0, "http://");
    host += "/";
    EXPECT_FALSE(parseUrl(host, &error));
    EXPECT_NE(error.find("invalid host name"), std::string::npos) << error;
    std::string longPath = "http://example.com/";
    longPath.append(kMaxUrlSize, 'a');
    EXPECT_FALSE(parseUrl(longPath, &error));
    EXPECT_NE(error.find("longer than"), std::string::npos) << error;
}

TEST(EgressUrlTest, GoodUrlsParseIntoHostPortAndTarget) {
    auto url = parseUrl("HTTPS://API.Example.COM./v1/items?page=2&q=a%20b#section");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->host, "api.example.com");
    EXPECT_FALSE(url->address);
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->target, "/v1/items?page=2&q=a%20b");
    EXPECT_EQ(url->text(), "https://api.example.com/v1/items?page=2&q=a%20b");

    url = parseUrl("http://example.com");
    ASSERT_TRUE(url);
    EXPECT_FALSE(url->tls);
    EXPECT_EQ(url->port, 80);
    EXPECT_EQ(url->target, "/");

    url = parseUrl("http://example.com:8080?x=1");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->port, 8080);
    EXPECT_EQ(url->target, "/?x=1");
    EXPECT_EQ(url->authority(), "example.com:8080");

    url = parseUrl("http://[2606:4700:4700::1111]:8443/dns");
    ASSERT_TRUE(url);
    ASSERT_TRUE(url->address);
    EXPECT_EQ(url->host, "2606:4700:4700::1111");
    EXPECT_EQ(url->authority(), "[2606:4700:4700::1111]:8443");
    EXPECT_FALSE(refusedBecause(*url->address));

    url = parseUrl("http://xn--exmple-cua.com/");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "xn--exmple-cua.com");

    url = parseUrl("http://8.8.8.8:53/");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->address->to_string(), "8.8.8.8");
}

TEST(EgressUrlTest, LocationsResolveAgainstTheUrlThatAnswered) {
    const auto base = parseUrl("https://api.example.com:8443/a/b/c?x=1");
    ASSERT_TRUE(base);
    auto next = resolveLocation(*base, "/root?y=2");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "https://api.example.com:8443/root?y=2");
    next = resolveLocation(*base, "d");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "https://api.example.com:8443/a/b/d");
    next = resolveLocation(*base, "../../../../e#frag");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "https://api.example.com:8443/e");
    next = resolveLocation(*base, "?z=3");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "https://api.example.com:8443/a/b/c?z=3");
    next = resolveLocation(*base, "//other.example/p");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "https://other.example/p");
    next = resolveLocation(*base, "HTTP://third.example/");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->text(), "http://third.example/");

    std::string error;
    EXPECT_FALSE(resolveLocation(*base, "file:///etc/passwd", &error));
    EXPECT_NE(error.find("scheme file"), std::string::npos) << error;
    EXPECT_FALSE(resolveLocation(*base, "//user@other.example/", &error));
    EXPECT_NE(error.find("user name or password"), std::string::npos) << error;
    next = resolveLocation(*base, "http://0x7f000001/");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->host, "127.0.0.1");
}

}  // namespace
}  // namespace rampart::egress
