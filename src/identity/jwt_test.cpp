// Attacks on JWT verification: algorithm confusion, foreign keys, tampering, claims, encoding and the cache.
#include "identity/jwt.hpp"

#include <atomic>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "identity/jwt_test_support.hpp"

namespace rampart::identity {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using fixtures::b64;
using fixtures::unb64;

class JwtTest : public ::testing::Test {
  protected:
    JwtTest() {
        keys_.add(fixtures::mustKey("k1", Algorithm::kEdDSA, edKey_.get()));
        options_.issuer = "https://rampart.test";
        options_.audience = "rampart-api";
        options_.tokenUse = "access";
    }

    json::object claims() const {
        const std::int64_t now = time_.seconds();
        return json::object{{"iss", "https://rampart.test"},
                            {"sub", "user-1"},
                            {"aud", "rampart-api"},
                            {"iat", now},
                            {"exp", now + 600},
                            {"jti", "token-1"},
                            {"token_use", "access"},
                            {"scope", "jobs:read jobs:write"}};
    }
    std::string sign(const json::object& c) const {
        return *signJwt(c, "k1", Algorithm::kEdDSA, edKey_.get());
    }
    std::string signRaw(std::string_view header, std::string_view payload) const {
        return *signCompact(header, payload, Algorithm::kEdDSA, edKey_.get());
    }
    VerifyResult verify(std::string_view token) const { return verifyJwt(token, keys_, options_, time_.now); }
    VerifyError errorOf(std::string_view token) const { return verify(token).error; }

    // Replaces one of the three segments of a token.
    static std::string withSegment(std::string_view token, int index, std::string_view segment) {
        const std::size_t first = token.find('.');
        const std::size_t second = token.find('.', first + 1);
        std::string parts[3] = {std::string(token.substr(0, first)),
                                std::string(token.substr(first + 1, second - first - 1)),
                                std::string(token.substr(second + 1))};
        parts[index] = std::string(segment);
        return parts[0] + "." + parts[1] + "." + parts[2];
    }

