// Attacks on API tokens and random tokens: forged formats (prefix, length, alphabet, non-canonical
// encodings), collisions, unstable hashes, and comparisons that must not short-circuit on content.
#include "identity/api_token.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace rampart::identity {
namespace {

bool isBase64Url(std::string_view text) {
    return text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           std::string_view::npos;
}

TEST(ApiToken, GeneratesWellFormedTokensWithTheirStoredParts) {
    const NewApiToken created = generateApiToken();
    const std::string& token = created.token.reveal();
    EXPECT_EQ(token.size(), kApiTokenLength);
    EXPECT_TRUE(token.starts_with("rmp_"));
    EXPECT_TRUE(isBase64Url(token.substr(4)));
    EXPECT_TRUE(looksLikeApiToken(token));
    EXPECT_EQ(created.hash, hashApiToken(token));
    EXPECT_EQ(created.displayPrefix, token.substr(4, 8));
    EXPECT_EQ(apiTokenDisplayPrefix(token), created.displayPrefix);
}

TEST(ApiToken, NeverRepeats) {
    std::set<std::string> tokens;
    std::set<std::string> hashes;
    for (int i = 0; i < 1000; ++i) {
        const NewApiToken created = generateApiToken();
        tokens.insert(created.token.reveal());
        hashes.insert(hashHex(created.hash));
    }
    EXPECT_EQ(tokens.size(), 1000u);
    EXPECT_EQ(hashes.size(), 1000u);
}

TEST(ApiToken, HashIsStableSha256) {
    // FIPS 180-2's "abc" vector: the stored hash must never change between versions.
    EXPECT_EQ(hashHex(hashApiToken("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string token = "rmp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    EXPECT_EQ(hashApiToken(token), hashApiToken(token));
    EXPECT_NE(hashApiToken(token), hashApiToken("rmp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"));
    EXPECT_EQ(hashHex(hashApiToken(token)).size(), 64u);
}

TEST(ApiToken, FormatCheckRefusesForgeries) {
    const std::string good = generateApiToken().token.reveal();
    ASSERT_TRUE(looksLikeApiToken(good));
    const std::string body = good.substr(4);
    for (const std::string& bad : {
             std::string(""),
             std::string("rmp_"),
             "rmq_" + body,
             "RMP_" + body,
             "rmp-" + body,
             "xrmp_" + body.substr(1),  // right length, prefix in the wrong place
             body + "AAAA",             // no prefix
             good.substr(0, good.size() - 1),
             good + "A",
             good + "\n",
             " " + good.substr(1),
             good.substr(0, 20) + "+" + good.substr(21),
             good.substr(0, 20) + "/" + good.substr(21),
             good.substr(0, 20) + "=" + good.substr(21),
             good.substr(0, 20) + "." + good.substr(21),
             good.substr(0, 20) + std::string(1, '\0') + good.substr(21),
             good.substr(0, 20) + "\xc3\xa9" + good.substr(22),  // 'é' in two bytes
             "rmp_" + std::string(42, 'A') + "B",                // last character carries set bits
             "rmp_" + std::string(42, 'A') + "_",
         }) {
        EXPECT_FALSE(looksLikeApiToken(bad)) << bad;
    }
    EXPECT_TRUE(looksLikeApiToken("rmp_" + std::string(42, '_') + "w"));
}

TEST(ApiToken, ComparesInConstantTimeOnlyEqualLengths) {
    EXPECT_TRUE(constantTimeEquals("", ""));
    EXPECT_TRUE(constantTimeEquals("same value", "same value"));
    EXPECT_FALSE(constantTimeEquals("same value", "same valuE"));
    EXPECT_FALSE(constantTimeEquals("Same value", "same value"));
    EXPECT_FALSE(constantTimeEquals("same value", "same value "));
    EXPECT_FALSE(constantTimeEquals("", "x"));
    EXPECT_FALSE(constantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ApiTokenRandom, IsUrlSafeUnpaddedAndUnique) {
    EXPECT_EQ(randomToken().size(), 43u);
    EXPECT_EQ(randomToken(16).size(), 22u);
    EXPECT_EQ(randomToken(64).size(), 86u);
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string token = randomToken(16);
        EXPECT_TRUE(isBase64Url(token)) << token;
        seen.insert(token);
    }
    EXPECT_EQ(seen.size(), 1000u);
    EXPECT_THROW((void)randomToken(15), std::invalid_argument);
    EXPECT_THROW((void)randomToken(0), std::invalid_argument);
}

TEST(ApiTokenRandom, Base64UrlMatchesRfc4648) {
    const auto encode = [](std::string_view text) { return base64UrlEncode(text.data(), text.size()); };
    EXPECT_EQ(encode(""), "");
    EXPECT_EQ(encode("f"), "Zg");
    EXPECT_EQ(encode("fo"), "Zm8");
    EXPECT_EQ(encode("foo"), "Zm9v");
    EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(encode("\xfb\xff"), "-_8");
}

}  // namespace
}  // namespace rampart::identity
