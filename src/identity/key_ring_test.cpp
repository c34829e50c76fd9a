// The key ring: rotation, sealed private keys (wrong secret, changed kid, flipped bytes) and token issuance.
#include "identity/key_ring.hpp"

#include <set>

#include <gtest/gtest.h>

#include "identity/jwks.hpp"
#include "identity/jwt_test_support.hpp"

namespace rampart::identity {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using fixtures::b64;
using fixtures::unb64;

const SecretString kSecret("a-server-secret-of-reasonable-length-0123456789");

class KeyRingTest : public ::testing::Test {
  protected:
    KeyRingTest() { ring_.add(generateSigningKey(time_.now, policy_)); }

    AccessTokenParams access() const {
        return AccessTokenParams{.subject = "user-1",
                                 .issuer = "https://rampart.test",
                                 .audience = "rampart-api",
                                 .scopes = {"jobs:read", "jobs:write"},
                                 .lifetime = 10min};
    }
    RefreshTokenParams refresh() const {
        return RefreshTokenParams{.subject = "user-1",
                                  .familyId = "family-1",
                                  .issuer = "https://rampart.test",
                                  .audience = "rampart-api",
                                  .lifetime = 12h};
    }
    VerifyResult verify(const std::string& token, std::string use) {
        VerifyOptions options{.issuer = "https://rampart.test",
                              .audience = "rampart-api",
                              .tokenUse = std::move(use),
                              .type = "JWT",
                              .leeway = 30s};
        return verifyJwt(token, ring_.verificationKeys(time_.now), options, time_.now);
    }

