// Handlers parse and check the body, call the identity service, and shape the JSON answer; the
// authorization stage has already applied the route's policy (see api/policy.cpp), so what is left
// here is the object-level part: a caller only ever sees their own tokens.
#include "api/identity_routes.hpp"

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <map>

#include "api/json_body.hpp"
#include "api/openapi.hpp"
#include "api/query.hpp"
#include "api/responses.hpp"
#include "core/rfc3339.hpp"
#include "http/middleware/authentication.hpp"
#include "http/middleware/rate_limit.hpp"
#include "http/problem.hpp"
#include "identity/api_token.hpp"
#include "identity/jwks.hpp"
#include "identity/password.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;
using http::Exchange;
using http::Status;
using http::Verb;

constexpr std::size_t kMaxName = 150;
constexpr std::size_t kMaxCode = 16;
constexpr std::size_t kMaxRefreshToken = identity::kMaxTokenSize;

json::value optionalTime(const std::optional<store::Seconds>& time) {
    return time ? json::value(timeText(*time, TimePrecision::seconds)) : json::value(nullptr);
}

void noContent(Exchange& ex) {
    ex.response.result(Status::no_content);
    ex.response.body().clear();
}

json::object userJson(const store::UserRecord& user) {
    return {{"id", user.id},
            {"username", user.username},
            {"email", user.email ? json::value(*user.email) : json::value(nullptr)},
            {"role", user.role},
            {"active", user.active},
            {"totp_enabled", user.totpEnabled},
            {"created", timeText(user.created, TimePrecision::seconds)},
            {"last_login", optionalTime(user.lastLogin)},
            {"locked_until", optionalTime(user.lockedUntil)}};
}

json::object tokenJson(const store::ApiTokenRecord& token) {
    json::array scopes(token.scopes.begin(), token.scopes.end());
    return {{"id", token.id},
            {"name", token.name},
            {"prefix", std::string(identity::kApiTokenPrefix) + token.displayPrefix},
            {"scopes", std::move(scopes)},
            {"created", timeText(token.created, TimePrecision::seconds)},
            {"last_used", optionalTime(token.lastUsed)},
            {"expires", optionalTime(token.expires)}};
}

json::object pairJson(const identity::TokenPair& pair) {
    return {{"access_token", pair.accessToken},
            {"refresh_token", pair.refreshToken},
            {"token_type", "Bearer"},
            {"expires_in", pair.expiresIn.count()}};
}

std::optional<identity::Role> roleField(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    auto role = identity::parseRole(*text);
    if (!role) throw http::ApiError::invalidField("/role", "must be admin, user, auditor or worker");
    return role;
}

// What the identity handlers work with: the services, the store (audit listing) and the cookie setting.
struct IdentityApi {
    identity::LoginService& logins;
    identity::AccountService& accounts;
    const identity::KeyManager& keys;
    store::Store& store;
    bool secureCookies;
};

identity::RequestContext requestContext(const Exchange& ex) {
    return identity::RequestContext{.requestId = ex.requestId, .client = ex.client, .trace = &ex.trace};
}

boost::asio::awaitable<void> login(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    identity::LoginRequest request;
    request.username = body.requiredString("username", kMaxName);
    // Longer passwords are refused by the service without hashing, like wrong ones.
    request.password = body.requiredSecret("password", identity::kMaxPasswordBytes + 1);
    request.totp = body.optionalString("totp", kMaxCode);
    request.session = body.optionalBool("session").value_or(false);
    body.finish();
    // The login scope once more, keyed by the account this time, before any password is
    // hashed: guessing one account's password from many addresses is limited too. Case is
    // folded as the lockout counters fold it, so "Admin" and "admin" share one budget.
    std::string accountKey = "n:";
    for (char c : request.username)
        accountKey += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    co_await http::limitScope(ex, http::kLoginScope, accountKey);
    auto result = co_await api.logins.login(std::move(request), requestContext(ex));
    if (result.session) {
        ex.response.set(http::beast_http::field::set_cookie,
                        http::sessionSetCookie(result.session->cookieValue.reveal(), result.session->maxAge,
                                               api.secureCookies));
        reply(ex, Status::ok,
              json::object{{"csrf_token", result.session->csrfToken},
                           {"expires_in", result.session->maxAge.count()}});
    } else {
        reply(ex, Status::ok, pairJson(*result.tokens));
    }
}