    EvpKeyPtr edKey_ = fixtures::generateEd25519();
    KeySet keys_;
    VerifyOptions options_;
    fixtures::ManualClock time_;
};

// --- base64url -------------------------------------------------------------------------------------------

TEST(JwtBase64Url, EncodesRfc4648VectorsWithoutPadding) {
    EXPECT_EQ(base64UrlEncode(""), "");
    EXPECT_EQ(base64UrlEncode("f"), "Zg");
    EXPECT_EQ(base64UrlEncode("fo"), "Zm8");
    EXPECT_EQ(base64UrlEncode("foo"), "Zm9v");
    EXPECT_EQ(base64UrlEncode("foob"), "Zm9vYg");
    EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(JwtBase64Url, RoundTripsEveryLength) {
    std::string bytes;
    for (int i = 0; i < 70; ++i) {
        EXPECT_EQ(base64UrlDecode(base64UrlEncode(bytes)), bytes) << i;
        bytes += static_cast<char>(i * 37 + 11);
    }
}

TEST(JwtBase64Url, RefusesEverythingOutsideTheStrictForm) {
    EXPECT_FALSE(base64UrlDecode("Zg=="));    // padding
    EXPECT_FALSE(base64UrlDecode("Zg="));     // padding
    EXPECT_FALSE(base64UrlDecode("Zm9v+w"));  // standard alphabet
    EXPECT_FALSE(base64UrlDecode("Zm9v/w"));
    EXPECT_FALSE(base64UrlDecode("Zm9vY"));  // a length no byte string has
    EXPECT_FALSE(base64UrlDecode("Zh"));     // non-zero trailing bits: "Zg" is the one encoding of "f"
    EXPECT_FALSE(base64UrlDecode("Zm9"));    // likewise for "fo" ("Zm8")
    EXPECT_FALSE(base64UrlDecode("Zm 9v"));
    EXPECT_FALSE(base64UrlDecode(std::string_view("Zm\0v", 4)));
    EXPECT_EQ(base64UrlDecode(""), "");
}

// --- the good path and known-answer vectors --------------------------------------------------------------

TEST_F(JwtTest, AcceptsAValidTokenAndExposesItsClaims) {
    const VerifyResult result = verify(sign(claims()));
    ASSERT_TRUE(result.ok) << verifyErrorName(result.error);
    EXPECT_EQ(result.error, VerifyError::kNone);
    EXPECT_EQ(result.claims->subject, "user-1");
    EXPECT_EQ(result.claims->issuer, "https://rampart.test");
    EXPECT_EQ(result.claims->audience, std::vector<std::string>{"rampart-api"});
    EXPECT_EQ(result.claims->expires.time_since_epoch().count(), time_.seconds() + 600);
    ASSERT_TRUE(result.claims->issuedAt);
    EXPECT_FALSE(result.claims->notBefore);
    EXPECT_EQ(result.claims->tokenId, "token-1");
    EXPECT_EQ(result.claims->tokenUse, "access");
    EXPECT_EQ(result.claims->scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
    EXPECT_EQ(result.claims->raw.at("sub").as_string(), "user-1");
}

TEST_F(JwtTest, SignJwtWritesTheStandardHeader) {
    const json::object header = fixtures::headerOf(sign(claims()));
    EXPECT_EQ(header, (json::object{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", "k1"}}));
}

TEST(JwtVectors, VerifiesTheRfc8037Ed25519Example) {
    // RFC 8037 appendix A.4: header {"alg":"EdDSA"}, payload "Example of Ed25519 signing".
    const auto key =
        VerificationKey::fromEd25519("rfc8037", unb64("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
    ASSERT_TRUE(key);
    const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    std::string signature =
        unb64("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
    EXPECT_TRUE(key->verify(input, signature));
    signature[10] ^= 1;
    EXPECT_FALSE(key->verify(input, signature));
}

// --- algorithm confusion ---------------------------------------------------------------------------------

TEST_F(JwtTest, RefusesAlgNoneWithAndWithoutASignature) {
    const std::string payload = b64(json::serialize(claims()));
    const std::string none = b64(R"({"alg":"none","typ":"JWT","kid":"k1"})");
    EXPECT_EQ(errorOf(none + "." + payload + "."), VerifyError::kAlgorithmNone);
    EXPECT_EQ(errorOf(none + "." + payload), VerifyError::kMalformed);  // two segments are no JWS at all
    const std::string realSignature = sign(claims()).substr(sign(claims()).rfind('.'));
    EXPECT_EQ(errorOf(none + "." + payload + realSignature), VerifyError::kAlgorithmNone);
    for (const char* spelling : {"None", "NONE", "nOnE"}) {
        const std::string header = b64(std::string(R"({"alg":")") + spelling + R"(","kid":"k1"})");
        EXPECT_EQ(errorOf(header + "." + payload + "."), VerifyError::kAlgorithmNone) << spelling;
    }
}

TEST_F(JwtTest, RefusesHs256SignedWithThePublicKeyAsTheSecret) {
    // The classic confusion: a verifier that lets the token pick HMAC uses the public key as the secret.
    unsigned char raw[32];
    std::size_t rawSize = sizeof raw;
    ASSERT_EQ(EVP_PKEY_get_raw_public_key(edKey_.get(), raw, &rawSize), 1);
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PUBKEY(bio, edKey_.get()), 1);
    char* pemData = nullptr;
    const long pemSize = BIO_get_mem_data(bio, &pemData);
    const std::string pem(pemData, static_cast<std::size_t>(pemSize));
    BIO_free(bio);

    const std::string input =
        b64(R"({"alg":"HS256","typ":"JWT","kid":"k1"})") + "." + b64(json::serialize(claims()));
    for (const std::string& secret : {std::string(reinterpret_cast<char*>(raw), rawSize), pem}) {
        unsigned char mac[32];
        unsigned int macSize = 0;
        HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &macSize);
        const std::string token = input + "." + b64(std::string(reinterpret_cast<char*>(mac), macSize));
        EXPECT_EQ(errorOf(token), VerifyError::kAlgorithmUnsupported);
    }
}

TEST_F(JwtTest, RefusesUnknownAndSymmetricAlgorithms) {
    for (const char* alg : {"HS256", "HS384", "HS512", "RS384", "PS256", "ES512", "eddsa", "Ed25519", ""}) {
        const std::string token =
            signRaw(std::string(R"({"alg":")") + alg + R"(","kid":"k1"})", json::serialize(claims()));
        EXPECT_EQ(errorOf(token), VerifyError::kAlgorithmUnsupported) << alg;
    }
}

TEST_F(JwtTest, RefusesAnAlgorithmOtherThanTheKeys) {
    // Signed by the right key, but the header claims another algorithm: the key decides, not the token.
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"RS256","kid":"k1"})", json::serialize(claims()))),
              VerifyError::kAlgorithmMismatch);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"ES256","kid":"k1"})", json::serialize(claims()))),
              VerifyError::kAlgorithmMismatch);
}

TEST_F(JwtTest, RefusesAMissingOrNonStringAlg) {
    EXPECT_EQ(errorOf(signRaw(R"({"kid":"k1"})", json::serialize(claims()))), VerifyError::kAlgorithmMissing);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":null,"kid":"k1"})", json::serialize(claims()))),
              VerifyError::kMalformed);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":["EdDSA"],"kid":"k1"})", json::serialize(claims()))),
              VerifyError::kMalformed);
}

