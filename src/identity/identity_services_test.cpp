// The identity services (IdentityServices: logins, accounts, keys, the authenticator) against a real SQLite
// store: logins and their throttling, token rotation and reuse, API tokens, sessions, TOTP, revocation, key
// rotation. Each refusal is tried, not assumed.
#include "identity/identity_services.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <future>
#include <thread>
#include <tuple>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include "core/base64url.hpp"
#include "core/sha256.hpp"
#include "identity/api_token.hpp"
#include "identity/jwt_test_support.hpp"
#include "identity/password.hpp"
#include "identity/password_hasher.hpp"
#include "identity/totp.hpp"
#include "obs/metrics.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/cheap_hashing.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::identity {
namespace {

using namespace std::chrono_literals;
using testing::runToCompletion;
using Kind = AuthError::Kind;

constexpr std::string_view kPassword = "correct horse battery staple 42";

AuthSettings testSettings() {
    AuthSettings settings;
    settings.hashing = rampart::testing::cheapestHashing();
    settings.loginMaxFailures = 3;
    settings.lockoutBase = 60s;
    settings.lockoutMax = 600s;
    return settings;
}

class IdentityServicesTest : public ::testing::Test {
  protected:
    IdentityServicesTest()
        : store_(dir_.path() / "rampart.db"),
          secret_("a test secret key of enough length for hkdf"),
          ids_(std::make_unique<IdentityServices>(store_, store_, secret_, testSettings(), clock())) {
        store_.setAuditKey(rampart::testing::testAuditKey());
        store_.migrate();
        ids_->keys.loadKeys();
    }
    ~IdentityServicesTest() override { store_.close(); }

    Clock clock() {
        return [this] { return now_; };
    }

    store::UserRecord createUser(const std::string& name, Role role = Role::user) {
        return runToCompletion(
            ids_->accounts.createUser(NewUser{.username = name,
                                              .email = std::nullopt,
                                              .role = role,
                                              .password = SecretString(std::string(kPassword))},
                                      "system", context()));
    }

    RequestContext context(const std::string& address = "192.0.2.10") {
        return RequestContext{.requestId = "req-1", .client = boost::asio::ip::make_address(address)};
    }

    LoginResult login(const std::string& name, std::string_view password = kPassword,
                      std::optional<std::string> totp = std::nullopt, bool session = false,
                      const std::string& address = "192.0.2.10") {
        return runToCompletion(
            ids_->logins.login(LoginRequest{.username = name,
                                            .password = SecretString(std::string(password)),
                                            .totp = std::move(totp),
                                            .session = session},
                               context(address)));
    }

    // The caller's password, confirmed as the TOTP routes confirm it.
    PasswordConfirmed confirmed(const Principal& principal, std::string_view password = kPassword) {
        return runToCompletion(
            ids_->logins.confirmPassword(principal, SecretString(std::string(password)), context()));
    }

    // The kind of AuthError `fn` throws; fails the test when it throws nothing.
    template <class Fn>
    std::optional<AuthError> errorOf(Fn fn) {
        try {
            fn();
        } catch (const AuthError& error) {
            return error;
        }
        ADD_FAILURE() << "no AuthError";
        return std::nullopt;
    }

    AuthOutcome authenticate(std::string_view value,
                             PresentedCredential::Scheme scheme = PresentedCredential::Scheme::bearer) {
        return runToCompletion(
            ids_->authenticator.authenticate(PresentedCredential{.scheme = scheme, .value = value},
                                             boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()));
    }

    std::vector<obs::AuditRecord> auditOf(const std::string& action) {
        store::AuditQuery query;
        query.action = action;
        return runToCompletion(store_.listAudit(query));
    }