boost::asio::awaitable<void> refresh(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    auto token = body.requiredString("refresh_token", kMaxRefreshToken);
    body.finish();
    reply(ex, Status::ok, pairJson(co_await api.logins.refresh(std::move(token), requestContext(ex))));
}

boost::asio::awaitable<void> logout(IdentityApi& api, Exchange& ex) {
    const auto& principal = caller(ex);
    co_await api.logins.logout(principal, requestContext(ex));
    if (principal.credential == identity::CredentialKind::session) {
        ex.response.set(http::beast_http::field::set_cookie, http::sessionClearCookie(api.secureCookies));
    }
    noContent(ex);
}

boost::asio::awaitable<void> publicKeys(IdentityApi& api, Exchange& ex) {
    reply(ex, Status::ok, identity::toJwks(*api.keys.verificationKeys()));
    co_return;
}

boost::asio::awaitable<void> getMe(IdentityApi& api, Exchange& ex) {
    const auto& principal = caller(ex);
    auto user = co_await api.accounts.findUser(principal.userId, ex.trace);
    if (!user) throw http::ApiError::notFound();
    auto body = userJson(*user);
    json::array scopes(principal.scopes.begin(), principal.scopes.end());
    body["scopes"] = std::move(scopes);
    static constexpr std::string_view kKinds[] = {"access_token", "api_token", "session", "external"};
    body["credential"] = kKinds[static_cast<int>(principal.credential)];
    reply(ex, Status::ok, body);
}

boost::asio::awaitable<void> enrolTotp(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    auto password = body.requiredSecret("password", identity::kMaxPasswordBytes + 1);
    body.finish();
    // A stolen session or token alone cannot add a second factor that would lock the owner out.
    auto confirmed = co_await api.logins.confirmPassword(caller(ex), std::move(password), requestContext(ex));
    auto enrolment = co_await api.accounts.enrolTotp(caller(ex), std::move(confirmed), requestContext(ex));
    reply(ex, Status::created,
          json::object{{"secret", enrolment.secretBase32}, {"otpauth_uri", enrolment.uri.reveal()}});
}

boost::asio::awaitable<void> confirmTotp(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    auto code = body.requiredString("code", kMaxCode);
    body.finish();
    co_await api.accounts.confirmTotp(caller(ex), std::move(code), requestContext(ex));
    noContent(ex);
}

boost::asio::awaitable<void> disableTotp(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    auto password = body.requiredSecret("password", identity::kMaxPasswordBytes + 1);
    auto code = body.requiredString("code", kMaxCode);
    body.finish();
    auto confirmed = co_await api.logins.confirmPassword(caller(ex), std::move(password), requestContext(ex));
    co_await api.accounts.disableTotp(caller(ex), std::move(confirmed), std::move(code), requestContext(ex));
    noContent(ex);
}

boost::asio::awaitable<void> listTokens(IdentityApi& api, Exchange& ex) {
    auto params = queryParams(ex, {"user_id"});
    auto owner = params.contains("user_id") ? params.find("user_id")->second : std::string();
    auto tokens = co_await api.accounts.listApiTokens(caller(ex), std::move(owner), ex.trace);
    json::array items;
    for (const auto& token : tokens) items.push_back(tokenJson(token));
    reply(ex, Status::ok, json::object{{"items", std::move(items)}});
}

