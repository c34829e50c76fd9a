// What the API tests through the real binary share: the test credentials, a server environment with
// the first admin's password file and the cheapest Argon2 costs the policy allows, JSON helpers, and the
// check that nothing handled as a secret reached the server's output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
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

// For tests that hammer the server (load, clusters, many logins): rate limits raised far above what
// they send, so they test what they are about. The defaults stay on for every other test.
inline Environment withHighRateLimits(Environment env) {
    env["RAMPART_RATE_LIMITS__ANON"] = "1000000/hour";
    env["RAMPART_RATE_LIMITS__USER"] = "1000000/hour";
    env["RAMPART_RATE_LIMITS__SCOPES__LOGIN"] = "100000/hour";
    env["RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT"] = "1000000/hour";
    return env;
}

// The value of one series in a Prometheus text page ("name{labels}"), or nullopt when it is absent.
inline std::optional<double> metric(const std::string& page, std::string_view series) {
    const std::string prefix = std::string(series) + " ";
    for (std::size_t at = 0; at < page.size();) {
        const std::size_t end = std::min(page.find('\n', at), page.size());
        const std::string_view line(page.data() + at, end - at);
        if (line.starts_with(prefix)) return std::stod(std::string(line.substr(prefix.size())));
        at = end + 1;
    }
    return std::nullopt;
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

// One request to 127.0.0.1:port, with the bearer token unless empty and a JSON body unless empty.
inline Response apiCall(std::uint16_t port, std::string_view method, std::string_view target,
                        const std::string& bearer, std::string_view body = {}, Headers headers = {},
                        const RequestOptions& options = {}) {
    if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    return request(port, method, target, headers, body, options);
}

// The first admin's access token (password kAdminPassword); throws HarnessError when login fails.
inline std::string adminAccessToken(std::uint16_t port) {
    const auto r = apiCall(
        port, "POST", "/api/v1/auth/login", {},
        boost::json::serialize(boost::json::object{{"username", "admin"}, {"password", kAdminPassword}}));
    if (r.status != 200) throw HarnessError("login failed: " + std::to_string(r.status) + " " + r.body);
    return str(parse(r), "access_token");
}

// Fails the test for every secret (of 8 characters or more) found in `output`.
inline void expectNoSecretsInText(const std::string& output, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        if (secret.size() < 8) continue;
        EXPECT_EQ(output.find(secret), std::string::npos)
            << "a secret reached the logs: " << secret.substr(0, 6);
    }
}

// The same for what a server printed on stdout and stderr.
inline void expectNoSecretsIn(const ServerProcess& server, const std::vector<std::string>& secrets) {
    expectNoSecretsInText(server.stdoutText() + server.stderrText(), secrets);
}

}  // namespace rampart::testing