    Principal principalOf(std::string_view token) {
        auto outcome = authenticate(token);
        EXPECT_TRUE(outcome.principal) << outcome.failure;
        return outcome.principal.value_or(Principal{});
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    SecretString secret_;
    std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
    std::unique_ptr<IdentityServices> ids_;
};

TEST_F(IdentityServicesTest, LoginGivesAPairWhoseAccessTokenAuthenticates) {
    auto user = createUser("alice", Role::auditor);
    auto result = login("alice");
    ASSERT_TRUE(result.tokens);
    EXPECT_EQ(result.tokens->expiresIn, 600s);
    auto outcome = authenticate(result.tokens->accessToken);
    ASSERT_TRUE(outcome.principal) << outcome.failure;
    EXPECT_EQ(outcome.principal->userId, user.id);
    EXPECT_EQ(outcome.principal->role, Role::auditor);
    EXPECT_EQ(outcome.principal->credential, CredentialKind::accessToken);
    EXPECT_EQ(auditOf("auth.login").back().event.outcome, "success");
}

TEST_F(IdentityServicesTest, WrongPasswordAndUnknownUserFailAlikeAndBothAreAudited) {
    createUser("alice");
    auto wrong = errorOf([&] { login("alice", "not the password at all"); });
    const auto runsBefore = argon2RunCount();
    auto unknown = errorOf([&] { login("mallory", "not the password at all"); });
    ASSERT_TRUE(wrong && unknown);
    EXPECT_EQ(wrong->kind(), Kind::unauthorized);
    EXPECT_EQ(wrong->slug(), unknown->slug());
    EXPECT_STREQ(wrong->what(), unknown->what());
    EXPECT_GT(argon2RunCount(), runsBefore) << "an unknown user must cost a hash verification too";
    auto failures = auditOf("auth.login");
    ASSERT_EQ(failures.size(), 2u);
    EXPECT_EQ(failures[0].event.details.at("reason"), "bad_password");
    EXPECT_EQ(failures[1].event.details.at("reason"), "unknown_user");
    EXPECT_EQ(failures[0].event.target, "user:alice");
}

// People type passwords into the username field: a name no account has is audited as its keyed hash,
// the same one each time (an operator still sees one name tried over and over), never as typed.
TEST_F(IdentityServicesTest, AnUnknownNameIsAuditedAsAKeyedHashNeverAsTyped) {
    const std::string typed = "Hunter2 Correct Staple 99";
    for (int i = 0; i < 4; ++i) (void)errorOf([&] { login(typed, "not the password at all"); });
    auto throttled = errorOf([&] { login(typed, "not the password at all"); });
    ASSERT_TRUE(throttled);
    EXPECT_EQ(throttled->kind(), Kind::throttled);

    std::vector<obs::AuditRecord> events = auditOf("auth.login");
    const std::vector<obs::AuditRecord> lockouts = auditOf("auth.lockout");
    ASSERT_FALSE(lockouts.empty());
    events.insert(events.end(), lockouts.begin(), lockouts.end());
    ASSERT_GE(events.size(), 5u);
    const std::string target = events.front().event.target;
    EXPECT_TRUE(target.starts_with("name:")) << target;
    EXPECT_EQ(target.size(), std::string("name:").size() + 64) << "a 32-byte keyed hash in hex";
    for (const obs::AuditRecord& record : events) {
        EXPECT_EQ(record.event.target, target) << record.event.action << " " << record.event.outcome;
        const std::string serialized = boost::json::serialize(record.event.details) + record.event.target;
        EXPECT_EQ(serialized.find("Hunter2"), std::string::npos) << serialized;
        EXPECT_EQ(serialized.find("hunter2"), std::string::npos) << serialized;
    }
    // Case folds like the lockout does, so "HUNTER2 ..." is the same name.
    (void)errorOf([&] { login("HUNTER2 CORRECT STAPLE 99", "not the password at all"); });
    EXPECT_EQ(auditOf("auth.login").back().event.target, target);
}

TEST_F(IdentityServicesTest, AnOverlongPasswordIsRefusedWithoutHashing) {
    createUser("alice");
    const auto runsBefore = argon2RunCount();
    auto error = errorOf([&] { login("alice", std::string(kMaxPasswordBytes + 1, 'a')); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->slug(), "invalid_credentials");
    EXPECT_EQ(argon2RunCount(), runsBefore);
}

TEST_F(IdentityServicesTest, RepeatedFailuresLockTheAccountWithGrowingLockouts) {
    createUser("alice");
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ(errorOf([&] { login("alice", "wrong password!!"); })->kind(), Kind::unauthorized);
    // The third failure reaches the threshold: the lockout starts.
    EXPECT_EQ(errorOf([&] { login("alice", "wrong password!!"); })->kind(), Kind::unauthorized);
    auto locked = errorOf([&] { login("alice"); });  // even the right password
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->kind(), Kind::throttled);
    EXPECT_GT(locked->retryAfter, 0s);
    EXPECT_LE(locked->retryAfter, 60s);
    EXPECT_FALSE(auditOf("auth.lockout").empty());
    EXPECT_EQ(auditOf("auth.login").back().event.outcome, "throttled");

    now_ += 61s;
    EXPECT_EQ(errorOf([&] { login("alice", "wrong password!!"); })->kind(), Kind::unauthorized);
    auto longer = errorOf([&] { login("alice"); });
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->kind(), Kind::throttled);
    EXPECT_GT(longer->retryAfter, 60s) << "the second lockout is longer";

    now_ += 700s;
    EXPECT_TRUE(login("alice").tokens);
}

TEST_F(IdentityServicesTest, AnUnknownUsernameLocksExactlyLikeAKnownOne) {
    for (int i = 0; i < 3; ++i) errorOf([&] { login("nobody", "wrong password!!"); });
    auto locked = errorOf([&] { login("nobody", "wrong password!!"); });
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->kind(), Kind::throttled);
}

TEST_F(IdentityServicesTest, OneAddressGuessingManyAccountsIsLockedOut) {
    // Spread over many names, no account reaches its threshold; the address does.
    for (int i = 0; i < 12; ++i) errorOf([&] { login("name" + std::to_string(i), "wrong password!!"); });
    auto locked = errorOf([&] { login("fresh-name", "wrong password!!"); });
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->kind(), Kind::throttled);
    // Another address is not affected.
    createUser("alice");
    EXPECT_TRUE(login("alice", kPassword, std::nullopt, false, "198.51.100.7").tokens);
}

// Rotating through the addresses of one IPv6 /64 does not escape the address lockout: the /64 is one
// address to the throttle (as to the rate limiter), and IPv4-mapped IPv6 is its IPv4 address.
TEST_F(IdentityServicesTest, FailuresFromOneIpv6Slash64LockTheWholeSlash64) {
    // 12 failures (3 x kAddressFailureFactor) over fresh names, each from a different address of the /64.
    for (int i = 0; i < 12; ++i) {
        const std::string address = "2001:db8:1:2::" + std::to_string(i + 1);
        errorOf(
            [&] { login("v6name" + std::to_string(i), "wrong password!!", std::nullopt, false, address); });
    }
    auto locked = errorOf(
        [&] { login("another-name", "wrong password!!", std::nullopt, false, "2001:db8:1:2:abcd::9"); });
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->kind(), Kind::throttled) << "a fresh address of the same /64 was not locked out";
    // The next /64 is another client.
    createUser("alice");
    EXPECT_TRUE(login("alice", kPassword, std::nullopt, false, "2001:db8:1:3::1").tokens);

    // IPv4-mapped IPv6 counts as the IPv4 address.
    for (int i = 0; i < 12; ++i)
        errorOf([&] {
            login("v4name" + std::to_string(i), "wrong password!!", std::nullopt, false,
                  "::ffff:198.51.100.20");
        });
    auto mapped =
        errorOf([&] { login("yet-another", "wrong password!!", std::nullopt, false, "198.51.100.20"); });
    ASSERT_TRUE(mapped);
    EXPECT_EQ(mapped->kind(), Kind::throttled);
}

// An unknown name's lockout lives where a known name's does (the store), so a restarted process (or
// another node) answers the same for both: the lockout does not tell which accounts exist.
TEST_F(IdentityServicesTest, AnUnknownNameStaysLockedLikeAKnownOneAfterARestart) {
    createUser("alice");
    for (int i = 0; i < 3; ++i) {
        errorOf([&] { login("alice", "wrong password!!", std::nullopt, false, "192.0.2.1"); });
        errorOf([&] { login("Nobody", "wrong password!!", std::nullopt, false, "192.0.2.2"); });
    }
    // A fresh set of services on the same database: nothing of the old process's memory survives.
    ids_ = std::make_unique<IdentityServices>(store_, store_, secret_, testSettings(), clock());
    ids_->keys.loadKeys();
    auto known = errorOf([&] { login("alice", kPassword, std::nullopt, false, "198.51.100.1"); });
    auto unknown = errorOf([&] { login("nobody", kPassword, std::nullopt, false, "198.51.100.2"); });
    ASSERT_TRUE(known);
    ASSERT_TRUE(unknown);
    EXPECT_EQ(known->kind(), Kind::throttled);
    EXPECT_EQ(unknown->kind(), Kind::throttled) << "the unknown name's lockout did not survive the restart";
    EXPECT_EQ(unknown->slug(), known->slug());
    EXPECT_EQ(unknown->retryAfter, known->retryAfter);
    EXPECT_EQ(std::string(unknown->what()), std::string(known->what()));
    // The lockout ends alike too, and an administrator's new password lifts the known one.
    now_ += 61s;
    EXPECT_EQ(errorOf([&] { login("nobody", kPassword, std::nullopt, false, "198.51.100.2"); })->kind(),
              Kind::unauthorized);
    EXPECT_TRUE(login("alice", kPassword, std::nullopt, false, "198.51.100.1").tokens);
}

