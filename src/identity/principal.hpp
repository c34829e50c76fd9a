// Who is calling: the principal that authentication establishes and authorization reads, and the
// interface the authentication stage asks to turn a presented credential into one.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "obs/tracer.hpp"

namespace rampart::identity {

enum class Role { admin, user, auditor, worker };

[[nodiscard]] constexpr std::string_view roleName(Role role) {
    switch (role) {
        case Role::admin:
            return "admin";
        case Role::user:
            return "user";
        case Role::auditor:
            return "auditor";
        case Role::worker:
            return "worker";
    }
    return "user";
}

// Exact, lower-case names only.
[[nodiscard]] constexpr std::optional<Role> parseRole(std::string_view name) {
    for (Role role : {Role::admin, Role::user, Role::auditor, Role::worker})
        if (roleName(role) == name) return role;
    return std::nullopt;
}

// The scopes a credential can carry. Login credentials (access tokens, sessions) carry "*": every
// scope the user's role allows. Personal API tokens carry the scopes chosen at creation, never more
// than the role allows; the role still decides first.
inline constexpr std::string_view kAllScopes = "*";
inline constexpr std::string_view kKnownScopes[] = {
    "jobs:read", "jobs:write", "schedules:read", "schedules:write", "worker",
    "tokens",    "users:read", "users:write",    "audit:read",
};

// "queue:<name>" narrows a token to the queues it names (for submitting, and for leasing by workers); a
// token with no queue scope reaches every queue its role may use.
inline constexpr std::string_view kQueueScopePrefix = "queue:";

[[nodiscard]] constexpr bool isQueueScope(std::string_view scope) {
    if (!scope.starts_with(kQueueScopePrefix)) return false;
    const std::string_view name = scope.substr(kQueueScopePrefix.size());
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

// "task:<name>" narrows a worker's token to the task types it names (what it leases); a token with no
// task scope leases every type of its queues.
inline constexpr std::string_view kTaskScopePrefix = "task:";

[[nodiscard]] constexpr bool isTaskScope(std::string_view scope) {
    if (!scope.starts_with(kTaskScopePrefix)) return false;
    const std::string_view name = scope.substr(kTaskScopePrefix.size());
    return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-';
    });
}

[[nodiscard]] constexpr bool isKnownScope(std::string_view scope) {
    return std::find(std::begin(kKnownScopes), std::end(kKnownScopes), scope) != std::end(kKnownScopes) ||
           isQueueScope(scope) || isTaskScope(scope);
}

enum class CredentialKind {
    accessToken,  // our own JWT from login or refresh
    apiToken,     // personal "rmp_" token
    session,      // browser session cookie (state-changing requests need the CSRF token)
    external,     // a configured OIDC provider's JWT
};

struct Principal {
    std::string userId;
    std::string username;
    Role role = Role::user;
    CredentialKind credential = CredentialKind::accessToken;
    std::vector<std::string> scopes;  // {"*"} for login credentials
    // What revoking this credential names: the access token's refresh family, the API token's id, the
    // session's id hash. Empty for external tokens.
    std::string credentialId{};
    bool totpEnabled = false;

    [[nodiscard]] bool hasScope(std::string_view scope) const {
        for (const auto& held : scopes)
            if (held == kAllScopes || held == scope) return true;
        return false;
    }

    // True when the credential names the queues it may use (see kQueueScopePrefix).
    [[nodiscard]] bool restrictsQueues() const {
        return std::any_of(scopes.begin(), scopes.end(),
                           [](const std::string& held) { return held.starts_with(kQueueScopePrefix); });
    }

    // True when the credential names the task types it may lease (see kTaskScopePrefix).
    [[nodiscard]] bool restrictsTasks() const {
        return std::any_of(scopes.begin(), scopes.end(),
                           [](const std::string& held) { return held.starts_with(kTaskScopePrefix); });
    }

    [[nodiscard]] bool mayRunTask(std::string_view task) const {
        if (!restrictsTasks()) return true;
        return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& held) {
            return held.size() == kTaskScopePrefix.size() + task.size() &&
                   held.starts_with(kTaskScopePrefix) && held.ends_with(task);
        });
    }

    [[nodiscard]] bool mayUseQueue(std::string_view queue) const {
        if (!restrictsQueues()) return true;
        return std::any_of(scopes.begin(), scopes.end(), [&](const std::string& held) {
            return held.size() == kQueueScopePrefix.size() + queue.size() &&
                   held.starts_with(kQueueScopePrefix) && held.ends_with(queue);
        });
    }
};

// What the authentication stage found in the request. `value` points into the request.
struct PresentedCredential {
    enum class Scheme {
        bearer,         // Authorization: Bearer <JWT or rmp_ token>
        token,          // Authorization: Token <rmp_ token> (what DRF clients send)
        sessionCookie,  // the session cookie
    };
    Scheme scheme = Scheme::bearer;
    std::string_view value;
};

struct AuthOutcome {
    std::optional<Principal> principal;  // set when the credential is good
    // Why it was refused, a stable snake_case name for logs and audit ("expired", "revoked",
    // "bad_signature", "unknown_token", ...). Never echoed to the client: every refusal is the same 401.
    std::string failure;
};

// Implemented by RequestAuthenticator; the HTTP stage depends only on this.
class Authenticator {
  public:
    virtual ~Authenticator() = default;
    // `trace`: the request's span, for the spans of what authenticating reads from the store.
    virtual boost::asio::awaitable<AuthOutcome> authenticate(PresentedCredential credential,
                                                             boost::asio::ip::address client,
                                                             const obs::Span& trace) = 0;
};

}  // namespace rampart::identity
