// Accounts: users, API tokens, TOTP enrolment, the first admin. Every change is audited and clears the
// shared credential cache, so the next request sees it.
//
// g++ 12 coroutine rules (see login_service.cpp): no co_await inside a condition, no brace-initialized
// aggregate inside a co_await expression.
#include "identity/account_service.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/run_blocking.hpp"
#include "identity/api_token.hpp"
#include "identity/credential_rules.hpp"
#include "identity/password.hpp"
#include "identity/sealed.hpp"
#include "identity/totp.hpp"
#include "obs/traced.hpp"

namespace rampart::identity {
namespace {

using Kind = AuthError::Kind;
using store::Seconds;

constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxTokenNameBytes = 100;

// Deliberately loose (the one true check is a mail that arrives): one @ with text on both sides, a dot
// in the domain, printable ASCII without spaces.
bool validEmail(std::string_view email) {
    const auto at = email.find('@');
    if (email.size() > kMaxEmailBytes || at == std::string_view::npos || at == 0 ||
        email.find('@', at + 1) != std::string_view::npos) {
        return false;
    }
    const auto domain = email.substr(at + 1);
    if (domain.empty() || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
        domain.back() == '.') {
        return false;
    }
    return std::all_of(email.begin(), email.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The scopes a role may hand to one of its API tokens: never more than the role itself can do.
bool roleAllowsScope(Role role, std::string_view scope) {
    if (isQueueScope(scope)) return role != Role::auditor;  // auditors submit and lease nothing
    if (isTaskScope(scope)) return role == Role::worker || role == Role::admin;  // only workers lease
    switch (role) {
        case Role::admin:
            return true;
        case Role::user:
            return scope == "jobs:read" || scope == "jobs:write" || scope == "schedules:read" ||
                   scope == "schedules:write" || scope == "tokens";
        case Role::auditor:
            return scope == "jobs:read" || scope == "schedules:read" || scope == "audit:read" ||
                   scope == "tokens";
        case Role::worker:
            return scope == "worker" || scope == "tokens";
    }
    return false;
}

}  // namespace

std::optional<store::KeptCredential> keptCredentialOf(const Principal& principal) {
    using KeptKind = store::KeptCredential::Kind;
    std::optional<store::KeptCredential> kept;
    if (principal.credentialId.empty()) return kept;
    switch (principal.credential) {
        case CredentialKind::session:
            kept = store::KeptCredential{.kind = KeptKind::session, .id = principal.credentialId};
            break;
        case CredentialKind::accessToken:
            kept = store::KeptCredential{.kind = KeptKind::refreshFamily, .id = principal.credentialId};
            break;
        case CredentialKind::apiToken:
            kept = store::KeptCredential{.kind = KeptKind::apiToken, .id = principal.credentialId};
            break;
        case CredentialKind::external:
            break;
    }
    return kept;
}

AccountService::AccountService(store::IdentityStore& store, store::AuditSink& audit, CredentialCache& cache,
                               PasswordHasher& hasher, SecretString serverSecret, AuthSettings settings,
                               Clock clock)
    : store_(store),
      audit_(audit, clock),
      cache_(cache),
      hasher_(hasher),
      serverSecret_(std::move(serverSecret)),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      nameKey_(serverSecret_) {}

Seconds AccountService::now() const {
    return toSeconds(clock_());
}

// --- personal API tokens ---

boost::asio::awaitable<CreatedApiToken> AccountService::createApiToken(
    Principal principal, std::string name, std::vector<std::string> scopes,
    std::optional<std::chrono::seconds> expiresIn, RequestContext context) {
    // Our token would live on after the provider's expired or was revoked there, and after the provider
    // stopped mapping the account to this role: an external identity holds only what its provider vouches
    // for right now.
    if (principal.credential == CredentialKind::external) {
        throw AuthError(Kind::forbidden, "external_credential",
                        "a token from an external identity provider cannot create API tokens");
    }
    if (name.empty() || name.size() > kMaxTokenNameBytes ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
        throw AuthError(Kind::invalid, "invalid_field", "name must be 1 to 100 printable ASCII characters",
                        "/name");
    }
    if (scopes.empty())
        throw AuthError(Kind::invalid, "invalid_field", "at least one scope is needed", "/scopes");
    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    for (const auto& scope : scopes) {
        // A token may not do more than its user's role, nor more than the credential that creates it.
        if (!isKnownScope(scope) || !roleAllowsScope(principal.role, scope) || !principal.hasScope(scope)) {
            throw AuthError(Kind::invalid, "invalid_scope",
                            "a scope is unknown or not allowed for this account", "/scopes");
        }
    }
    // A credential confined to some queues cannot make a token that reaches the others.
    if (principal.restrictsQueues() &&
        std::none_of(scopes.begin(), scopes.end(),
                     [](const std::string& scope) { return isQueueScope(scope); })) {
        throw AuthError(
            Kind::invalid, "invalid_scope",
            "this credential is limited to some queues; the new token must name them (queue:NAME)",
            "/scopes");
    }
    // Likewise for task types (task:NAME).
    if (principal.restrictsTasks() &&
        std::none_of(scopes.begin(), scopes.end(),
                     [](const std::string& scope) { return isTaskScope(scope); })) {
        throw AuthError(
            Kind::invalid, "invalid_scope",
            "this credential is limited to some task types; the new token must name them (task:NAME)",
            "/scopes");
    }
    const auto lifetime =
        expiresIn.value_or(std::min<std::chrono::seconds>(std::chrono::days{90}, settings_.apiTokenMaxTtl));
    if (lifetime < std::chrono::minutes{1} || lifetime > settings_.apiTokenMaxTtl) {
        throw AuthError(Kind::invalid, "invalid_field",
                        "expires_in must be between 60 and " +
                            std::to_string(settings_.apiTokenMaxTtl.count()) + " seconds",
                        "/expires_in");
    }
    auto generated = generateApiToken();
    const Seconds time = now();
    store::ApiTokenRecord record{.id = randomToken(16),
                                 .userId = principal.userId,
                                 .name = std::move(name),
                                 .tokenHash = hashHex(generated.hash),
                                 .displayPrefix = generated.displayPrefix,
                                 .scopes = std::move(scopes),
                                 .created = time,
                                 .expires = time + lifetime,
                                 .lastUsed = std::nullopt,
                                 .revoked = std::nullopt};
    co_await obs::tracedStore(context.span(), store_, "createApiToken", store_.createApiToken(record));
    boost::json::array scopeList(record.scopes.begin(), record.scopes.end());
    boost::json::object created{{"name", record.name}, {"scopes", std::move(scopeList)}};
    co_await audit_.audit("token.created", principal.userId, context, "token:" + record.id, "success",
                          std::move(created));
    co_return CreatedApiToken{.record = std::move(record), .token = std::move(generated.token)};
}

boost::asio::awaitable<std::vector<store::ApiTokenRecord>> AccountService::listApiTokens(
    Principal principal, std::string owner, const obs::Span& trace) {
    if (owner.empty()) owner = principal.userId;
    const bool mayReadOthers = principal.role == Role::admin || principal.role == Role::auditor;
    if (owner != principal.userId && !mayReadOthers)
        throw AuthError(Kind::notFound, "not_found", "no such user");
    co_return co_await obs::tracedStore(trace, store_, "listApiTokens", store_.listApiTokens(owner));
}

boost::asio::awaitable<void> AccountService::revokeApiToken(Principal principal, std::string tokenId,
                                                            RequestContext context) {
    // An admin may revoke anyone's token; everyone else only their own (an auditor changes nothing).
    std::string owner = principal.userId;
    if (principal.role == Role::admin) {
        auto token = co_await obs::tracedStore(context.span(), store_, "findApiTokenById",
                                               store_.findApiTokenById(tokenId));
        if (token) owner = token->userId;
    }
    const bool revoked = co_await obs::tracedStore(context.span(), store_, "revokeApiToken",
                                                   store_.revokeApiToken(owner, tokenId, now()));
    cache_.clear();
    if (!revoked) throw AuthError(Kind::notFound, "not_found", "no such token");
    boost::json::object details{{"owner", owner}};
    co_await audit_.audit("token.revoked", principal.userId, context, "token:" + tokenId, "success",
                          std::move(details));
}

// --- TOTP ---

boost::asio::awaitable<TotpEnrolment> AccountService::enrolTotp(Principal principal,
                                                                PasswordConfirmed password,
                                                                RequestContext context) {
    if (password.userId().empty() || password.userId() != principal.userId)
        throw AuthError(Kind::forbidden, "invalid_credentials", "wrong user");
    auto user = co_await obs::tracedStore(context.span(), store_, "findUserById",
                                          store_.findUserById(principal.userId));
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (user->totpEnabled) {
        throw AuthError(Kind::conflict, "totp_enabled", "two-factor login is on already; disable it first");
    }
    auto secret = generateTotpSecret();
    auto sealed = sealSecret(secret.reveal(), serverSecret_, kTotpSealContext, user->id);
    if (!sealed) throw std::runtime_error("cannot seal a TOTP secret");
    store::UserPatch patch;
    patch.totpSecretSealed = std::move(*sealed);
    patch.totpEnabled = false;
    patch.totpLastStep = std::optional<std::int64_t>{};
    co_await obs::tracedStore(context.span(), store_, "updateUser",
                              store_.updateUser(user->id, std::move(patch)));
    cache_.clear();
    co_await audit_.audit("totp.enrol", user->id, context, "user:" + user->username, "success");
    co_return TotpEnrolment{.secretBase32 = base32Encode(secret.reveal()),
                            .uri = totpUri(user->username, secret.reveal())};
}

boost::asio::awaitable<void> AccountService::confirmTotp(Principal principal, std::string code,
                                                         RequestContext context) {
    auto user = co_await obs::tracedStore(context.span(), store_, "findUserById",
                                          store_.findUserById(principal.userId));
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (user->totpEnabled) throw AuthError(Kind::conflict, "totp_enabled", "two-factor login is on already");
    if (user->totpSecretSealed.empty()) {
        throw AuthError(Kind::invalid, "totp_not_enrolled", "enrol first: POST /api/v1/me/totp");
    }
    auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
    std::optional<std::int64_t> step;
    if (secret) step = verifyTotp(secret->reveal(), code, clock_(), user->totpLastStep);
    bool accepted = false;
    if (step)
        accepted = co_await obs::tracedStore(context.span(), store_, "consumeTotpStep",
                                             store_.consumeTotpStep(user->id, *step));
    if (!accepted) {
        co_await audit_.audit("totp.confirm", user->id, context, "user:" + user->username, "failure");
        throw AuthError(Kind::invalid, "totp.invalid_code", "the code is wrong or was used already", "/code");
    }
    store::UserPatch patch;
    patch.totpEnabled = true;
    co_await obs::tracedStore(context.span(), store_, "updateUser",
                              store_.updateUser(user->id, std::move(patch)));
    cache_.clear();
    co_await audit_.audit("totp.enabled", user->id, context, "user:" + user->username, "success");
}

boost::asio::awaitable<void> AccountService::disableTotp(Principal principal, PasswordConfirmed password,
                                                         std::string code, RequestContext context) {
    if (password.userId().empty() || password.userId() != principal.userId)
        throw AuthError(Kind::forbidden, "invalid_credentials", "wrong user");
    auto user = co_await obs::tracedStore(context.span(), store_, "findUserById",
                                          store_.findUserById(principal.userId));
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (!user->totpEnabled) throw AuthError(Kind::conflict, "totp_disabled", "two-factor login is off");
    auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
    std::optional<std::int64_t> step;
    if (secret) step = verifyTotp(secret->reveal(), code, clock_(), user->totpLastStep);
    bool accepted = false;
    if (step)
        accepted = co_await obs::tracedStore(context.span(), store_, "consumeTotpStep",
                                             store_.consumeTotpStep(user->id, *step));
    if (!accepted) {
        co_await audit_.audit("totp.disable", user->id, context, "user:" + user->username, "failure");
        throw AuthError(Kind::forbidden, "invalid_credentials", "the code is wrong or was used already",
                        "/code");
    }
    store::UserPatch patch;
    patch.totpEnabled = false;
    patch.totpSecretSealed = std::string();
    co_await obs::tracedStore(context.span(), store_, "updateUser",
                              store_.updateUser(user->id, std::move(patch)));
    cache_.clear();
    co_await audit_.audit("totp.disabled", user->id, context, "user:" + user->username, "success");
}

// --- users ---

boost::asio::awaitable<std::optional<store::UserRecord>> AccountService::findUser(std::string id,
                                                                                  const obs::Span& trace) {
    co_return co_await cache_.user(std::move(id), trace);
}

boost::asio::awaitable<std::vector<store::UserRecord>> AccountService::listUsers(std::string afterUsername,
                                                                                 int limit,
                                                                                 const obs::Span& trace) {
    co_return co_await obs::tracedStore(trace, store_, "listUsers",
                                        store_.listUsers(std::move(afterUsername), limit));
}

namespace {

void checkNewPassword(const SecretString& password, std::string_view username, std::string_view email,
                      const PasswordPolicy& policy) {
    if (auto violation = checkPassword(password.reveal(), username, email, policy)) {
        throw AuthError(Kind::invalid, std::string(ruleId(violation->rule)), violation->message, "/password");
    }
}

}  // namespace

boost::asio::awaitable<store::UserRecord> AccountService::createUser(NewUser user, std::string actor,
                                                                     RequestContext context) {
    if (!validUsername(user.username)) {
        throw AuthError(Kind::invalid, "invalid_field",
                        "username must be 1 to 150 characters: letters, digits and @.+-_", "/username");
    }
    if (user.email && !validEmail(*user.email)) {
        throw AuthError(Kind::invalid, "invalid_field", "email is not a valid address", "/email");
    }
    checkNewPassword(user.password, user.username, user.email.value_or(""), settings_.passwordPolicy);
    auto hash = co_await hasher_.hash(user.password.reveal(), context.span());
    if (!hash) throw std::runtime_error("password hashing failed");
    store::UserRecord record{.id = randomToken(16),
                             .username = user.username,
                             .email = user.email,
                             .role = std::string(roleName(user.role)),
                             .active = true,
                             .passwordHash = std::move(*hash),
                             .created = now()};
    try {
        co_await obs::tracedStore(context.span(), store_, "createUser", store_.createUser(record));
    } catch (const store::Conflict&) {
        throw AuthError(Kind::conflict, "conflict", "the username or email is taken");
    }
    boost::json::object created{{"username", record.username}, {"role", record.role}};
    co_await audit_.audit("user.created", actor, context, "user:" + record.id, "success", std::move(created));
    co_return record;
}

boost::asio::awaitable<store::UserRecord> AccountService::updateUser(std::string id, UserChanges changes,
                                                                     std::string actor,
                                                                     RequestContext context) {
    return updateUser(std::move(id), std::move(changes), std::move(actor), std::move(context), std::nullopt);
}

boost::asio::awaitable<store::UserRecord> AccountService::updateUser(
    std::string id, UserChanges changes, std::string actor, RequestContext context,
    std::optional<store::KeptCredential> keep) {
    auto user = co_await obs::tracedStore(context.span(), store_, "findUserById", store_.findUserById(id));
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    // An admin who locks themselves out leaves nobody to undo it.
    if (actor == id &&
        ((changes.active && !*changes.active) || (changes.role && *changes.role != Role::admin))) {
        throw AuthError(Kind::invalid, "self_lockout", "you cannot disable or demote your own account");
    }
    // Only one's own credential survives one's own password change.
    if (actor != id) keep.reset();
    store::UserPatch patch;
    if (changes.email) {
        if (*changes.email && !validEmail(**changes.email)) {
            throw AuthError(Kind::invalid, "invalid_field", "email is not a valid address", "/email");
        }
        patch.email = *changes.email;
    }
    std::optional<std::string> newPasswordHash;
    if (changes.password) {
        const auto& email = changes.email ? *changes.email : user->email;
        checkNewPassword(*changes.password, user->username, email.value_or(""), settings_.passwordPolicy);
        auto hash = co_await hasher_.hash(changes.password->reveal(), context.span());
        if (!hash) throw std::runtime_error("password hashing failed");
        newPasswordHash = std::move(*hash);
    }
    const std::string oldRole = user->role;
    if (changes.role) patch.role = std::string(roleName(*changes.role));
    if (changes.active && *changes.active) {
        patch.active = true;
        patch.failedLogins = 0;
        patch.lockedUntil = std::optional<Seconds>{};
    }
    const bool unlocks = patch.lockedUntil.has_value();
    std::optional<store::UserRecord> updated;
    try {
        updated = co_await obs::tracedStore(context.span(), store_, "updateUser",
                                            store_.updateUser(id, std::move(patch)));
        cache_.clear();
    } catch (const store::Conflict&) {
        throw AuthError(Kind::conflict, "conflict", "the email is taken");
    }
    if (!updated) throw AuthError(Kind::notFound, "not_found", "no such user");
    // A new password or a re-enabled account lifts the lockout: the name's counter is what locks.
    if (unlocks)
        co_await obs::tracedStore(context.span(), store_, "clearLoginNameFailures",
                                  store_.clearLoginNameFailures(nameKey_.of(updated->username)));
    const std::string target = "user:" + id;
    if (newPasswordHash) {
        // Whoever knew the old password (or held a credential it issued) is out, in the same transaction as
        // the change: the point of a reset after a compromise.
        updated =
            co_await obs::tracedStore(context.span(), store_, "changePassword",
                                      store_.changePassword(id, std::move(*newPasswordHash), now(), keep));
        cache_.clear();
        if (!updated) throw AuthError(Kind::notFound, "not_found", "no such user");
    }
    if (changes.role && updated->role != oldRole) {
        boost::json::object roles{{"from", oldRole}, {"to", updated->role}};
        co_await audit_.audit("user.role_changed", actor, context, target, "success", std::move(roles));
    }
    if (changes.password) {
        static constexpr std::string_view kKeptNames[] = {"session", "refresh_family", "api_token"};
        boost::json::object revoked{
            {"credentials_revoked", true},
            {"kept", keep ? boost::json::value(kKeptNames[static_cast<int>(keep->kind)])
                          : boost::json::value(nullptr)}};
        co_await audit_.audit("user.password_reset", actor, context, target, "success", std::move(revoked));
    }
    if (changes.active && *changes.active && !user->active)
        co_await audit_.audit("user.enabled", actor, context, target, "success");
    if (changes.active && !*changes.active && user->active) {
        // Disabling ends every credential at once, not at their next expiry.
        co_await obs::tracedStore(context.span(), store_, "revokeAllCredentials",
                                  store_.revokeAllCredentials(id, now(), true));
        cache_.clear();
        co_await audit_.audit("user.disabled", actor, context, target, "success");
        updated = co_await obs::tracedStore(context.span(), store_, "findUserById", store_.findUserById(id));
        if (!updated) throw AuthError(Kind::notFound, "not_found", "no such user");
    }
    co_return *updated;
}

boost::asio::awaitable<void> AccountService::revokeAllCredentials(std::string id, std::string actor,
                                                                  RequestContext context) {
    const bool revoked = co_await obs::tracedStore(context.span(), store_, "revokeAllCredentials",
                                                   store_.revokeAllCredentials(id, now(), false));
    cache_.clear();
    if (!revoked) {
        throw AuthError(Kind::notFound, "not_found", "no such user");
    }
    co_await audit_.audit("user.credentials_revoked", std::move(actor), context, "user:" + id, "success");
}

std::optional<SecretString> AccountService::bootstrapAdmin(const std::filesystem::path& passwordFile) {
    if (store_.countUsersBlocking() > 0) return std::nullopt;
    SecretString password;
    bool generated = false;
    if (!passwordFile.empty()) {
        std::ifstream in(passwordFile, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read RAMPART_ADMIN_PASSWORD_FILE");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        password = SecretString(std::move(text));
    } else {
        password = SecretString(randomToken(18));  // 144 bits, 24 characters
        generated = true;
    }
    try {
        runBlocking(createUser(
            NewUser{.username = "admin", .email = std::nullopt, .role = Role::admin, .password = password},
            "system", RequestContext{}));
    } catch (const AuthError& error) {
        throw std::runtime_error(std::string("the first admin's password is refused: ") + error.what());
    }
    return generated ? std::optional<SecretString>(std::move(password))
                     : std::optional<SecretString>(SecretString());
}

}  // namespace rampart::identity
