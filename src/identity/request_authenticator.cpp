// Authenticating each request's credential. Every refusal is the same 401 to the client; the reason
// (AuthOutcome::failure) goes to the logs and the audit log instead.
//
// g++ 12 coroutine rules (see login_service.cpp): no co_await inside a condition, no brace-initialized
// aggregate inside a co_await expression.
#include "identity/request_authenticator.hpp"

#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "identity/api_token.hpp"
#include "identity/credential_rules.hpp"
#include "identity/oidc.hpp"
#include "identity/password.hpp"
#include "obs/traced.hpp"

namespace rampart::identity {
namespace {

using store::Seconds;

// lastUsed is written at most this often per API token: a durable write per request would cost more
// than the request.
constexpr std::chrono::seconds kTouchInterval{60};

AuthOutcome refused(std::string_view reason) {
    return AuthOutcome{.principal = std::nullopt, .failure = std::string(reason)};
}

// A session id is randomToken(32): 43 base64url characters. Anything else never reaches a lookup.
bool looksLikeSessionId(std::string_view value) {
    return value.size() == 43 && std::all_of(value.begin(), value.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
           });
}

Principal principalFor(const store::UserRecord& user, CredentialKind kind, std::vector<std::string> scopes,
                       std::string credentialId) {
    return Principal{
        .userId = user.id,
        .username = user.username,
        .role = parseRole(user.role).value_or(Role::user),
        .credential = kind,
        .scopes = std::move(scopes),
        .credentialId = std::move(credentialId),
        .totpEnabled = user.totpEnabled,
    };
}

// The metric of a refusal: its reason (AuthOutcome::failure) folded into AuthMetrics' fixed set.
obs::AuthMetrics::Failure failureOf(std::string_view reason) {
    using Failure = obs::AuthMetrics::Failure;
    if (reason == "expired") return Failure::expired;
    if (reason == "revoked") return Failure::revoked;
    if (reason == "user_inactive") return Failure::inactiveUser;
    if (reason.starts_with("external_")) return Failure::external;
    return Failure::badToken;
}

bool revokedSince(const store::UserRecord& user, Seconds issued) {
    return user.credentialsRevokedAt && issued < *user.credentialsRevokedAt;
}

}  // namespace

RequestAuthenticator::RequestAuthenticator(store::IdentityStore& store, store::AuditSink& audit,
                                           CredentialCache& cache, KeyManager& keys,
                                           const AuthSettings& settings, Clock clock, OidcRegistry* oidc,
                                           obs::AuthMetrics* metrics)
    : store_(store),
      audit_(audit, clock),
      cache_(cache),
      keys_(keys),
      clock_(std::move(clock)),
      oidc_(oidc),
      metrics_(metrics),
      accessVerifier_(
          VerifyOptions{
              .issuer = settings.issuer, .audience = settings.audience, .tokenUse = std::string("access")},
          clock_, std::make_shared<VerificationCache>()) {}

