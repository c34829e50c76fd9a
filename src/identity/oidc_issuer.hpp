// One external OpenID Connect identity provider whose JWTs Rampart accepts ([[oidc.issuers]] in the
// TOML file; there is no environment form). app/config.cpp reads it; oidc.hpp checks and uses it.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rampart::identity {

struct OidcIssuer {
    std::string issuer;              // exact "iss" value; https:// unless in development
    std::string audience;            // "aud" must contain it
    std::filesystem::path jwksFile;  // exactly one of jwksFile and jwksUrl is set
    std::string jwksUrl;             // https://; http:// only to a loopback host in development
    std::string usernameClaim = "sub";
    std::string roleClaim;                       // empty: no role claim, every user gets defaultRole
    std::map<std::string, std::string> roleMap;  // claim value -> role name (admin, user, auditor, worker)
    std::optional<std::string> defaultRole;      // unset: a token whose claim maps to no role is refused
    std::vector<std::string> algorithms;         // allowlist of EdDSA, ES256, RS256; empty allows all three
};

}  // namespace rampart::identity