boost::asio::awaitable<void> createToken(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    auto name = body.requiredString("name", 100);
    auto scopes = body.optionalStringArray("scopes", 32, 64);
    auto expiresIn = body.optionalInt("expires_in", 1, std::int64_t{10} * 365 * 86400);
    body.finish({"id", "user_id", "owner", "created", "last_used", "token", "prefix"});
    if (!scopes) throw http::ApiError::invalidField("/scopes", "is required");
    std::optional<std::chrono::seconds> lifetime;
    if (expiresIn) lifetime = std::chrono::seconds(*expiresIn);
    auto created = co_await api.accounts.createApiToken(caller(ex), std::move(name), std::move(*scopes),
                                                        lifetime, requestContext(ex));
    auto out = tokenJson(created.record);
    out["token"] = created.token.reveal();
    reply(ex, Status::created, out);
}

boost::asio::awaitable<void> deleteToken(IdentityApi& api, Exchange& ex) {
    co_await api.accounts.revokeApiToken(caller(ex), std::string(ex.pathParam("id")), requestContext(ex));
    noContent(ex);
}

boost::asio::awaitable<void> listUsers(IdentityApi& api, Exchange& ex) {
    auto params = queryParams(ex, {"after", "limit"});
    const int limit = limitParam(params, 100, 500);
    auto after = params.contains("after") ? params.find("after")->second : std::string();
    auto users = co_await api.accounts.listUsers(std::move(after), limit, ex.trace);
    json::array items;
    for (const auto& user : users) items.push_back(userJson(user));
    json::object body{{"items", std::move(items)}};
    body["next_cursor"] =
        static_cast<int>(users.size()) == limit ? json::value(users.back().username) : json::value(nullptr);
    reply(ex, Status::ok, body);
}

boost::asio::awaitable<void> createUser(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    identity::NewUser user;
    user.username = body.requiredString("username", kMaxName);
    if (auto email = body.nullableString("email", 254)) user.email = *email;
    user.role = roleField(body.optionalString("role", 16)).value_or(identity::Role::user);
    user.password = body.requiredSecret("password", identity::kMaxPasswordBytes + 1);
    body.finish({"id", "active", "created", "last_login", "password_hash", "totp_enabled", "failed_logins",
                 "locked_until"});
    const auto& principal = caller(ex);
    auto created = co_await api.accounts.createUser(std::move(user), principal.userId, requestContext(ex));
    reply(ex, Status::created, userJson(created));
}

boost::asio::awaitable<void> getUser(IdentityApi& api, Exchange& ex) {
    auto user = co_await api.accounts.findUser(std::string(ex.pathParam("id")), ex.trace);
    if (!user) throw http::ApiError::notFound();
    reply(ex, Status::ok, userJson(*user));
}

boost::asio::awaitable<void> updateUser(IdentityApi& api, Exchange& ex) {
    JsonBody body(ex);
    identity::UserChanges changes;
    changes.email = body.nullableString("email", 254);
    changes.role = roleField(body.optionalString("role", 16));
    changes.active = body.optionalBool("active");
    if (auto password = body.optionalString("password", identity::kMaxPasswordBytes + 1)) {
        changes.password = SecretString(std::move(*password));
    }
    body.finish({"id", "username", "created", "last_login", "password_hash", "totp_enabled", "failed_logins",
                 "locked_until"});
    const auto& principal = caller(ex);
    // A new password ends every other credential of the user; the caller's own stays when it is theirs.
    auto keep = identity::keptCredentialOf(principal);
    auto user = co_await api.accounts.updateUser(std::string(ex.pathParam("id")), std::move(changes),
                                                 principal.userId, requestContext(ex), std::move(keep));
    reply(ex, Status::ok, userJson(user));
}

boost::asio::awaitable<void> revokeUserCredentials(IdentityApi& api, Exchange& ex) {
    co_await api.accounts.revokeAllCredentials(std::string(ex.pathParam("id")), caller(ex).userId,
                                               requestContext(ex));
    noContent(ex);
}