    fixtures::ManualClock time_;
    KeyPolicy policy_{.signingPeriod = 24h, .maxTokenLifetime = 24h};
    KeyRing ring_;
};

TEST_F(KeyRingTest, GeneratesKeysWithRandomKidsAndTheirLifetimes) {
    const SigningKey a = generateSigningKey(time_.now, policy_);
    const SigningKey b = generateSigningKey(time_.now, policy_);
    EXPECT_NE(a.kid, b.kid);
    EXPECT_EQ(a.kid.size(), 22u);  // 16 bytes, base64url
    EXPECT_EQ(unb64(a.kid).size(), 16u);
    EXPECT_EQ(a.alg, Algorithm::kEdDSA);
    ASSERT_TRUE(a.privateKey);
    ASSERT_TRUE(a.publicKey);
    EXPECT_EQ(a.created, std::chrono::floor<std::chrono::seconds>(time_.now));
    EXPECT_EQ(a.notAfter, a.created + 24h);
    EXPECT_EQ(a.expires, a.notAfter + 24h);
    EXPECT_EQ(publicKeyBase64Url(a).size(), 43u);  // 32 bytes
    EXPECT_NE(publicKeyBase64Url(a), publicKeyBase64Url(b));

    std::set<std::string> kids;
    for (int i = 0; i < 100; ++i) kids.insert(generateKid());
    EXPECT_EQ(kids.size(), 100u);
}

TEST_F(KeyRingTest, RefusesADuplicateKid) {
    SigningKey copy = generateSigningKey(time_.now, policy_);
    copy.kid = ring_.keys().front().kid;
    EXPECT_FALSE(ring_.add(copy));
    EXPECT_EQ(ring_.keys().size(), 1u);
}

TEST_F(KeyRingTest, RotationSignsWithTheNewKeyAndOldTokensVerifyUntilTheOldKeyExpires) {
    const std::string oldKid = ring_.keys().front().kid;
    const IssuedToken before = issueRefreshToken(ring_, refresh(), time_.clock());
    ASSERT_TRUE(before.ok);
    EXPECT_EQ(fixtures::headerOf(before.token).at("kid").as_string(), oldKid);

    time_.now += 1h;
    ring_.add(generateSigningKey(time_.now, policy_));
    const std::string newKid = ring_.keys().back().kid;
    ASSERT_EQ(ring_.current(time_.now)->kid, newKid);
    const IssuedToken after = issueAccessToken(ring_, access(), time_.clock());
    ASSERT_TRUE(after.ok);
    EXPECT_EQ(fixtures::headerOf(after.token).at("kid").as_string(), newKid);

    EXPECT_TRUE(verify(before.token, "refresh").ok);
    EXPECT_TRUE(verify(after.token, "access").ok);
    EXPECT_EQ(ring_.verificationKeys(time_.now).size(), 2u);

    // The old key stops signing at notAfter but keeps verifying until expires (created + 48 h).
    time_.now += 23h + 30min;
    EXPECT_EQ(ring_.current(time_.now)->kid, newKid);
    EXPECT_EQ(ring_.verificationKeys(time_.now).size(), 2u);

    // Past expires: gone from the key set; a token it signed (made here with a long exp) is refused.
    const SigningKey& oldKey = ring_.keys().front();
    const json::object longLived{{"iss", "https://rampart.test"},
                                 {"sub", "user-1"},
                                 {"aud", "rampart-api"},
                                 {"token_use", "refresh"},
                                 {"exp", time_.seconds() + 86400 * 30}};
    const std::string forged = *signJwt(longLived, oldKid, Algorithm::kEdDSA, oldKey.privateKey.get());
    const KeySet stale = ring_.verificationKeys(time_.now);  // a snapshot taken before the key retired
    time_.now = oldKey.expires;
    EXPECT_EQ(ring_.verificationKeys(time_.now).size(), 1u);
    EXPECT_EQ(verify(forged, "refresh").error, VerifyError::kKidUnknown);
    VerifyOptions options;
    options.issuer = "https://rampart.test";
    options.audience = "rampart-api";
    EXPECT_EQ(verifyJwt(forged, stale, options, time_.now).error, VerifyError::kKeyExpired);

    EXPECT_EQ(ring_.removeExpired(time_.now), std::vector<std::string>{oldKid});
    EXPECT_EQ(ring_.keys().size(), 1u);
}

TEST_F(KeyRingTest, CurrentSkipsRetiredAndPublicOnlyKeys) {
    EXPECT_TRUE(ring_.current(time_.now));
    EXPECT_FALSE(ring_.current(time_.now + 24h));  // at notAfter
    SigningKey publicOnly = generateSigningKey(time_.now + 1h, policy_);
    publicOnly.privateKey.reset();
    ring_.add(publicOnly);
    EXPECT_EQ(ring_.current(time_.now + 2h)->kid, ring_.keys().front().kid);
    EXPECT_FALSE(KeyRing().current(time_.now));
}

TEST_F(KeyRingTest, IssuesAccessTokensThatVerify) {
    const IssuedToken issued = issueAccessToken(ring_, access(), time_.clock());
    ASSERT_TRUE(issued.ok);
    EXPECT_EQ(issued.error, IssueError::kNone);
    EXPECT_EQ(issued.tokenId.size(), 22u);  // 128 bits
    EXPECT_EQ(issued.expires, std::chrono::floor<std::chrono::seconds>(time_.now) + 10min);
    EXPECT_EQ(fixtures::headerOf(issued.token),
              (json::object{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", ring_.keys().front().kid}}));

    const VerifyResult result = verify(issued.token, "access");
    ASSERT_TRUE(result.ok) << verifyErrorName(result.error);
    EXPECT_EQ(result.claims->subject, "user-1");
    EXPECT_EQ(result.claims->tokenId, issued.tokenId);
    EXPECT_EQ(result.claims->tokenUse, "access");
    EXPECT_EQ(result.claims->scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
    EXPECT_EQ(result.claims->expires, issued.expires);
    EXPECT_EQ(verify(issued.token, "refresh").error, VerifyError::kWrongTokenUse);

    EXPECT_NE(issueAccessToken(ring_, access(), time_.clock()).tokenId, issued.tokenId);
}

TEST_F(KeyRingTest, IssuesRefreshTokensWithTheirFamily) {
    const IssuedToken issued = issueRefreshToken(ring_, refresh(), time_.clock());
    ASSERT_TRUE(issued.ok);
    const VerifyResult result = verify(issued.token, "refresh");
    ASSERT_TRUE(result.ok) << verifyErrorName(result.error);
    EXPECT_EQ(result.claims->raw.at("family_id").as_string(), "family-1");
    EXPECT_EQ(verify(issued.token, "access").error, VerifyError::kWrongTokenUse);
}

TEST_F(KeyRingTest, RefusesAccessTokenLifetimesOutsideFiveToFifteenMinutes) {
    AccessTokenParams params = access();
    for (auto lifetime : {0s, 4min + 59s, 15min + 1s, std::chrono::seconds(24h)}) {
        params.lifetime = lifetime;
        EXPECT_EQ(issueAccessToken(ring_, params, time_.clock()).error, IssueError::kLifetimeOutOfRange);
    }
    for (auto lifetime : {std::chrono::seconds(5min), std::chrono::seconds(15min)}) {
        params.lifetime = lifetime;
        EXPECT_TRUE(issueAccessToken(ring_, params, time_.clock()).ok);
    }
    RefreshTokenParams refreshParams = refresh();
    refreshParams.lifetime = 0s;
    EXPECT_EQ(issueRefreshToken(ring_, refreshParams, time_.clock()).error, IssueError::kLifetimeOutOfRange);
    refreshParams.lifetime = kMaxRefreshTokenLifetime + 1s;
    EXPECT_EQ(issueRefreshToken(ring_, refreshParams, time_.clock()).error, IssueError::kLifetimeOutOfRange);
}

TEST_F(KeyRingTest, RefusesBadArguments) {
    AccessTokenParams params = access();
    params.subject.clear();
    EXPECT_EQ(issueAccessToken(ring_, params, time_.clock()).error, IssueError::kInvalidArgument);
    for (const char* scope : {"", "jobs read", "jobs\"", "jobs\\x", "caf\xc3\xa9"}) {
        params = access();
        params.scopes.push_back(scope);
        EXPECT_EQ(issueAccessToken(ring_, params, time_.clock()).error, IssueError::kInvalidArgument)
            << scope;
    }
    RefreshTokenParams refreshParams = refresh();
    refreshParams.familyId.clear();
    EXPECT_EQ(issueRefreshToken(ring_, refreshParams, time_.clock()).error, IssueError::kInvalidArgument);
}

TEST_F(KeyRingTest, RefusesToIssueWithoutAKeyOrBeyondTheKeysLife) {
    EXPECT_EQ(issueAccessToken(KeyRing(), access(), time_.clock()).error, IssueError::kNoSigningKey);
    RefreshTokenParams params = refresh();
    params.lifetime = 49h;  // the key verifies for 48 h from now
    EXPECT_EQ(issueRefreshToken(ring_, params, time_.clock()).error, IssueError::kKeyExpiresTooSoon);
    time_.now += 24h;
    EXPECT_EQ(issueAccessToken(ring_, access(), time_.clock()).error, IssueError::kNoSigningKey);
}

TEST_F(KeyRingTest, PublishesItsPublicKeysAsAJwks) {
    const SigningKey& key = ring_.keys().front();
    const json::object jwk = publicJwk(key);
    EXPECT_EQ(jwk.at("kty").as_string(), "OKP");
    EXPECT_EQ(jwk.at("crv").as_string(), "Ed25519");
    EXPECT_EQ(jwk.at("x").as_string(), publicKeyBase64Url(key));
    EXPECT_EQ(jwk.at("kid").as_string(), key.kid);
    EXPECT_FALSE(jwk.contains("d"));

    const JwksResult parsed = parseJwks(json::serialize(json::object{{"keys", json::array{jwk}}}));
    ASSERT_TRUE(parsed.ok) << parsed.error;
    const IssuedToken issued = issueAccessToken(ring_, access(), time_.clock());
    VerifyOptions options;
    options.issuer = "https://rampart.test";
    options.audience = "rampart-api";
    options.tokenUse = "access";
    EXPECT_TRUE(verifyJwt(issued.token, parsed.keys, options, time_.now).ok);
}

// --- sealing private keys --------------------------------------------------------------------------------

TEST_F(KeyRingTest, SealedKeysRoundTrip) {
    const SigningKey& key = ring_.keys().front();
    const auto stored = sealSigningKey(key, kSecret);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->kid, key.kid);
    EXPECT_EQ(stored->alg, "EdDSA");
    EXPECT_EQ(stored->publicKey, publicKeyBase64Url(key));
    EXPECT_EQ(stored->created, key.created);
    EXPECT_EQ(stored->notAfter, key.notAfter);
    EXPECT_EQ(stored->expires, key.expires);

    // The blob never holds the private key in clear, and a fresh nonce makes every seal differ.
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    ASSERT_EQ(EVP_PKEY_get_raw_private_key(key.privateKey.get(), raw, &size), 1);
    EXPECT_EQ(unb64(stored->encryptedPrivateKey).find(std::string(reinterpret_cast<char*>(raw), 32)),
              std::string::npos);
    EXPECT_NE(sealSigningKey(key, kSecret)->encryptedPrivateKey, stored->encryptedPrivateKey);

    const auto opened = openSigningKey(*stored, kSecret);
    ASSERT_TRUE(opened);
    ASSERT_TRUE(opened->privateKey);
    EXPECT_EQ(opened->kid, key.kid);
    EXPECT_EQ(opened->expires, key.expires);
    KeyRing reloaded;
    reloaded.add(*opened);
    const IssuedToken issued = issueAccessToken(reloaded, access(), time_.clock());
    ASSERT_TRUE(issued.ok);
    EXPECT_TRUE(verify(issued.token, "access").ok);  // checked against the original ring's public key
}

TEST_F(KeyRingTest, OpeningFailsWithTheWrongSecret) {
    const auto stored = sealSigningKey(ring_.keys().front(), kSecret);
    ASSERT_TRUE(stored);
    EXPECT_FALSE(openSigningKey(*stored, SecretString("a-server-secret-of-reasonable-length-0123456788")));
    EXPECT_FALSE(openSigningKey(*stored, SecretString("")));
}

TEST_F(KeyRingTest, OpeningFailsWhenTheKidIsChanged) {
    const auto stored = sealSigningKey(ring_.keys().front(), kSecret);
    ASSERT_TRUE(stored);
    StoredSigningKey moved = *stored;
    moved.kid = generateKid();
    EXPECT_FALSE(openSigningKey(moved, kSecret));

    // Another key's blob under this kid: the kid matches, so decryption works, but the halves disagree.
    SigningKey other = generateSigningKey(time_.now, policy_);
    other.kid = stored->kid;
    StoredSigningKey swapped = *stored;
    swapped.encryptedPrivateKey = sealSigningKey(other, kSecret)->encryptedPrivateKey;
    EXPECT_FALSE(openSigningKey(swapped, kSecret));
}

TEST_F(KeyRingTest, OpeningFailsWhenAnyByteIsFlipped) {
    const auto stored = sealSigningKey(ring_.keys().front(), kSecret);
    ASSERT_TRUE(stored);
    const std::string blob = unb64(stored->encryptedPrivateKey);
    EXPECT_EQ(blob.size(), 1u + 24u + 32u + 16u);
    for (std::size_t i = 0; i < blob.size(); ++i) {
        for (unsigned char bit : {0x01, 0x80}) {
            std::string tampered = blob;
            tampered[i] = static_cast<char>(tampered[i] ^ bit);
            StoredSigningKey copy = *stored;
            copy.encryptedPrivateKey = b64(tampered);
            EXPECT_FALSE(openSigningKey(copy, kSecret)) << "byte " << i;
        }
    }
    StoredSigningKey truncated = *stored;
    truncated.encryptedPrivateKey = b64(blob.substr(0, blob.size() - 1));
    EXPECT_FALSE(openSigningKey(truncated, kSecret));
    StoredSigningKey notBase64 = *stored;
    notBase64.encryptedPrivateKey += "=";
    EXPECT_FALSE(openSigningKey(notBase64, kSecret));
    StoredSigningKey wrongAlg = *stored;
    wrongAlg.alg = "RS256";
    EXPECT_FALSE(openSigningKey(wrongAlg, kSecret));
}

TEST_F(KeyRingTest, PublicOnlyKeysSealWithoutABlob) {
    SigningKey publicOnly = ring_.keys().front();
    publicOnly.privateKey.reset();
    const auto stored = sealSigningKey(publicOnly, SecretString(""));
    ASSERT_TRUE(stored);
    EXPECT_TRUE(stored->encryptedPrivateKey.empty());
    const auto opened = openSigningKey(*stored, kSecret);
    ASSERT_TRUE(opened);
    EXPECT_FALSE(opened->privateKey);
    EXPECT_FALSE(sealSigningKey(ring_.keys().front(), SecretString("")));  // a private key needs a secret
}

}  // namespace
}  // namespace rampart::identity
