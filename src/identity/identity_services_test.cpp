// The identity services (IdentityServices: logins, accounts, keys, the authenticator) against a real SQLite
// store: logins and their throttling, token rotation and reuse, API tokens, sessions, TOTP, revocation, key
// rotation. Each refusal is tried, not assumed.
#include "identity/identity_services.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "core/base64url.hpp"
#include "identity/api_token.hpp"
#include "identity/jwt_test_support.hpp"
#include "identity/totp.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
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
    // The cheapest parameters the policy allows, so the suite stays quick.
    settings.hashing = PasswordHashing{.opsLimit = 2, .memLimitBytes = std::size_t{19} * 1024 * 1024};
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
                                             boost::asio::ip::make_address("192.0.2.10")));
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
    EXPECT_EQ(authenticate("x" + cookie.substr(1), PresentedCredential::Scheme::sessionCookie).failure,
              "unknown_session");

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
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, context()));
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
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.disableTotp(principal,
                                                             SecretString(std::string("wrong password!!")),
                                                             totpCode(secret, step + 2), context()));
              })->kind(),
              Kind::forbidden);
    now_ += 30s;
    runToCompletion(ids_->accounts.disableTotp(principal, SecretString(std::string(kPassword)),
                                               totpCode(secret, step + 3), context()));
    EXPECT_TRUE(login("alice").tokens);
}

TEST_F(IdentityServicesTest, TotpStepsOutOfOrderAreRefused) {
    createUser("alice");
    auto principal = principalOf(login("alice").tokens->accessToken);
    EXPECT_EQ(
        errorOf([&] { runToCompletion(ids_->accounts.confirmTotp(principal, "123456", context())); })->slug(),
        "totp_not_enrolled");
    EXPECT_EQ(errorOf([&] {
                  runToCompletion(ids_->accounts.disableTotp(principal, SecretString(std::string(kPassword)),
                                                             "123456", context()));
              })->kind(),
              Kind::conflict);
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, context()));
    const auto secret = *base32Decode(enrolment.secretBase32);
    runToCompletion(ids_->accounts.confirmTotp(principal, totpCode(secret, *totpStep(now_)), context()));
    EXPECT_EQ(errorOf([&] { runToCompletion(ids_->accounts.enrolTotp(principal, context())); })->kind(),
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
    auto enrolment = runToCompletion(ids_->accounts.enrolTotp(principal, context()));
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
        boost::asio::ip::make_address("192.0.2.10")));
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
            boost::asio::ip::make_address("192.0.2.10")));
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