// The counter's row holds a keyed hash of the name: neither the name (which is sometimes a password
// typed into the wrong field) nor its plain hash.
TEST_F(IdentityServicesTest, TheNameFailureRowDoesNotHoldTheName) {
    const std::string typed = "Tr0ub4dor&3-my-password";
    errorOf([&] { login(typed, "wrong password!!"); });
    errorOf([&] { login("plainname", "wrong password!!"); });
    store::sqlite::Connection db(dir_.path() / "rampart.db", store::sqlite::Connection::Mode::readOnly);
    auto rows = db.prepare("SELECT name_key, failures FROM login_name_failures ORDER BY name_key");
    std::vector<std::string> keys;
    while (rows.step()) keys.push_back(rows.columnText(0));
    ASSERT_EQ(keys.size(), 2u);
    for (const std::string& key : keys) {
        EXPECT_EQ(key.size(), 64u);
        for (const std::string& name : {typed, std::string("plainname")}) {
            std::string lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            EXPECT_EQ(key.find(name), std::string::npos);
            EXPECT_EQ(key.find(lower), std::string::npos);
            EXPECT_NE(key, hexLower(sha256(lower))) << "a plain hash can be searched with a dictionary";
            EXPECT_NE(key, hexLower(sha256(name)));
        }
    }
    // Keyed by the secret: another secret gives another key.
    EXPECT_NE(LoginNameKey(secret_).of("plainname"),
              LoginNameKey(SecretString("another secret key for the test")).of("plainname"));
    EXPECT_EQ(LoginNameKey(secret_).of("PlainName"), LoginNameKey(secret_).of("plainname"));
}

// rampart_auth_failures_total{reason} and rampart_lockouts_total move with failed logins, lockouts and
// refused credentials.
TEST_F(IdentityServicesTest, FailedLoginsAndLockoutsAreCountedOnTheMetrics) {
    obs::Metrics metrics;
    obs::AuthMetrics authMetrics(metrics);
    ids_ = std::make_unique<IdentityServices>(store_, store_, secret_, testSettings(), clock(), nullptr,
                                              &authMetrics);
    ids_->keys.loadKeys();
    auto value = [&](const std::string& series) {
        const std::string text = metrics.render();
        const auto at = text.find("\n" + series + " ");
        if (at == std::string::npos) return -1.0;
        return std::stod(text.substr(at + series.size() + 2));
    };
    EXPECT_EQ(value("rampart_auth_failures_total{reason=\"bad_password\"}"), 0.0);
    EXPECT_EQ(value("rampart_lockouts_total"), 0.0);
    createUser("alice");
    errorOf([&] { login("alice", "wrong password!!"); });
    errorOf([&] { login("nobody", "wrong password!!"); });
    EXPECT_EQ(value("rampart_auth_failures_total{reason=\"bad_password\"}"), 1.0);
    EXPECT_EQ(value("rampart_auth_failures_total{reason=\"unknown_user\"}"), 1.0);
    EXPECT_EQ(value("rampart_lockouts_total"), 0.0);
    errorOf([&] { login("alice", "wrong password!!"); });
    errorOf([&] { login("alice", "wrong password!!"); });  // the third: alice is locked out
    EXPECT_EQ(value("rampart_lockouts_total"), 1.0);
    errorOf([&] { login("alice"); });
    EXPECT_EQ(value("rampart_auth_failures_total{reason=\"locked\"}"), 1.0);
    EXPECT_FALSE(authenticate("not-a-jwt").principal);
    EXPECT_EQ(value("rampart_auth_failures_total{reason=\"bad_token\"}"), 1.0);
    const std::string text = metrics.render();
    EXPECT_EQ(text.find("alice"), std::string::npos) << "a username reached the metrics";
    EXPECT_EQ(text.find("192.0.2.10"), std::string::npos) << "an address reached the metrics";
}

TEST_F(IdentityServicesTest, AWeakerHashIsUpgradedAtTheNextLogin) {
    auto user = createUser("alice");
    store::UserPatch patch;
    patch.passwordHash =
        *hashPassword(kPassword, PasswordHashing{.opsLimit = 1, .memLimitBytes = 8 * 1024 * 1024});
    runToCompletion(store_.updateUser(user.id, patch));
    ASSERT_TRUE(login("alice").tokens);
    auto stored = runToCompletion(store_.findUserById(user.id));
    EXPECT_FALSE(needsRehash(stored->passwordHash, testSettings().hashing));
}

TEST_F(IdentityServicesTest, RefreshRotatesAndReuseRevokesTheWholeFamily) {
    createUser("alice");
    auto first = *login("alice").tokens;
    auto second = runToCompletion(ids_->logins.refresh(first.refreshToken, context()));
    EXPECT_NE(second.refreshToken, first.refreshToken);
    EXPECT_TRUE(authenticate(second.accessToken).principal);

    // The spent token comes back (stolen): refused, and the family dies with every token in it.
    auto reused = errorOf([&] { runToCompletion(ids_->logins.refresh(first.refreshToken, context())); });
    ASSERT_TRUE(reused);
    EXPECT_EQ(reused->kind(), Kind::unauthorized);
    EXPECT_EQ(auditOf("auth.refresh_reuse").size(), 1u);
    EXPECT_EQ(authenticate(second.accessToken).failure, "revoked");
    EXPECT_EQ(authenticate(first.accessToken).failure, "revoked");
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->logins.refresh(second.refreshToken, context())); })->kind(),
              Kind::unauthorized);
}

