// Attacks on password hashing and the password policy: wrong, empty, oversized and malformed
// passwords, weak parameters, common passwords, passwords built from the account's own names.
#include "identity/password.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sodium.h>

#include "identity/api_token.hpp"

namespace rampart::identity {
namespace {

// Argon2id at libsodium's small end, so the tests stay fast; the defaults get their own test.
constexpr std::size_t kKiB = 1024;
constexpr PasswordHashing kFast{2, 64 * kKiB};
constexpr PasswordHashing kWeaker{1, 32 * kKiB};

TEST(PasswordHashing, VerifiesTheRightPasswordOnly) {
    const auto hash = hashPassword("correct horse battery staple", kFast);
    ASSERT_TRUE(hash);
    EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=64,t=2,p=1$")) << *hash;
    EXPECT_TRUE(verifyPassword("correct horse battery staple", *hash));
    EXPECT_FALSE(verifyPassword("correct horse battery stapl", *hash));
    EXPECT_FALSE(verifyPassword("Correct horse battery staple", *hash));
    EXPECT_FALSE(verifyPassword("correct horse battery staple ", *hash));
    EXPECT_FALSE(verifyPassword("", *hash));
    EXPECT_FALSE(verifyPassword(std::string("correct horse battery staple\0x", 30), *hash));
}

TEST(PasswordHashing, SaltsEveryHash) {
    const auto first = hashPassword("same password twice", kFast);
    const auto second = hashPassword("same password twice", kFast);
    ASSERT_TRUE(first && second);
    EXPECT_NE(*first, *second);
    EXPECT_TRUE(verifyPassword("same password twice", *first));
    EXPECT_TRUE(verifyPassword("same password twice", *second));
}

TEST(PasswordHashing, EmptyPasswordHashMatchesOnlyEmpty) {
    const auto hash = hashPassword("", kFast);
    ASSERT_TRUE(hash);
    EXPECT_TRUE(verifyPassword("", *hash));
    EXPECT_FALSE(verifyPassword(" ", *hash));
}

TEST(PasswordHashing, OversizedPasswordNeverReachesArgon2) {
    const auto hash = hashPassword("a valid stored password", kFast);
    ASSERT_TRUE(hash);
    const std::string tooLong(kMaxPasswordBytes + 1, 'x');
    const std::string megabyte(1024 * kKiB, 'x');
    const std::uint64_t before = argon2RunCount();

    EXPECT_FALSE(hashPassword(tooLong, kFast));
    EXPECT_FALSE(hashPassword(megabyte, kFast));
    EXPECT_FALSE(verifyPassword(tooLong, *hash));
    EXPECT_FALSE(verifyPassword(megabyte, *hash));
    const auto violation = checkPassword(megabyte, "alice", "alice@example.com");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooLong);

    EXPECT_EQ(argon2RunCount(), before);

