// A client must not be able to choose its own address or claim TLS through forwarding headers.
#include "http/trusted_proxies.hpp"

#include <gtest/gtest.h>

namespace rampart::http {
namespace {

Exchange fromPeer(const std::string& peer, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Exchange ex;
    ex.peer = boost::asio::ip::make_address(peer);
    for (auto& [name, value] : headers) ex.request.insert(name, value);
    return ex;
}

TEST(TrustedProxies, MatchesAddressesAndNetworks) {
    TrustedProxies proxies({"10.0.0.0/8", "192.0.2.7", "fd00::/8", "::1"});
    auto trusted = [&](const char* a) { return proxies.trusted(boost::asio::ip::make_address(a)); };
    EXPECT_TRUE(trusted("10.1.2.3"));
    EXPECT_TRUE(trusted("192.0.2.7"));
    EXPECT_FALSE(trusted("192.0.2.8"));
    EXPECT_FALSE(trusted("11.0.0.1"));
    EXPECT_TRUE(trusted("fd12::1"));
    EXPECT_FALSE(trusted("fe80::1"));
    EXPECT_TRUE(trusted("::1"));
    EXPECT_TRUE(trusted("::ffff:10.9.9.9")) << "IPv4-mapped peers are the IPv4 address";
    EXPECT_FALSE(trusted("::ffff:11.9.9.9"));
}

TEST(TrustedProxies, RefusesMalformedEntries) {
    for (std::string entry : {"10.0.0.0/33", "proxy.example.com", "10.0.0", "", "::1/129"})
        EXPECT_THROW(TrustedProxies({entry}), std::invalid_argument) << entry;
}

TEST(TrustedProxies, ForwardedForCountsOnlyFromTrustedPeers) {
    TrustedProxies proxies({"10.0.0.0/8"});
    // An untrusted client's header is ignored.
    EXPECT_EQ(proxies.clientAddress(fromPeer("203.0.113.9", {{"X-Forwarded-For", "1.2.3.4"}})).to_string(),
              "203.0.113.9");
    // Behind a trusted proxy: the right-most address that is not a proxy. A client prepending a fake
    // address does not get to pick it.
    EXPECT_EQ(proxies.clientAddress(fromPeer("10.0.0.1", {{"X-Forwarded-For", "6.6.6.6, 203.0.113.9"}}))
                  .to_string(),
              "203.0.113.9");
    EXPECT_EQ(proxies.clientAddress(fromPeer("10.0.0.1", {{"X-Forwarded-For", "203.0.113.9, 10.0.0.2"}}))
                  .to_string(),
              "203.0.113.9");
    // Garbage in the chain: trust nothing further left, answer the proxy.
    EXPECT_EQ(
        proxies.clientAddress(fromPeer("10.0.0.1", {{"X-Forwarded-For", "6.6.6.6, not-an-ip"}})).to_string(),
        "10.0.0.1");
    EXPECT_EQ(proxies.clientAddress(fromPeer("10.0.0.1")).to_string(), "10.0.0.1");
}

// Several X-Forwarded-For lines are one list in the order they came (RFC 9110 section 5.3). HAProxy's
// `option forwardfor` appends a line of its own, so a client's forged line comes first: reading only the
// first line let the client pick its address (a fresh rate-limit key per request, 127.0.0.1 for /metrics).
TEST(TrustedProxies, ForwardedForLinesAreOneListWalkedFromTheLastLine) {
    TrustedProxies proxies({"10.0.0.0/8"});
    auto client = [&](std::vector<std::pair<std::string, std::string>> headers) {
        return proxies.clientAddress(fromPeer("10.0.0.1", std::move(headers))).to_string();
    };
    // The client's forged line first, the proxy's line (the address it saw) last.
    EXPECT_EQ(client({{"X-Forwarded-For", "127.0.0.1"}, {"X-Forwarded-For", "203.0.113.9"}}), "203.0.113.9");
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6, 7.7.7.7"}, {"X-Forwarded-For", "203.0.113.9"}}),
              "203.0.113.9");
    // Two trusted hops, each appending a line: the walk goes on through the trusted ones.
    EXPECT_EQ(client({{"x-forwarded-for", "6.6.6.6"},
                      {"X-Forwarded-For", "203.0.113.9"},
                      {"X-FORWARDED-FOR", "10.0.0.2"}}),
              "203.0.113.9");
    // Only trusted hops in the last line: the walk continues in the line before it.
    EXPECT_EQ(client({{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "10.0.0.3, 10.0.0.2"}}),
              "203.0.113.9");
    // Lines of other names in between change nothing.
    EXPECT_EQ(
        client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Other", "1.1.1.1"}, {"X-Forwarded-For", "203.0.113.9"}}),
        "203.0.113.9");
}

TEST(TrustedProxies, AnEmptyOrMalformedForwardedForHopStopsTheWalk) {
    TrustedProxies proxies({"10.0.0.0/8"});
    auto client = [&](std::vector<std::pair<std::string, std::string>> headers) {
        return proxies.clientAddress(fromPeer("10.0.0.1", std::move(headers))).to_string();
    };
    // A client's empty line before the proxy's: the proxy's address is found first.
    EXPECT_EQ(client({{"X-Forwarded-For", ""}, {"X-Forwarded-For", "203.0.113.9"}}), "203.0.113.9");
    // An empty line reached by the walk (a proxy that appended nothing): trust nothing left of it.
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", ""}}), "10.0.0.1");
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", " \t "}}), "10.0.0.1");
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "10.0.0.2,"}}), "10.0.0.1");
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6,,10.0.0.2"}}), "10.0.0.1");
    // An empty element before a leading comma is one too: the walk does not skip into the line before.
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", ", 10.0.0.2"}}), "10.0.0.1");
    // A malformed hop in the last line, or in an earlier one reached through trusted hops.
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "not-an-ip"}}), "10.0.0.1");
    EXPECT_EQ(client({{"X-Forwarded-For", "6.6.6.6, 203.0.113.9:4711"}, {"X-Forwarded-For", "10.0.0.2"}}),
              "10.0.0.1");
    // A malformed hop left of the client's address is never reached.
    EXPECT_EQ(client({{"X-Forwarded-For", "not-an-ip"}, {"X-Forwarded-For", "203.0.113.9"}}), "203.0.113.9");
    // From an untrusted peer no line counts.
    EXPECT_EQ(proxies
                  .clientAddress(fromPeer("203.0.113.9",
                                          {{"X-Forwarded-For", "1.2.3.4"}, {"X-Forwarded-For", "127.0.0.1"}}))
                  .to_string(),
              "203.0.113.9");
}