TEST_F(IdentityServicesTest, ARefreshTokenIsNotAnAccessTokenAndViceVersa) {
    createUser("alice");
    auto pair = *login("alice").tokens;
    EXPECT_EQ(authenticate(pair.refreshToken).failure, "wrong_token_use");
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->logins.refresh(pair.accessToken, context())); })->kind(),
              Kind::unauthorized);
}

TEST_F(IdentityServicesTest, ExpiredAccessTokensAndForeignlySignedOnesAreRefused) {
    createUser("alice");
    auto pair = *login("alice").tokens;
    // Same kid, another key: a forgery.
    auto claims = boost::json::parse(*base64UrlDecode(pair.accessToken.substr(
                                         pair.accessToken.find('.') + 1,
                                         pair.accessToken.rfind('.') - pair.accessToken.find('.') - 1)))
                      .as_object();
    auto header = boost::json::parse(*base64UrlDecode(pair.accessToken.substr(0, pair.accessToken.find('.'))))
                      .as_object();
    auto foreign = fixtures::generateEd25519();
    auto forged = signJwt(claims, header.at("kid").as_string(), Algorithm::kEdDSA, foreign.get());
    EXPECT_EQ(authenticate(*forged).failure, "bad_signature");
    now_ += 11min;
    EXPECT_EQ(authenticate(pair.accessToken).failure, "expired");
}

TEST_F(IdentityServicesTest, LogoutEndsTheFamilyAndItsAccessTokens) {
    auto user = createUser("alice");
    auto pair = *login("alice").tokens;
    auto principal = principalOf(pair.accessToken);
    runToCompletion(ids_->logins.logout(principal, context()));
    EXPECT_EQ(authenticate(pair.accessToken).failure, "revoked");
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->logins.refresh(pair.refreshToken, context())); })->kind(),
              Kind::unauthorized);
}

TEST_F(IdentityServicesTest, SessionsAuthenticateByCookieUntilLogoutOrExpiry) {
    createUser("alice");
    auto result = login("alice", kPassword, std::nullopt, true);
    ASSERT_TRUE(result.session);
    EXPECT_FALSE(result.tokens);
    const std::string cookie = result.session->cookieValue.reveal();
    auto outcome = authenticate(cookie, PresentedCredential::Scheme::sessionCookie);
    ASSERT_TRUE(outcome.principal) << outcome.failure;
    EXPECT_EQ(outcome.principal->credential, CredentialKind::session);
    EXPECT_TRUE(ids_->logins.csrfKey().verify(cookie, result.session->csrfToken));
    // Another first character (a random cookie starts with "x" one time in 64).
    const std::string other = (cookie.front() == 'x' ? "y" : "x") + cookie.substr(1);
    EXPECT_EQ(authenticate(other, PresentedCredential::Scheme::sessionCookie).failure, "unknown_session");

    now_ += testSettings().sessionTtl + 1s;
    EXPECT_EQ(authenticate(cookie, PresentedCredential::Scheme::sessionCookie).failure, "expired");
    now_ -= testSettings().sessionTtl + 1s;
    runToCompletion(ids_->logins.logout(*outcome.principal, context()));
    EXPECT_EQ(authenticate(cookie, PresentedCredential::Scheme::sessionCookie).failure, "revoked");
}

TEST_F(IdentityServicesTest, ApiTokensWorkWithBothSchemesUntilRevokedOrExpired) {
    auto user = createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    auto created = runToCompletion(ids_->accounts.createApiToken(principal, "ci", {"jobs:read", "jobs:write"},
                                                                 std::chrono::seconds(3600), context()));
    const std::string token = created.token.reveal();
    EXPECT_TRUE(token.starts_with("rmp_"));
    EXPECT_NE(created.record.tokenHash.find_first_not_of("0123456789abcdef"), 0u);
    EXPECT_EQ(created.record.tokenHash, hashHex(hashApiToken(token)));

    for (auto scheme : {PresentedCredential::Scheme::bearer, PresentedCredential::Scheme::token}) {
        auto outcome = authenticate(token, scheme);
        ASSERT_TRUE(outcome.principal) << outcome.failure;
        EXPECT_EQ(outcome.principal->credential, CredentialKind::apiToken);
        EXPECT_TRUE(outcome.principal->hasScope("jobs:write"));
        EXPECT_FALSE(outcome.principal->hasScope("tokens"));
    }
    auto listed = runToCompletion(ids_->accounts.listApiTokens(principal, ""));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].id, created.record.id);

    now_ += 3601s;
    EXPECT_EQ(authenticate(token).failure, "expired");
    now_ -= 3601s;

    // Another user cannot revoke it: it is not theirs, so it does not exist for them.
    createUser("bob");
    auto bob = principalOf(login("bob").tokens->accessToken);
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.revokeApiToken(bob, created.record.id, context()));
              })->kind(),
              Kind::notFound);
    runToCompletion(ids_->accounts.revokeApiToken(principal, created.record.id, context()));
    EXPECT_EQ(authenticate(token).failure, "revoked");
    EXPECT_EQ(auditOf("token.revoked").size(), 1u);
}

TEST_F(IdentityServicesTest, AdminsRevokeAndAuditorsReadOtherUsersTokensButNobodyElse) {
    auto alice = createUser("alice");
    createUser("bob");
    createUser("root", Role::admin);
    createUser("carol", Role::auditor);
    auto alicePrincipal = principalOf(login("alice").tokens->accessToken);
    auto token = runToCompletion(
        ids_->accounts.createApiToken(alicePrincipal, "ci", {"jobs:read"}, std::nullopt, context()));
    auto bob = principalOf(login("bob").tokens->accessToken);
    auto admin = principalOf(login("root").tokens->accessToken);
    auto auditor = principalOf(login("carol").tokens->accessToken);

    EXPECT_EQ(runToCompletion(ids_->accounts.listApiTokens(auditor, alice.id)).size(), 1u);
    EXPECT_EQ(runToCompletion(ids_->accounts.listApiTokens(admin, alice.id)).size(), 1u);
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->accounts.listApiTokens(bob, alice.id)); })->kind(),
              Kind::notFound);
    // An auditor reads but never changes; the admin may revoke.
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.revokeApiToken(auditor, token.record.id, context()));
              })->kind(),
              Kind::notFound);
    runToCompletion(ids_->accounts.revokeApiToken(admin, token.record.id, context()));
    EXPECT_EQ(authenticate(token.token.reveal()).failure, "revoked");
    auto revoked = auditOf("token.revoked");
    ASSERT_EQ(revoked.size(), 1u);
    EXPECT_EQ(revoked[0].event.actor, admin.userId);
    EXPECT_EQ(revoked[0].event.details.at("owner").as_string(), alice.id);
}

