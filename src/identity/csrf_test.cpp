// Attacks on CSRF tokens: a token moved to another session, tampered, truncated or extended tokens,
// a token made under another secret key; plus a known-answer check of the key derivation.
#include "identity/csrf.hpp"

#include <array>
#include <string>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "identity/api_token.hpp"

namespace rampart::identity {
namespace {

SecretString testSecret() {
    return SecretString("a-long-random-server-secret-key-for-tests-0123456789");
}

std::array<unsigned char, 32> hmacSha256(std::string_view key, std::string_view message) {
    std::array<unsigned char, 32> out{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &length);
    return out;
}

std::string_view view(const std::array<unsigned char, 32>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(Csrf, AcceptsTheTokenOfItsOwnSession) {
    const std::string token = csrfToken("session-A", testSecret());
    EXPECT_EQ(token.size(), 43u);
    EXPECT_EQ(token, csrfToken("session-A", testSecret()));  // stable for the session's lifetime
    EXPECT_TRUE(verifyCsrf("session-A", testSecret(), token));
    const CsrfKey key(testSecret());
    EXPECT_EQ(key.tokenFor("session-A"), token);
    EXPECT_TRUE(key.verify("session-A", token));
}

TEST(Csrf, RefusesATokenFromAnotherSession) {
    const std::string token = csrfToken("session-A", testSecret());
    EXPECT_FALSE(verifyCsrf("session-B", testSecret(), token));
    EXPECT_FALSE(verifyCsrf("session-A ", testSecret(), token));
    EXPECT_FALSE(verifyCsrf("session-", testSecret(), token));
    EXPECT_FALSE(verifyCsrf("Session-A", testSecret(), token));
    EXPECT_FALSE(verifyCsrf("", testSecret(), token));
    EXPECT_NE(csrfToken("session-B", testSecret()), token);
}

TEST(Csrf, RefusesTamperedTokens) {
    const std::string token = csrfToken("session-A", testSecret());
    for (std::size_t i = 0; i < token.size(); ++i) {
        std::string tampered = token;
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        EXPECT_FALSE(verifyCsrf("session-A", testSecret(), tampered)) << i;
    }
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), ""));
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), token.substr(0, 42)));
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), token + "A"));
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), token + "="));
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), " " + token));
}

TEST(Csrf, RefusesATokenMadeUnderAnotherSecret) {
    const std::string token = csrfToken("session-A", testSecret());
    EXPECT_FALSE(verifyCsrf("session-A", SecretString("another-secret-key-0123456789-abcdefghij"), token));
    EXPECT_FALSE(verifyCsrf("session-A", SecretString(), token));
    EXPECT_THROW(CsrfKey{SecretString()}, std::invalid_argument);
    EXPECT_THROW((void)csrfToken("", testSecret()), std::invalid_argument);
}

TEST(Csrf, DerivesItsKeyWithHkdfSha256) {
    // RFC 5869 by hand: no salt means a zero salt of hash length; one output block.
    const std::string zeroSalt(32, '\0');
    const auto prk = hmacSha256(zeroSalt, testSecret().reveal());
    const auto okm = hmacSha256(view(prk), std::string("rampart csrf v1") + '\x01');
    const auto mac = hmacSha256(view(okm), "session-A");
    EXPECT_EQ(csrfToken("session-A", testSecret()), base64UrlEncode(mac.data(), mac.size()));

    // The secret key itself is never the HMAC key: a MAC made with it elsewhere is no CSRF token.
    const auto direct = hmacSha256(testSecret().reveal(), "session-A");
    EXPECT_FALSE(verifyCsrf("session-A", testSecret(), base64UrlEncode(direct.data(), direct.size())));
}

}  // namespace
}  // namespace rampart::identity
