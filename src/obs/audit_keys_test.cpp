// The audit keys: derived from the secret key alone (same secret, same keys), each use its own key, the
// keyed hash unlike the plain one, and checkpoint signatures that break on any change.
#include "obs/audit_keys.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace rampart::obs {
namespace {

const SecretString kSecret{std::string("audit-keys-test-secret-0123456789abcdefghijklmnopq")};
const SecretString kOther{std::string("audit-keys-test-other-0123456789abcdefghijklmnopq")};

TEST(AuditKeys, TheChainKeyIsDerivedFromTheSecretAlone) {
    const AuditHash zero{};
    const auto hash = AuditChainKey::derive(kSecret)->rowHash(zero, "content");
    EXPECT_EQ(AuditChainKey::derive(kSecret)->rowHash(zero, "content"), hash);
    EXPECT_NE(AuditChainKey::derive(kOther)->rowHash(zero, "content"), hash);
    // Not the plain chain: an attacker computing SHA-256 gets another value.
    EXPECT_NE(auditRowHash(zero, "content"), hash);
    EXPECT_NE(AuditChainKey::derive(kSecret)->rowHash(hash, "content"), hash);
    EXPECT_NE(AuditChainKey::derive(kSecret)->rowHash(zero, "contenT"), hash);
}

TEST(AuditKeys, AnEmptySecretDerivesNothing) {
    EXPECT_THROW((void)AuditChainKey::derive(SecretString()), std::invalid_argument);
    EXPECT_THROW(AuditCheckpointKey{SecretString()}, std::invalid_argument);
}

TEST(AuditKeys, CheckpointSignaturesVerifyUnderTheDerivedPublicKeyOnly) {
    const AuditCheckpointKey key(kSecret);
    EXPECT_EQ(AuditCheckpointKey(kSecret).publicKey(), key.publicKey());
    const AuditCheckpointKey other(kOther);
    EXPECT_NE(other.publicKey(), key.publicKey());

    const auto signature = key.sign("seq 7");
    EXPECT_TRUE(verifyAuditSignature(key.publicKey(), "seq 7", signature));
    EXPECT_FALSE(verifyAuditSignature(key.publicKey(), "seq 6", signature));
    EXPECT_FALSE(verifyAuditSignature(other.publicKey(), "seq 7", signature));
    auto flipped = signature;
    flipped[0] ^= 1;
    EXPECT_FALSE(verifyAuditSignature(key.publicKey(), "seq 7", flipped));
    EXPECT_FALSE(verifyAuditSignature(key.publicKey(), "seq 7", std::span(signature).first(63)));
}

}  // namespace
}  // namespace rampart::obs