// Several X-Forwarded-Proto lines, or a list in one, did not all come from our proxy: not TLS.
TEST(TrustedProxies, SeveralForwardedProtoLinesOrAListAreNotSecure) {
    TrustedProxies proxies({"10.0.0.0/8"});
    auto secure = [&](std::vector<std::pair<std::string, std::string>> headers) {
        return proxies.secure(fromPeer("10.0.0.1", std::move(headers)));
    };
    EXPECT_TRUE(secure({{"X-Forwarded-Proto", " HTTPS "}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "https"}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "http"}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", "http"}, {"X-Forwarded-Proto", "https"}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", "https, http"}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", "https,https"}}));
    EXPECT_FALSE(secure({{"X-Forwarded-Proto", ""}}));
}

TEST(TrustedProxies, ForwardedProtoCountsOnlyFromTrustedPeers) {
    TrustedProxies proxies({"10.0.0.0/8"});
    EXPECT_TRUE(proxies.secure(fromPeer("10.0.0.1", {{"X-Forwarded-Proto", "https"}})));
    EXPECT_FALSE(proxies.secure(fromPeer("10.0.0.1", {{"X-Forwarded-Proto", "http"}})));
    EXPECT_FALSE(proxies.secure(fromPeer("203.0.113.9", {{"X-Forwarded-Proto", "https"}})));
    auto tls = fromPeer("203.0.113.9");
    tls.tls = true;
    EXPECT_TRUE(proxies.secure(tls));
    TrustedProxies none({});
    EXPECT_FALSE(none.secure(fromPeer("127.0.0.1", {{"X-Forwarded-Proto", "https"}})));
}

}  // namespace
}  // namespace rampart::http