TEST_F(JwtTest, RefusesHeadersThatBringTheirOwnKeyOrRules) {
    // Even with a signature from the trusted key: a token has no say in which key or rules apply.
    const EvpKeyPtr attacker = fixtures::generateEd25519();
    unsigned char raw[32];
    std::size_t rawSize = sizeof raw;
    ASSERT_EQ(EVP_PKEY_get_raw_public_key(attacker.get(), raw, &rawSize), 1);
    const std::string jwk = R"({"kty":"OKP","crv":"Ed25519","x":")" +
                            b64(std::string(reinterpret_cast<char*>(raw), 32)) + R"("})";
    const std::string payload = json::serialize(claims());
    EXPECT_EQ(errorOf(*signCompact(R"({"alg":"EdDSA","kid":"k1","jwk":)" + jwk + "}", payload,
                                   Algorithm::kEdDSA, attacker.get())),
              VerifyError::kForbiddenHeader);
    for (const char* extra :
         {R"("jwk":)", R"("jku":"https://evil.example/jwks")", R"("x5u":"https://evil.example/cert")",
          R"("x5c":["MIIB"])", R"("crit":["exp"])"}) {
        std::string header = R"({"alg":"EdDSA","kid":"k1",)" + std::string(extra);
        if (std::string_view(extra) == R"("jwk":)") header += jwk;
        header += "}";
        EXPECT_EQ(errorOf(signRaw(header, payload)), VerifyError::kForbiddenHeader) << extra;
    }
    // A thumbprint is only a hint and is allowed (Azure AD sends one).
    EXPECT_TRUE(verify(signRaw(R"({"alg":"EdDSA","kid":"k1","x5t":"abc"})", payload)).ok);
}

// --- key choice ------------------------------------------------------------------------------------------

TEST_F(JwtTest, RefusesAnUnknownOrMissingKid) {
    const std::string payload = json::serialize(claims());
    EXPECT_EQ(errorOf(*signJwt(claims(), "k2", Algorithm::kEdDSA, edKey_.get())), VerifyError::kKidUnknown);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA"})", payload)), VerifyError::kKidMissing);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":""})", payload)), VerifyError::kKidMissing);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":1})", payload)), VerifyError::kKidMissing);
}

TEST_F(JwtTest, RefusesAKeyThatHasRetired) {
    KeySet keys;
    VerificationKey key = fixtures::mustKey("k1", Algorithm::kEdDSA, edKey_.get());
    key.setExpires(time_.now);
    keys.add(std::move(key));
    EXPECT_EQ(verifyJwt(sign(claims()), keys, options_, time_.now).error, VerifyError::kKeyExpired);
    EXPECT_TRUE(verifyJwt(sign(claims()), keys, options_, time_.now - 1s).ok);
}

// --- tampering -------------------------------------------------------------------------------------------

TEST_F(JwtTest, RefusesAFlippedSignatureBit) {
    const std::string token = sign(claims());
    const std::string signature = unb64(token.substr(token.rfind('.') + 1));
    for (std::size_t i = 0; i < signature.size(); i += 7) {
        std::string flipped = signature;
        flipped[i] ^= 0x01;
        EXPECT_EQ(errorOf(withSegment(token, 2, b64(flipped))), VerifyError::kBadSignature) << i;
    }
    EXPECT_EQ(errorOf(withSegment(token, 2, b64(signature.substr(0, 63)))), VerifyError::kBadSignature);
    EXPECT_EQ(errorOf(withSegment(token, 2, b64(signature + "x"))), VerifyError::kBadSignature);
}

TEST_F(JwtTest, RefusesAPayloadChangedAfterSigning) {
    const std::string token = sign(claims());
    json::object elevated = claims();
    elevated["sub"] = "admin";
    EXPECT_EQ(errorOf(withSegment(token, 1, b64(json::serialize(elevated)))), VerifyError::kBadSignature);
    json::object longer = claims();
    longer["exp"] = time_.seconds() + 86400 * 365;
    EXPECT_EQ(errorOf(withSegment(token, 1, b64(json::serialize(longer)))), VerifyError::kBadSignature);
}

TEST_F(JwtTest, RefusesASignatureFromAnotherKeyWithTheSameKid) {
    const EvpKeyPtr attacker = fixtures::generateEd25519();
    EXPECT_EQ(errorOf(*signJwt(claims(), "k1", Algorithm::kEdDSA, attacker.get())),
              VerifyError::kBadSignature);
}

// --- claims ----------------------------------------------------------------------------------------------

TEST_F(JwtTest, RequiresExp) {
    json::object c = claims();
    c.erase("exp");
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kExpirationMissing);
}

TEST_F(JwtTest, RefusesExpiredTokensBeyondTheLeeway) {
    json::object c = claims();
    c["exp"] = time_.seconds() - 10;  // inside the 30 s leeway
    EXPECT_TRUE(verify(sign(c)).ok);
    c["exp"] = time_.seconds() - 29;
    EXPECT_TRUE(verify(sign(c)).ok);
    c["exp"] = time_.seconds() - 30;
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kExpired);
    c["exp"] = time_.seconds() - 3600;
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kExpired);

    options_.leeway = 0s;
    c["exp"] = time_.seconds();
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kExpired);
    c["exp"] = time_.seconds() + 1;
    EXPECT_TRUE(verify(sign(c)).ok);
}

