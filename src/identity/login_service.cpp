// Login, refresh and logout. Every refusal that a client sees is deliberately vague (one error for every
// failed login, one 401 for every bad refresh token); the reason goes to the audit log instead.
//
// g++ 12 miscompiles some coroutine shapes, so the code here keeps to three rules: no co_await inside a
// condition (if, &&, ?:) — await into a local first; no brace-initialized aggregate or brace list inside
// a co_await expression — build it in a local; no lambda capturing an aggregate inside one either.
#include "identity/login_service.hpp"

#include <algorithm>
#include <cctype>
#include <functional>

#include <boost/json/object.hpp>

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

// A client address may fail this many times more than one account before it is locked out too: many
// people can share an address (NAT, a proxy), and one account's lockout already stops guessing there.
constexpr int kAddressFailureFactor = 4;

AuthError invalidCredentials() {
    return {Kind::unauthorized, "invalid_credentials", "invalid username, password or code"};
}

AuthError unauthorized() {
    return {Kind::unauthorized, "invalid_token", "the token is not valid"};
}

// The metric of a failed login's audited reason.
obs::AuthMetrics::Failure failureOf(std::string_view reason) {
    using Failure = obs::AuthMetrics::Failure;
    if (reason == "unknown_user") return Failure::unknownUser;
    if (reason == "bad_password" || reason == "reauth_bad_password") return Failure::badPassword;
    if (reason == "inactive") return Failure::inactiveUser;
    return Failure::badTotp;  // bad_totp, totp_unreadable
}

}  // namespace

LoginService::LoginService(store::IdentityStore& store, store::AuditSink& audit, CredentialCache& cache,
                           KeyManager& keys, PasswordHasher& hasher, SecretString serverSecret,
                           AuthSettings settings, Clock clock, obs::AuthMetrics* metrics)
    : store_(store),
      audit_(audit, clock),
      cache_(cache),
      keys_(keys),
      hasher_(hasher),
      serverSecret_(std::move(serverSecret)),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      csrf_(serverSecret_),
      refreshVerifier_(
          VerifyOptions{
              .issuer = settings_.issuer, .audience = settings_.audience, .tokenUse = std::string("refresh")},
          clock_),
      throttle_(settings_),
      nameKey_(serverSecret_),
      metrics_(metrics) {}

Seconds LoginService::now() const {
    return toSeconds(clock_());
}

std::string LoginService::attemptTarget(const std::optional<store::UserRecord>& user,
                                        std::string_view typedName) const {
    return user ? "user:" + user->username : "name:" + nameKey_.of(typedName);
}

boost::asio::awaitable<void> LoginService::loginFailed(const std::optional<store::UserRecord>& user,
                                                       const std::string& username,
                                                       const RequestContext& context,
                                                       std::string_view reason) {
    const Seconds time = now();
    countFailure(failureOf(reason));
    const auto addressLockout = throttle_.fail(addressThrottleKey(context.client), time,
                                               settings_.loginMaxFailures * kAddressFailureFactor);
    // The name's counter is in the store, known name or not, so that every node and every restart
    // answers alike for both (an unknown name must lock exactly like a known one).
    std::function<std::chrono::seconds(int)> lockout = [this](int failures) {
        return lockoutFor(failures, settings_);
    };
    std::string nameKey = nameKey_.of(username);
    const auto counted = co_await obs::tracedStore(
        context.span(), store_, "recordLoginNameFailure",
        store_.recordLoginNameFailure(std::move(nameKey), time, settings_.lockoutMax, std::move(lockout)));
    const auto nameLockout = lockoutFor(counted.failures, settings_);
    if (user) {
        // The account's own columns mirror the name's lockout, for administrators (locked_until).
        std::function<std::chrono::seconds(int)> mirror = [nameLockout](int) { return nameLockout; };
        co_await obs::tracedStore(context.span(), store_, "recordLoginFailure",
                                  store_.recordLoginFailure(user->id, time, std::move(mirror)));
    }
    const std::string actor = user ? user->id : "anonymous";
    boost::json::object failure{{"reason", reason}};
    const std::string target = attemptTarget(user, username);
    co_await audit_.audit("auth.login", actor, context, target, "failure", std::move(failure));
    if (addressLockout > std::chrono::seconds::zero() || nameLockout > std::chrono::seconds::zero()) {
        if (metrics_) metrics_->lockoutStarted();
        boost::json::object lockouts{{"account_seconds", nameLockout.count()},
                                     {"address_seconds", addressLockout.count()}};
        co_await audit_.audit("auth.lockout", actor, context, target, "locked", std::move(lockouts));
    }
}