TEST_F(IdentityServicesTest, ATokenCannotCarryScopesBeyondItsRoleOrItsCreator) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    for (std::vector<std::string> scopes :
         {std::vector<std::string>{"users:write"}, {"audit:read"}, {"worker"}, {"no-such-scope"}, {}}) {
        auto error = errorOf([&] {
            runToCompletion(ids_->accounts.createApiToken(principal, "t", scopes, std::nullopt, context()));
        });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), Kind::invalid);
    }
    // A token allowed to make tokens cannot make a stronger one.
    auto narrow = runToCompletion(
        ids_->accounts.createApiToken(principal, "narrow", {"jobs:read", "tokens"}, std::nullopt, context()));
    auto narrowPrincipal = principalOf(narrow.token.reveal());
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.createApiToken(narrowPrincipal, "wider", {"jobs:write"},
                                                                std::nullopt, context()));
              })->slug(),
              "invalid_scope");
    // Lifetimes beyond the configured maximum are refused.
    EXPECT_EQ(
        errorOf([&] {
            runToCompletion(ids_->accounts.createApiToken(
                principal, "long", {"jobs:read"}, std::chrono::seconds(std::chrono::days(400)), context()));
        })->field(),
        "/expires_in");
}

TEST_F(IdentityServicesTest, ATokenNarrowedToQueuesOnlyMakesTokensForThoseQueues) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    auto narrow = runToCompletion(ids_->accounts.createApiToken(
        principal, "reports", {"jobs:write", "tokens", "queue:reports"}, std::nullopt, context()));
    auto narrowPrincipal = principalOf(narrow.token.reveal());
    EXPECT_TRUE(narrowPrincipal.mayUseQueue("reports"));
    EXPECT_FALSE(narrowPrincipal.mayUseQueue("default"));
    for (std::vector<std::string> scopes :
         {std::vector<std::string>{"jobs:write"},  // would reach every queue
          {"jobs:write", "queue:default"}}) {
        auto error = errorOf([&] {
            runToCompletion(
                ids_->accounts.createApiToken(narrowPrincipal, "wider", scopes, std::nullopt, context()));
        });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->slug(), "invalid_scope");
    }
    EXPECT_NO_THROW(runToCompletion(ids_->accounts.createApiToken(
        narrowPrincipal, "same", {"jobs:write", "queue:reports"}, std::nullopt, context())));
    // Auditors submit and lease nothing, so a queue scope means nothing for them and is refused.
    createUser("carol", Role::auditor);
    auto auditor = principalOf(login("carol").tokens->accessToken);
    EXPECT_TRUE(errorOf([&] {
        runToCompletion(ids_->accounts.createApiToken(auditor, "q", {"jobs:read", "queue:default"},
                                                      std::nullopt, context()));
    }));
}

TEST_F(IdentityServicesTest, TotpEnrolmentConfirmationLoginReplayAndDisable) {
    auto user = createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, confirmed(principal), context()));
    auto secret = *base32Decode(enrolment.secretBase32);
    EXPECT_NE(enrolment.uri.reveal().find("otpauth://totp/"), std::string::npos);
    // Until confirmed, login needs no code.
    EXPECT_TRUE(login("alice").tokens);

    auto step = *totpStep(now_);
    EXPECT_EQ(
        errorOf([&] { runToCompletion(ids_->accounts.confirmTotp(principal, "000000", context())); })->slug(),
        "totp.invalid_code");
    runToCompletion(ids_->accounts.confirmTotp(principal, totpCode(secret, step), context()));

    auto needed = errorOf([&] { login("alice"); });
    ASSERT_TRUE(needed);
    EXPECT_EQ(needed->kind(), Kind::totpRequired);
    // The code used to confirm cannot log in (replay); the next step's code can, once.
    EXPECT_EQ(errorOf([&] { login("alice", kPassword, totpCode(secret, step)); })->kind(),
              Kind::unauthorized);
    now_ += 30s;
    const auto next = totpCode(secret, step + 1);
    EXPECT_TRUE(login("alice", kPassword, next).tokens);
    EXPECT_EQ(errorOf([&] { login("alice", kPassword, next); })->kind(), Kind::unauthorized);

    now_ += 30s;
    EXPECT_EQ(errorOf([&] { confirmed(principal, "wrong password!!"); })->kind(), Kind::forbidden);
    EXPECT_EQ(
        errorOf([&] {
            runToCompletion(ids_->accounts.disableTotp(principal, confirmed(principal), "000000", context()));
        })->kind(),
        Kind::forbidden);
    now_ += 30s;
    runToCompletion(
        ids_->accounts.disableTotp(principal, confirmed(principal), totpCode(secret, step + 3), context()));
    EXPECT_TRUE(login("alice").tokens);
}

TEST_F(IdentityServicesTest, AWrongPasswordForTotpCountsAsAFailedLoginAndLocksTheAccount) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(errorOf([&] { confirmed(principal, "not alice's password"); })->slug(),
                  "invalid_credentials");
    }
    const auto failures = auditOf("auth.login");
    ASSERT_FALSE(failures.empty());
    EXPECT_EQ(failures.back().event.details.at("reason"), "reauth_bad_password");
    // The third failure locked the account: the right password is refused now, here and at login.
    EXPECT_EQ(errorOf([&] { confirmed(principal); })->kind(), Kind::throttled);
    EXPECT_EQ(errorOf([&] { login("alice"); })->kind(), Kind::throttled);
}

TEST_F(IdentityServicesTest, AnExternalProvidersCredentialCannotCreateApiTokens) {
    auto user = createUser("alice");
    Principal external{.userId = user.id,
                       .username = user.username,
                       .role = Role::user,
                       .credential = CredentialKind::external,
                       .scopes = {std::string(kAllScopes)}};
    auto error = errorOf([&] {
        runToCompletion(ids_->accounts.createApiToken(external, "t", {"jobs:read"}, std::nullopt, context()));
    });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->kind(), Kind::forbidden);
    EXPECT_EQ(error->slug(), "external_credential");
    EXPECT_TRUE(runToCompletion(store_.listApiTokens(user.id)).empty());
}