TEST_F(JwtTest, RefusesNbfInTheFutureBeyondTheLeeway) {
    json::object c = claims();
    c["nbf"] = time_.seconds() + 20;
    EXPECT_TRUE(verify(sign(c)).ok);
    c["nbf"] = time_.seconds() + 31;
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kNotYetValid);
}

TEST_F(JwtTest, RefusesIatFarInTheFuture) {
    json::object c = claims();
    c["iat"] = time_.seconds() + 20;
    EXPECT_TRUE(verify(sign(c)).ok);
    c["iat"] = time_.seconds() + 3600;
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kIssuedInFuture);
}

TEST_F(JwtTest, RefusesTheWrongIssuer) {
    json::object c = claims();
    c["iss"] = "https://evil.example";
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongIssuer);
    c.erase("iss");
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongIssuer);
    options_.issuer.clear();  // a misconfigured verifier accepts nothing rather than everything
    EXPECT_EQ(errorOf(sign(claims())), VerifyError::kWrongIssuer);
}

TEST_F(JwtTest, ChecksTheAudienceAsStringOrArray) {
    json::object c = claims();
    c["aud"] = "another-api";
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongAudience);
    c["aud"] = json::array{"another-api", "rampart-api"};
    const VerifyResult result = verify(sign(c));
    ASSERT_TRUE(result.ok);
    EXPECT_EQ(result.claims->audience.size(), 2u);
    c["aud"] = json::array{"another-api", "rampart-apis"};
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongAudience);
    c["aud"] = json::array{};
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongAudience);
    c.erase("aud");
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kWrongAudience);
    c["aud"] = json::array{"rampart-api", 7};
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kInvalidClaim);
}

TEST_F(JwtTest, AnAccessVerifierRefusesARefreshTokenAndViceVersa) {
    json::object refresh = claims();
    refresh["token_use"] = "refresh";
    EXPECT_EQ(errorOf(sign(refresh)), VerifyError::kWrongTokenUse);
    json::object none = claims();
    none.erase("token_use");
    EXPECT_EQ(errorOf(sign(none)), VerifyError::kWrongTokenUse);

    options_.tokenUse = "refresh";
    EXPECT_TRUE(verify(sign(refresh)).ok);
    EXPECT_EQ(errorOf(sign(claims())), VerifyError::kWrongTokenUse);

    options_.tokenUse.reset();  // an external provider's tokens carry no token_use
    EXPECT_TRUE(verify(sign(none)).ok);
}

TEST_F(JwtTest, ChecksTheHeaderTypeWhenAsked) {
    options_.type = "at+jwt";
    EXPECT_EQ(errorOf(sign(claims())), VerifyError::kWrongType);  // ours say "JWT"
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":"k1"})", json::serialize(claims()))),
              VerifyError::kWrongType);
    EXPECT_TRUE(
        verify(signRaw(R"({"alg":"EdDSA","kid":"k1","typ":"AT+JWT"})", json::serialize(claims()))).ok);
}

TEST_F(JwtTest, RefusesRegisteredClaimsOfTheWrongType) {
    const auto withClaim = [&](std::string_view name, json::value value) {
        json::object c = claims();
        c[name] = std::move(value);
        return errorOf(sign(c));
    };
    EXPECT_EQ(withClaim("exp", json::string(std::to_string(time_.seconds() + 600))),
              VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", -1), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", 1e300), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", std::uint64_t{18'000'000'000'000'000'000u}), VerifyError::kInvalidClaim);
    // Dates beyond what system_clock's nanoseconds hold (April 2262) are refused rather than overflowing
    // when compared with the clock (fuzz/regressions/jwt_fuzz/exp-beyond-system-clock); 2200 is the limit.
    EXPECT_EQ(withClaim("exp", 17672292009.0), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", std::int64_t{10'000'000'000}), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", std::int64_t{253402300799}), VerifyError::kInvalidClaim);  // 9999-12-31
    EXPECT_EQ(withClaim("nbf", std::int64_t{10'000'000'000}), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("iat", std::int64_t{10'000'000'000}), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("exp", std::int64_t{7258118400}), VerifyError::kNone);  // 2200-01-01
    EXPECT_EQ(withClaim("nbf", true), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("iat", nullptr), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("sub", 42), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("sub", ""), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("iss", json::array{"https://rampart.test"}), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("scope", 3), VerifyError::kInvalidClaim);
    EXPECT_EQ(withClaim("token_use", 1), VerifyError::kInvalidClaim);
    json::object c = claims();
    c.erase("sub");
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kInvalidClaim);
    // A fractional NumericDate is legal.
    EXPECT_TRUE(verify(sign([&] {
                    json::object f = claims();
                    f["exp"] = static_cast<double>(time_.seconds()) + 600.5;
                    return f;
                }()))
                    .ok);
}

