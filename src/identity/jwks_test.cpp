// JWKS parsing: RSA, EC and OKP keys verify tokens signed here; private members, mismatches, weak keys
// refused.
#include "identity/jwks.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "identity/jwt_test_support.hpp"

namespace rampart::identity {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using fixtures::b64;
using fixtures::unb64;

// JWK members read straight from OpenSSL here, independently of toJwk().
std::string bnParam(EVP_PKEY* key, const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return b64(out);
}

json::object rsaJwk(EVP_PKEY* key, std::string kid) {
    return json::object{{"kty", "RSA"},
                        {"kid", kid},
                        {"use", "sig"},
                        {"n", bnParam(key, OSSL_PKEY_PARAM_RSA_N)},
                        {"e", bnParam(key, OSSL_PKEY_PARAM_RSA_E)}};
}

json::object ecJwk(EVP_PKEY* key, std::string kid) {
    unsigned char point[65];
    std::size_t size = 0;
    EXPECT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &size), 1);
    EXPECT_EQ(size, 65u);
    const std::string raw(reinterpret_cast<char*>(point), size);
    return json::object{{"kty", "EC"},
                        {"crv", "P-256"},
                        {"kid", kid},
                        {"x", b64(raw.substr(1, 32))},
                        {"y", b64(raw.substr(33, 32))}};
}

json::object okpJwk(EVP_PKEY* key, std::string kid) {
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(key, raw, &size), 1);
    return json::object{{"kty", "OKP"},
                        {"crv", "Ed25519"},
                        {"kid", kid},
                        {"x", b64(std::string(reinterpret_cast<char*>(raw), 32))}};
}

std::string document(std::initializer_list<json::value> keys) {
    json::array list;
    for (const json::value& key : keys) list.push_back(key);
    return json::serialize(json::object{{"keys", std::move(list)}});
}

class JwksTest : public ::testing::Test {
  protected:
    json::object claims() const {
        return json::object{{"iss", "https://idp.example"},
                            {"sub", "alice"},
                            {"aud", "rampart-api"},
                            {"exp", time_.seconds() + 300}};
    }
    VerifyResult verify(const std::string& token, const KeySet& keys) const {
        VerifyOptions options;
        options.issuer = "https://idp.example";
        options.audience = "rampart-api";
        return verifyJwt(token, keys, options, time_.now);
    }

    EvpKeyPtr ec_ = fixtures::generateP256();
    EvpKeyPtr ed_ = fixtures::generateEd25519();
    fixtures::ManualClock time_;
};

TEST_F(JwksTest, ReadsRsaEcAndOkpKeysThatVerifyTokensSignedHere) {
    const JwksResult result = parseJwks(document(
        {rsaJwk(fixtures::sharedRsa2048(), "rsa-1"), ecJwk(ec_.get(), "ec-1"), okpJwk(ed_.get(), "ed-1")}));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_TRUE(result.skipped.empty());
    ASSERT_EQ(result.keys.size(), 3u);
    EXPECT_EQ(result.keys.find("rsa-1")->algorithm(), Algorithm::kRS256);  // from kty, no alg given
    EXPECT_EQ(result.keys.find("ec-1")->algorithm(), Algorithm::kES256);
    EXPECT_EQ(result.keys.find("ed-1")->algorithm(), Algorithm::kEdDSA);

    const std::string rs = *signJwt(claims(), "rsa-1", Algorithm::kRS256, fixtures::sharedRsa2048());
    const std::string es = *signJwt(claims(), "ec-1", Algorithm::kES256, ec_.get());
    const std::string ed = *signJwt(claims(), "ed-1", Algorithm::kEdDSA, ed_.get());
    EXPECT_TRUE(verify(rs, result.keys).ok);
    EXPECT_TRUE(verify(es, result.keys).ok);
    EXPECT_TRUE(verify(ed, result.keys).ok);
    // The algorithm is bound to each key: an RS256 token naming the EC key's kid is refused.
    EXPECT_EQ(
        verify(*signJwt(claims(), "ec-1", Algorithm::kRS256, fixtures::sharedRsa2048()), result.keys).error,
        VerifyError::kAlgorithmMismatch);
    EXPECT_EQ(
        verify(*signJwt(claims(), "ed-1", Algorithm::kEdDSA, fixtures::generateEd25519().get()), result.keys)
            .error,
        VerifyError::kBadSignature);
}

