// Attacks on TOTP: replayed, old, future and malformed codes, wrong secrets; RFC 6238 Appendix B
// vectors for all three algorithms; RFC 4648 Base32 vectors; the otpauth:// URI.
#include "identity/totp.hpp"

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rampart::identity {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point at(std::int64_t unixSeconds) {
    return system_clock::time_point(seconds(unixSeconds));
}

// RFC 6238 Appendix B: the seed is ASCII digits repeated to the hash's output length.
constexpr std::string_view kSeedSha1 = "12345678901234567890";
constexpr std::string_view kSeedSha256 = "12345678901234567890123456789012";
constexpr std::string_view kSeedSha512 = "1234567890123456789012345678901234567890123456789012345678901234";

struct RfcVector {
    std::int64_t time;
    std::int64_t step;
    const char* sha1;
    const char* sha256;
    const char* sha512;
};

constexpr std::array<RfcVector, 6> kRfcVectors{{
    {59, 0x1, "94287082", "46119246", "90693936"},
    {1111111109, 0x23523EC, "07081804", "68084774", "25091201"},
    {1111111111, 0x23523ED, "14050471", "67062674", "99943326"},
    {1234567890, 0x273EF07, "89005924", "91819424", "93441116"},
    {2000000000, 0x3F940AA, "69279037", "90698825", "38618901"},
    {20000000000, 0x27BC86AA, "65353130", "77737706", "47863826"},
}};

TEST(Totp, MatchesRfc6238Vectors) {
    const TotpParams sha1{TotpAlgorithm::sha1, 8, seconds(30)};
    const TotpParams sha256{TotpAlgorithm::sha256, 8, seconds(30)};
    const TotpParams sha512{TotpAlgorithm::sha512, 8, seconds(30)};
    for (const RfcVector& row : kRfcVectors) {
        SCOPED_TRACE(row.time);
        EXPECT_EQ(totpCode(kSeedSha1, row.step, sha1), row.sha1);
        EXPECT_EQ(totpCode(kSeedSha256, row.step, sha256), row.sha256);
        EXPECT_EQ(totpCode(kSeedSha512, row.step, sha512), row.sha512);
        // system_clock counts nanoseconds in 64 bits, so it ends in 2262: the year-2603 vector
        // is checked by step only.
        if (row.time > 9'000'000'000) continue;
        ASSERT_EQ(totpStep(at(row.time)), row.step);
        EXPECT_EQ(verifyTotp(kSeedSha1, row.sha1, at(row.time), std::nullopt, sha1), row.step);
        EXPECT_EQ(verifyTotp(kSeedSha256, row.sha256, at(row.time), std::nullopt, sha256), row.step);
        EXPECT_EQ(verifyTotp(kSeedSha512, row.sha512, at(row.time), std::nullopt, sha512), row.step);
        // A code of one algorithm is not a code of another.
        EXPECT_FALSE(verifyTotp(kSeedSha1, row.sha1, at(row.time), std::nullopt, sha256));
    }
}

TEST(Totp, SixDigitsAreTheLastSixOfTheRfcCodes) {
    // Truncation is modulo 10^digits, so the default 6-digit code is the 8-digit one's tail.
    EXPECT_EQ(totpCode(kSeedSha1, 0x23523EC), "081804");
    EXPECT_EQ(totpCode(kSeedSha1, 0x1), "287082");
}

TEST(Totp, AcceptsOneStepOfDriftEitherSide) {
    const auto now = at(1111111111);
    const std::int64_t step = *totpStep(now);
    EXPECT_EQ(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step), now, std::nullopt), step);
    EXPECT_EQ(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step - 1), now, std::nullopt), step - 1);
    EXPECT_EQ(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step + 1), now, std::nullopt), step + 1);
}

TEST(Totp, RefusesCodesOutsideTheWindow) {
    const auto now = at(1111111111);
    const std::int64_t step = *totpStep(now);
    for (const std::int64_t other : {step - 2, step + 2, step - 10, step + 10, std::int64_t{0}}) {
        const std::string code = totpCode(kSeedSha1, other);
        if (code == totpCode(kSeedSha1, step) || code == totpCode(kSeedSha1, step - 1) ||
            code == totpCode(kSeedSha1, step + 1)) {
            continue;  // a one-in-a-million collision with a code in the window
        }
        EXPECT_FALSE(verifyTotp(kSeedSha1, code, now, std::nullopt)) << other;
    }
}

TEST(Totp, AcceptsEachCodeOnce) {
    const auto now = at(1234567890);
    const std::int64_t step = *totpStep(now);
    const std::string code = totpCode(kSeedSha1, step);

    const auto used = verifyTotp(kSeedSha1, code, now, std::nullopt);
    ASSERT_EQ(used, step);
    // Replayed within the same step, and again 29 seconds later (still in the window).
    EXPECT_FALSE(verifyTotp(kSeedSha1, code, now, used));
    EXPECT_FALSE(verifyTotp(kSeedSha1, code, now + seconds(29), used));
    // The next step's code is fresh.
    EXPECT_EQ(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step + 1), now + seconds(30), used), step + 1);
}