Seconds RequestAuthenticator::now() const {
    return toSeconds(clock_());
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticate(PresentedCredential credential,
                                                                       boost::asio::ip::address client,
                                                                       const obs::Span& trace) {
    AuthOutcome outcome = co_await authenticateAny(std::move(credential), client, trace);
    if (metrics_ && !outcome.principal) metrics_->failed(failureOf(outcome.failure));
    co_return outcome;
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticateAny(PresentedCredential credential,
                                                                          boost::asio::ip::address client,
                                                                          const obs::Span& trace) {
    using Scheme = PresentedCredential::Scheme;
    if (credential.scheme == Scheme::sessionCookie)
        co_return co_await authenticateSession(credential.value, trace);
    if (looksLikeApiToken(credential.value)) co_return co_await authenticateApiToken(credential.value, trace);
    // "Token" is DRF's scheme for opaque tokens only.
    if (credential.scheme == Scheme::token) co_return refused("malformed");
    if (oidc_ && oidc_->handles(credential.value))
        co_return co_await authenticateExternal(credential.value, client, trace);
    co_return co_await authenticateJwt(credential.value, trace);
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticateJwt(std::string_view token,
                                                                          const obs::Span& trace) {
    auto result = co_await keys_.verify(accessVerifier_, token);
    if (!result.ok) co_return refused(verifyErrorName(result.error));
    const auto* family = result.claims->raw.if_contains("family_id");
    if (!family || !family->is_string() || family->get_string().empty() || !result.claims->issuedAt) {
        co_return refused("invalid_claim");
    }
    std::string familyId(family->get_string());
    auto user = co_await cache_.user(result.claims->subject, trace);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, *result.claims->issuedAt)) co_return refused("revoked");
    const bool familyLive = co_await cache_.familyLive(familyId, trace);
    if (!familyLive) co_return refused("revoked");
    co_return AuthOutcome{.principal = principalFor(*user, CredentialKind::accessToken, result.claims->scopes,
                                                    std::move(familyId)),
                          .failure = {}};
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticateApiToken(std::string_view token,
                                                                               const obs::Span& trace) {
    const std::string hash = sha256Hex(token);
    auto record = co_await cache_.apiToken(hash, trace);
    // The lookup is by hash, which reveals nothing about the token; the comparison is constant-time anyway.
    if (!record || !constantTimeEquals(record->tokenHash, hash)) co_return refused("unknown_token");
    const Seconds time = now();
    if (record->revoked) co_return refused("revoked");
    if (record->expires && *record->expires <= time) co_return refused("expired");
    auto user = co_await cache_.user(record->userId, trace);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, record->created)) co_return refused("revoked");
    if (!record->lastUsed || *record->lastUsed + kTouchInterval <= time) {
        co_await obs::tracedStore(trace, store_, "touchApiToken", store_.touchApiToken(record->id, time));
        cache_.forgetApiToken(hash);  // so the next request sees lastUsed and does not touch
    }
    co_return AuthOutcome{
        .principal = principalFor(*user, CredentialKind::apiToken, record->scopes, record->id),
        .failure = {}};
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticateSession(std::string_view cookie,
                                                                              const obs::Span& trace) {
    if (!looksLikeSessionId(cookie)) co_return refused("malformed");
    std::string idHash = sha256Hex(cookie);
    auto session = co_await cache_.session(idHash, trace);
    if (!session) co_return refused("unknown_session");
    if (session->revoked) co_return refused("revoked");
    if (session->expires <= now()) co_return refused("expired");
    auto user = co_await cache_.user(session->userId, trace);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, session->created)) co_return refused("revoked");
    co_return AuthOutcome{.principal = principalFor(*user, CredentialKind::session, {std::string(kAllScopes)},
                                                    std::move(idHash)),
                          .failure = {}};
}

boost::asio::awaitable<AuthOutcome> RequestAuthenticator::authenticateExternal(
    std::string_view token, boost::asio::ip::address client, const obs::Span& trace) {
    std::string failure;
    auto external = co_await oidc_->verify(token, trace, &failure);
    if (!external) co_return refused("external_" + failure);
    const std::string role(roleName(external->role));
    // The provider is the actor of what its tokens change here.
    const std::string actor = "oidc:" + external->issuer;
    const RequestContext context{.requestId = {}, .client = client, .trace = &trace};
    auto user = co_await obs::tracedStore(trace, store_, "findUserByUsername",
                                          store_.findUserByUsername(external->username));
    if (!user) {
        store::UserRecord record{.id = randomToken(16),
                                 .username = external->username,
                                 .role = role,
                                 .active = true,
                                 .created = now()};
        bool created = true;
        try {
            co_await obs::tracedStore(trace, store_, "createUser", store_.createUser(record));
        } catch (const store::Conflict&) {
            created = false;  // a concurrent first request won
        }
        if (created) {
            spdlog::info("created local user {} for an external identity", record.id);
            boost::json::object details{
                {"username", record.username}, {"role", role}, {"subject", external->subject}};
            co_await audit_.audit("user.created", actor, context, "user:" + record.id, "success",
                                  std::move(details));
            user = std::move(record);
        } else {
            user = co_await obs::tracedStore(trace, store_, "findUserByUsername",
                                             store_.findUserByUsername(external->username));
        }
        if (!user) co_return refused("external_user_conflict");
    }
    if (!user->active) co_return refused("user_inactive");
    // Revoking a user's credentials here must stop the provider's tokens issued before it too. A token that
    // does not say when it was issued cannot show it came after; one issued within the revocation's second
    // might have come before it (iat has whole seconds), so it is refused too: signing in at the provider
    // again a second later gives one that passes.
    if (user->credentialsRevokedAt &&
        (!external->issuedAt || *external->issuedAt <= *user->credentialsRevokedAt)) {
        co_return refused("revoked");
    }
    if (user->role != role) {
        const std::string oldRole = user->role;
        store::UserPatch patch;
        patch.role = role;
        auto updated = co_await obs::tracedStore(trace, store_, "updateUser",
                                                 store_.updateUser(user->id, std::move(patch)));
        cache_.clear();
        if (updated) user = std::move(updated);
        boost::json::object roles{{"from", oldRole}, {"to", role}, {"subject", external->subject}};
        co_await audit_.audit("user.role_changed", actor, context, "user:" + user->id, "success",
                              std::move(roles));
    }
    co_return AuthOutcome{
        .principal = principalFor(*user, CredentialKind::external, {std::string(kAllScopes)}, std::string()),
        .failure = {}};
}

}  // namespace rampart::identity