boost::asio::awaitable<void> listAudit(IdentityApi& api, Exchange& ex) {
    auto params = queryParams(ex, {"action", "actor", "outcome", "since", "until", "after", "limit"});
    store::AuditQuery query;
    query.limit = limitParam(params, 100, store::AuditQuery::kMaxAuditPage);
    if (auto found = params.find("action"); found != params.end()) query.action = found->second;
    if (auto found = params.find("actor"); found != params.end()) query.actor = found->second;
    if (auto found = params.find("outcome"); found != params.end()) query.outcome = found->second;
    for (auto [name, target] : {std::pair{"since", &query.since}, std::pair{"until", &query.until}}) {
        auto found = params.find(name);
        if (found == params.end()) continue;
        auto time = obs::parseAuditTime(found->second);
        if (!time) {
            throw http::ApiError::badRequest(std::string(name) +
                                             " must be a time like 2026-01-31T12:00:00.000000Z");
        }
        *target = *time;
    }
    if (auto found = params.find("after"); found != params.end()) {
        std::int64_t after = 0;
        const auto& text = found->second;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), after);
        if (ec != std::errc() || end != text.data() + text.size() || after < 0) {
            throw http::ApiError::badRequest("after must be a non-negative integer");
        }
        query.afterId = after;
    }
    const int limit = query.limit;
    auto records = co_await api.store.listAudit(std::move(query));
    json::array items;
    for (const auto& record : records) {
        items.push_back(json::object{{"id", record.id},
                                     {"time", obs::formatAuditTime(record.event.time)},
                                     {"action", record.event.action},
                                     {"actor", record.event.actor},
                                     {"client", record.event.client},
                                     {"request_id", record.event.requestId},
                                     {"target", record.event.target},
                                     {"outcome", record.event.outcome},
                                     {"details", record.event.details}});
    }
    json::object body{{"items", std::move(items)}};
    body["next_cursor"] = static_cast<int>(records.size()) == limit
                              ? json::value(std::to_string(records.back().id))
                              : json::value(nullptr);
    reply(ex, Status::ok, body);
}

}  // namespace