    // The limit itself is allowed.
    EXPECT_TRUE(hashPassword(std::string(kMaxPasswordBytes, 'x'), kFast));
    EXPECT_EQ(argon2RunCount(), before + 1);
}

TEST(PasswordHashing, MalformedStoredHashesNeverMatch) {
    const auto hash = hashPassword("pw", kFast);
    ASSERT_TRUE(hash);
    EXPECT_FALSE(verifyPassword("pw", ""));
    EXPECT_FALSE(verifyPassword("pw", "not a hash"));
    EXPECT_FALSE(verifyPassword("pw", hash->substr(0, hash->size() - 5)));
    EXPECT_FALSE(verifyPassword("pw", *hash + "A"));
    EXPECT_FALSE(verifyPassword("pw", std::string(200, '$')));
    std::string withNul = *hash;
    withNul[10] = '\0';
    EXPECT_FALSE(verifyPassword("pw", withNul));
    EXPECT_TRUE(needsRehash("not a hash", kFast));
    EXPECT_TRUE(needsRehash("", kFast));
}

// Every stored hash so far was made by libsodium's crypto_pwhash_str; they must keep verifying, and
// libsodium must accept what Rampart makes now (a downgrade, a backup restored into an older build).
TEST(PasswordHashing, LibsodiumAndRampartHashesAreInterchangeable) {
    char libsodiums[crypto_pwhash_STRBYTES];
    ASSERT_EQ(crypto_pwhash_str_alg(libsodiums, "a shared password", 17, kFast.opsLimit, kFast.memLimitBytes,
                                    crypto_pwhash_ALG_ARGON2ID13),
              0);
    EXPECT_TRUE(verifyPassword("a shared password", libsodiums));
    EXPECT_FALSE(verifyPassword("a shared passwore", libsodiums));
    EXPECT_FALSE(needsRehash(libsodiums, kFast));

    const auto ours = hashPassword("a shared password", kFast);
    ASSERT_TRUE(ours);
    EXPECT_EQ(crypto_pwhash_str_verify(ours->c_str(), "a shared password", 17), 0);
    EXPECT_NE(crypto_pwhash_str_verify(ours->c_str(), "a shared passwore", 17), 0);
}

// Each variant is a valid hash of "pw" with one thing wrong; none may match, and none may run Argon2 with
// parameters nobody chose (a lane count, version or cost from a tampered row).
TEST(PasswordHashing, TamperedEncodingsNeverMatch) {
    const auto hash = hashPassword("pw", kFast);
    ASSERT_TRUE(hash);
    const std::string prefix = "$argon2id$v=19$m=64,t=2,p=1$";
    ASSERT_TRUE(hash->starts_with(prefix));
    const std::string rest = hash->substr(prefix.size());  // salt$tag
    const std::string salt = rest.substr(0, rest.find('$'));
    const std::string tag = rest.substr(rest.find('$') + 1);
    ASSERT_TRUE(verifyPassword("pw", prefix + salt + "$" + tag));

    const std::vector<std::string> tampered{
        "$argon2d$v=19$m=64,t=2,p=1$" + rest,                       // Argon2d: not for passwords
        "$argon2ID$v=19$m=64,t=2,p=1$" + rest,                      // case matters
        "$argon2id$v=16$m=64,t=2,p=1$" + rest,                      // Argon2 1.0
        "$argon2id$m=64,t=2,p=1$" + rest,                           // no version
        "$argon2id$v=19$m=64,t=2,p=2$" + rest,                      // lanes Rampart never uses
        "$argon2id$v=19$m=064,t=2,p=1$" + rest,                     // a leading zero
        "$argon2id$v=19$m=+64,t=2,p=1$" + rest,                     // a sign
        "$argon2id$v=19$t=2,m=64,p=1$" + rest,                      // fields out of order
        "$argon2id$v=19$m=64,t=2,p=1,x=1$" + rest,                  // an extra field
        "$argon2id$v=19$m=64,t=0,p=1$" + rest,                      // no passes
        "$argon2id$v=19$m=4,t=2,p=1$" + rest,                       // below the memory floor
        "$argon2id$v=19$m=99999999999,t=2,p=1$" + rest,             // overflows 32 bits
        prefix + salt + "=$" + tag,                                 // padding
        prefix + salt + "$" + tag + "==",                           // padding
        prefix + salt.substr(0, 8) + "$" + tag,                     // a 6-byte salt
        prefix + salt + "$" + tag.substr(0, 8),                     // a 6-byte tag
        prefix + salt + "$" + tag + tag + tag,                      // a tag over 64 bytes
        prefix + salt + "$" + tag + "$",                            // a trailing separator
        prefix + salt + " $" + tag,                                 // whitespace
        prefix + salt + "$" + tag.substr(0, tag.size() - 1) + "!",  // not base64
        prefix + "$" + tag,                                         // no salt
        prefix + salt,                                              // no tag
    };
    for (const std::string& variant : tampered) EXPECT_FALSE(verifyPassword("pw", variant)) << variant;
}

TEST(PasswordHashing, APoolThreadKeepsItsArgon2MemoryAndOthersDoNot) {
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), 0u);
    ASSERT_TRUE(hashPassword("pw", kFast));
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), 0u);  // an ordinary thread gives the memory back

    keepArgon2MemoryOnThisThread(kFast.memLimitBytes);
    const auto hash = hashPassword("pw", kFast);
    ASSERT_TRUE(hash);
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), kFast.memLimitBytes);
    // Nothing derived from the password stays in the kept memory between hashes.
    const auto kept = argon2MemoryKeptOnThisThread();
    EXPECT_TRUE(std::all_of(kept.begin(), kept.end(), [](std::uint8_t byte) { return byte == 0; }));
    EXPECT_TRUE(verifyPassword("pw", *hash));  // the reused memory gives the same answers
    EXPECT_FALSE(verifyPassword("pX", *hash));
    const auto smaller = hashPassword("pw", kWeaker);  // fits in the kept buffer
    ASSERT_TRUE(smaller);
    EXPECT_TRUE(verifyPassword("pw", *smaller));
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), kFast.memLimitBytes);
    // A larger cost than the thread keeps gets memory of its own.
    const auto larger = hashPassword("pw", PasswordHashing{2, 128 * kKiB});
    ASSERT_TRUE(larger);
    EXPECT_TRUE(verifyPassword("pw", *larger));
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), kFast.memLimitBytes);

    releaseArgon2MemoryOnThisThread();  // what an idle pool thread does (PasswordHasher)
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), 0u);
    ASSERT_TRUE(hashPassword("pw", kFast));
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), kFast.memLimitBytes) << "the next hash keeps it again";

    keepArgon2MemoryOnThisThread(0);
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), 0u);
}

