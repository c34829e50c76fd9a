// What the API tests through the real binary share: the test credentials, a server environment with
// the first admin's password file and the cheapest Argon2 costs the policy allows, JSON helpers, and the
// check that nothing handled as a secret reached the server's output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "harness.hpp"

namespace rampart::testing {

inline constexpr std::string_view kAdminPassword = "violet Marmot 83 gallops uphill";
inline constexpr std::string_view kUserPassword = "quiet Lantern 27 drifts east";
inline constexpr std::string_view kSecretKey = "integration-secret-key-0123456789-abcdefghijklmnop";

// Writes the admin password file into `dir` and returns the variables every API test server needs.
inline Environment apiServerEnvironment(const TempDir& dir) {
    writeFile(dir / "admin-password", std::string(kAdminPassword) + "\n");
    return {{"RAMPART_ADMIN_PASSWORD_FILE", (dir / "admin-password").string()},
            {"RAMPART_SECRET_KEY", std::string(kSecretKey)},
            {"RAMPART_AUTH__ARGON2_OPS_LIMIT", "2"},
            {"RAMPART_AUTH__ARGON2_MEMORY_KIB", "19456"}};
}

// The body as a JSON object; empty when it is not one.
inline boost::json::object parse(const Response& r) {
    boost::system::error_code ec;
    auto value = boost::json::parse(r.body, ec);
    return !ec && value.is_object() ? value.as_object() : boost::json::object{};
}

inline std::string str(const boost::json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// Fails the test for every secret (of 8 characters or more) found in the server's stdout or stderr.
inline void expectNoSecretsIn(const ServerProcess& server, const std::vector<std::string>& secrets) {
    const std::string output = server.stdoutText() + server.stderrText();
    for (const auto& secret : secrets) {
        if (secret.size() < 8) continue;
        EXPECT_EQ(output.find(secret), std::string::npos)
            << "a secret reached the logs: " << secret.substr(0, 6);
    }
}

}  // namespace rampart::testing