// The name's lockout comes from the store alone, the same row for a known name as for an unknown one
// (the user's locked_until only mirrors it), so the answer never tells them apart; the address's from
// this process's throttle.
boost::asio::awaitable<LoginService::Lock> LoginService::lockFor(const std::string& username,
                                                                 const RequestContext& context,
                                                                 Seconds time) {
    Lock lock{.until = throttle_.lockedUntil(addressThrottleKey(context.client), time)};
    const auto nameFailures = co_await obs::tracedStore(context.span(), store_, "findLoginNameFailures",
                                                        store_.findLoginNameFailures(nameKey_.of(username)));
    lock.nameFailed = nameFailures.has_value();
    if (nameFailures && nameFailures->lockedUntil && *nameFailures->lockedUntil > time) {
        lock.until = std::max(lock.until.value_or(Seconds{}), *nameFailures->lockedUntil);
    }
    co_return lock;
}

boost::asio::awaitable<LoginResult> LoginService::login(LoginRequest request, RequestContext context) {
    const Seconds time = now();
    const std::string nameKey = nameKey_.of(request.username);

    // A full hashing pool refuses the login before it costs a store read: a flood of logins is then
    // cheap to answer, and the answer is the same whether the account exists or not.
    hasher_.refuseIfBusy();
    const Lock lock = co_await lockFor(request.username, context, time);
    std::optional<store::UserRecord> user;
    if (validUsername(request.username)) {
        user = co_await obs::tracedStore(context.span(), store_, "findUserByUsername",
                                         store_.findUserByUsername(request.username));
    }
    if (const auto& lockedUntil = lock.until) {
        countFailure(obs::AuthMetrics::Failure::locked);
        const std::string actor = user ? user->id : "anonymous";
        const std::string target = attemptTarget(user, request.username);
        co_await audit_.audit("auth.login", actor, context, target, "throttled");
        AuthError error(Kind::throttled, "too_many_attempts", "too many failed logins; try again later");
        error.retryAfter = *lockedUntil - time;
        throw error;
    }

    // Unknown users and users without a password verify against a dummy hash, so that a wrong name
    // costs the same time as a wrong password. Both run on the hashing pool, never on this (network)
    // thread, and both are refused alike (503) when its queue is full.
    const std::string_view password = request.password.reveal();
    bool passwordOk = false;
    if (user && !user->passwordHash.empty()) {
        passwordOk = co_await hasher_.verify(password, user->passwordHash, context.span());
    } else {
        passwordOk = co_await hasher_.verifyAgainstDummy(password, context.span());
    }
    if (!passwordOk || !user || !user->active) {
        co_await loginFailed(user, request.username, context,
                             !user ? "unknown_user" : (!passwordOk ? "bad_password" : "inactive"));
        throw invalidCredentials();
    }

    if (user->totpEnabled) {
        if (!request.totp) {
            throw AuthError(Kind::totpRequired, "totp_required", "this account needs a one-time code",
                            "/totp");
        }
        auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
        std::optional<std::int64_t> step;
        if (secret) step = verifyTotp(secret->reveal(), *request.totp, clock_(), user->totpLastStep);
        bool accepted = false;
        if (step) {
            accepted = co_await obs::tracedStore(context.span(), store_, "consumeTotpStep",
                                                 store_.consumeTotpStep(user->id, *step));
        }
        if (!accepted) {
            co_await loginFailed(user, request.username, context, secret ? "bad_totp" : "totp_unreadable");
            throw invalidCredentials();
        }
    }

    store::UserPatch patch;
    patch.failedLogins = 0;
    patch.lockedUntil = std::optional<Seconds>{};
    patch.lastLogin = std::optional<Seconds>{time};
    if (needsRehash(user->passwordHash, settings_.hashing)) {
        std::optional<std::string> rehashed;
        try {
            rehashed = co_await hasher_.hash(password, context.span());
        } catch (const AuthError&) {
            // The pool is full: the login stands, and the next one rehashes.
        }
        if (rehashed) patch.passwordHash = std::move(*rehashed);
    }
    co_await obs::tracedStore(context.span(), store_, "updateUser",
                              store_.updateUser(user->id, std::move(patch)));
    cache_.clear();
    if (lock.nameFailed) {
        co_await obs::tracedStore(context.span(), store_, "clearLoginNameFailures",
                                  store_.clearLoginNameFailures(nameKey));
    }
    boost::json::object kind{{"kind", request.session ? "session" : "token"}};
    co_await audit_.audit("auth.login", user->id, context, "user:" + user->username, "success",
                          std::move(kind));

    LoginResult result;
    if (request.session) {
        auto sessionId = randomToken(32);
        // (Aggregates are built before co_await, never inside it: g++ 12 destroys such temporaries twice.)
        store::SessionRecord session{.idHash = sha256Hex(sessionId),
                                     .userId = user->id,
                                     .created = time,
                                     .expires = time + settings_.sessionTtl,
                                     .revoked = std::nullopt};
        co_await obs::tracedStore(context.span(), store_, "createSession",
                                  store_.createSession(std::move(session)));
        result.session = NewSession{.cookieValue = SecretString(sessionId),
                                    .csrfToken = csrf_.tokenFor(sessionId),
                                    .maxAge = settings_.sessionTtl};
    } else {
        result.tokens = co_await issuePair(*user, randomToken(16), context);
    }
    co_return result;
}