TEST(Totp, RefusesStepsOlderThanTheLastUsedOne) {
    const auto now = at(1234567890);
    const std::int64_t step = *totpStep(now);
    // The user already used the next step's code (clock ahead); the current and previous steps'
    // codes, though inside the window, are now older and refused.
    const auto used = verifyTotp(kSeedSha1, totpCode(kSeedSha1, step + 1), now, std::nullopt);
    ASSERT_EQ(used, step + 1);
    EXPECT_FALSE(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step), now, used));
    EXPECT_FALSE(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step - 1), now, used));
    EXPECT_FALSE(verifyTotp(kSeedSha1, totpCode(kSeedSha1, step + 1), now, used));
}

TEST(Totp, RefusesMalformedCodes) {
    const auto now = at(1111111111);
    const std::string good = totpCode(kSeedSha1, *totpStep(now));
    ASSERT_TRUE(verifyTotp(kSeedSha1, good, now, std::nullopt));
    for (const std::string& bad : {
             std::string(""),
             good.substr(0, 5),
             good + "0",
             " " + good.substr(1),
             good.substr(0, 5) + " ",
             good.substr(0, 5) + "a",
             "+" + good.substr(1),
             "-" + good.substr(1),
             good.substr(0, 5) + std::string(1, '\0'),
             std::string("\xef\xbc\x91\xef\xbc\x92"),  // full-width "12": six bytes, not digits
             std::string("\xd9\xa1\xd9\xa2\xd9\xa3"),  // Arabic-Indic "123": six bytes
             good + std::string(1, '\0'),
             std::string("0x1234"),
         }) {
        EXPECT_FALSE(verifyTotp(kSeedSha1, bad, now, std::nullopt)) << bad;
    }
}

TEST(Totp, RefusesWrongSecretsAndBadInputs) {
    const auto now = at(1111111111);
    const std::string code = totpCode(kSeedSha1, *totpStep(now));
    EXPECT_FALSE(verifyTotp("12345678901234567891", code, now, std::nullopt));
    EXPECT_FALSE(verifyTotp("", code, now, std::nullopt));
    EXPECT_FALSE(verifyTotp(kSeedSha1, code, at(-1), std::nullopt));  // before 1970
    EXPECT_FALSE(
        verifyTotp(kSeedSha1, code, now, std::nullopt, TotpParams{TotpAlgorithm::sha1, 6, seconds(0)}));
    EXPECT_FALSE(totpStep(at(-1)));
    EXPECT_THROW((void)totpCode(kSeedSha1, 1, TotpParams{TotpAlgorithm::sha1, 5, seconds(30)}),
                 std::invalid_argument);
    EXPECT_THROW((void)totpCode(kSeedSha1, 1, TotpParams{TotpAlgorithm::sha1, 9, seconds(30)}),
                 std::invalid_argument);
    EXPECT_THROW((void)totpCode(kSeedSha1, -1), std::invalid_argument);
    EXPECT_THROW((void)totpCode("", 1), std::invalid_argument);
}

TEST(Totp, GeneratesDistinctTwentyByteSecrets) {
    const SecretString first = generateTotpSecret();
    const SecretString second = generateTotpSecret();
    EXPECT_EQ(first.size(), kTotpSecretBytes);
    EXPECT_EQ(second.size(), kTotpSecretBytes);
    EXPECT_FALSE(first.equals(second.reveal()));
    EXPECT_EQ(base32Encode(first.reveal()).size(), 32u);
}

TEST(TotpBase32, MatchesRfc4648Vectors) {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base32Encode(plain), encoded);
        EXPECT_EQ(base32Decode(encoded), plain);
    }
    EXPECT_EQ(base32Decode("mzxw6ytboi"), "foobar");  // typed by hand in lower case
}

TEST(TotpBase32, RoundTripsEveryByte) {
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    for (std::size_t length = 0; length <= bytes.size(); length += 7) {
        const std::string slice = bytes.substr(0, length);
        EXPECT_EQ(base32Decode(base32Encode(slice)), slice);
    }
}

TEST(TotpBase32, RefusesNonCanonicalInput) {
    for (const char* bad : {"MY======", "MZXW6===", "M", "MZX", "MZXW6Y", "MZ1Q", "MZ8Q", "MZ 6", "MZXW6YQ\n",
                            "MZ",  // 'Z' leaves a non-zero bit after the last byte
                            "MZXW6YTBOJ"}) {
        EXPECT_FALSE(base32Decode(bad)) << bad;
    }
}

TEST(TotpUri, CarriesEverythingAnAuthenticatorNeeds) {
    EXPECT_EQ(totpUri("alice", kSeedSha1).reveal(),
              "otpauth://totp/Rampart:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Rampart"
              "&algorithm=SHA1&digits=6&period=30");
    // The label is percent-encoded: no one can inject a query parameter or a second issuer.
    const std::string uri = totpUri("a b:c@d?secret=X&issuer=Evil/é", kSeedSha1).reveal();
    EXPECT_TRUE(
        uri.starts_with("otpauth://totp/Rampart:a%20b%3Ac%40d%3Fsecret%3DX%26issuer%3DEvil%2F%C3%A9?"))
        << uri;
    EXPECT_EQ(uri.find("&issuer=Evil"), std::string::npos);
    EXPECT_TRUE(totpUri("bob", kSeedSha256, TotpParams{TotpAlgorithm::sha256, 8, seconds(60)})
                    .reveal()
                    .ends_with("&algorithm=SHA256&digits=8&period=60"));
}

}  // namespace
}  // namespace rampart::identity