TEST(PasswordHashing, RehashesWeakerOtherAndForeignHashes) {
    const auto current = hashPassword("pw", kFast);
    const auto weaker = hashPassword("pw", kWeaker);
    ASSERT_TRUE(current && weaker);
    EXPECT_FALSE(needsRehash(*current, kFast));
    EXPECT_TRUE(needsRehash(*weaker, kFast));
    EXPECT_TRUE(needsRehash(*current, PasswordHashing{3, 64 * kKiB}));   // more passes configured
    EXPECT_TRUE(needsRehash(*current, PasswordHashing{2, 128 * kKiB}));  // more memory configured
    // An Argon2i hash with the right cost still moves to Argon2id (Argon2i needs t >= 3).
    const PasswordHashing argon2iCost{3, 64 * kKiB};
    char argon2i[crypto_pwhash_STRBYTES];
    ASSERT_EQ(crypto_pwhash_str_alg(argon2i, "pw", 2, argon2iCost.opsLimit, argon2iCost.memLimitBytes,
                                    crypto_pwhash_ALG_ARGON2I13),
              0);
    EXPECT_TRUE(verifyPassword("pw", argon2i));
    EXPECT_TRUE(needsRehash(argon2i, argon2iCost));
}

TEST(PasswordHashing, RefusesParametersOutsideLibsodiumsRange) {
    EXPECT_THROW((void)hashPassword("pw", PasswordHashing{0, 64 * kKiB}), std::invalid_argument);
    EXPECT_THROW((void)hashPassword("pw", PasswordHashing{2, kKiB}), std::invalid_argument);
}

TEST(PasswordHashing, DefaultsMeetOwaspMinimum) {
    const PasswordHashing defaults;
    EXPECT_GE(defaults.opsLimit, 2u);
    EXPECT_GE(defaults.memLimitBytes, 19 * kKiB * kKiB);

    const auto start = std::chrono::steady_clock::now();
    const auto hash = hashPassword("a password hashed with the defaults");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(hash);
    EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=65536,t=3,p=1$")) << *hash;
    EXPECT_FALSE(needsRehash(*hash));
    RecordProperty("default_hash_ms",
                   static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
}

TEST(PasswordHashing, DummyVerificationRunsArgon2AndNeverSucceeds) {
    prepareDummyHash(kFast);
    const std::uint64_t before = argon2RunCount();
    EXPECT_FALSE(verifyAgainstDummy("any password at all", kFast));
    EXPECT_FALSE(verifyAgainstDummy("", kFast));
    EXPECT_EQ(argon2RunCount(), before + 2);  // the work was done: same cost as a real verification
    // Like a real verification, an oversized password is refused without Argon2.
    EXPECT_FALSE(verifyAgainstDummy(std::string(kMaxPasswordBytes + 1, 'x'), kFast));
    EXPECT_EQ(argon2RunCount(), before + 2);
}

TEST(PasswordPolicy, RefusesShortPasswordsCountingCodePoints) {
    auto violation = checkPassword("Xq7#vL2!pZ9", "", "");  // 11 characters
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooShort);
    EXPECT_EQ(ruleId(violation->rule), "password.too_short");

    // 11 two-byte characters are 22 bytes, still 11 characters.
    violation = checkPassword("éàüöçñßøåæœ", "", "");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooShort);

    // 12 characters of several bytes each pass the length rule (and this one the others too).
    EXPECT_FALSE(checkPassword("Été glacé ñü øœ", "", ""));
}

TEST(PasswordPolicy, RefusesInvalidText) {
    for (const std::string& bad : {
             std::string("glacier-mustard\xff-velvet"),           // byte never valid in UTF-8
             std::string("glacier-mustard\xc0\xaf-velvet"),       // overlong '/'
             std::string("glacier-mustard\xed\xa0\x80-velvet"),   // UTF-16 surrogate
             std::string("glacier-mustard\xf4\x90\x80\x80-vel"),  // above U+10FFFF
             std::string("glacier-mustard-velvet\xe2\x82"),       // truncated sequence
             std::string("glacier-mustard\x80-velvet"),           // lone continuation byte
             std::string("glacier-mustard\0-velvet-orbit", 29),   // NUL
         }) {
        const auto violation = checkPassword(bad, "", "");
        ASSERT_TRUE(violation) << bad;
        EXPECT_EQ(violation->rule, PasswordRule::invalidText);
    }
}