TEST_F(IdentityServicesTest, TotpStepsOutOfOrderAreRefused) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    EXPECT_EQ(
        errorOf([&] { runToCompletion(ids_->accounts.confirmTotp(principal, "123456", context())); })->slug(),
        "totp_not_enrolled");
    EXPECT_EQ(
        errorOf([&] {
            runToCompletion(ids_->accounts.disableTotp(principal, confirmed(principal), "123456", context()));
        })->kind(),
        Kind::conflict);
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, confirmed(principal), context()));
    const auto secret = *base32Decode(enrolment.secretBase32);
    runToCompletion(ids_->accounts.confirmTotp(principal, totpCode(secret, *totpStep(now_)), context()));
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.enrolTotp(principal, confirmed(principal), context()));
              })->kind(),
              Kind::conflict)
        << "re-enrolling would replace a working second factor without the first";
    EXPECT_EQ(
        errorOf([&] { runToCompletion(ids_->accounts.confirmTotp(principal, "123456", context())); })->kind(),
        Kind::conflict);
}

TEST_F(IdentityServicesTest, LogoutWithAnApiTokenAndBadTokenNamesAreRefused) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    auto token = runToCompletion(
        ids_->accounts.createApiToken(principal, "t", {"jobs:read"}, std::nullopt, context()));
    auto tokenPrincipal = principalOf(token.token.reveal());
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->logins.logout(tokenPrincipal, context())); })->slug(),
              "not_a_session");
    EXPECT_FALSE(authenticate(token.token.reveal()).failure.size()) << "the token still works";
    for (std::string name : {std::string(), std::string(101, 'a'), std::string("tab\there")}) {
        EXPECT_EQ(errorOf([&] {
                      runToCompletion(ids_->accounts.createApiToken(principal, name, {"jobs:read"},
                                                                    std::nullopt, context()));
                  })->field(),
                  "/name");
    }
}

TEST_F(IdentityServicesTest, TheTotpSecretIsSealedAtRest) {
    auto user = createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, confirmed(principal), context()));
    auto stored = runToCompletion(store_.findUserById(user.id));
    EXPECT_EQ(stored->totpSecretSealed.find(enrolment.secretBase32), std::string::npos);
    EXPECT_NE(stored->totpSecretSealed, base64UrlEncode(*base32Decode(enrolment.secretBase32)));
}

TEST_F(IdentityServicesTest, DisablingAUserKillsEveryCredentialAtOnce) {
    auto admin = createUser("root", Role::admin);
    auto user = createUser("alice");
    auto pair = *login("alice").tokens;
    auto session = login("alice", kPassword, std::nullopt, true).session->cookieValue.reveal();
    auto principal = principalOf(pair.accessToken);
    auto apiToken =
        runToCompletion(ids_->accounts.createApiToken(principal, "t", {"jobs:read"}, std::nullopt, context()))
            .token.reveal();

    UserChanges changes;
    changes.active = false;
    auto updated = runToCompletion(ids_->accounts.updateUser(user.id, changes, admin.id, context()));
    EXPECT_FALSE(updated.active);
    EXPECT_FALSE(authenticate(pair.accessToken).principal);
    EXPECT_FALSE(authenticate(apiToken).principal);
    EXPECT_FALSE(authenticate(session, PresentedCredential::Scheme::sessionCookie).principal);
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->logins.refresh(pair.refreshToken, context())); })->kind(),
              Kind::unauthorized);
    EXPECT_EQ(errorOf([&] { login("alice"); })->kind(), Kind::unauthorized);
    EXPECT_EQ(auditOf("user.disabled").size(), 1u);
}

TEST_F(IdentityServicesTest, ARevocationByAnotherProcessIsSeenWithinASecond) {
    auto admin = createUser("root", Role::admin);
    createUser("alice");
    auto pair = *login("alice").tokens;
    auto principal = principalOf(pair.accessToken);  // now in this service's credential cache
    // Another process on the same database (the command line, another node) revokes everything.
    IdentityServices other(store_, store_, secret_, testSettings(), clock());
    runToCompletion(other.accounts.revokeAllCredentials(principal.userId, admin.id, context()));
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(authenticate(pair.accessToken).failure, "revoked");
}

TEST_F(IdentityServicesTest, RevokeAllKeepsTheAccountButEndsItsCredentials) {
    auto admin = createUser("root", Role::admin);
    createUser("alice");
    auto pair = *login("alice").tokens;
    auto principal = principalOf(pair.accessToken);
    auto apiToken =
        runToCompletion(ids_->accounts.createApiToken(principal, "t", {"jobs:read"}, std::nullopt, context()))
            .token.reveal();
    runToCompletion(ids_->accounts.revokeAllCredentials(principal.userId, admin.id, context()));
    EXPECT_FALSE(authenticate(pair.accessToken).principal);
    EXPECT_FALSE(authenticate(apiToken).principal);
    now_ += 1s;
    EXPECT_TRUE(authenticate(login("alice").tokens->accessToken).principal) << "a fresh login works";
}

TEST_F(IdentityServicesTest, RoleChangesTakeEffectAtOnceAndAreAudited) {
    auto admin = createUser("root", Role::admin);
    auto user = createUser("alice");
    auto pair = *login("alice").tokens;
    UserChanges changes;
    changes.role = Role::auditor;
    runToCompletion(ids_->accounts.updateUser(user.id, changes, admin.id, context()));
    EXPECT_EQ(principalOf(pair.accessToken).role, Role::auditor);
    auto changed = auditOf("user.role_changed");
    ASSERT_EQ(changed.size(), 1u);
    EXPECT_EQ(changed[0].event.details.at("to"), "auditor");
    EXPECT_EQ(changed[0].event.actor, admin.id);
}

TEST_F(IdentityServicesTest, AnAdminCannotDisableOrDemoteThemselves) {
    auto admin = createUser("root", Role::admin);
    UserChanges disable;
    disable.active = false;
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.updateUser(admin.id, disable, admin.id, context()));
              })->slug(),
              "self_lockout");
    UserChanges demote;
    demote.role = Role::user;
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.updateUser(admin.id, demote, admin.id, context()));
              })->slug(),
              "self_lockout");
}

