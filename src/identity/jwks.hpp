// JWKS documents (RFC 7517) of external OIDC identity providers, read into a KeySet; and our own keys written
// out as one, for /.well-known/jwks.json.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "identity/jwt.hpp"

namespace rampart::identity {

inline constexpr std::size_t kMaxJwksSize = 256 * 1024;
inline constexpr std::size_t kMaxJwksKeys = 100;

struct JwksResult {
    bool ok = false;
    std::string error;                 // why the whole document was refused (when !ok)
    KeySet keys;                       // the usable signing keys (when ok)
    std::vector<std::string> skipped;  // one line per key left out and why, for a log line
};

// Reads RSA (RS256, 2048 bits and up), EC P-256 (ES256) and OKP Ed25519 (EdDSA) keys. The algorithm is the
// key's "alg" when present, else follows from kty/crv.
// Keys are skipped (and listed) without kid, with "use" other than "sig", with "key_ops" lacking "verify",
// with an algorithm or curve we do not support, or with unusable material (a small RSA modulus, a point off
// the curve). The whole document is refused when it is not a JSON object with a "keys" array, holds more
// than kMaxJwksKeys keys, publishes private members (d, p, q, dp, dq, qi, oth, k), pairs an alg with the
// wrong kind of key (or names none/HS*), repeats a kid, or leaves no usable key. A refused refresh should
// keep the previous KeySet.
[[nodiscard]] JwksResult parseJwks(std::string_view document);

// The public JWK of a key: kty and its members, kid, alg, "use": "sig".
[[nodiscard]] boost::json::object toJwk(const VerificationKey& key);
[[nodiscard]] boost::json::object toJwks(const KeySet& keys);

}  // namespace rampart::identity