// --- encoding and structure ------------------------------------------------------------------------------

TEST_F(JwtTest, RefusesMalformedBase64Url) {
    const std::string token = sign(claims());
    const std::size_t first = token.find('.');
    const std::size_t second = token.find('.', first + 1);
    const std::string header = token.substr(0, first);
    const std::string payload = token.substr(first + 1, second - first - 1);
    const std::string signature = token.substr(second + 1);
    for (int segment = 0; segment < 3; ++segment) {
        const std::string& part = segment == 0 ? header : segment == 1 ? payload : signature;
        EXPECT_EQ(errorOf(withSegment(token, segment, part + "=")), VerifyError::kMalformed) << segment;
        EXPECT_EQ(errorOf(withSegment(token, segment, part + "==")), VerifyError::kMalformed) << segment;
        EXPECT_EQ(errorOf(withSegment(token, segment, "+" + part.substr(1))), VerifyError::kMalformed)
            << segment;
        EXPECT_EQ(errorOf(withSegment(token, segment, "/" + part.substr(1))), VerifyError::kMalformed)
            << segment;
        EXPECT_EQ(errorOf(withSegment(token, segment, part + " ")), VerifyError::kMalformed) << segment;
    }
    // Truncation: one character less leaves either an impossible length or a changed payload.
    EXPECT_EQ(errorOf(withSegment(token, 0, header.substr(0, header.size() - 1))), VerifyError::kMalformed);
    EXPECT_NE(errorOf(withSegment(token, 1, payload.substr(0, payload.size() - 1))), VerifyError::kNone);
    EXPECT_NE(errorOf(withSegment(token, 2, signature.substr(0, signature.size() - 1))), VerifyError::kNone);
    // The 64-byte signature is 86 characters; its last one carries 4 unused bits that must be zero.
    constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string nonCanonical = signature;
    nonCanonical.back() = kAlphabet[kAlphabet.find(nonCanonical.back()) | 1];
    EXPECT_EQ(errorOf(withSegment(token, 2, nonCanonical)), VerifyError::kMalformed);
}

TEST_F(JwtTest, RefusesJsonThatIsNotAnObject) {
    const std::string payload = json::serialize(claims());
    for (const char* header :
         {"[]", "null", "\"EdDSA\"", "42", "{", "", "{\"alg\":\"EdDSA\",\"kid\":\"k1\"} x"}) {
        EXPECT_EQ(errorOf(signRaw(header, payload)), VerifyError::kMalformed) << header;
    }
    for (const char* body : {"[1,2]", "\"user-1\"", "null", "true", "{\"sub\":", "not json"}) {
        EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":"k1"})", body)), VerifyError::kMalformed) << body;
    }
}

TEST_F(JwtTest, RefusesDuplicateKeys) {
    // Boost.JSON would keep the last "sub"; another reader might keep the first.
    const std::string duplicateSub =
        R"({"iss":"https://rampart.test","sub":"user-1","sub":"admin","aud":"rampart-api",)"
        R"("exp":)" +
        std::to_string(time_.seconds() + 600) + R"(,"token_use":"access"})";
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":"k1"})", duplicateSub)), VerifyError::kMalformed);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":"k1","kid":"k1"})", json::serialize(claims()))),
              VerifyError::kMalformed);
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"none","alg":"EdDSA","kid":"k1"})", json::serialize(claims()))),
              VerifyError::kMalformed);
    json::object nested = claims();
    const std::string nestedText =
        json::serialize(nested).insert(1, R"("ctx":{"role":"user","role":"admin"},)");
    EXPECT_EQ(errorOf(signRaw(R"({"alg":"EdDSA","kid":"k1"})", nestedText)), VerifyError::kMalformed);
    // The same key in sibling objects is no duplicate.
    const std::string siblings = json::serialize(nested).insert(1, R"("a":{"x":1},"b":{"x":2},)");
    EXPECT_TRUE(verify(signRaw(R"({"alg":"EdDSA","kid":"k1"})", siblings)).ok);
}

TEST_F(JwtTest, RefusesAnOversizedToken) {
    json::object c = claims();
    c["padding"] = std::string(kMaxTokenSize, 'x');
    EXPECT_EQ(errorOf(sign(c)), VerifyError::kMalformed);
    c["padding"] = std::string(4000, 'x');  // large but within the limit
    EXPECT_TRUE(verify(sign(c)).ok);
    EXPECT_EQ(errorOf(std::string(1 << 20, 'a')), VerifyError::kMalformed);
}