boost::asio::awaitable<std::int64_t> LoginService::pruneNameFailures() {
    const Seconds time = now();
    return store_.pruneLoginNameFailures(time - settings_.lockoutMax, time, kNameFailureCapacity);
}

boost::asio::awaitable<PasswordConfirmed> LoginService::confirmPassword(Principal principal,
                                                                        SecretString password,
                                                                        RequestContext context) {
    const Seconds time = now();
    hasher_.refuseIfBusy();
    auto user = co_await obs::tracedStore(context.span(), store_, "findUserById",
                                          store_.findUserById(principal.userId));
    const std::string username = user ? user->username : principal.username;
    // The same locks as login: otherwise a stolen session would be a way around them to guess the password.
    const Lock lock = co_await lockFor(username, context, time);
    if (const auto& lockedUntil = lock.until) {
        countFailure(obs::AuthMetrics::Failure::locked);
        co_await audit_.audit("auth.reauth", principal.userId, context, "user:" + username, "throttled");
        AuthError error(Kind::throttled, "too_many_attempts", "too many failed logins; try again later");
        error.retryAfter = *lockedUntil - time;
        throw error;
    }
    const bool hasPassword = user && !user->passwordHash.empty();
    bool passwordOk = false;
    if (hasPassword) {
        passwordOk = co_await hasher_.verify(password.reveal(), user->passwordHash, context.span());
    } else {
        passwordOk = co_await hasher_.verifyAgainstDummy(password.reveal(), context.span());
    }
    if (!passwordOk || !hasPassword) {
        co_await loginFailed(user, username, context, "reauth_bad_password");
        throw AuthError(Kind::forbidden, "invalid_credentials", "the password is wrong", "/password");
    }
    co_return PasswordConfirmed(user->id);
}

IssuedToken LoginService::issueAccess(const KeyRing& ring, const std::string& userId,
                                      const std::string& familyId) const {
    return issueAccessToken(ring,
                            AccessTokenParams{.subject = userId,
                                              .issuer = settings_.issuer,
                                              .audience = settings_.audience,
                                              .scopes = {std::string(kAllScopes)},
                                              .lifetime = settings_.accessTokenTtl,
                                              .familyId = familyId},
                            clock_);
}