void addIdentityRoutes(http::Router& router, const RouteSettings& settings, identity::LoginService& logins,
                       identity::AccountService& accounts, const identity::KeyManager& keys,
                       store::Store& store) {
    auto api = std::make_shared<IdentityApi>(IdentityApi{.logins = logins,
                                                         .accounts = accounts,
                                                         .keys = keys,
                                                         .store = store,
                                                         .secureCookies = settings.secureCookies});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/auth/login",
         .handler = handler<login>(api),
         .summary = "Log in: a token pair, or a session cookie and CSRF token with \"session\": true",
         .tag = "auth",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .rateLimitScope = std::string(http::kLoginScope),
         .operationId = "login",
         .requestSchema = "LoginRequest",
         .answers = {
             http::RouteAnswer{
                 .status = 200,
                 .description = "A token pair; with \"session\": true, a CSRF token and the session cookie",
                 .schema = "LoginAnswer",
                 .headers = {"Set-Cookie"}},
             problemAnswer(
                 401,
                 "Wrong username, password or code, or a disabled account (invalid-credentials, all "
                 "alike); or the account needs a TOTP code (totp-required)"),
             problemAnswer(
                 429,
                 "The login rate limit is used up (rate-limited), or the account or address is locked "
                 "out (too-many-attempts)"),
             problemAnswer(503,
                           "The password-hashing pool is full (password-hashing-busy), for known and "
                           "unknown usernames alike; try again after Retry-After seconds")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/auth/refresh",
                .handler = handler<refresh>(api),
                .summary = "Rotate a refresh token: a new pair; the old refresh token is dead",
                .tag = "auth",
                .jsonBody = true,
                .maxBodyBytes = 16 * 1024,
                .operationId = "refreshTokens",
                .requestSchema = "RefreshRequest",
                .answers = {
                    answer(200, "A new pair; the presented refresh token is dead from now on", "TokenPair"),
                    problemAnswer(401, "Not a live refresh token (a reused one revokes its whole family)")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/auth/logout",
         .handler = handler<logout>(api),
         .summary = "End the session, or the refresh family of the access token",
         .tag = "auth",
         .operationId = "logout",
         .answers = {
             http::RouteAnswer{.status = 204,
                               .description = "Logged out (a session's cookie is cleared)",
                               .headers = {"Set-Cookie"}},
             problemAnswer(400, "An API token cannot log out: revoke it with DELETE /api/v1/tokens/{id}")}});

    router.add({.method = Verb::get,
                .pattern = "/.well-known/jwks.json",
                .handler = handler<publicKeys>(api),
                .summary = "The public keys that verify Rampart's access tokens",
                .tag = "auth",
                .operationId = "getJwks",
                .answers = {answer(200, "The verification keys (JWK Set)", "Jwks")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/me",
                .handler = handler<getMe>(api),
                .summary = "Who am I: the account, its role and the credential's scopes",
                .tag = "me",
                .operationId = "getMe",
                .answers = {answer(200, "The caller", "Me")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp",
         .handler = handler<enrolTotp>(api),
         .summary = "Start TOTP enrolment, with the password: the secret and an otpauth:// URI, shown once",
         .tag = "me",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .operationId = "enrolTotp",
         .requestSchema = "TotpEnrolRequest",
         .answers = {answer(201, "The secret and URI, shown once", "TotpEnrolment"),
                     problemAnswer(400, "A malformed body, or no password"),
                     problemAnswer(403,
                                   "The password is wrong (invalid-credentials; counts as a failed login), "
                                   "or the credential may not manage second factors"),
                     problemAnswer(409, "TOTP is on already"),
                     problemAnswer(429, "The account or address is locked out (too-many-attempts)")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp/confirm",
         .handler = handler<confirmTotp>(api),
         .summary = "Confirm TOTP enrolment with a code: logins need a code from now on",
         .tag = "me",
         .jsonBody = true,
         .maxBodyBytes = 4 * 1024,
         .operationId = "confirmTotp",
         .requestSchema = "TotpConfirmRequest",
         .answers = {
             answer(204, "TOTP is on: logins need a code from now on"),
             problemAnswer(400,
                           "A malformed body, a wrong or reused code (totp-invalid-code), or no enrolment "
                           "(totp-not-enrolled)"),
             problemAnswer(409, "TOTP is on already")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/me/totp/disable",
         .handler = handler<disableTotp>(api),
         .summary = "Turn TOTP off, with the password and a current code",
         .tag = "me",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .operationId = "disableTotp",
         .requestSchema = "TotpDisableRequest",
         .answers = {answer(204, "TOTP is off"),
                     problemAnswer(
                         403,
                         "The password (counts as a failed login) or code is wrong (invalid-credentials), or "
                         "the credential may not manage second factors"),
                     problemAnswer(409, "TOTP is off already"),
                     problemAnswer(429, "The account or address is locked out (too-many-attempts)")}});

    router.add(
        {.method = Verb::get,
         .pattern = "/api/v1/tokens",
         .handler = handler<listTokens>(api),
         .summary = "Personal API tokens (never the tokens themselves): the caller's, or with user_id "
                    "another user's (admins, auditors)",
         .tag = "tokens",
         .operationId = "listApiTokens",
         .query = {queryString("user_id",
                               "Another user's tokens (admins and auditors; anyone else gets 404)")},
         .answers = {
             answer(200, "The live tokens, newest first", "ApiTokenList"),
             problemAnswer(404, "user_id names another user and the caller is neither admin nor auditor")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/tokens",
         .handler = handler<createToken>(api),
         .summary = "Create a personal API token; the token is in this answer only",
         .tag = "tokens",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .operationId = "createApiToken",
         .requestSchema = "ApiTokenRequest",
         .answers = {answer(201, "The token, shown in this answer only", "ApiTokenCreated"),
                     problemAnswer(400,
                                   "A malformed body, or a scope the caller's role or credential cannot give "
                                   "(invalid-scope), or a lifetime over auth.api_token_max_ttl_s"),
                     problemAnswer(403,
                                   "The caller lacks the tokens scope, or holds an external OIDC provider's "
                                   "token, which cannot create API tokens (external-credential)")}});

    router.add({.method = Verb::delete_,
                .pattern = "/api/v1/tokens/{id}",
                .handler = handler<deleteToken>(api),
                .summary = "Revoke one of the caller's API tokens (admins: anyone's)",
                .tag = "tokens",
                .operationId = "revokeApiToken",
                .answers = {answer(204, "Revoked")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/users",
                .handler = handler<listUsers>(api),
                .summary = "List users, by username, with cursor pagination (after, limit)",
                .tag = "users",
                .operationId = "listUsers",
                .query = {queryString("after", "The next_cursor of the previous page"),
                          queryInteger("limit", "Page size", 1, 500, 100)},
                .answers = {answer(200, "Users by username", "UserList")}});

    router.add(
        {.method = Verb::post,
         .pattern = "/api/v1/users",
         .handler = handler<createUser>(api),
         .summary = "Create a user (the password must pass the policy)",
         .tag = "users",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .operationId = "createUser",
         .requestSchema = "UserCreateRequest",
         .answers = {answer(201, "The new user", "User"),
                     problemAnswer(
                         400, "A malformed body, or a password the policy refuses (password-too-short, ...)"),
                     problemAnswer(409, "The username or email is taken")}});

    router.add({.method = Verb::get,
                .pattern = "/api/v1/users/{id}",
                .handler = handler<getUser>(api),
                .summary = "One user",
                .tag = "users",
                .operationId = "getUser",
                .answers = {answer(200, "The user", "User")}});

    router.add(
        {.method = Verb::patch,
         .pattern = "/api/v1/users/{id}",
         .handler = handler<updateUser>(api),
         .summary =
             "Change a user's email, role, password or active flag (disabling revokes everything; a new "
             "password revokes every session and token but the caller's own)",
         .tag = "users",
         .jsonBody = true,
         .maxBodyBytes = 8 * 1024,
         .operationId = "updateUser",
         .requestSchema = "UserChangeRequest",
         .answers = {answer(200, "The user as changed", "User"),
                     problemAnswer(
                         400,
                         "A malformed body, a password the policy refuses, or an admin disabling or demoting "
                         "themselves (self-lockout)"),
                     problemAnswer(409, "The email is taken")}});

    router.add({.method = Verb::post,
                .pattern = "/api/v1/users/{id}/revoke-credentials",
                .handler = handler<revokeUserCredentials>(api),
                .summary = "Revoke every token, session and refresh family of a user at once",
                .tag = "users",
                .operationId = "revokeUserCredentials",
                .answers = {answer(204, "Every credential of the user is revoked")}});

    router.add(
        {.method = Verb::get,
         .pattern = "/api/v1/audit",
         .handler = handler<listAudit>(api),
         .summary = "Audit events, filtered (action, actor, outcome, since, until) and paged (after, limit)",
         .tag = "audit",
         .operationId = "listAuditEvents",
         .query = {queryString("action", "Only this action (auth.login, token.created, ...)"),
                   queryString("actor", "Only events of this user id"),
                   queryString("outcome", "Only this outcome (success, failure, ...)"),
                   queryString("since", "From this time: RFC 3339 with six fractional digits"),
                   queryString("until", "Up to this time: RFC 3339 with six fractional digits"),
                   queryString("after", "The next_cursor of the previous page"),
                   queryInteger("limit", "Page size", 1, 500, 100)},
         .answers = {answer(200, "Audit events, oldest first", "AuditList")}});
}

}  // namespace rampart::api