TEST_F(JwtTest, RefusesWrongSegmentCounts) {
    const std::string token = sign(claims());
    const std::size_t first = token.find('.');
    const std::size_t second = token.find('.', first + 1);
    const std::string header = token.substr(0, first);
    const std::string payload = token.substr(first + 1, second - first - 1);
    const std::string signature = token.substr(second + 1);
    for (const std::string& bad :
         {std::string(), std::string("."), std::string(".."), std::string("..."),
          "." + payload + "." + signature, header + ".." + signature, header + "." + payload + ".",
          header + "." + payload, token + "." + signature, token + ".", "." + token, header}) {
        EXPECT_EQ(errorOf(bad), VerifyError::kMalformed) << bad;
    }
}

// --- other algorithms ------------------------------------------------------------------------------------

TEST(JwtAlgorithms, Es256AndRs256RoundTripAndRefuseOtherFormats) {
    const EvpKeyPtr ec = fixtures::generateP256();
    KeySet keys;
    keys.add(fixtures::mustKey("ec", Algorithm::kES256, ec.get()));
    keys.add(fixtures::mustKey("rsa", Algorithm::kRS256, fixtures::sharedRsa2048()));
    VerifyOptions options{.issuer = "iss", .audience = "aud", .tokenUse = {}, .type = {}, .leeway = 30s};
    const auto now = std::chrono::system_clock::now();
    const json::object claims{
        {"iss", "iss"},
        {"sub", "s"},
        {"aud", "aud"},
        {"exp", std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count() + 60}};

    const std::string es = *signJwt(claims, "ec", Algorithm::kES256, ec.get());
    EXPECT_EQ(unb64(es.substr(es.rfind('.') + 1)).size(), 64u);  // JOSE r||s, not DER
    EXPECT_TRUE(verifyJwt(es, keys, options, now).ok);
    const std::string rs = *signJwt(claims, "rsa", Algorithm::kRS256, fixtures::sharedRsa2048());
    EXPECT_TRUE(verifyJwt(rs, keys, options, now).ok);
    // Each token names the other's kid: the algorithm no longer matches the key.
    EXPECT_EQ(verifyJwt(*signJwt(claims, "rsa", Algorithm::kES256, ec.get()), keys, options, now).error,
              VerifyError::kAlgorithmMismatch);
    EXPECT_EQ(
        verifyJwt(*signJwt(claims, "ec", Algorithm::kRS256, fixtures::sharedRsa2048()), keys, options, now)
            .error,
        VerifyError::kAlgorithmMismatch);

    const std::string input = es.substr(0, es.rfind('.'));
    const VerificationKey& ecKey = *keys.find("ec");
    const std::string signature = unb64(es.substr(es.rfind('.') + 1));
    EXPECT_TRUE(ecKey.verify(input, signature));
    // r = 0, s = 0, and r = n (the group order) are outside [1, n-1].
    const std::string order = unb64("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
    ASSERT_EQ(order.size(), 32u);
    EXPECT_FALSE(ecKey.verify(input, std::string(32, '\0') + signature.substr(32)));
    EXPECT_FALSE(ecKey.verify(input, signature.substr(0, 32) + std::string(32, '\0')));
    EXPECT_FALSE(ecKey.verify(input, order + signature.substr(32)));
    EXPECT_FALSE(ecKey.verify(input, signature + std::string(1, '\0')));
    EXPECT_FALSE(ecKey.verify(input, signature.substr(0, 63)));
    // The DER form OpenSSL produces natively is not a JWS signature.
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned char der[80];
    std::size_t derSize = sizeof der;
    ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, ec.get()), 1);
    ASSERT_EQ(EVP_DigestSign(ctx, der, &derSize, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
              1);
    EVP_MD_CTX_free(ctx);
    EXPECT_FALSE(ecKey.verify(input, std::string(reinterpret_cast<char*>(der), derSize)));

    const VerificationKey& rsaKey = *keys.find("rsa");
    const std::string rsaSignature = unb64(rs.substr(rs.rfind('.') + 1));
    EXPECT_EQ(rsaSignature.size(), 256u);
    EXPECT_FALSE(rsaKey.verify(rs.substr(0, rs.rfind('.')), rsaSignature.substr(1)));
    EXPECT_FALSE(rsaKey.verify(rs.substr(0, rs.rfind('.')), std::string(1, '\0') + rsaSignature));
}

