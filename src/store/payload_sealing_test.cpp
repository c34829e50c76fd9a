// Sealing job payloads: a sealed value holds no plaintext, opens only for its own job and column under
// the secret key it was sealed with, and plaintext (written with sealing off) reads as it is.
#include "store/payload_sealing.hpp"

#include <gtest/gtest.h>

namespace rampart::store {
namespace {

const SecretString kSecret("payload-sealing-test-secret-0123456789");
constexpr std::string_view kArgs = R"({"card":"4111-1111-1111-1111"})";

TEST(PayloadSealing, ASealedValueHoldsNoPlaintextAndOpensForItsJobAndColumn) {
    const PayloadKeys keys(kSecret);
    const std::string sealed = keys.seal(3, "job-a", "args", kArgs);
    EXPECT_TRUE(sealed.starts_with("$s1$3$")) << sealed;
    EXPECT_EQ(sealed.find("4111"), std::string::npos);
    EXPECT_EQ(sealedGeneration(sealed), 3);
    EXPECT_LE(sealed.size(), sealedSize(kArgs.size()));
    EXPECT_EQ(keys.open("job-a", "args", sealed), std::string(kArgs));
    EXPECT_NE(keys.seal(3, "job-a", "args", kArgs), sealed) << "a fresh nonce each time";
}

TEST(PayloadSealing, AValueMovedToAnotherJobOrColumnDoesNotOpen) {
    const PayloadKeys keys(kSecret);
    const std::string sealed = keys.seal(1, "job-a", "args", kArgs);
    EXPECT_EQ(keys.open("job-b", "args", sealed), std::nullopt) << "another job's row";
    EXPECT_EQ(keys.open("job-a", "result", sealed), std::nullopt) << "another column";
    EXPECT_EQ(keys.open(std::string_view("job-a\0args", 10), "", sealed), std::nullopt) << "no ambiguity";
}

TEST(PayloadSealing, AnotherSecretAChangedByteOrAnotherGenerationDoesNotOpen) {
    const PayloadKeys keys(kSecret);
    const std::string sealed = keys.seal(1, "job-a", "args", kArgs);
    const PayloadKeys otherKeys(SecretString("another-secret-key-0123456789-abcdef"));
    EXPECT_EQ(otherKeys.open("job-a", "args", sealed), std::nullopt);

    std::string flipped = sealed;
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
    EXPECT_EQ(keys.open("job-a", "args", flipped), std::nullopt);

    std::string relabelled = sealed;
    relabelled.replace(0, 6, "$s1$2$");  // the generation picks the key: a relabelled value fails
    EXPECT_EQ(keys.open("job-a", "args", relabelled), std::nullopt);

    for (std::string_view malformed : {"$s1$", "$s1$1$", "$s1$x$AAAA", "$s1$0$AAAA", "$s1$1$not base64!"})
        EXPECT_EQ(keys.open("job-a", "args", malformed), std::nullopt) << malformed;
}

TEST(PayloadSealing, PlaintextReadsAsItIs) {
    const PayloadKeys keys(kSecret);
    EXPECT_EQ(keys.open("job-a", "args", kArgs), std::string(kArgs));
    EXPECT_EQ(keys.open("job-a", "progress_message", ""), std::string());
    EXPECT_EQ(sealedGeneration(kArgs), std::nullopt);
}

TEST(PayloadSealing, TheKeyedHashIsStableButNeedsTheSecret) {
    const PayloadKeys keys(kSecret);
    const PayloadKeys again(kSecret);
    const PayloadKeys other(SecretString("another-secret-key-0123456789-abcdef"));
    const std::string hash = keys.keyedHash("sha256-of-the-request");
    EXPECT_EQ(again.keyedHash("sha256-of-the-request"), hash);
    EXPECT_NE(other.keyedHash("sha256-of-the-request"), hash);
    EXPECT_NE(keys.keyedHash("sha256-of-another-request"), hash);
}

TEST(PayloadSealing, NoSecretNoKeys) {
    EXPECT_THROW(PayloadKeys(SecretString("")), std::invalid_argument);
}

}  // namespace
}  // namespace rampart::store