TEST_F(IdentityServicesTest, NewUsersMustPassThePasswordPolicyAndHaveFreeNames) {
    auto weak = errorOf([&] {
        runToCompletion(ids_->accounts.createUser(NewUser{.username = "bob",
                                                          .email = std::nullopt,
                                                          .role = Role::user,
                                                          .password = SecretString("short")},
                                                  "system", context()));
    });
    ASSERT_TRUE(weak);
    EXPECT_EQ(weak->slug(), "password.too_short");
    EXPECT_EQ(weak->field(), "/password");
    createUser("alice");
    auto taken = errorOf([&] { createUser("ALICE"); });
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->kind(), Kind::conflict);
    EXPECT_EQ(errorOf([&] { createUser("bad name"); })->field(), "/username");
}

TEST_F(IdentityServicesTest, RotatedKeysSignNewTokensWhileOldTokensStillVerify) {
    createUser("alice");
    auto before = *login("alice").tokens;
    const auto kid = ids_->keys.rotateKeys();
    auto after = *login("alice").tokens;
    auto kidOf = [](const std::string& token) {
        return std::string(boost::json::parse(*base64UrlDecode(token.substr(0, token.find('.'))))
                               .as_object()
                               .at("kid")
                               .as_string());
    };
    EXPECT_EQ(kidOf(after.accessToken), kid);
    EXPECT_NE(kidOf(before.accessToken), kid);
    EXPECT_TRUE(authenticate(before.accessToken).principal);
    EXPECT_TRUE(authenticate(after.accessToken).principal);
    EXPECT_EQ(ids_->keys.verificationKeys()->size(), 2u);
}

TEST_F(IdentityServicesTest, AKeyRotatedByAnotherNodeIsPickedUpOnItsFirstToken) {
    createUser("alice");
    // Another node on the same database, with the same secret: it loaded the keys before the rotation.
    IdentityServices otherNode(store_, store_, secret_, testSettings(), clock());
    otherNode.keys.loadKeys();
    const auto kid = ids_->keys.rotateKeys();
    auto tokens = *login("alice").tokens;
    EXPECT_EQ(otherNode.keys.verificationKeys()->size(), 1u) << "it has not reloaded yet";
    const auto outcome = runToCompletion(otherNode.authenticator.authenticate(
        PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = tokens.accessToken},
        boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()));
    EXPECT_TRUE(outcome.principal) << outcome.failure;
    EXPECT_EQ(otherNode.keys.verificationKeys()->size(), 2u);
    const auto refreshed = runToCompletion(otherNode.logins.refresh(tokens.refreshToken, context()));
    EXPECT_FALSE(refreshed.accessToken.empty());

    // A forged kid reloads at most once per interval, and is refused either way.
    const std::string header = base64UrlEncode(std::string(R"({"alg":"EdDSA","kid":"forged","typ":"JWT"})"));
    const std::string forged = header + tokens.accessToken.substr(tokens.accessToken.find('.'));
    for (int i = 0; i < 3; ++i) {
        const auto refused = runToCompletion(otherNode.authenticator.authenticate(
            PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = forged},
            boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()));
        EXPECT_FALSE(refused.principal);
        EXPECT_EQ(refused.failure, "kid_unknown");
    }
    (void)kid;
}

TEST_F(IdentityServicesTest, KeysSealedUnderAnotherSecretRefuseToLoad) {
    IdentityServices other(store_, store_, SecretString("a different secret key entirely!!"), testSettings(),
                           clock());
    EXPECT_THROW(other.keys.loadKeys(), std::runtime_error);
}

TEST_F(IdentityServicesTest, TheFirstAdminIsCreatedOnceWithARandomPassword) {
    auto password = ids_->accounts.bootstrapAdmin({});
    ASSERT_TRUE(password);
    EXPECT_GE(password->size(), 20u);
    auto admin = runToCompletion(store_.findUserByUsername("admin"));
    ASSERT_TRUE(admin);
    EXPECT_EQ(admin->role, "admin");
    EXPECT_TRUE(login("admin", password->reveal()).tokens);
    EXPECT_FALSE(ids_->accounts.bootstrapAdmin({}));
}

TEST_F(IdentityServicesTest, TheFirstAdminsPasswordFileMustPassThePolicy) {
    auto weak = dir_.write("weak", "password\n");
    EXPECT_THROW(ids_->accounts.bootstrapAdmin(weak), std::runtime_error);
    auto good = dir_.write("good", std::string(kPassword) + "\n");
    auto result = ids_->accounts.bootstrapAdmin(good);
    ASSERT_TRUE(result);
    EXPECT_TRUE(result->empty()) << "nothing to print: the operator chose it";
    EXPECT_TRUE(login("admin").tokens);
}

TEST(AuthLockout, GrowsFromTheThresholdAndIsCapped) {
    AuthSettings settings;
    settings.loginMaxFailures = 5;
    settings.lockoutBase = 60s;
    settings.lockoutMax = 3600s;
    EXPECT_EQ(lockoutFor(4, settings), 0s);
    EXPECT_EQ(lockoutFor(5, settings), 60s);
    EXPECT_EQ(lockoutFor(6, settings), 120s);
    EXPECT_EQ(lockoutFor(9, settings), 960s);
    EXPECT_EQ(lockoutFor(100, settings), 3600s);
}

}  // namespace
}  // namespace rampart::identity