TEST(PasswordPolicy, RefusesOverlongPasswordsWhateverThePolicySays) {
    PasswordPolicy strict;
    strict.maxBytes = 20;
    auto violation = checkPassword("glacier-mustard-velvet", "", "", strict);
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooLong);

    PasswordPolicy lax;
    lax.maxBytes = 1 << 20;  // cannot lift the hard cap
    violation = checkPassword(std::string(kMaxPasswordBytes + 1, 'x'), "", "", lax);
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooLong);
}

TEST(PasswordPolicy, RefusesCommonPasswords) {
    for (const char* common : {"password123456", "qwertyuiop123", "iloveyou12345", "111111111111",
                               "abcdefghijkl", "letmein123456", "Password1234!"}) {
        const auto violation = checkPassword(common, "alice", "alice@example.com");
        ASSERT_TRUE(violation) << common;
        EXPECT_EQ(violation->rule, PasswordRule::tooWeak) << common;
        EXPECT_LT(zxcvbnScore(common), 3) << common;
    }
}

TEST(PasswordPolicy, AcceptsStrongPassphrases) {
    EXPECT_FALSE(checkPassword("glacier-mustard-velvet-orbit", "alice", "alice@example.com"));
    EXPECT_FALSE(checkPassword("correct horse battery staple", "alice", "alice@example.com"));
    for (int i = 0; i < 5; ++i) {
        const std::string random = randomToken(16);  // 22 random characters
        EXPECT_FALSE(checkPassword(random, "alice", "alice@example.com")) << random;
        EXPECT_EQ(zxcvbnScore(random), 4);
    }
}

TEST(PasswordPolicy, RefusesPasswordsSimilarToTheAccount) {
    const auto expectSimilar = [](std::string_view password, std::string_view username,
                                  std::string_view email) {
        const auto violation = checkPassword(password, username, email);
        ASSERT_TRUE(violation) << password;
        EXPECT_EQ(violation->rule, PasswordRule::similarToAccount) << password;
    };
    expectSimilar("velvet-Zanzibar42-orbit", "zanzibar42", "z@example.com");
    expectSimilar("velvet-ZANZIBAR42-orbit", "zanzibar42", "z@example.com");       // any case
    expectSimilar("velvet-bob.smith-glacier", "rsmith", "Bob.Smith@example.com");  // email local part
    expectSimilar("glacier-mustard", "glacier-mustard-velvet-orbit", "");          // vice versa
    expectSimilar("mustard@example.org", "bob", "glacier.mustard@example.org");    // part of the email

    // Names under three characters are too common to refuse passwords over.
    EXPECT_FALSE(checkPassword("glacier-al-velvet-orbit", "al", "al@example.com"));
}

TEST(PasswordPolicy, TreatsEmailPartsAsDictionaryWords) {
    // Strong on its own, weak for someone whose email domain it is built from.
    EXPECT_EQ(zxcvbnScore("quokkafarm2024!!"), 4);
    const auto violation = checkPassword("quokkafarm2024!!", "ceo", "ceo@quokkafarm.com");
    ASSERT_TRUE(violation);
    EXPECT_EQ(violation->rule, PasswordRule::tooWeak);
}

TEST(PasswordPolicy, MapsEntropyToZxcvbnScores) {
    // Boundaries at guesses = 10^3, 10^6, 10^8, 10^10, that is bits = k * log2(10).
    const auto bitsFor = [](double log10Guesses) { return log10Guesses / std::log10(2.0); };
    EXPECT_EQ(zxcvbnScoreForEntropy(0), 0);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(3) - 0.01), 0);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(3) + 0.01), 1);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(6) - 0.01), 1);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(6) + 0.01), 2);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(8) - 0.01), 2);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(8) + 0.01), 3);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(10) - 0.01), 3);
    EXPECT_EQ(zxcvbnScoreForEntropy(bitsFor(10) + 0.01), 4);
    EXPECT_EQ(zxcvbnScoreForEntropy(std::nan("")), 0);
    EXPECT_EQ(zxcvbnScore(std::string("strong-looking\0", 15)), 0);
}

}  // namespace
}  // namespace rampart::identity