TEST(JwtAlgorithms, KeysMustFitTheirAlgorithm) {
    const EvpKeyPtr ed = fixtures::generateEd25519();
    const EvpKeyPtr ec = fixtures::generateP256();
    const EvpKeyPtr p384 = adoptEvpKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    std::string error;
    EXPECT_FALSE(VerificationKey::fromPublicKey("k", Algorithm::kRS256, ed.get(), &error));
    EXPECT_FALSE(VerificationKey::fromPublicKey("k", Algorithm::kES256, fixtures::sharedRsa2048(), &error));
    EXPECT_FALSE(VerificationKey::fromPublicKey("k", Algorithm::kEdDSA, ec.get(), &error));
    EXPECT_FALSE(VerificationKey::fromPublicKey("k", Algorithm::kES256, p384.get(), &error));
    EXPECT_FALSE(VerificationKey::fromPublicKey("k", Algorithm::kRS256, fixtures::sharedRsa1024(), &error));
    EXPECT_NE(error.find("2048"), std::string::npos);
    EXPECT_FALSE(VerificationKey::fromPublicKey("", Algorithm::kEdDSA, ed.get(), &error));
    EXPECT_FALSE(VerificationKey::fromEd25519("k", std::string(31, 'a')));
    // The identity point (a small-order key) verifies forged signatures in lax implementations.
    std::string identity(32, '\0');
    identity[0] = 1;
    EXPECT_FALSE(VerificationKey::fromEd25519("k", identity));
    // Signing refuses a key of the wrong kind too.
    EXPECT_FALSE(createSignature(Algorithm::kRS256, ed.get(), "x"));
    EXPECT_FALSE(createSignature(Algorithm::kES256, p384.get(), "x"));
    EXPECT_FALSE(createSignature(Algorithm::kRS256, fixtures::sharedRsa1024(), "x"));
}

TEST(JwtAlgorithms, VerificationKeysHoldOnlyThePublicHalf) {
    const EvpKeyPtr ed = fixtures::generateEd25519();
    const VerificationKey key = fixtures::mustKey("k", Algorithm::kEdDSA, ed.get());
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    EXPECT_NE(EVP_PKEY_get_raw_private_key(key.evpKey(), raw, &size), 1);
    EXPECT_FALSE(createSignature(Algorithm::kEdDSA, key.evpKey(), "x"));
    EXPECT_EQ(key.fingerprint(), fixtures::mustKey("other-kid", Algorithm::kEdDSA, ed.get()).fingerprint());
}

TEST(JwtAlgorithms, NamesRoundTrip) {
    for (Algorithm alg : {Algorithm::kEdDSA, Algorithm::kES256, Algorithm::kRS256}) {
        EXPECT_EQ(parseAlgorithm(algorithmName(alg)), alg);
    }
    EXPECT_FALSE(parseAlgorithm("HS256"));
    EXPECT_FALSE(parseAlgorithm("none"));
    EXPECT_EQ(verifyErrorName(VerifyError::kBadSignature), "bad_signature");
    EXPECT_EQ(verifyErrorName(VerifyError::kWrongTokenUse), "wrong_token_use");
}

// --- the verification cache ------------------------------------------------------------------------------

class VerificationCacheTest : public JwtTest {
  protected:
    std::shared_ptr<VerificationCache> cache_ = std::make_shared<VerificationCache>();
    JwtVerifier verifier() { return JwtVerifier(options_, time_.clock(), cache_); }
};

TEST_F(VerificationCacheTest, ServesARepeatedTokenWithTheSameClaims) {
    const std::string token = sign(claims());
    const JwtVerifier v = verifier();
    const VerifyResult first = v.verify(token, keys_);
    ASSERT_TRUE(first.ok);
    EXPECT_EQ(cache_->size(), 1u);
    const VerifyResult second = v.verify(token, keys_);
    ASSERT_TRUE(second.ok);
    EXPECT_EQ(second.claims->subject, first.claims->subject);
    EXPECT_EQ(second.claims->scopes, first.claims->scopes);
    EXPECT_EQ(second.claims->raw, first.claims->raw);
    EXPECT_EQ(cache_->size(), 1u);
}

TEST_F(VerificationCacheTest, ACachedTokenStillExpires) {
    const std::string token = sign(claims());  // exp = now + 600
    const JwtVerifier v = verifier();
    ASSERT_TRUE(v.verify(token, keys_).ok);
    time_.now += 600s;  // at exp: the entry is gone, the leeway still holds
    EXPECT_TRUE(v.verify(token, keys_).ok);
    time_.now += 30s;
    EXPECT_EQ(v.verify(token, keys_).error, VerifyError::kExpired);
    EXPECT_EQ(cache_->size(), 0u);
}

TEST_F(VerificationCacheTest, ALookupRechecksExpAgainstTheClock) {
    // Entry.claims->expires is the truth even if the entry were found: find() itself refuses to serve it.
    const std::string token = sign(claims());
    ASSERT_TRUE(verifier().verify(token, keys_).ok);
    EXPECT_TRUE(cache_->find(token, time_.now + 599s));
    EXPECT_FALSE(cache_->find(token, time_.now + 600s));
}

TEST_F(VerificationCacheTest, ADifferentTokenIsNotServedFromTheCache) {
    const std::string token = sign(claims());
    const JwtVerifier v = verifier();
    ASSERT_TRUE(v.verify(token, keys_).ok);
    json::object elevated = claims();
    elevated["sub"] = "admin";
    EXPECT_EQ(v.verify(withSegment(token, 1, b64(json::serialize(elevated))), keys_).error,
              VerifyError::kBadSignature);
    std::string flipped = token;
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
    EXPECT_NE(v.verify(flipped, keys_).error, VerifyError::kNone);
    EXPECT_EQ(v.verify(token + "x", keys_).error, VerifyError::kMalformed);
}