namespace rampart::identity {
namespace {

// Waits (boundedly) until `condition` holds; false if it never did.
template <class Condition>
bool eventually(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

TEST_F(IdentityServicesTest, AFullHashingPoolRefusesLoginsAtOnceWhileTheNetworkThreadServesOthers) {
    createUser("alice");
    AuthSettings settings = testSettings();
    settings.passwordHashThreads = 1;
    settings.passwordHashQueue = 1;
    IdentityServices tight(store_, store_, secret_, settings, clock());
    tight.keys.loadKeys();

    // The "network thread": one io_context, as a server's worker has, run by a thread of its own.
    boost::asio::io_context io;
    auto keepRunning = boost::asio::make_work_guard(io);
    std::thread network([&io] { io.run(); });
    auto loginOn = [&](std::string name, std::string password) {
        return boost::asio::co_spawn(io,
                                     tight.logins.login(LoginRequest{.username = std::move(name),
                                                                     .password = SecretString(password),
                                                                     .totp = std::nullopt,
                                                                     .session = false},
                                                        context()),
                                     boost::asio::use_future);
    };

    // The pool's one thread is held by a hash that ends when the test says so.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> started;
    auto blocker = boost::asio::co_spawn(io, tight.passwords.pool().run([&started, released] {
        started.set_value();
        released.wait();
        return 0;
    }),
                                         boost::asio::use_future);
    started.get_future().wait();
    // One login takes the one place in the queue.
    auto queued = loginOn("alice", std::string(kPassword));
    ASSERT_TRUE(eventually([&] { return tight.passwords.pool().queued() == 1; }));

    // The next logins are refused at once, without hashing, and alike for a known and an unknown user.
    const auto hashesBefore = argon2RunCount();
    // Shared futures kept past network.join(): the refusals' exceptions are then freed on this thread, not
    // on the network thread while this one still reads them (libstdc++'s exception_ptr reference count is
    // invisible to ThreadSanitizer, which reported that free as a race).
    std::vector<std::shared_future<LoginResult>> refusals;
    for (const std::string name : {"alice", "nobody-at-all"}) {
        refusals.push_back(loginOn(name, "some wrong password 123").share());
        const auto& refused = refusals.back();
        auto error = errorOf([&] { refused.get(); });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->kind(), Kind::unavailable) << name;
        EXPECT_EQ(error->slug(), "password_hashing_busy") << name;
        EXPECT_GE(error->retryAfter, 1s) << name;
    }
    EXPECT_EQ(argon2RunCount(), hashesBefore) << "a refused login must cost no hash";

    // While the queued login waits for the pool, the network thread still answers other work.
    auto other = boost::asio::co_spawn(
        io, []() -> boost::asio::awaitable<int> { co_return 42; }, boost::asio::use_future);
    EXPECT_EQ(other.get(), 42);
    EXPECT_EQ(queued.wait_for(0s), std::future_status::timeout) << "the queued login is still waiting";

    // Once the pool is free the queued login goes through, and the pool takes logins again.
    release.set_value();
    EXPECT_EQ(blocker.get(), 0);
    EXPECT_TRUE(queued.get().tokens);
    EXPECT_TRUE(loginOn("alice", std::string(kPassword)).get().tokens);

    keepRunning.reset();
    network.join();
}

// A hash must not take a core from a network thread that wants one, nor stall it by giving Argon2's
// memory back to the kernel after every hash (the login flood benchmark measures what both cost).
TEST_F(IdentityServicesTest, HashingThreadsYieldToEveryOtherThreadAndKeepTheirArgon2Memory) {
    createUser("alice");
    AuthSettings settings = testSettings();
    settings.passwordHashThreads = 1;
    IdentityServices single(store_, store_, secret_, settings, clock());
    single.keys.loadKeys();
    boost::asio::io_context io;
    auto login = boost::asio::co_spawn(
        io,
        single.logins.login(LoginRequest{.username = "alice",
                                         .password = SecretString(std::string(kPassword)),
                                         .totp = std::nullopt,
                                         .session = false},
                            context()),
        boost::asio::use_future);
    io.run();
    EXPECT_TRUE(login.get().tokens);
    // What the pool's one thread looks like once it has checked a password.
    struct ThreadState {
        int policy;
        std::size_t keptBytes;
    };
    auto probe = boost::asio::co_spawn(io, single.passwords.pool().run([] {
        return ThreadState{sched_getscheduler(0), argon2MemoryKeptOnThisThread().size()};
    }),
                                       boost::asio::use_future);
    io.restart();
    io.run();
    const ThreadState state = probe.get();
    EXPECT_EQ(state.policy, SCHED_IDLE);
    EXPECT_EQ(state.keptBytes, settings.hashing.memLimitBytes);
    EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER) << "only the pool's threads change";
    EXPECT_EQ(argon2MemoryKeptOnThisThread().size(), 0u);
}

TEST_F(IdentityServicesTest, TheHashingPriorityCanBeLowOrNormalForBusyHosts) {
    using Priority = AuthSettings::HashPriority;
    // A test run under nice already cannot go below its own niceness.
    errno = 0;
    const int base = getpriority(PRIO_PROCESS, 0);
    for (const auto& [priority, policy, niceness] :
         {std::tuple{Priority::low, SCHED_OTHER, std::max(10, base)},
          std::tuple{Priority::normal, SCHED_OTHER, base}}) {
        AuthSettings settings = testSettings();
        settings.passwordHashThreads = 1;
        settings.passwordHashPriority = priority;
        PasswordHasher hasher(settings);
        boost::asio::io_context io;
        auto hashed =
            boost::asio::co_spawn(io, hasher.hash("a password for the pool"), boost::asio::use_future);
        io.run();
        ASSERT_TRUE(hashed.get());
        auto probe = boost::asio::co_spawn(io, hasher.pool().run([] {
            errno = 0;
            const int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
            return std::pair{sched_getscheduler(0), nice};
        }),
                                           boost::asio::use_future);
        io.restart();
        io.run();
        const auto [seenPolicy, seenNiceness] = probe.get();
        EXPECT_EQ(seenPolicy, policy);
        EXPECT_EQ(seenNiceness, niceness);
    }
}

TEST_F(IdentityServicesTest, ManyRequestsWithForgedKidsAtOnceReloadTheKeysOnce) {
    createUser("alice");
    auto tokens = *login("alice").tokens;
    const std::string payload = tokens.accessToken.substr(tokens.accessToken.find('.'));
    const auto reloadsBefore = ids_->keys.unknownKidReloads();

    // Fifty requests with fifty random kids, all in flight on one network thread at once.
    boost::asio::io_context io;
    std::vector<std::future<AuthOutcome>> outcomes;
    std::vector<std::string> forged;
    for (int i = 0; i < 50; ++i) {
        const std::string header = base64UrlEncode(std::string(R"({"alg":"EdDSA","kid":"forged-)") +
                                                   std::to_string(i) + R"(","typ":"JWT"})");
        forged.push_back(header + payload);
    }
    for (const auto& token : forged) {
        outcomes.push_back(boost::asio::co_spawn(
            io,
            ids_->authenticator.authenticate(
                PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = token},
                boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()),
            boost::asio::use_future));
    }
    io.run();
    for (auto& outcome : outcomes) {
        auto refused = outcome.get();
        EXPECT_FALSE(refused.principal);
        EXPECT_EQ(refused.failure, "kid_unknown");
    }
    EXPECT_EQ(ids_->keys.unknownKidReloads() - reloadsBefore, 1u) << "one reload for them all";
}

}  // namespace
}  // namespace rampart::identity