TEST_F(JwksTest, VerifiesTheRfc7515Es256Example) {
    // RFC 7515 appendix A.3: the specification's own ES256 key and JWS (no kid, so checked key-first).
    const JwksResult result =
        parseJwks(document({json::object{{"kty", "EC"},
                                         {"crv", "P-256"},
                                         {"kid", "rfc7515-a3"},
                                         {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                                         {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}}));
    ASSERT_TRUE(result.ok) << result.error;
    const VerificationKey& key = *result.keys.find("rfc7515-a3");
    const std::string input =
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    std::string signature =
        unb64("DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
    EXPECT_TRUE(key.verify(input, signature));
    signature.back() ^= 1;
    EXPECT_FALSE(key.verify(input, signature));
}

TEST_F(JwksTest, AcceptsAConsistentAlgAndTakesIt) {
    json::object rsa = rsaJwk(fixtures::sharedRsa2048(), "rsa-1");
    rsa["alg"] = "RS256";
    json::object ec = ecJwk(ec_.get(), "ec-1");
    ec["alg"] = "ES256";
    json::object ed = okpJwk(ed_.get(), "ed-1");
    ed["alg"] = "EdDSA";
    ed["key_ops"] = json::array{"verify"};
    const JwksResult result = parseJwks(document({rsa, ec, ed}));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.keys.size(), 3u);
}

TEST_F(JwksTest, RefusesAnAlgThatDoesNotFitTheKey) {
    const auto refused = [](json::object jwk, const char* alg) {
        jwk["alg"] = alg;
        const JwksResult result = parseJwks(document({jwk}));
        EXPECT_FALSE(result.ok) << alg;
        EXPECT_TRUE(result.keys.empty());
        return result.error;
    };
    EXPECT_NE(refused(okpJwk(ed_.get(), "ed-1"), "RS256").find("does not fit"), std::string::npos);
    refused(okpJwk(ed_.get(), "ed-1"), "ES256");
    refused(rsaJwk(fixtures::sharedRsa2048(), "rsa-1"), "ES256");
    refused(rsaJwk(fixtures::sharedRsa2048(), "rsa-1"), "EdDSA");
    refused(ecJwk(ec_.get(), "ec-1"), "RS256");
    refused(rsaJwk(fixtures::sharedRsa2048(), "rsa-1"), "HS256");
    refused(ecJwk(ec_.get(), "ec-1"), "none");
    // ES256 needs P-256 even if the curve is otherwise one we might read.
    json::object p384 = ecJwk(ec_.get(), "ec-1");
    p384["crv"] = "P-384";
    refused(p384, "ES256");
    // A mismatch anywhere refuses the whole document, good keys included.
    json::object bad = okpJwk(ed_.get(), "ed-1");
    bad["alg"] = "RS256";
    EXPECT_FALSE(parseJwks(document({rsaJwk(fixtures::sharedRsa2048(), "rsa-1"), bad})).ok);
}

TEST_F(JwksTest, RefusesPublishedPrivateKeyMaterial) {
    for (const char* member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
        json::object leaked = rsaJwk(fixtures::sharedRsa2048(), "rsa-1");
        leaked[member] = "AQAB";
        const JwksResult result = parseJwks(document({okpJwk(ed_.get(), "ed-1"), leaked}));
        EXPECT_FALSE(result.ok) << member;
        EXPECT_NE(result.error.find("private"), std::string::npos) << result.error;
        EXPECT_TRUE(result.keys.empty());
    }
    json::object okpWithD = okpJwk(ed_.get(), "ed-1");
    okpWithD["d"] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    EXPECT_FALSE(parseJwks(document({okpWithD})).ok);
    // A symmetric key is a published secret too, even with use "enc" or no kid.
    EXPECT_FALSE(
        parseJwks(document({okpJwk(ed_.get(), "ed-1"), json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}}})).ok);
}

TEST_F(JwksTest, SkipsSmallRsaKeys) {
    const JwksResult result =
        parseJwks(document({rsaJwk(fixtures::sharedRsa1024(), "rsa-small"), okpJwk(ed_.get(), "ed-1")}));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_FALSE(result.keys.find("rsa-small"));
    ASSERT_EQ(result.skipped.size(), 1u);
    EXPECT_NE(result.skipped[0].find("2048"), std::string::npos) << result.skipped[0];
    // Alone, it leaves nothing usable: the document is refused (a refresh keeps the previous keys).
    EXPECT_FALSE(parseJwks(document({rsaJwk(fixtures::sharedRsa1024(), "rsa-small")})).ok);
}