TEST_F(VerificationCacheTest, AHitIsCheckedAgainstTheAskingVerifiersPolicy) {
    json::object refreshClaims = claims();
    refreshClaims["token_use"] = "refresh";
    const std::string refresh = sign(refreshClaims);
    VerifyOptions refreshOptions = options_;
    refreshOptions.tokenUse = "refresh";
    const JwtVerifier refreshVerifier(refreshOptions, time_.clock(), cache_);
    ASSERT_TRUE(refreshVerifier.verify(refresh, keys_).ok);
    EXPECT_EQ(cache_->size(), 1u);
    EXPECT_EQ(verifier().verify(refresh, keys_).error, VerifyError::kWrongTokenUse);
    VerifyOptions otherAudience = refreshOptions;
    otherAudience.audience = "other-api";
    EXPECT_EQ(JwtVerifier(otherAudience, time_.clock(), cache_).verify(refresh, keys_).error,
              VerifyError::kWrongAudience);
}

TEST_F(VerificationCacheTest, AHitNeedsTheSameKeyStillInTheSet) {
    const std::string token = sign(claims());
    const JwtVerifier v = verifier();
    ASSERT_TRUE(v.verify(token, keys_).ok);
    EXPECT_EQ(v.verify(token, KeySet()).error, VerifyError::kKidUnknown);
    KeySet replaced;  // the kid now names another key (a provider reused it)
    replaced.add(fixtures::mustKey("k1", Algorithm::kEdDSA, fixtures::generateEd25519().get()));
    EXPECT_EQ(v.verify(token, replaced).error, VerifyError::kBadSignature);
    KeySet retired;
    VerificationKey key = fixtures::mustKey("k1", Algorithm::kEdDSA, edKey_.get());
    key.setExpires(time_.now);
    retired.add(std::move(key));
    EXPECT_EQ(v.verify(token, retired).error, VerifyError::kKeyExpired);
    EXPECT_TRUE(v.verify(token, keys_).ok);
}

TEST_F(VerificationCacheTest, FailuresAreNotCached) {
    json::object c = claims();
    c["iss"] = "https://evil.example";
    EXPECT_FALSE(verifier().verify(sign(c), keys_).ok);
    EXPECT_FALSE(verifier().verify("garbage", keys_).ok);
    EXPECT_EQ(cache_->size(), 0u);
}

TEST_F(VerificationCacheTest, StaysWithinItsCapacity) {
    cache_ = std::make_shared<VerificationCache>(32);
    const JwtVerifier v = verifier();
    for (int i = 0; i < 200; ++i) {
        json::object c = claims();
        c["jti"] = "token-" + std::to_string(i);
        ASSERT_TRUE(v.verify(sign(c), keys_).ok);
        ASSERT_LE(cache_->size(), 32u);
    }
    EXPECT_GT(cache_->size(), 0u);
    const auto disabled = std::make_shared<VerificationCache>(0);
    EXPECT_TRUE(JwtVerifier(options_, time_.clock(), disabled).verify(sign(claims()), keys_).ok);
    EXPECT_EQ(disabled->size(), 0u);
}

TEST_F(VerificationCacheTest, IsSafeAcrossThreads) {
    std::vector<std::string> tokens;
    for (int i = 0; i < 64; ++i) {
        json::object c = claims();
        c["jti"] = "token-" + std::to_string(i);
        tokens.push_back(sign(c));
    }
    cache_ = std::make_shared<VerificationCache>(48);  // small, so eviction races with lookups
    const JwtVerifier v = verifier();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 20; ++round) {
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    if (!v.verify(tokens[(i * (t + 1)) % tokens.size()], keys_).ok) ++failures;
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
}

// Prints what a hit saves; no timed assertion (shared machines make those flaky).
TEST_F(VerificationCacheTest, PrintsTheCostOfAVerificationAndOfAHit) {
    const std::string token = sign(claims());
    constexpr int kRounds = 2000;
    const JwtVerifier uncached(options_, time_.clock());
    const JwtVerifier cached = verifier();
    ASSERT_TRUE(cached.verify(token, keys_).ok);
    const auto measure = [&](const JwtVerifier& v) {
        const auto start = std::chrono::steady_clock::now();
        int ok = 0;
        for (int i = 0; i < kRounds; ++i) ok += v.verify(token, keys_).ok ? 1 : 0;
        EXPECT_EQ(ok, kRounds);
        return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
               kRounds;
    };
    const double full = measure(uncached);
    const double hit = measure(cached);
    std::printf("[ timing   ] Ed25519 verification %.2f us, cache hit %.2f us (token %zu bytes)\n", full, hit,
                token.size());
    RecordProperty("ed25519_verify_us", std::to_string(full));
    RecordProperty("cache_hit_us", std::to_string(hit));
}

}  // namespace
}  // namespace rampart::identity