boost::asio::awaitable<TokenPair> LoginService::issuePair(const store::UserRecord& user,
                                                          const std::string& familyId,
                                                          const RequestContext& context) {
    const auto currentRing = keys_.ring();
    auto refresh = issueRefreshToken(*currentRing,
                                     RefreshTokenParams{.subject = user.id,
                                                        .familyId = familyId,
                                                        .issuer = settings_.issuer,
                                                        .audience = settings_.audience,
                                                        .lifetime = settings_.refreshTokenTtl},
                                     clock_);
    auto access = issueAccess(*currentRing, user.id, familyId);
    if (!refresh.ok || !access.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    store::RefreshTokenRecord first{.tokenId = refresh.tokenId,
                                    .familyId = familyId,
                                    .userId = user.id,
                                    .issued = now(),
                                    .expires = refresh.expires};
    co_await obs::tracedStore(context.span(), store_, "createRefreshFamily",
                              store_.createRefreshFamily(std::move(first)));
    co_return TokenPair{.accessToken = std::move(access.token),
                        .refreshToken = std::move(refresh.token),
                        .expiresIn = settings_.accessTokenTtl};
}

boost::asio::awaitable<TokenPair> LoginService::refresh(std::string refreshToken, RequestContext context) {
    auto verified = co_await keys_.verify(refreshVerifier_, refreshToken);
    const auto* family = verified.ok ? verified.claims->raw.if_contains("family_id") : nullptr;
    if (!family || !family->is_string() || family->get_string().empty() || verified.claims->tokenId.empty()) {
        countFailure(!verified.ok && verified.error == VerifyError::kExpired
                         ? obs::AuthMetrics::Failure::expired
                         : obs::AuthMetrics::Failure::badToken);
        throw unauthorized();
    }
    const std::string familyId(family->get_string());
    const std::string userId = verified.claims->subject;
    auto user =
        co_await obs::tracedStore(context.span(), store_, "findUserById", store_.findUserById(userId));
    if (!user || !user->active) {
        countFailure(obs::AuthMetrics::Failure::inactiveUser);
        throw unauthorized();
    }

    // Sign the successor first; it only becomes valid if the rotation below stores it.
    const auto currentRing = keys_.ring();
    auto next = issueRefreshToken(*currentRing,
                                  RefreshTokenParams{.subject = userId,
                                                     .familyId = familyId,
                                                     .issuer = settings_.issuer,
                                                     .audience = settings_.audience,
                                                     .lifetime = settings_.refreshTokenTtl},
                                  clock_);
    if (!next.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    store::RefreshTokenRecord successor{.tokenId = next.tokenId,
                                        .familyId = familyId,
                                        .userId = userId,
                                        .issued = now(),
                                        .expires = next.expires};
    auto rotated = co_await obs::tracedStore(
        context.span(), store_, "rotateRefreshToken",
        store_.rotateRefreshToken(verified.claims->tokenId, std::move(successor), now()));
    cache_.clear();
    if (rotated.outcome == store::RefreshOutcome::reused) {
        boost::json::object detail{{"detail", "a spent refresh token was presented; the family is revoked"}};
        co_await audit_.audit("auth.refresh_reuse", userId, context, "family:" + familyId, "denied",
                              std::move(detail));
        countFailure(obs::AuthMetrics::Failure::revoked);
        throw unauthorized();
    }
    if (rotated.outcome != store::RefreshOutcome::rotated) {
        countFailure(rotated.outcome == store::RefreshOutcome::revoked ? obs::AuthMetrics::Failure::revoked
                                                                       : obs::AuthMetrics::Failure::badToken);
        throw unauthorized();
    }

    auto access = issueAccess(*currentRing, userId, familyId);
    if (!access.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    co_return TokenPair{.accessToken = std::move(access.token),
                        .refreshToken = std::move(next.token),
                        .expiresIn = settings_.accessTokenTtl};
}

boost::asio::awaitable<void> LoginService::logout(Principal principal, RequestContext context) {
    switch (principal.credential) {
        case CredentialKind::accessToken:
            co_await obs::tracedStore(context.span(), store_, "revokeRefreshFamily",
                                      store_.revokeRefreshFamily(principal.credentialId, now()));
            cache_.clear();
            break;
        case CredentialKind::session:
            co_await obs::tracedStore(context.span(), store_, "revokeSession",
                                      store_.revokeSession(principal.credentialId, now()));
            cache_.clear();
            break;
        case CredentialKind::apiToken:
            throw AuthError(Kind::invalid, "not_a_session",
                            "logout ends sessions and refresh families; revoke an API token with "
                            "DELETE /api/v1/tokens/{id}");
        case CredentialKind::external:
            break;  // the provider owns that session
    }
    co_await audit_.audit("auth.logout", principal.userId, context, "user:" + principal.username, "success");
}

}  // namespace rampart::identity