TEST_F(JwksTest, SkipsKeysWeCannotOrMustNotUse) {
    json::object encryption = rsaJwk(fixtures::sharedRsa2048(), "rsa-enc");
    encryption["use"] = "enc";
    json::object noKid = okpJwk(ed_.get(), "x");
    noKid.erase("kid");
    json::object emptyKid = okpJwk(ed_.get(), "");
    json::object signOnly = ecJwk(ec_.get(), "ec-sign-only");
    signOnly["key_ops"] = json::array{"sign"};
    json::object rs512 = rsaJwk(fixtures::sharedRsa2048(), "rsa-512");
    rs512["alg"] = "RS512";
    json::object x25519 = okpJwk(ed_.get(), "x25519");
    x25519["crv"] = "X25519";
    json::object p384 = ecJwk(ec_.get(), "p384");
    p384["crv"] = "P-384";
    json::object offCurve = ecJwk(ec_.get(), "off-curve");
    std::string y = unb64(offCurve["y"].as_string());
    y[31] ^= 1;
    offCurve["y"] = b64(y);
    json::object shortX = ecJwk(ec_.get(), "short-x");
    shortX["x"] = b64(unb64(shortX["x"].as_string()).substr(1));
    std::string identity(32, '\0');
    identity[0] = 1;
    json::object smallOrder{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "small-order"}, {"x", b64(identity)}};
    json::object padded = okpJwk(ed_.get(), "padded");
    padded["x"] = std::string(padded["x"].as_string()) + "=";
    const json::object future{{"kty", "ML-DSA"}, {"kid", "pq"}, {"pub", "AAAA"}};

    const JwksResult result =
        parseJwks(document({encryption, noKid, emptyKid, signOnly, rs512, x25519, p384, offCurve, shortX,
                            smallOrder, padded, future, okpJwk(ed_.get(), "good")}));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.keys.size(), 1u);
    EXPECT_TRUE(result.keys.find("good"));
    EXPECT_EQ(result.skipped.size(), 12u);
    for (const std::string& line : result.skipped) EXPECT_FALSE(line.empty());
}

TEST_F(JwksTest, RefusesMalformedDocuments) {
    const std::string good = json::serialize(okpJwk(ed_.get(), "ed-1"));
    for (const std::string& bad :
         {std::string("not json"), std::string("[]"), std::string("{}"), std::string(R"({"keys":{}})"),
          std::string(R"({"keys":[1]})"), "{\"keys\":[" + good + "],\"keys\":[]}",
          "{\"keys\":[" + good + "," + good + "]}",  // the same kid twice
          std::string(R"({"keys":[{"kid":"a","x":"AAAA"}]})"), std::string(R"({"keys":[]})"),
          std::string(kMaxJwksSize + 1, ' ')}) {
        const JwksResult result = parseJwks(bad);
        EXPECT_FALSE(result.ok) << bad.substr(0, 80);
        EXPECT_FALSE(result.error.empty());
    }
    json::array many;
    for (std::size_t i = 0; i <= kMaxJwksKeys; ++i) many.push_back(okpJwk(ed_.get(), fmt::format("k{}", i)));
    EXPECT_FALSE(parseJwks(json::serialize(json::object{{"keys", many}})).ok);
}

TEST_F(JwksTest, WritesKeysBackAsAJwksThatReadsTheSame) {
    KeySet keys;
    keys.add(fixtures::mustKey("rsa-1", Algorithm::kRS256, fixtures::sharedRsa2048()));
    keys.add(fixtures::mustKey("ec-1", Algorithm::kES256, ec_.get()));
    keys.add(fixtures::mustKey("ed-1", Algorithm::kEdDSA, ed_.get()));
    const json::object jwks = toJwks(keys);
    EXPECT_EQ(jwks.at("keys").as_array().size(), 3u);
    EXPECT_EQ(toJwk(*keys.find("ec-1")), [&] {
        json::object expected = ecJwk(ec_.get(), "ec-1");
        expected["alg"] = "ES256";
        expected["use"] = "sig";
        return expected;
    }());
    const JwksResult parsed = parseJwks(json::serialize(jwks));
    ASSERT_TRUE(parsed.ok) << parsed.error;
    for (const auto& [kid, key] : keys.keys()) {
        const VerificationKey* read = parsed.keys.find(kid);
        ASSERT_TRUE(read) << kid;
        EXPECT_EQ(read->fingerprint(), key.fingerprint()) << kid;
        EXPECT_EQ(read->algorithm(), key.algorithm()) << kid;
    }
    for (const auto& item : jwks.at("keys").as_array()) EXPECT_FALSE(item.as_object().contains("d"));
}

}  // namespace
}  // namespace rampart::identity
