// The Store contract, written only against the interface and run once per backend (SQLite, and
// PostgreSQL on a server the tests start); every backend must pass every test here.
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include "testing/run_to_completion.hpp"

#include "store/sealed_job_store.hpp"
#include "store/store.hpp"
#include "testing/audit_key.hpp"
#include "testing/postgres_server.hpp"
#include "testing/race.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

struct Backend {
    std::string name;
    // Opens a fresh, empty database of this backend; scratch is a private directory for its files.
    std::function<std::unique_ptr<Store>(const std::filesystem::path& scratch)> open;
};

const Backend kBackends[] = {
    {"Sqlite",
     [](const std::filesystem::path& scratch) {
         return openStore(SecretString("sqlite://" + (scratch / "conformance.db").string()),
                          {.auditKey = rampart::testing::testAuditKey()});
     }},
    {"Postgres",
     [](const std::filesystem::path&) {
         return openStore(SecretString(rampart::testing::freshDatabaseUrl()),
                          {.auditKey = rampart::testing::testAuditKey()});
     }},
};

using namespace std::chrono_literals;

using rampart::testing::runToCompletion;

// A fixed time, so filters by time are exact.
const std::chrono::system_clock::time_point kT0 =
    std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h + 123456us;

obs::AuditEvent auditEvent(std::string action, std::string actor, std::string outcome,
                           std::chrono::system_clock::time_point time = kT0) {
    return obs::AuditEvent{.time = time,
                           .action = std::move(action),
                           .actor = std::move(actor),
                           .client = "192.0.2.1",
                           .requestId = "req",
                           .target = "job-1",
                           .outcome = std::move(outcome),
                           .details = {{"n", 1}}};
}

std::vector<std::int64_t> idsOf(const std::vector<obs::AuditRecord>& records) {
    std::vector<std::int64_t> ids;
    for (const auto& record : records) ids.push_back(record.id);
    return ids;
}

bool pingFromIoContext(Store& store) {
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, store.ping(), boost::asio::use_future);
    io.run();
    return result.get();
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override { store_ = GetParam().open(scratch_.path()); }
    void TearDown() override {
        if (store_) store_->close();
    }

    rampart::testing::TempDirectory scratch_;
    std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, FreshDatabaseHasNoSchema) {
    EXPECT_EQ(store_->schemaVersion(), 0);
    EXPECT_GE(store_->latestSchemaVersion(), 1);
}

TEST_P(StoreConformance, MigrateBringsTheSchemaToTheLatestVersionOnce) {
    EXPECT_EQ(store_->migrate(), store_->latestSchemaVersion());
    EXPECT_EQ(store_->schemaVersion(), store_->latestSchemaVersion());
    EXPECT_EQ(store_->migrate(), 0);
    EXPECT_EQ(store_->schemaVersion(), store_->latestSchemaVersion());
}

TEST_P(StoreConformance, PingAnswersWhileOpenAndFailsAfterClose) {
    EXPECT_TRUE(pingFromIoContext(*store_));
    store_->close();
    store_->close();
    EXPECT_FALSE(pingFromIoContext(*store_));
}

TEST_P(StoreConformance, EmptyAuditLogVerifies) {
    store_->migrate();
    const auto result = store_->verifyAudit({});
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, 0);
    EXPECT_TRUE(runToCompletion(store_->listAudit({})).empty());
}

TEST_P(StoreConformance, AuditEventRoundTripsEveryField) {
    store_->migrate();
    auto event = auditEvent("auth.login", "user-1", "success");
    event.details = {{"method", "password"}, {"nested", {{"list", {1, "two", nullptr}}}}};
    runToCompletion(store_->appendAudit(event));
    const auto records = runToCompletion(store_->listAudit({}));
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].id, 1);
    const auto& stored = records[0].event;
    EXPECT_EQ(stored.time, event.time);
    EXPECT_EQ(stored.action, event.action);
    EXPECT_EQ(stored.actor, event.actor);
    EXPECT_EQ(stored.client, event.client);
    EXPECT_EQ(stored.requestId, event.requestId);
    EXPECT_EQ(stored.target, event.target);
    EXPECT_EQ(stored.outcome, event.outcome);
    EXPECT_EQ(stored.details, event.details);
}

TEST_P(StoreConformance, ConcurrentAuditAppendsAllLandInOneVerifiedChain) {
    store_->migrate();
    constexpr int kEvents = 60;
    boost::asio::io_context io;
    std::vector<std::future<void>> appended;
    for (int i = 0; i < kEvents; ++i) {
        appended.push_back(boost::asio::co_spawn(
            io, store_->appendAudit(auditEvent("test.concurrent", "user-" + std::to_string(i), "success")),
            boost::asio::use_future));
    }
    // Two threads resume the coroutines, so appends are also awaited from different threads.
    std::thread helper([&io] { io.run(); });
    io.run();
    helper.join();
    for (auto& done : appended) done.get();

    AuditQuery all;
    all.limit = AuditQuery::kMaxAuditPage;
    const auto records = runToCompletion(store_->listAudit(all));
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kEvents));
    std::set<std::string> actors;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i > 0) {
            EXPECT_LT(records[i - 1].id, records[i].id);
        }
        actors.insert(records[i].event.actor);
    }
    EXPECT_EQ(actors.size(), static_cast<std::size_t>(kEvents));
    const auto result = store_->verifyAudit({});
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kEvents);
}

TEST_P(StoreConformance, AuditListFiltersByActionActorOutcomeAndTime) {
    store_->migrate();
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "alice", "success", kT0)));             // 1
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "bob", "failure", kT0 + 1s)));          // 2
    runToCompletion(store_->appendAudit(auditEvent("job.create", "alice", "success", kT0 + 2s)));        // 3
    runToCompletion(store_->appendAudit(auditEvent("job.cancel", "bob", "denied", kT0 + 3s)));           // 4
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "alice", "failure", kT0 + 4s + 1us)));  // 5

    auto list = [this](AuditQuery query) {
        return idsOf(runToCompletion(store_->listAudit(std::move(query))));
    };
    using Ids = std::vector<std::int64_t>;
    EXPECT_EQ(list({.action = "auth.login"}), (Ids{1, 2, 5}));
    EXPECT_EQ(list({.actor = "alice"}), (Ids{1, 3, 5}));
    EXPECT_EQ(list({.outcome = "failure"}), (Ids{2, 5}));
    EXPECT_EQ(list({.action = "auth.login", .actor = "alice", .outcome = "failure"}), (Ids{5}));
    EXPECT_EQ(list({.action = "nothing"}), Ids{});
    EXPECT_EQ(list({.since = kT0 + 2s}), (Ids{3, 4, 5}));  // inclusive
    EXPECT_EQ(list({.until = kT0 + 2s}), (Ids{1, 2}));     // exclusive
    EXPECT_EQ(list({.since = kT0 + 1s, .until = kT0 + 4s}), (Ids{2, 3, 4}));
    EXPECT_EQ(list({.since = kT0 + 4s + 1us}), (Ids{5}));  // to the microsecond
    // Filter values are bound, never spliced into SQL.
    EXPECT_EQ(list({.actor = "alice' OR '1'='1"}), Ids{});
}

TEST_P(StoreConformance, AuditListPagesByIdCursor) {
    store_->migrate();
    for (int i = 0; i < 7; ++i) {
        runToCompletion(store_->appendAudit(auditEvent(i % 2 ? "odd" : "even", "system", "success")));
    }
    std::vector<std::int64_t> seen;
    std::vector<std::size_t> pageSizes;
    AuditQuery page{.limit = 3};
    for (;;) {
        const auto records = runToCompletion(store_->listAudit(page));
        if (records.empty()) break;
        pageSizes.push_back(records.size());
        for (const auto& record : records) seen.push_back(record.id);
        page.afterId = records.back().id;
    }
    EXPECT_EQ(pageSizes, (std::vector<std::size_t>{3, 3, 1}));
    EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7}));
    // The cursor combines with filters.
    EXPECT_EQ(idsOf(runToCompletion(store_->listAudit({.action = "even", .afterId = 3, .limit = 1}))),
              (std::vector<std::int64_t>{5}));
}

TEST_P(StoreConformance, AuditListLimitIsBounded) {
    store_->migrate();
    for (int i = 0; i < 3; ++i) runToCompletion(store_->appendAudit(auditEvent("a", "system", "success")));
    EXPECT_THROW(runToCompletion(store_->listAudit({.limit = 0})), std::invalid_argument);
    EXPECT_THROW(runToCompletion(store_->listAudit({.limit = AuditQuery::kMaxAuditPage + 1})),
                 std::invalid_argument);
    EXPECT_THROW(runToCompletion(store_->listAudit({.afterId = -1})), std::invalid_argument);
    EXPECT_EQ(runToCompletion(store_->listAudit({.limit = 1})).size(), 1u);
    EXPECT_EQ(runToCompletion(store_->listAudit({.limit = AuditQuery::kMaxAuditPage})).size(), 3u);
    EXPECT_EQ(AuditQuery{}.limit, 100);
}

// --- identity ---

const Seconds kS0 = std::chrono::time_point_cast<std::chrono::seconds>(kT0);

UserRecord userRecord(std::string id, std::string username, std::optional<std::string> email = std::nullopt) {
    return UserRecord{.id = std::move(id),
                      .username = std::move(username),
                      .email = std::move(email),
                      .role = "user",
                      .passwordHash = "$argon2id$v=19$m=65536,t=3,p=1$salt$hash",
                      .created = kS0};
}

ApiTokenRecord apiToken(std::string id, std::string userId, Seconds created) {
    return ApiTokenRecord{.id = id,
                          .userId = std::move(userId),
                          .name = "token " + id,
                          .tokenHash = "hash-" + id,
                          .displayPrefix = id.substr(0, 4),
                          .scopes = {"jobs:read", "jobs:write"},
                          .created = created,
                          .expires = created + 24h};
}

RefreshTokenRecord refreshToken(std::string tokenId, std::string familyId, std::string userId,
                                Seconds issued = kS0) {
    return RefreshTokenRecord{.tokenId = std::move(tokenId),
                              .familyId = std::move(familyId),
                              .userId = std::move(userId),
                              .issued = issued,
                              .expires = issued + 24h};
}

std::chrono::seconds lockoutAfterThree(int failures) {
    return failures >= 3 ? std::chrono::seconds{60 * (failures - 2)} : std::chrono::seconds{0};
}

std::vector<std::string> usernamesOf(const std::vector<UserRecord>& users) {
    std::vector<std::string> names;
    for (const auto& user : users) names.push_back(user.username);
    return names;
}

TEST_P(StoreConformance, UserRoundTripsEveryFieldAndIsFoundByUsernameInAnyCase) {
    store_->migrate();
    EXPECT_EQ(store_->countUsersBlocking(), 0);
    UserRecord user = userRecord("u1", "Alice", "alice@example.com");
    user.role = "auditor";
    user.totpSecretSealed = "sealed";
    user.totpEnabled = true;
    user.totpLastStep = 42;
    user.lastLogin = kS0 + 5s;
    user.failedLogins = 2;
    user.lockedUntil = kS0 + 10s;
    user.credentialsRevokedAt = kS0 + 1s;
    runToCompletion(store_->createUser(user));
    EXPECT_EQ(store_->countUsersBlocking(), 1);

    const auto byId = runToCompletion(store_->findUserById("u1"));
    ASSERT_TRUE(byId);
    EXPECT_EQ(byId->id, "u1");
    EXPECT_EQ(byId->username, "Alice");
    EXPECT_EQ(byId->email, std::optional<std::string>("alice@example.com"));
    EXPECT_EQ(byId->role, "auditor");
    EXPECT_TRUE(byId->active);
    EXPECT_EQ(byId->passwordHash, user.passwordHash);
    EXPECT_EQ(byId->totpSecretSealed, "sealed");
    EXPECT_TRUE(byId->totpEnabled);
    EXPECT_EQ(byId->totpLastStep, std::optional<std::int64_t>(42));
    EXPECT_EQ(byId->created, kS0);
    EXPECT_EQ(byId->lastLogin, std::optional(kS0 + 5s));
    EXPECT_EQ(byId->failedLogins, 2);
    EXPECT_EQ(byId->lockedUntil, std::optional(kS0 + 10s));
    EXPECT_EQ(byId->credentialsRevokedAt, std::optional(kS0 + 1s));

    for (const char* spelling : {"Alice", "alice", "ALICE"}) {
        const auto found = runToCompletion(store_->findUserByUsername(spelling));
        ASSERT_TRUE(found) << spelling;
        EXPECT_EQ(found->id, "u1");
    }
    EXPECT_FALSE(runToCompletion(store_->findUserByUsername("alic")));
    EXPECT_FALSE(runToCompletion(store_->findUserById("nobody")));

    // Unset optionals stay unset.
    runToCompletion(store_->createUser(userRecord("u2", "bob")));
    const auto bob = runToCompletion(store_->findUserById("u2"));
    ASSERT_TRUE(bob);
    EXPECT_FALSE(bob->email);
    EXPECT_FALSE(bob->totpLastStep);
    EXPECT_FALSE(bob->lastLogin);
    EXPECT_FALSE(bob->lockedUntil);
    EXPECT_FALSE(bob->credentialsRevokedAt);
    EXPECT_FALSE(bob->totpEnabled);
    EXPECT_EQ(bob->failedLogins, 0);
}

TEST_P(StoreConformance, TakenUsernameOrEmailIsAConflictWhoseMessageHoldsNoValue) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice", "alice@example.com")));
    runToCompletion(store_->createUser(userRecord("u2", "bob")));  // several users without email
    runToCompletion(store_->createUser(userRecord("u3", "carol")));

    auto conflictMessage = [this](UserRecord user) -> std::string {
        try {
            runToCompletion(store_->createUser(std::move(user)));
        } catch (const Conflict& conflict) {
            return conflict.what();
        }
        return "no conflict";
    };
    const std::string username = conflictMessage(userRecord("u4", "ALICE"));
    EXPECT_NE(username.find("username"), std::string::npos) << username;
    EXPECT_EQ(username.find("ALICE"), std::string::npos);
    EXPECT_EQ(username.find("alice"), std::string::npos);
    const std::string email = conflictMessage(userRecord("u4", "dave", "Alice@Example.com"));
    EXPECT_NE(email.find("email"), std::string::npos) << email;
    EXPECT_EQ(email.find("xample"), std::string::npos);
    EXPECT_EQ(store_->countUsersBlocking(), 3);
    EXPECT_FALSE(runToCompletion(store_->findUserByUsername("dave")));

    // updateUser: a new email taken by someone else conflicts; one's own email does not.
    EXPECT_THROW(
        runToCompletion(store_->updateUser("u2", {.email = std::optional<std::string>("ALICE@example.com")})),
        Conflict);
    EXPECT_FALSE(runToCompletion(store_->findUserById("u2"))->email);
    const auto same =
        runToCompletion(store_->updateUser("u1", {.email = std::optional<std::string>("alice@example.com")}));
    ASSERT_TRUE(same);
    EXPECT_EQ(same->email, std::optional<std::string>("alice@example.com"));
}

TEST_P(StoreConformance, UpdateUserChangesOnlyThePatchedFields) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice", "alice@example.com")));
    EXPECT_FALSE(runToCompletion(store_->updateUser("nobody", {.role = "admin"})));
    EXPECT_FALSE(runToCompletion(store_->updateUser("nobody", {})));

    const auto unchanged = runToCompletion(store_->updateUser("u1", {}));
    ASSERT_TRUE(unchanged);
    EXPECT_EQ(unchanged->email, std::optional<std::string>("alice@example.com"));

    const auto updated =
        runToCompletion(store_->updateUser("u1", UserPatch{.email = std::optional<std::string>{},  // cleared
                                                           .role = "admin",
                                                           .active = false,
                                                           .passwordHash = "new-hash",
                                                           .totpSecretSealed = "sealed",
                                                           .totpEnabled = true,
                                                           .totpLastStep = std::optional<std::int64_t>(7),
                                                           .lastLogin = std::optional(kS0 + 3s),
                                                           .failedLogins = 4,
                                                           .lockedUntil = std::optional(kS0 + 60s),
                                                           .credentialsRevokedAt = kS0 + 2s}));
    ASSERT_TRUE(updated);
    EXPECT_FALSE(updated->email);
    EXPECT_EQ(updated->role, "admin");
    EXPECT_FALSE(updated->active);
    EXPECT_EQ(updated->passwordHash, "new-hash");
    EXPECT_EQ(updated->totpSecretSealed, "sealed");
    EXPECT_TRUE(updated->totpEnabled);
    EXPECT_EQ(updated->totpLastStep, std::optional<std::int64_t>(7));
    EXPECT_EQ(updated->lastLogin, std::optional(kS0 + 3s));
    EXPECT_EQ(updated->failedLogins, 4);
    EXPECT_EQ(updated->lockedUntil, std::optional(kS0 + 60s));
    EXPECT_EQ(updated->credentialsRevokedAt, std::optional(kS0 + 2s));
    EXPECT_EQ(updated->username, "alice");
    EXPECT_EQ(updated->created, kS0);

    // Clearing back to unset, and a partial patch leaves the rest alone.
    const auto cleared = runToCompletion(store_->updateUser(
        "u1", {.totpLastStep = std::optional<std::int64_t>{}, .lockedUntil = std::optional<Seconds>{}}));
    ASSERT_TRUE(cleared);
    EXPECT_FALSE(cleared->totpLastStep);
    EXPECT_FALSE(cleared->lockedUntil);
    EXPECT_EQ(cleared->failedLogins, 4);
    EXPECT_EQ(cleared->role, "admin");
    EXPECT_EQ(*runToCompletion(store_->findUserById("u1"))->lastLogin, kS0 + 3s);
}

TEST_P(StoreConformance, ListUsersPagesByUsernameIgnoringCase) {
    store_->migrate();
    for (const std::string name : {"delta", "Bravo", "alpha", "Echo", "charlie"}) {
        runToCompletion(store_->createUser(userRecord("id-" + name, name)));
    }
    std::vector<std::string> seen;
    std::vector<std::size_t> pageSizes;
    std::string cursor;
    for (;;) {
        const auto page = runToCompletion(store_->listUsers(cursor, 2));
        if (page.empty()) break;
        pageSizes.push_back(page.size());
        for (const auto& user : page) seen.push_back(user.username);
        cursor = page.back().username;
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"alpha", "Bravo", "charlie", "delta", "Echo"}));
    EXPECT_EQ(pageSizes, (std::vector<std::size_t>{2, 2, 1}));
    // The cursor compares case-insensitively too.
    EXPECT_EQ(usernamesOf(runToCompletion(store_->listUsers("BRAVO", 500))),
              (std::vector<std::string>{"charlie", "delta", "Echo"}));
    EXPECT_THROW(runToCompletion(store_->listUsers("", 0)), std::invalid_argument);
    EXPECT_THROW(runToCompletion(store_->listUsers("", 501)), std::invalid_argument);
    EXPECT_EQ(runToCompletion(store_->listUsers("", 1)).size(), 1u);
}

TEST_P(StoreConformance, LoginFailuresCountAndLockOutOnceThePolicySaysSo) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    EXPECT_FALSE(runToCompletion(store_->recordLoginFailure("nobody", kS0, lockoutAfterThree)));

    auto first = runToCompletion(store_->recordLoginFailure("u1", kS0, lockoutAfterThree));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->failedLogins, 1);
    EXPECT_FALSE(first->lockedUntil);
    auto second = runToCompletion(store_->recordLoginFailure("u1", kS0 + 1s, lockoutAfterThree));
    EXPECT_EQ(second->failedLogins, 2);
    EXPECT_FALSE(second->lockedUntil);
    auto third = runToCompletion(store_->recordLoginFailure("u1", kS0 + 2s, lockoutAfterThree));
    EXPECT_EQ(third->failedLogins, 3);
    EXPECT_EQ(third->lockedUntil, std::optional(kS0 + 2s + 60s));
    auto fourth = runToCompletion(store_->recordLoginFailure("u1", kS0 + 3s, lockoutAfterThree));
    EXPECT_EQ(fourth->failedLogins, 4);
    EXPECT_EQ(fourth->lockedUntil, std::optional(kS0 + 3s + 120s));
    // What was returned is what is stored.
    const auto stored = runToCompletion(store_->findUserById("u1"));
    EXPECT_EQ(stored->failedLogins, 4);
    EXPECT_EQ(stored->lockedUntil, fourth->lockedUntil);

    // Concurrent failures are each counted.
    boost::asio::io_context io;
    std::vector<std::future<std::optional<UserRecord>>> failures;
    for (int i = 0; i < 10; ++i) {
        failures.push_back(boost::asio::co_spawn(
            io, store_->recordLoginFailure("u1", kS0 + 4s, lockoutAfterThree), boost::asio::use_future));
    }
    io.run();
    std::set<int> counts;
    for (auto& failure : failures) counts.insert(failure.get()->failedLogins);
    EXPECT_EQ(counts.size(), 10u);
    EXPECT_EQ(runToCompletion(store_->findUserById("u1"))->failedLogins, 14);
}

// The per-username counters behind the lockout of known and unknown names alike (the key is the
// caller's keyed hash; any text here).
TEST_P(StoreConformance, LoginNameFailuresCountLockForgetAndStayBounded) {
    store_->migrate();
    const std::string key(64, 'a');
    EXPECT_FALSE(runToCompletion(store_->findLoginNameFailures(key)));
    auto first = runToCompletion(store_->recordLoginNameFailure(key, kS0, 600s, lockoutAfterThree));
    EXPECT_EQ(first.failures, 1);
    EXPECT_EQ(first.lastFailure, kS0);
    EXPECT_FALSE(first.lockedUntil);
    runToCompletion(store_->recordLoginNameFailure(key, kS0 + 1s, 600s, lockoutAfterThree));
    auto third = runToCompletion(store_->recordLoginNameFailure(key, kS0 + 2s, 600s, lockoutAfterThree));
    EXPECT_EQ(third.failures, 3);
    EXPECT_EQ(third.lockedUntil, std::optional(kS0 + 2s + 60s));
    auto stored = runToCompletion(store_->findLoginNameFailures(key));
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->failures, 3);
    EXPECT_EQ(stored->lastFailure, kS0 + 2s);
    EXPECT_EQ(stored->lockedUntil, third.lockedUntil);

    // After a quiet spell longer than forgetAfter the count starts again (the old lock has ended).
    auto later =
        runToCompletion(store_->recordLoginNameFailure(key, kS0 + 2s + 601s, 600s, lockoutAfterThree));
    EXPECT_EQ(later.failures, 1);

    // Concurrent failures are each counted.
    const std::string other(64, 'b');
    boost::asio::io_context io;
    std::vector<std::future<LoginNameFailures>> failures;
    for (int i = 0; i < 10; ++i) {
        failures.push_back(
            boost::asio::co_spawn(io, store_->recordLoginNameFailure(other, kS0, 600s, lockoutAfterThree),
                                  boost::asio::use_future));
    }
    io.run();
    std::set<int> counts;
    for (auto& failure : failures) counts.insert(failure.get().failures);
    EXPECT_EQ(counts.size(), 10u);
    EXPECT_EQ(runToCompletion(store_->findLoginNameFailures(other))->failures, 10);
    EXPECT_EQ(runToCompletion(store_->findLoginNameFailures(other))->lockedUntil, std::optional(kS0 + 480s));

    runToCompletion(store_->clearLoginNameFailures(other));
    EXPECT_FALSE(runToCompletion(store_->findLoginNameFailures(other)));

    // Pruning: quiet rows whose lock has ended go; a locked row stays however quiet; then the cap keeps
    // the most recently failed.
    const std::string quiet(64, 'c');
    const std::string locked(64, 'd');
    runToCompletion(store_->recordLoginNameFailure(quiet, kS0, 600s, lockoutAfterThree));
    for (int i = 0; i < 3; ++i)
        runToCompletion(store_->recordLoginNameFailure(locked, kS0, 600s, [](int) { return 3600s; }));
    EXPECT_EQ(runToCompletion(store_->pruneLoginNameFailures(kS0 + 1s, kS0 + 100s, 1000)), 1);
    EXPECT_FALSE(runToCompletion(store_->findLoginNameFailures(quiet)));
    EXPECT_TRUE(runToCompletion(store_->findLoginNameFailures(locked)));
    EXPECT_TRUE(runToCompletion(store_->findLoginNameFailures(key)));
    // Two rows left (key last failed at kS0 + 603s, locked at kS0): a cap of one keeps the newer.
    EXPECT_EQ(runToCompletion(store_->pruneLoginNameFailures(kS0, kS0, 1)), 1);
    EXPECT_TRUE(runToCompletion(store_->findLoginNameFailures(key)));
    EXPECT_FALSE(runToCompletion(store_->findLoginNameFailures(locked)));
}

TEST_P(StoreConformance, TotpStepIsAcceptedOnceAndNeverBackwards) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    EXPECT_FALSE(runToCompletion(store_->consumeTotpStep("nobody", 100)));
    EXPECT_TRUE(runToCompletion(store_->consumeTotpStep("u1", 100)));
    EXPECT_FALSE(runToCompletion(store_->consumeTotpStep("u1", 100)));  // replay
    EXPECT_FALSE(runToCompletion(store_->consumeTotpStep("u1", 99)));   // older code
    EXPECT_EQ(runToCompletion(store_->findUserById("u1"))->totpLastStep, std::optional<std::int64_t>(100));
    EXPECT_TRUE(runToCompletion(store_->consumeTotpStep("u1", 101)));
    EXPECT_EQ(runToCompletion(store_->findUserById("u1"))->totpLastStep, std::optional<std::int64_t>(101));
}

TEST_P(StoreConformance, TwoConcurrentRequestsWithTheSameTotpCodeExactlyOneWins) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    for (std::int64_t step = 1000; step < 1010; ++step) {
        boost::asio::io_context io;
        auto first = boost::asio::co_spawn(io, store_->consumeTotpStep("u1", step), boost::asio::use_future);
        auto second = boost::asio::co_spawn(io, store_->consumeTotpStep("u1", step), boost::asio::use_future);
        io.run();
        EXPECT_EQ(int{first.get()} + int{second.get()}, 1) << "step " << step;
    }
}

TEST_P(StoreConformance, ApiTokensAreFoundByHashListedNewestFirstAndRevokedOnlyByTheirOwner) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createUser(userRecord("u2", "bob")));
    runToCompletion(store_->createApiToken(apiToken("t1", "u1", kS0)));
    runToCompletion(store_->createApiToken(apiToken("t2", "u1", kS0 + 1s)));
    runToCompletion(store_->createApiToken(apiToken("t3", "u1", kS0 + 2s)));
    runToCompletion(store_->createApiToken(apiToken("t4", "u2", kS0)));
    ApiTokenRecord forever = apiToken("t5", "u2", kS0 + 1s);
    forever.expires.reset();
    forever.scopes.clear();
    runToCompletion(store_->createApiToken(forever));

    const auto found = runToCompletion(store_->findApiTokenByHash("hash-t2"));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, "t2");
    EXPECT_EQ(found->userId, "u1");
    EXPECT_EQ(found->name, "token t2");
    EXPECT_EQ(found->tokenHash, "hash-t2");
    EXPECT_EQ(found->displayPrefix, "t2");
    EXPECT_EQ(found->scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
    EXPECT_EQ(found->created, kS0 + 1s);
    EXPECT_EQ(found->expires, std::optional(kS0 + 1s + 24h));
    EXPECT_FALSE(found->lastUsed);
    EXPECT_FALSE(found->revoked);
    const auto noExpiry = runToCompletion(store_->findApiTokenByHash("hash-t5"));
    ASSERT_TRUE(noExpiry);
    EXPECT_FALSE(noExpiry->expires);
    EXPECT_TRUE(noExpiry->scopes.empty());
    EXPECT_FALSE(runToCompletion(store_->findApiTokenByHash("hash-none")));

    auto idsOfTokens = [](const std::vector<ApiTokenRecord>& tokens) {
        std::vector<std::string> ids;
        for (const auto& token : tokens) ids.push_back(token.id);
        return ids;
    };
    using Ids = std::vector<std::string>;
    EXPECT_EQ(idsOfTokens(runToCompletion(store_->listApiTokens("u1"))), (Ids{"t3", "t2", "t1"}));

    EXPECT_FALSE(runToCompletion(store_->revokeApiToken("u2", "t2", kS0 + 5s)));  // not bob's
    EXPECT_FALSE(runToCompletion(store_->revokeApiToken("u1", "nope", kS0 + 5s)));
    EXPECT_TRUE(runToCompletion(store_->revokeApiToken("u1", "t2", kS0 + 5s)));
    EXPECT_FALSE(runToCompletion(store_->revokeApiToken("u1", "t2", kS0 + 6s)));  // already revoked
    EXPECT_EQ(idsOfTokens(runToCompletion(store_->listApiTokens("u1"))), (Ids{"t3", "t1"}));
    // A revoked token is still found by its hash, so the caller can tell why it fails.
    EXPECT_EQ(runToCompletion(store_->findApiTokenByHash("hash-t2"))->revoked, std::optional(kS0 + 5s));

    runToCompletion(store_->touchApiToken("t1", kS0 + 7s));
    EXPECT_EQ(runToCompletion(store_->findApiTokenByHash("hash-t1"))->lastUsed, std::optional(kS0 + 7s));
    runToCompletion(store_->touchApiToken("nope", kS0 + 7s));  // harmless
}

TEST_P(StoreConformance, RefreshRotationSpendsTheTokenAndReuseKillsTheFamily) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createRefreshFamily(refreshToken("r1", "f1", "u1")));
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("f1")));

    // next's family and user are ignored: they come from the presented token.
    auto rotated = runToCompletion(
        store_->rotateRefreshToken("r1", refreshToken("r2", "ignored", "ignored", kS0 + 10s), kS0 + 10s));
    EXPECT_EQ(rotated.outcome, RefreshOutcome::rotated);
    EXPECT_EQ(rotated.familyId, "f1");
    EXPECT_EQ(rotated.userId, "u1");
    rotated =
        runToCompletion(store_->rotateRefreshToken("r2", refreshToken("r3", "", "", kS0 + 20s), kS0 + 20s));
    EXPECT_EQ(rotated.outcome, RefreshOutcome::rotated);
    EXPECT_EQ(rotated.familyId, "f1");
    EXPECT_EQ(rotated.userId, "u1");
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("f1")));

    // r1 again: someone replays a spent token. The family dies, and the refusal is durable.
    const auto reused =
        runToCompletion(store_->rotateRefreshToken("r1", refreshToken("r4", "", ""), kS0 + 30s));
    EXPECT_EQ(reused.outcome, RefreshOutcome::reused);
    EXPECT_EQ(reused.familyId, "f1");
    EXPECT_EQ(reused.userId, "u1");
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("f1")));
    // The newest token of the dead family is refused, and r4 was never stored.
    const auto newest =
        runToCompletion(store_->rotateRefreshToken("r3", refreshToken("r5", "", ""), kS0 + 31s));
    EXPECT_EQ(newest.outcome, RefreshOutcome::revoked);
    EXPECT_EQ(newest.familyId, "f1");
    EXPECT_EQ(
        runToCompletion(store_->rotateRefreshToken("r4", refreshToken("r6", "", ""), kS0 + 32s)).outcome,
        RefreshOutcome::unknown);
    EXPECT_EQ(
        runToCompletion(store_->rotateRefreshToken("r5", refreshToken("r7", "", ""), kS0 + 32s)).outcome,
        RefreshOutcome::unknown);
    EXPECT_FALSE(runToCompletion(store_->revokeRefreshFamily("f1", kS0 + 40s)));  // already revoked
}

TEST_P(StoreConformance, UnknownOrExpiredRefreshTokensAndLogoutOfAFamily) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createRefreshFamily(refreshToken("r1", "f1", "u1")));
    runToCompletion(store_->createRefreshFamily(refreshToken("s1", "f2", "u1")));

    const auto unknown = runToCompletion(store_->rotateRefreshToken("nope", refreshToken("x", "", ""), kS0));
    EXPECT_EQ(unknown.outcome, RefreshOutcome::unknown);
    EXPECT_TRUE(unknown.familyId.empty());
    // Expired (at its expiry instant): unknown, and nothing is spent or stored.
    EXPECT_EQ(
        runToCompletion(store_->rotateRefreshToken("r1", refreshToken("r2", "", ""), kS0 + 24h)).outcome,
        RefreshOutcome::unknown);
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("f1")));
    EXPECT_EQ(runToCompletion(store_->rotateRefreshToken("r2", refreshToken("r3", "", ""), kS0)).outcome,
              RefreshOutcome::unknown);

    // Logout revokes one family; the other lives on.
    EXPECT_TRUE(runToCompletion(store_->revokeRefreshFamily("f1", kS0 + 1s)));
    EXPECT_FALSE(runToCompletion(store_->revokeRefreshFamily("f1", kS0 + 2s)));
    EXPECT_FALSE(runToCompletion(store_->revokeRefreshFamily("unknown", kS0 + 2s)));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("f1")));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("unknown")));
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("f2")));
    EXPECT_EQ(runToCompletion(store_->rotateRefreshToken("r1", refreshToken("r2", "", ""), kS0 + 3s)).outcome,
              RefreshOutcome::revoked);
    EXPECT_EQ(runToCompletion(store_->rotateRefreshToken("s1", refreshToken("s2", "", ""), kS0 + 3s)).outcome,
              RefreshOutcome::rotated);
}

TEST_P(StoreConformance, ConcurrentRotationsOfOneTokenRotateOnce) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createRefreshFamily(refreshToken("r1", "f1", "u1")));
    boost::asio::io_context io;
    auto first = boost::asio::co_spawn(
        io, store_->rotateRefreshToken("r1", refreshToken("a", "", ""), kS0 + 1s), boost::asio::use_future);
    auto second = boost::asio::co_spawn(
        io, store_->rotateRefreshToken("r1", refreshToken("b", "", ""), kS0 + 1s), boost::asio::use_future);
    io.run();
    std::multiset<RefreshOutcome> outcomes{first.get().outcome, second.get().outcome};
    EXPECT_EQ(outcomes, (std::multiset<RefreshOutcome>{RefreshOutcome::rotated, RefreshOutcome::reused}));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("f1")));
}

TEST_P(StoreConformance, SessionsAreFoundByHashAndRevokedOnce) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(
        store_->createSession({.idHash = "sess-1", .userId = "u1", .created = kS0, .expires = kS0 + 8h}));
    const auto found = runToCompletion(store_->findSession("sess-1"));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->idHash, "sess-1");
    EXPECT_EQ(found->userId, "u1");
    EXPECT_EQ(found->created, kS0);
    EXPECT_EQ(found->expires, kS0 + 8h);
    EXPECT_FALSE(found->revoked);
    EXPECT_FALSE(runToCompletion(store_->findSession("sess-2")));

    EXPECT_TRUE(runToCompletion(store_->revokeSession("sess-1", kS0 + 1s)));
    EXPECT_FALSE(runToCompletion(store_->revokeSession("sess-1", kS0 + 2s)));
    EXPECT_FALSE(runToCompletion(store_->revokeSession("sess-2", kS0 + 2s)));
    EXPECT_EQ(runToCompletion(store_->findSession("sess-1"))->revoked, std::optional(kS0 + 1s));
}

TEST_P(StoreConformance, RevokeAllCredentialsKillsEveryCredentialOfThatUserOnly) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createUser(userRecord("u2", "bob")));
    for (const char* user : {"u1", "u2"}) {
        const std::string u = user;
        runToCompletion(store_->createApiToken(apiToken("t-" + u, u, kS0)));
        runToCompletion(
            store_->createSession({.idHash = "s-" + u, .userId = u, .created = kS0, .expires = kS0 + 8h}));
        runToCompletion(store_->createRefreshFamily(refreshToken("r-" + u, "f-" + u, u)));
    }
    EXPECT_FALSE(runToCompletion(store_->revokeAllCredentials("nobody", kS0 + 1s, false)));
    EXPECT_TRUE(runToCompletion(store_->revokeAllCredentials("u1", kS0 + 1s, false)));

    EXPECT_TRUE(runToCompletion(store_->listApiTokens("u1")).empty());
    EXPECT_EQ(runToCompletion(store_->findApiTokenByHash("hash-t-u1"))->revoked, std::optional(kS0 + 1s));
    EXPECT_EQ(runToCompletion(store_->findSession("s-u1"))->revoked, std::optional(kS0 + 1s));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("f-u1")));
    const auto alice = runToCompletion(store_->findUserById("u1"));
    EXPECT_EQ(alice->credentialsRevokedAt, std::optional(kS0 + 1s));
    EXPECT_TRUE(alice->active);

    // Bob keeps everything.
    EXPECT_EQ(runToCompletion(store_->listApiTokens("u2")).size(), 1u);
    EXPECT_FALSE(runToCompletion(store_->findSession("s-u2"))->revoked);
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("f-u2")));
    EXPECT_FALSE(runToCompletion(store_->findUserById("u2"))->credentialsRevokedAt);

    // Disabling also deactivates.
    EXPECT_TRUE(runToCompletion(store_->revokeAllCredentials("u2", kS0 + 2s, true)));
    const auto bob = runToCompletion(store_->findUserById("u2"));
    EXPECT_FALSE(bob->active);
    EXPECT_EQ(bob->credentialsRevokedAt, std::optional(kS0 + 2s));
    EXPECT_TRUE(runToCompletion(store_->listApiTokens("u2")).empty());
    EXPECT_TRUE(runToCompletion(store_->findSession("s-u2"))->revoked);
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("f-u2")));
    // Earlier revocations keep their time.
    EXPECT_EQ(runToCompletion(store_->findSession("s-u1"))->revoked, std::optional(kS0 + 1s));
}

TEST_P(StoreConformance, ChangePasswordRevokesEveryCredentialButTheKeptOne) {
    store_->migrate();
    runToCompletion(store_->createUser(userRecord("u1", "alice")));
    runToCompletion(store_->createUser(userRecord("u2", "bob")));
    for (const std::string u : {"u1", "u2"}) {
        for (const std::string n : {"a", "b"}) {
            runToCompletion(store_->createApiToken(apiToken("t" + n + "-" + u, u, kS0)));
            runToCompletion(store_->createSession(
                {.idHash = "s" + n + "-" + u, .userId = u, .created = kS0, .expires = kS0 + 8h}));
            runToCompletion(
                store_->createRefreshFamily(refreshToken("r" + n + "-" + u, "f" + n + "-" + u, u)));
        }
    }
    UserPatch failing;
    failing.failedLogins = 3;
    failing.lockedUntil = std::optional(kS0 + 1h);
    runToCompletion(store_->updateUser("u1", failing));

    EXPECT_FALSE(runToCompletion(store_->changePassword("nobody", "hash", kS0 + 1s, std::nullopt)));
    const std::optional<KeptCredential> keepSession(KeptCredential{KeptCredential::Kind::session, "sa-u1"});
    const auto alice = runToCompletion(store_->changePassword("u1", "new-hash", kS0 + 1s, keepSession));
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->passwordHash, "new-hash");
    EXPECT_EQ(alice->failedLogins, 0);
    EXPECT_FALSE(alice->lockedUntil);
    EXPECT_FALSE(alice->credentialsRevokedAt) << "it would end the kept session too";
    EXPECT_FALSE(runToCompletion(store_->findSession("sa-u1"))->revoked) << "the kept session lives";
    EXPECT_EQ(runToCompletion(store_->findSession("sb-u1"))->revoked, std::optional(kS0 + 1s));
    EXPECT_TRUE(runToCompletion(store_->listApiTokens("u1")).empty());
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("fa-u1")));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("fb-u1")));
    // Bob keeps everything.
    EXPECT_EQ(runToCompletion(store_->listApiTokens("u2")).size(), 2u);
    EXPECT_FALSE(runToCompletion(store_->findSession("sa-u2"))->revoked);
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("fb-u2")));
    EXPECT_EQ(runToCompletion(store_->findUserById("u2"))->passwordHash,
              userRecord("u2", "bob").passwordHash);

    // A kept family, a kept API token; with nothing kept everything goes.
    const std::optional<KeptCredential> keepFamily(
        KeptCredential{KeptCredential::Kind::refreshFamily, "fa-u2"});
    runToCompletion(store_->changePassword("u2", "hash-2", kS0 + 2s, keepFamily));
    EXPECT_TRUE(runToCompletion(store_->refreshFamilyLive("fa-u2")));
    EXPECT_FALSE(runToCompletion(store_->refreshFamilyLive("fb-u2")));
    EXPECT_TRUE(runToCompletion(store_->findSession("sa-u2"))->revoked);
    EXPECT_TRUE(runToCompletion(store_->listApiTokens("u2")).empty());
    runToCompletion(store_->createApiToken(apiToken("tc-u1", "u1", kS0 + 2s)));
    runToCompletion(store_->createApiToken(apiToken("td-u1", "u1", kS0 + 2s)));
    const std::optional<KeptCredential> keepToken(KeptCredential{KeptCredential::Kind::apiToken, "tc-u1"});
    runToCompletion(store_->changePassword("u1", "hash-3", kS0 + 3s, keepToken));
    EXPECT_FALSE(runToCompletion(store_->findApiTokenByHash("hash-tc-u1"))->revoked);
    EXPECT_EQ(runToCompletion(store_->findApiTokenByHash("hash-td-u1"))->revoked, std::optional(kS0 + 3s));
    EXPECT_TRUE(runToCompletion(store_->findSession("sa-u1"))->revoked) << "only the one named stays";
    runToCompletion(store_->changePassword("u1", "hash-4", kS0 + 4s, std::nullopt));
    EXPECT_EQ(runToCompletion(store_->findApiTokenByHash("hash-tc-u1"))->revoked, std::optional(kS0 + 4s));
}

TEST_P(StoreConformance, SigningKeysAreInsertedLoadedAndDeleted) {
    store_->migrate();
    EXPECT_TRUE(store_->loadSigningKeysBlocking().empty());
    const SigningKeyRecord older{.kid = "k1",
                                 .alg = "EdDSA",
                                 .publicKey = "pub1",
                                 .encryptedPrivateKey = "sealed1",
                                 .created = kS0,
                                 .notAfter = kS0 + 24h,
                                 .expires = kS0 + 48h};
    SigningKeyRecord newer = older;
    newer.kid = "k2";
    newer.publicKey = "pub2";
    newer.encryptedPrivateKey = "sealed2";
    newer.created = kS0 + 24h;
    newer.notAfter = kS0 + 48h;
    newer.expires = kS0 + 72h;
    store_->insertSigningKeyBlocking(newer);
    store_->insertSigningKeyBlocking(older);

    auto keys = store_->loadSigningKeysBlocking();
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].kid, "k1");  // oldest first
    EXPECT_EQ(keys[0].alg, "EdDSA");
    EXPECT_EQ(keys[0].publicKey, "pub1");
    EXPECT_EQ(keys[0].encryptedPrivateKey, "sealed1");
    EXPECT_EQ(keys[0].created, kS0);
    EXPECT_EQ(keys[0].notAfter, kS0 + 24h);
    EXPECT_EQ(keys[0].expires, kS0 + 48h);
    EXPECT_EQ(keys[1].kid, "k2");
    EXPECT_EQ(keys[1].expires, kS0 + 72h);
    EXPECT_THROW(store_->insertSigningKeyBlocking(older), StoreUnavailable);  // kid taken

    store_->deleteSigningKeysBlocking({"k1", "unknown"});
    keys = store_->loadSigningKeysBlocking();
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(keys[0].kid, "k2");
    store_->deleteSigningKeysBlocking({});
    store_->deleteSigningKeysBlocking({"k2"});
    EXPECT_TRUE(store_->loadSigningKeysBlocking().empty());
}

// --- jobs ---

constexpr Millis kM0 = 1'800'000'000'000;  // a fixed "now", in Unix milliseconds

JobRecord jobRecord(std::string id, std::string owner = "u1", Millis runAt = kM0) {
    return JobRecord{.id = std::move(id),
                     .task = "noop",
                     .args = "{}",
                     .queue = "default",
                     .maxAttempts = 2,
                     .runAt = runAt,
                     .timeoutMs = 60'000,  // longer than the leases the tests take (see kTimeoutGrace)
                     .ownerId = std::move(owner)};
}

class JobConformance : public StoreConformance {
  protected:
    void SetUp() override {
        StoreConformance::SetUp();
        store_->migrate();
        runToCompletion(store_->createUser(userRecord("u1", "alice")));
        runToCompletion(store_->createUser(userRecord("u2", "bob")));
    }
    JobRecord submit(JobRecord job, Millis now = kM0) {
        return runToCompletion(store_->submitJob(std::move(job), now)).job;
    }
    std::vector<JobRecord> claim(int max, const std::string& holder, Millis now = kM0,
                                 std::vector<std::string> queues = {"default"}) {
        return runToCompletion(store_->claimJobs(std::move(queues), max, holder, 30'000, now));
    }
    std::optional<jobs::JobState> finish(const std::string& id, const std::string& holder, bool ok,
                                         Millis now = kM0 + 1) {
        JobOutcome outcome{.succeeded = ok,
                           .result = ok ? std::optional<std::string>("{\"ok\":true}") : std::nullopt,
                           .error = ok ? std::nullopt : std::optional<std::string>("boom"),
                           .retryAt = now + 5000};
        return runToCompletion(store_->finishAttempt(id, holder, outcome, now));
    }
    jobs::JobState stateOf(const std::string& id) { return runToCompletion(store_->findJob(id))->state; }
};

TEST_P(JobConformance, SubmittedJobsAreQueuedOrScheduledAndRoundTrip) {
    auto queued = submit(jobRecord("j1"));
    EXPECT_EQ(queued.state, jobs::JobState::queued);
    auto later = submit(jobRecord("j2", "u1", kM0 + 60'000));
    EXPECT_EQ(later.state, jobs::JobState::scheduled);
    auto found = runToCompletion(store_->findJob("j1"));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->task, "noop");
    EXPECT_EQ(found->ownerId, "u1");
    EXPECT_EQ(found->created, kM0);
    EXPECT_FALSE(runToCompletion(store_->findJob("missing")));
}

TEST_P(JobConformance, AnIdempotencyKeyGivesBackTheFirstJobOrAConflict) {
    auto first = jobRecord("j1");
    first.idempotencyKey = "k";
    first.requestHash = "h1";
    EXPECT_EQ(runToCompletion(store_->submitJob(first, kM0)).outcome, SubmitOutcome::created);
    auto replay = jobRecord("j2");
    replay.idempotencyKey = "k";
    replay.requestHash = "h1";
    auto again = runToCompletion(store_->submitJob(replay, kM0));
    EXPECT_EQ(again.outcome, SubmitOutcome::existing);
    EXPECT_EQ(again.job.id, "j1");
    replay.requestHash = "h2";
    EXPECT_EQ(runToCompletion(store_->submitJob(replay, kM0)).outcome, SubmitOutcome::conflict);
    // Keys belong to their owner.
    auto other = jobRecord("j3", "u2");
    other.idempotencyKey = "k";
    EXPECT_EQ(runToCompletion(store_->submitJob(other, kM0)).outcome, SubmitOutcome::created);
}

TEST_P(JobConformance, ConcurrentSubmitsWithOneKeyStoreOneJob) {
    boost::asio::io_context io;
    std::vector<std::future<SubmitResult>> results;
    for (int i = 0; i < 8; ++i) {
        auto job = jobRecord("c" + std::to_string(i));
        job.idempotencyKey = "same";
        job.requestHash = "h";
        results.push_back(
            boost::asio::co_spawn(io, store_->submitJob(std::move(job), kM0), boost::asio::use_future));
    }
    io.run();
    int created = 0;
    for (auto& result : results) created += result.get().outcome == SubmitOutcome::created ? 1 : 0;
    EXPECT_EQ(created, 1);
}

TEST_P(JobConformance, ABatchIsAllOrNone) {
    auto keyed = jobRecord("k1");
    keyed.idempotencyKey = "used";
    submit(keyed);
    auto clash = jobRecord("b2");
    clash.idempotencyKey = "used";
    EXPECT_THROW(runToCompletion(store_->submitJobs({jobRecord("b1"), clash}, kM0)), Conflict);
    EXPECT_FALSE(runToCompletion(store_->findJob("b1"))) << "nothing of a refused batch is stored";
    EXPECT_EQ(runToCompletion(store_->submitJobs({jobRecord("b1"), jobRecord("b3")}, kM0)).size(), 2u);
}

TEST_P(JobConformance, AClaimForSomeTaskTypesLeavesTheOthersQueued) {
    auto report = jobRecord("report");
    report.task = "reports.generate";
    report.priority = 50;  // the best job of the queue, yet not this claimer's
    submit(report);
    submit(jobRecord("noop1"));
    auto scrape = jobRecord("scrape");
    scrape.task = "Scrape-Page";
    submit(scrape);
    auto inProcess =
        runToCompletion(store_->claimJobs({"default"}, {"noop", "echo"}, 10, "pool", 30'000, kM0));
    ASSERT_EQ(inProcess.size(), 1u);
    EXPECT_EQ(inProcess[0].id, "noop1");
    auto external = runToCompletion(
        store_->claimJobs({"default"}, {"Scrape-Page", "reports.generate"}, 10, "ext", 30'000, kM0));
    ASSERT_EQ(external.size(), 2u);
    EXPECT_EQ(external[0].id, "report");
    EXPECT_EQ(external[1].id, "scrape");
    EXPECT_TRUE(
        runToCompletion(store_->claimJobs({"default"}, {"no.such.task"}, 10, "x", 30'000, kM0)).empty());
}

TEST_P(JobConformance, ClaimsTakeHighestPriorityFirstAndOnlyDueJobs) {
    auto low = jobRecord("low");
    auto high = jobRecord("high");
    high.priority = 10;
    submit(low);
    submit(high);
    submit(jobRecord("later", "u1", kM0 + 60'000));
    auto other = jobRecord("other");
    other.queue = "emails";
    submit(other);
    auto claimed = claim(10, "w1");
    ASSERT_EQ(claimed.size(), 2u);
    EXPECT_EQ(claimed[0].id, "high");
    EXPECT_EQ(claimed[1].id, "low");
    EXPECT_EQ(claimed[0].attempts, 1);
    EXPECT_EQ(claimed[0].leaseHolder, "w1");
    EXPECT_TRUE(claim(10, "w2").empty()) << "a leased job is nobody else's";
    auto due = claim(10, "w2", kM0 + 60'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].id, "later");
}

// A lease never outlives its attempt's timeout by more than kTimeoutGrace, however long it was asked
// for and however often its holder beats: a worker that hangs while beating loses the job, which is
// taken back once the lease has ended.
TEST_P(JobConformance, ALeaseEndsAtTheAttemptsTimeoutPlusTheGraceWhateverTheHeartbeats) {
    auto job = jobRecord("slow");
    job.timeoutMs = 10'000;
    submit(job);
    auto leased = claim(1, "w1");  // asks for 30 s
    ASSERT_EQ(leased.size(), 1u);
    const Millis cap = kM0 + 10'000 + kTimeoutGrace;
    EXPECT_EQ(leased[0].leaseExpires, cap);
    EXPECT_EQ(runToCompletion(store_->findJob("slow"))->leaseExpires, cap);
    // A beat within the cap cannot extend past it, and says so.
    auto beat = runToCompletion(store_->heartbeatJob("slow", "w1", 30'000, kM0 + 9'000));
    ASSERT_TRUE(beat);
    EXPECT_EQ(beat->leaseExpires, cap);
    // A short lease within the timeout is what was asked for.
    beat = runToCompletion(store_->heartbeatJob("slow", "w1", 1'000, kM0 + 9'500));
    ASSERT_TRUE(beat);
    EXPECT_EQ(beat->leaseExpires, kM0 + 10'500);
    beat = runToCompletion(store_->heartbeatJob("slow", "w1", 30'000, kM0 + 10'000));
    ASSERT_TRUE(beat);
    EXPECT_EQ(beat->leaseExpires, cap);
    // Past it the lease has ended: beats and reports are refused and the job is taken back.
    EXPECT_FALSE(runToCompletion(store_->heartbeatJob("slow", "w1", 30'000, cap)));
    EXPECT_FALSE(runToCompletion(store_->reportProgress("slow", "w1", 50, "", cap)));
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(cap)).size(), 1u);
    EXPECT_EQ(runToCompletion(store_->findJob("slow"))->state, jobs::JobState::queued) << "attempt 1 of 2";
    // The next attempt gets a deadline of its own.
    auto again = claim(1, "w2", cap + 1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].leaseExpires, cap + 1 + 10'000 + kTimeoutGrace);
}

TEST_P(JobConformance, OnlyTheLeaseHolderReportsAndFailuresRetryThenDie) {
    submit(jobRecord("j1"));
    claim(1, "w1");
    EXPECT_FALSE(runToCompletion(store_->heartbeatJob("j1", "intruder", 30'000, kM0 + 1)));
    EXPECT_TRUE(runToCompletion(store_->heartbeatJob("j1", "w1", 30'000, kM0 + 1)));
    EXPECT_TRUE(runToCompletion(store_->reportProgress("j1", "w1", 40, "halfway", kM0 + 1)));
    EXPECT_FALSE(finish("j1", "intruder", true));
    EXPECT_EQ(finish("j1", "w1", false), jobs::JobState::failed) << "attempt 1 of 2";
    EXPECT_FALSE(finish("j1", "w1", true)) << "a second report of one attempt is refused";
    EXPECT_TRUE(claim(1, "w1", kM0 + 10).empty()) << "waiting for its back-off";
    auto retried = claim(1, "w1", kM0 + 6000);
    ASSERT_EQ(retried.size(), 1u);
    EXPECT_EQ(retried[0].attempts, 2);
    EXPECT_EQ(finish("j1", "w1", false, kM0 + 6001), jobs::JobState::dead);
    auto dead = runToCompletion(store_->findJob("j1"));
    EXPECT_EQ(dead->error, "boom");
    EXPECT_TRUE(dead->finished);
}

TEST_P(JobConformance, SuccessStoresTheResult) {
    submit(jobRecord("j1"));
    claim(1, "w1");
    EXPECT_EQ(finish("j1", "w1", true), jobs::JobState::succeeded);
    auto done = runToCompletion(store_->findJob("j1"));
    EXPECT_EQ(done->result, "{\"ok\":true}");
    EXPECT_EQ(done->progress, 100);
    EXPECT_FALSE(done->leaseHolder);
}

TEST_P(JobConformance, FinishAttemptsReportsEachJobAsFinishAttemptWould) {
    for (const char* id : {"ok", "fails", "foreign", "canceled"}) submit(jobRecord(id));
    submit(jobRecord("not-claimed"));
    ASSERT_EQ(claim(4, "w1").size(), 4u);
    runToCompletion(store_->cancelJob("canceled", kM0));
    std::vector<AttemptReport> reports;
    reports.push_back({.id = "ok", .holder = "w1", .outcome = {.succeeded = true, .result = "{\"n\":1}"}});
    reports.push_back({.id = "fails",
                       .holder = "w1",
                       .outcome = {.succeeded = false, .error = "boom", .retryAt = kM0 + 5000}});
    reports.push_back({.id = "foreign", .holder = "intruder", .outcome = {.succeeded = true}});
    reports.push_back(
        {.id = "canceled", .holder = "w1", .outcome = {.succeeded = false, .error = "canceled"}});
    reports.push_back({.id = "not-claimed", .holder = "w1", .outcome = {.succeeded = true}});
    reports.push_back({.id = "missing", .holder = "w1", .outcome = {.succeeded = true}});
    reports.push_back({.id = "ok", .holder = "w1", .outcome = {.succeeded = true}});  // reported twice
    auto finished = runToCompletion(store_->finishAttempts(std::move(reports), kM0 + 1));
    std::vector<std::optional<jobs::JobState>> states;
    for (const auto& attempt : finished)
        states.push_back(attempt ? std::optional(attempt->state) : std::nullopt);
    const std::vector<std::optional<jobs::JobState>> expected = {jobs::JobState::succeeded,
                                                                 jobs::JobState::failed,
                                                                 std::nullopt,
                                                                 jobs::JobState::canceled,
                                                                 std::nullopt,
                                                                 std::nullopt,
                                                                 std::nullopt};
    EXPECT_EQ(states, expected);
    auto ok = runToCompletion(store_->findJob("ok"));
    EXPECT_EQ(ok->result, "{\"n\":1}");
    EXPECT_EQ(ok->finished, kM0 + 1);
    EXPECT_EQ(runToCompletion(store_->findJob("fails"))->error, "boom");
    EXPECT_EQ(stateOf("foreign"), jobs::JobState::running) << "a refused report changes nothing";
    EXPECT_EQ(stateOf("not-claimed"), jobs::JobState::queued);
    EXPECT_TRUE(runToCompletion(store_->finishAttempts({}, kM0 + 2)).empty());
}

// The job metrics (obs::JobMetrics) take an external worker's run time and end-to-end time from
// what finishAttempts read in its transaction: the job's queue, task, creation and attempt start.
TEST_P(JobConformance, FinishAttemptsSaysWhereAndWhenEachAttemptRan) {
    JobRecord job = jobRecord("timed");
    job.queue = "mail";
    job.task = "send";
    submit(job, kM0 - 700);
    ASSERT_EQ(claim(1, "w1", kM0 + 100, {"mail"}).size(), 1u);
    std::vector<AttemptReport> reports;
    reports.push_back({.id = "timed", .holder = "w1", .outcome = {.succeeded = true}});
    auto finished = runToCompletion(store_->finishAttempts(std::move(reports), kM0 + 400));
    ASSERT_EQ(finished.size(), 1u);
    ASSERT_TRUE(finished[0]);
    EXPECT_EQ(finished[0]->state, jobs::JobState::succeeded);
    EXPECT_EQ(finished[0]->queue, "mail");
    EXPECT_EQ(finished[0]->task, "send");
    EXPECT_EQ(finished[0]->created, kM0 - 700);
    EXPECT_EQ(finished[0]->attemptStarted, kM0 + 100) << "the claim started the attempt";
    EXPECT_EQ(finished[0]->id, "timed");
    EXPECT_EQ(finished[0]->attempt, 1);
    EXPECT_FALSE(finished[0]->traceParent) << "submitted without tracing";
}

// A job keeps the traceparent of the span that submitted it, whichever way it was stored, and the end of
// each attempt hands it back with the attempt's number (the run span's context derives from both).
TEST_P(JobConformance, AJobKeepsItsSubmissionsTraceContextThroughEveryAttempt) {
    const std::string traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    JobRecord single = jobRecord("single");
    single.traceParent = traceParent;
    single.maxAttempts = 2;
    submit(single);
    std::vector<JobRecord> batch = {jobRecord("batch-1"), jobRecord("batch-2")};
    batch[0].traceParent = traceParent;
    runToCompletion(store_->submitJobs(std::move(batch), kM0));
    EXPECT_EQ(runToCompletion(store_->findJob("single"))->traceParent, traceParent);
    EXPECT_EQ(runToCompletion(store_->findJob("batch-1"))->traceParent, traceParent);
    EXPECT_FALSE(runToCompletion(store_->findJob("batch-2"))->traceParent);

    ASSERT_FALSE(claim(3, "w1", kM0 + 1).empty());
    std::vector<AttemptReport> reports;
    reports.push_back(
        {.id = "single", .holder = "w1", .outcome = {.succeeded = false, .error = "x", .retryAt = kM0 + 2}});
    auto finished = runToCompletion(store_->finishAttempts(std::move(reports), kM0 + 2));
    ASSERT_TRUE(finished.at(0));
    EXPECT_EQ(finished[0]->attempt, 1);
    EXPECT_EQ(finished[0]->traceParent, traceParent);
    ASSERT_FALSE(claim(3, "w2", kM0 + 3).empty());
    reports.clear();
    reports.push_back({.id = "single", .holder = "w2", .outcome = {.succeeded = true}});
    finished = runToCompletion(store_->finishAttempts(std::move(reports), kM0 + 4));
    ASSERT_TRUE(finished.at(0));
    EXPECT_EQ(finished[0]->attempt, 2);
    EXPECT_EQ(finished[0]->traceParent, traceParent);
    EXPECT_EQ(finished[0]->id, "single");
}

TEST_P(JobConformance, CancelEndsWaitingJobsAtOnceAndAsksRunningOnes) {
    submit(jobRecord("waiting"));
    EXPECT_EQ(runToCompletion(store_->cancelJob("waiting", kM0))->state, jobs::JobState::canceled);
    submit(jobRecord("running"));
    claim(1, "w1");
    auto asked = runToCompletion(store_->cancelJob("running", kM0));
    EXPECT_EQ(asked->state, jobs::JobState::running);
    EXPECT_TRUE(asked->cancelRequested);
    auto beat = runToCompletion(store_->heartbeatJob("running", "w1", 30'000, kM0 + 1));
    ASSERT_TRUE(beat);
    EXPECT_TRUE(beat->cancelRequested) << "the holder learns of the cancel at its next beat";
    EXPECT_EQ(finish("running", "w1", false), jobs::JobState::canceled) << "no retry after a cancel";
    EXPECT_EQ(runToCompletion(store_->cancelJob("running", kM0))->state, jobs::JobState::canceled)
        << "canceling a finished job changes nothing";
    EXPECT_FALSE(runToCompletion(store_->cancelJob("missing", kM0)));
}

// A retry runs a failed job now (not after its back-off) and gives a dead one one more attempt; it moves
// nothing else, and the job's history says so.
TEST_P(JobConformance, ARetryQueuesAFailedOrDeadJobNowAndMovesNothingElse) {
    submit(jobRecord("j1"));
    claim(1, "w1");
    ASSERT_EQ(finish("j1", "w1", false), jobs::JobState::failed)
        << "attempt 1 of 2, back-off until kM0 + 5001";
    auto now = runToCompletion(store_->retryJob("j1", kM0 + 10));
    ASSERT_TRUE(now);
    EXPECT_EQ(now->state, jobs::JobState::queued);
    EXPECT_EQ(now->runAt, kM0 + 10) << "not after the back-off";
    EXPECT_EQ(now->maxAttempts, 2) << "an attempt was left: none added";
    auto again = claim(1, "w1", kM0 + 11);
    ASSERT_EQ(again.size(), 1u) << "claimable at once";
    EXPECT_EQ(again[0].attempts, 2);
    ASSERT_EQ(finish("j1", "w1", false, kM0 + 12), jobs::JobState::dead);

    auto revived = runToCompletion(store_->retryJob("j1", kM0 + 20));
    ASSERT_TRUE(revived);
    EXPECT_EQ(revived->state, jobs::JobState::queued);
    EXPECT_EQ(revived->attempts, 2) << "the attempts made stay counted";
    EXPECT_EQ(revived->maxAttempts, 3) << "one more";
    EXPECT_FALSE(revived->finished) << "no longer finished: retention leaves it alone";
    EXPECT_EQ(runToCompletion(store_->deleteFinishedJobs(0, kM0 + 1'000'000, 10)).count, 0);
    auto last = claim(1, "w2", kM0 + 21);
    ASSERT_EQ(last.size(), 1u);
    EXPECT_EQ(last[0].attempts, 3);
    EXPECT_EQ(finish("j1", "w2", true, kM0 + 22), jobs::JobState::succeeded);
    const auto events = runToCompletion(store_->jobEvents("j1"));
    std::size_t retries = 0;
    for (const auto& event : events)
        if (event.detail == "retried") {
            ++retries;
            EXPECT_EQ(event.to, jobs::JobState::queued);
        }
    EXPECT_EQ(retries, 2u);

    // Every other state is left as it is, and answered as it is.
    EXPECT_EQ(runToCompletion(store_->retryJob("j1", kM0 + 30))->state, jobs::JobState::succeeded);
    submit(jobRecord("waiting"));
    EXPECT_EQ(runToCompletion(store_->retryJob("waiting", kM0 + 30))->state, jobs::JobState::queued);
    EXPECT_EQ(runToCompletion(store_->retryJob("waiting", kM0 + 30))->runAt, kM0) << "untouched";
    claim(1, "w1", kM0 + 31);
    EXPECT_EQ(runToCompletion(store_->retryJob("waiting", kM0 + 32))->state, jobs::JobState::running);
    EXPECT_EQ(runToCompletion(store_->retryJob("waiting", kM0 + 32))->leaseHolder, "w1");
    submit(jobRecord("gone"));
    runToCompletion(store_->cancelJob("gone", kM0));
    EXPECT_EQ(runToCompletion(store_->retryJob("gone", kM0 + 33))->state, jobs::JobState::canceled);
    EXPECT_FALSE(runToCompletion(store_->retryJob("missing", kM0)));
}

TEST_P(JobConformance, ExpiredLeasesAreTakenBackAndTheOldHolderIsRefused) {
    submit(jobRecord("j1"));
    claim(1, "w1");
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(kM0 + 29'999)).size(), 0u);
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(kM0 + 30'000)).size(), 1u);
    EXPECT_EQ(stateOf("j1"), jobs::JobState::queued);
    EXPECT_FALSE(finish("j1", "w1", true, kM0 + 30'001)) << "the lease is gone";
    auto reclaimed = claim(1, "w2", kM0 + 30'001);
    ASSERT_EQ(reclaimed.size(), 1u);
    EXPECT_EQ(reclaimed[0].attempts, 2);
    const auto taken = runToCompletion(store_->recoverExpiredLeases(kM0 + 60'002));
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(stateOf("j1"), jobs::JobState::dead) << "no attempts left";
    // What the job metrics count from: the state each job went to, its queue, task and creation.
    EXPECT_EQ(taken[0].state, jobs::JobState::dead);
    EXPECT_EQ(taken[0].queue, "default");
    EXPECT_EQ(taken[0].task, "noop");
    EXPECT_EQ(taken[0].created, kM0);
    // What its run span is made of: the job, the attempt that was lost and when it began (its claim).
    EXPECT_EQ(taken[0].id, "j1");
    EXPECT_EQ(taken[0].attempt, 2);
    EXPECT_EQ(taken[0].attemptStarted, kM0 + 30'001);
}

TEST_P(JobConformance, ReleasedJobsAreQueuedAgainWithTheirAttemptUncountedOnlyByTheirHolder) {
    auto one = jobRecord("j1");
    one.maxAttempts = 1;  // a release must not use up the only attempt
    submit(one);
    submit(jobRecord("j2"));
    submit(jobRecord("j3"));
    ASSERT_EQ(claim(3, "w1").size(), 3u);
    runToCompletion(store_->cancelJob("j3", kM0 + 1));
    auto released =
        runToCompletion(store_->releaseJobs({"j1", "j2", "j3", "unknown"}, "w2", kM0 + 2));  // not the holder
    EXPECT_TRUE(released.empty());
    released = runToCompletion(store_->releaseJobs({"j1", "j3", "unknown"}, "w1", kM0 + 2));
    std::sort(released.begin(), released.end());
    EXPECT_EQ(released, (std::vector<std::string>{"j1", "j3"}));
    EXPECT_EQ(stateOf("j1"), jobs::JobState::queued);
    EXPECT_EQ(stateOf("j2"), jobs::JobState::running) << "not asked for: still leased";
    EXPECT_EQ(stateOf("j3"), jobs::JobState::canceled) << "its cancel was requested";
    auto job = runToCompletion(store_->findJob("j1"));
    EXPECT_EQ(job->attempts, 0);
    EXPECT_FALSE(job->leaseHolder);
    EXPECT_FALSE(finish("j1", "w1", true, kM0 + 3)) << "the lease was given back";
    EXPECT_TRUE(runToCompletion(store_->releaseJobs({"j1"}, "w1", kM0 + 3)).empty()) << "once only";
    auto events = runToCompletion(store_->jobEvents("j1"));
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[2].from, jobs::JobState::running);
    EXPECT_EQ(events[2].to, jobs::JobState::queued);
    EXPECT_EQ(events[2].detail, "released unstarted");
    auto again = claim(3, "w2", kM0 + 4);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].id, "j1");
    EXPECT_EQ(again[0].attempts, 1);
    EXPECT_EQ(finish("j1", "w2", true, kM0 + 5), jobs::JobState::succeeded);
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(kM0 + 30'000)).size(), 1u) << "j2 alone";
}

TEST_P(JobConformance, AFailureWithoutRetryEndsTheJobWhateverAttemptsRemain) {
    submit(jobRecord("j1"));
    claim(1, "w1");
    JobOutcome giveUp{.succeeded = false, .error = "bad input", .retryAt = kM0 + 5000, .retry = false};
    EXPECT_EQ(runToCompletion(store_->finishAttempt("j1", "w1", giveUp, kM0 + 1)), jobs::JobState::dead)
        << "attempt 1 of 2, but no retry was asked for";
    auto dead = runToCompletion(store_->findJob("j1"));
    EXPECT_EQ(dead->error, "bad input");
    EXPECT_TRUE(dead->finished);
    EXPECT_TRUE(claim(1, "w1", kM0 + 60'000).empty());

    submit(jobRecord("j2"));
    claim(1, "w1");
    runToCompletion(store_->cancelJob("j2", kM0));
    EXPECT_EQ(runToCompletion(store_->finishAttempt("j2", "w1", giveUp, kM0 + 1)), jobs::JobState::canceled)
        << "a requested cancel still ends it canceled";
}

TEST_P(JobConformance, LeaseHoldersNameEveryClaimOldestFirst) {
    submit(jobRecord("j1"));
    EXPECT_TRUE(runToCompletion(store_->leaseHolders("j1")).empty()) << "never claimed";
    claim(1, "w1");
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(kM0 + 30'000)).size(), 1u);
    claim(1, "w2", kM0 + 30'001);
    EXPECT_EQ(runToCompletion(store_->leaseHolders("j1")), (std::vector<std::string>{"w1", "w2"}));
    EXPECT_EQ(finish("j1", "w2", true, kM0 + 30'002), jobs::JobState::succeeded);
    EXPECT_EQ(runToCompletion(store_->leaseHolders("j1")), (std::vector<std::string>{"w1", "w2"}))
        << "finishing keeps the history";
    EXPECT_TRUE(runToCompletion(store_->leaseHolders("missing")).empty());
}

TEST_P(JobConformance, ListsFilterByOwnerAndStateAndPageNewestFirst) {
    for (int i = 0; i < 5; ++i) submit(jobRecord("a" + std::to_string(i)));
    submit(jobRecord("b0", "u2"));
    runToCompletion(store_->cancelJob("a0", kM0));
    JobQuery query;
    query.ownerId = "u1";
    query.limit = 2;
    auto first = runToCompletion(store_->listJobs(query));
    ASSERT_EQ(first.jobs.size(), 2u);
    EXPECT_EQ(first.jobs[0].id, "a4");
    query.before = first.nextCursor;
    auto second = runToCompletion(store_->listJobs(query));
    ASSERT_EQ(second.jobs.size(), 2u);
    EXPECT_EQ(second.jobs[0].id, "a2");
    JobQuery canceled;
    canceled.state = jobs::JobState::canceled;
    auto page = runToCompletion(store_->listJobs(canceled));
    ASSERT_EQ(page.jobs.size(), 1u);
    EXPECT_EQ(page.jobs[0].id, "a0");
    EXPECT_EQ(page.nextCursor, 0);
    JobQuery bad;
    bad.limit = 0;
    EXPECT_THROW(runToCompletion(store_->listJobs(bad)), std::invalid_argument);
}

// Each state's listing walks its own index (SQLite names them, PostgreSQL gets the state as a literal):
// every state, its jobs interleaved with the others' and two owners', comes back complete, newest first,
// across pages and with the owner filter.
TEST_P(JobConformance, ListingEachStateFindsExactlyItsJobsNewestFirstAcrossPages) {
    const std::vector<std::pair<std::string, jobs::JobState>> kinds = {
        {"queued", jobs::JobState::queued},    {"scheduled", jobs::JobState::scheduled},
        {"running", jobs::JobState::running},  {"succeeded", jobs::JobState::succeeded},
        {"failed", jobs::JobState::failed},    {"dead", jobs::JobState::dead},
        {"canceled", jobs::JobState::canceled}};
    for (int round = 0; round < 3; ++round) {
        const std::string owner = round == 1 ? "u2" : "u1";
        for (const auto& [kind, state] : kinds) {
            JobRecord job = jobRecord(kind + std::to_string(round), owner,
                                      state == jobs::JobState::scheduled ? kM0 + 3'600'000 : kM0);
            // The jobs to run are alone in their queue, so a claim takes exactly them.
            if (state != jobs::JobState::queued && state != jobs::JobState::scheduled &&
                state != jobs::JobState::canceled) {
                job.queue = "work";
            }
            submit(std::move(job));
        }
        runToCompletion(store_->cancelJob("canceled" + std::to_string(round), kM0));
    }
    ASSERT_EQ(claim(100, "w1", kM0, {"work"}).size(), 12u);
    const JobOutcome giveUp{.succeeded = false, .error = "boom", .retry = false};
    for (int round = 0; round < 3; ++round) {
        const std::string n = std::to_string(round);
        ASSERT_EQ(finish("succeeded" + n, "w1", true), jobs::JobState::succeeded);
        ASSERT_EQ(finish("failed" + n, "w1", false), jobs::JobState::failed);
        ASSERT_EQ(runToCompletion(store_->finishAttempt("dead" + n, "w1", giveUp, kM0 + 1)),
                  jobs::JobState::dead);
    }
    for (const auto& [kind, state] : kinds) {
        JobQuery query;
        query.state = state;
        query.limit = 2;
        const auto first = runToCompletion(store_->listJobs(query));
        ASSERT_EQ(first.jobs.size(), 2u) << kind;
        EXPECT_EQ(first.jobs[0].id, kind + "2") << "newest first";
        EXPECT_EQ(first.jobs[1].id, kind + "1");
        EXPECT_EQ(first.jobs[0].state, state);
        query.before = first.nextCursor;
        const auto second = runToCompletion(store_->listJobs(query));
        ASSERT_EQ(second.jobs.size(), 1u) << kind;
        EXPECT_EQ(second.jobs[0].id, kind + "0");
        EXPECT_EQ(second.nextCursor, 0) << kind;
        JobQuery mine;
        mine.state = state;
        mine.ownerId = "u1";
        const auto own = runToCompletion(store_->listJobs(mine));
        ASSERT_EQ(own.jobs.size(), 2u) << kind;
        EXPECT_EQ(own.jobs[0].id, kind + "2");
        EXPECT_EQ(own.jobs[1].id, kind + "0") << "the other owner's job is skipped";
    }
}

// --- job races: many calls on the same jobs at once, in a shuffled order (the seed is in each failure) ---

JobOutcome successOutcome() {
    JobOutcome outcome;
    outcome.succeeded = true;
    outcome.result = "{\"ok\":true}";
    return outcome;
}

JobOutcome failureOutcome(Millis retryAt) {
    JobOutcome outcome;
    outcome.error = "boom";
    outcome.retryAt = retryAt;
    return outcome;
}

// Claims batches of `max` for `holder` until none is left; everything it got.
boost::asio::awaitable<std::vector<JobRecord>> claimUntilEmpty(Store& store, std::string holder, int max,
                                                               Millis now) {
    std::vector<JobRecord> claimed;
    for (;;) {
        std::vector<std::string> queues{"default"};
        auto batch = co_await store.claimJobs(std::move(queues), max, holder, 30'000, now);
        if (batch.empty()) break;
        for (auto& job : batch) claimed.push_back(std::move(job));
    }
    co_return claimed;
}

// The job's history is one chain of legal transitions from its submission to its state now, with
// nothing after a terminal state and one claim per attempt counted.
void expectOneLegalHistory(Store& store, const std::string& id) {
    SCOPED_TRACE("history of " + id);
    const auto job = runToCompletion(store.findJob(id));
    ASSERT_TRUE(job);
    const auto events = runToCompletion(store.jobEvents(id));
    ASSERT_FALSE(events.empty());
    EXPECT_FALSE(events.front().from) << "the first event is the submission";
    EXPECT_TRUE(events.front().to == jobs::JobState::scheduled ||
                events.front().to == jobs::JobState::queued);
    int claims = 0;
    for (std::size_t i = 1; i < events.size(); ++i) {
        const auto& event = events[i];
        ASSERT_TRUE(event.from) << "event " << i;
        EXPECT_EQ(*event.from, events[i - 1].to) << "event " << i << " continues from the one before";
        EXPECT_FALSE(jobs::isTerminal(*event.from))
            << "event " << i << " (" << event.detail << ") comes after the job ended";
        EXPECT_TRUE(jobs::transitionAllowed(*event.from, event.to))
            << jobs::stateName(*event.from) << " -> " << jobs::stateName(event.to);
        if (*event.from == jobs::JobState::queued && event.to == jobs::JobState::running) ++claims;
    }
    EXPECT_EQ(events.back().to, job->state) << "the history ends at the job's state";
    EXPECT_EQ(claims, job->attempts);
    EXPECT_LE(job->attempts, job->maxAttempts);
}

using MaybeJob = std::optional<JobRecord>;
using MaybeState = std::optional<jobs::JobState>;

TEST_P(JobConformance, ConcurrentCancelsAndReportsLeaveOneConsistentFinalState) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kJobs = 60;
    constexpr Millis kReportAt = kM0 + 2;
    // Later than the reports: a write after a job ended would show in its `updated`.
    constexpr Millis kCancelAt = kM0 + 3;
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) {
        auto job = jobRecord("r" + std::to_string(i));
        job.maxAttempts = 1 + i % 2;  // a failure is final (dead) or would be retried (failed)
        ids.push_back(submit(std::move(job)).id);
    }
    ASSERT_EQ(claim(kJobs, "w1").size(), static_cast<std::size_t>(kJobs));

    // Each job gets two cancels, a success and a failure report from its holder, and an intruder's
    // report, heartbeat and progress, all at once.
    struct Contenders {
        std::future<MaybeJob> cancels[2];
        std::future<MaybeState> success, failure, intruderFinish;
        std::future<std::optional<LeaseRenewal>> intruderBeat;
        std::future<bool> intruderProgress;
    };
    std::vector<Contenders> contenders(kJobs);
    rampart::testing::Race race(seed);
    for (int i = 0; i < kJobs; ++i) {
        const std::string id = ids[i];
        auto& c = contenders[i];
        for (auto& cancel : c.cancels)
            race.add<MaybeJob>(cancel, [this, id] { return store_->cancelJob(id, kCancelAt); });
        race.add<MaybeState>(
            c.success, [this, id] { return store_->finishAttempt(id, "w1", successOutcome(), kReportAt); });
        race.add<MaybeState>(c.failure, [this, id] {
            return store_->finishAttempt(id, "w1", failureOutcome(kM0 + 5000), kReportAt);
        });
        race.add<MaybeState>(c.intruderFinish, [this, id] {
            return store_->finishAttempt(id, "intruder", successOutcome(), kReportAt);
        });
        race.add<std::optional<LeaseRenewal>>(
            c.intruderBeat, [this, id] { return store_->heartbeatJob(id, "intruder", 30'000, kReportAt); });
        race.add<bool>(c.intruderProgress,
                       [this, id] { return store_->reportProgress(id, "intruder", 50, "mine", kReportAt); });
    }
    race.run();

    for (int i = 0; i < kJobs; ++i) {
        const std::string& id = ids[i];
        SCOPED_TRACE(id);
        auto& c = contenders[i];
        EXPECT_FALSE(c.intruderFinish.get());
        EXPECT_FALSE(c.intruderBeat.get());
        EXPECT_FALSE(c.intruderProgress.get());
        const MaybeState success = c.success.get();
        const MaybeState failure = c.failure.get();
        ASSERT_NE(success.has_value(), failure.has_value()) << "exactly one report of the attempt counts";
        std::vector<JobRecord> cancels;
        for (auto& cancel : c.cancels) {
            auto record = cancel.get();
            ASSERT_TRUE(record);
            cancels.push_back(std::move(*record));
        }
        bool canceledWhileRunning = false;
        for (const auto& cancel : cancels) {
            if (cancel.state != jobs::JobState::running) continue;
            EXPECT_TRUE(cancel.cancelRequested);
            canceledWhileRunning = true;
        }
        const auto final = runToCompletion(store_->findJob(id));
        ASSERT_TRUE(final);
        if (success) {
            EXPECT_EQ(*success, jobs::JobState::succeeded) << "success wins over a cancel request";
        } else if (canceledWhileRunning) {
            EXPECT_EQ(*failure, jobs::JobState::canceled) << "a failure after a cancel request is no retry";
        } else {
            EXPECT_EQ(*failure, final->maxAttempts == 1 ? jobs::JobState::dead : jobs::JobState::failed);
        }
        const jobs::JobState won = success ? *success : *failure;
        ASSERT_TRUE(jobs::isTerminal(final->state)) << "both cancels came before or after the report";
        if (jobs::isTerminal(won)) {
            EXPECT_EQ(final->state, won) << "the winning report's state is the last";
        } else {
            EXPECT_EQ(final->state, jobs::JobState::canceled) << "a cancel after the retry was scheduled";
        }
        for (const auto& cancel : cancels) {
            if (cancel.state != jobs::JobState::running) {
                EXPECT_EQ(cancel.state, final->state) << "a cancel after the report returned the final state";
            }
        }
        EXPECT_EQ(final->cancelRequested, canceledWhileRunning);
        EXPECT_EQ(final->attempts, 1);
        EXPECT_FALSE(final->leaseHolder);
        EXPECT_FALSE(final->leaseExpires);
        EXPECT_EQ(final->result.has_value(), final->state == jobs::JobState::succeeded);
        EXPECT_EQ(final->progress, final->state == jobs::JobState::succeeded ? 100 : 0);
        ASSERT_TRUE(final->finished);
        EXPECT_EQ(final->updated, *final->finished) << "nothing was written to the job after it ended";

        // Late reports are refused and change nothing; a late cancel returns the job as it is.
        EXPECT_FALSE(runToCompletion(store_->finishAttempt(id, "w1", successOutcome(), kM0 + 4)));
        EXPECT_FALSE(runToCompletion(store_->heartbeatJob(id, "w1", 30'000, kM0 + 4)));
        EXPECT_FALSE(runToCompletion(store_->reportProgress(id, "w1", 10, "late", kM0 + 4)));
        EXPECT_EQ(runToCompletion(store_->cancelJob(id, kM0 + 4))->updated, final->updated);
        EXPECT_EQ(stateOf(id), final->state);
        expectOneLegalHistory(*store_, id);
    }
    EXPECT_EQ(runToCompletion(store_->recoverExpiredLeases(kM0 + 3'600'000)).size(), 0u)
        << "no lease is left";
}

TEST_P(JobConformance, ConcurrentClaimsLeaseEveryJobToExactlyOneHolderOnce) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kQueued = 150;
    constexpr int kDue = 50;  // scheduled earlier and due now: the claims themselves make them queued
    constexpr int kHolders = 6;
    std::vector<std::string> ids;
    for (int i = 0; i < kQueued; ++i) ids.push_back(submit(jobRecord("q" + std::to_string(i))).id);
    for (int i = 0; i < kDue; ++i) {
        auto job = submit(jobRecord("s" + std::to_string(i), "u1", kM0 - 500), kM0 - 1000);
        ASSERT_EQ(job.state, jobs::JobState::scheduled);
        ids.push_back(job.id);
    }

    rampart::testing::Race race(seed);
    std::vector<std::future<std::vector<JobRecord>>> claims(kHolders);
    for (int h = 0; h < kHolders; ++h) {
        const std::string holder = "w" + std::to_string(h);
        race.add<std::vector<JobRecord>>(claims[h],
                                         [this, holder] { return claimUntilEmpty(*store_, holder, 7, kM0); });
    }
    // Every fifth job is canceled meanwhile: before its claim (canceled, never leased) or after it
    // (still running, with the cancel requested).
    std::map<std::string, std::future<MaybeJob>> cancels;
    for (std::size_t i = 0; i < ids.size(); i += 5) {
        const std::string id = ids[i];
        race.add<MaybeJob>(cancels[id], [this, id] { return store_->cancelJob(id, kM0); });
    }
    race.run();

    std::map<std::string, std::string> holderOf;
    for (int h = 0; h < kHolders; ++h) {
        for (const auto& job : claims[h].get()) {
            EXPECT_EQ(job.attempts, 1);
            EXPECT_TRUE(holderOf.emplace(job.id, "w" + std::to_string(h)).second)
                << job.id << " was leased twice";
        }
    }
    std::set<std::string> canceledBeforeClaim;
    std::set<std::string> canceledAfterClaim;
    for (auto& [id, cancel] : cancels) {
        auto record = cancel.get();
        ASSERT_TRUE(record);
        if (record->state == jobs::JobState::canceled) {
            canceledBeforeClaim.insert(id);
        } else {
            EXPECT_EQ(record->state, jobs::JobState::running) << id;
            EXPECT_TRUE(record->cancelRequested) << id;
            canceledAfterClaim.insert(id);
        }
    }
    EXPECT_EQ(holderOf.size() + canceledBeforeClaim.size(), ids.size()) << "every job claimed or canceled";
    for (const auto& id : canceledBeforeClaim) {
        EXPECT_FALSE(holderOf.contains(id)) << id << " was leased after it was canceled";
        EXPECT_EQ(stateOf(id), jobs::JobState::canceled);
    }
    for (const auto& [id, holder] : holderOf) {
        SCOPED_TRACE(id);
        const auto job = runToCompletion(store_->findJob(id));
        ASSERT_TRUE(job);
        EXPECT_EQ(job->state, jobs::JobState::running);
        EXPECT_EQ(job->leaseHolder, holder);
        EXPECT_EQ(job->attempts, 1);
        EXPECT_EQ(job->cancelRequested, canceledAfterClaim.contains(id));
        // Only the holder may report.
        const std::string other = holder == "w0" ? "w1" : "w0";
        EXPECT_FALSE(runToCompletion(store_->heartbeatJob(id, other, 30'000, kM0 + 1)));
        EXPECT_FALSE(runToCompletion(store_->reportProgress(id, other, 10, "not mine", kM0 + 1)));
        EXPECT_FALSE(runToCompletion(store_->finishAttempt(id, other, successOutcome(), kM0 + 1)));
        auto beat = runToCompletion(store_->heartbeatJob(id, holder, 30'000, kM0 + 1));
        ASSERT_TRUE(beat);
        EXPECT_EQ(beat->cancelRequested, canceledAfterClaim.contains(id));
    }
    for (const auto& id : ids) expectOneLegalHistory(*store_, id);
    EXPECT_TRUE(claim(10, "late", kM0 + 2).empty()) << "nothing is left to lease";
}

TEST_P(JobConformance, ReportsRacingLeaseRecoveryEitherEndTheJobOrAreRefused) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kJobs = 40;
    constexpr Millis kExpiry = kM0 + 30'000;  // the lease claim() takes
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) ids.push_back(submit(jobRecord("l" + std::to_string(i))).id);
    ASSERT_EQ(claim(kJobs, "w1").size(), static_cast<std::size_t>(kJobs));

    // The holder reports just before its lease ends, while recovery (just after) takes back the rest.
    rampart::testing::Race race(seed);
    std::vector<std::future<MaybeState>> reports(kJobs);
    for (int i = 0; i < kJobs; ++i) {
        const std::string id = ids[i];
        race.add<MaybeState>(reports[i], [this, id] {
            return store_->finishAttempt(id, "w1", successOutcome(), kExpiry - 1);
        });
    }
    std::future<std::vector<FinishedAttempt>> recovered;
    race.add<std::vector<FinishedAttempt>>(recovered,
                                           [this] { return store_->recoverExpiredLeases(kExpiry); });
    race.run();

    std::set<std::string> takenBack;
    for (int i = 0; i < kJobs; ++i) {
        const auto job = runToCompletion(store_->findJob(ids[i]));
        ASSERT_TRUE(job);
        const MaybeState report = reports[i].get();
        if (report) {
            EXPECT_EQ(*report, jobs::JobState::succeeded);
            EXPECT_EQ(job->state, jobs::JobState::succeeded) << ids[i];
        } else {
            EXPECT_EQ(job->state, jobs::JobState::queued) << ids[i] << ": taken back, attempt counted";
            EXPECT_FALSE(job->leaseHolder);
            takenBack.insert(ids[i]);
        }
        EXPECT_EQ(job->attempts, 1);
    }
    EXPECT_EQ(recovered.get().size(), takenBack.size());
    // What was taken back runs again under a new lease; the old holder is refused for good.
    const auto again = claim(kJobs, "w2", kExpiry + 1);
    ASSERT_EQ(again.size(), takenBack.size());
    for (const auto& job : again) {
        EXPECT_TRUE(takenBack.contains(job.id));
        EXPECT_EQ(job.attempts, 2);
        EXPECT_FALSE(finish(job.id, "w1", true, kExpiry + 2));
        EXPECT_EQ(finish(job.id, "w2", true, kExpiry + 2), jobs::JobState::succeeded);
    }
    for (const auto& id : ids) expectOneLegalHistory(*store_, id);
}

TEST_P(JobConformance, RoundsOfRacingClaimsCancelsReportsAndRecoveryLeaveEveryJobOneLegalHistory) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kJobs = 80;
    constexpr Millis kLease = 30'000;  // claim()'s and claimUntilEmpty's
    std::vector<std::string> ids;
    for (int i = 0; i < kJobs; ++i) {
        auto job = jobRecord("h" + std::to_string(i), "u1", i % 4 == 0 ? kM0 - 10 : kM0 - 1);
        job.maxAttempts = 1 + i % 3;
        ids.push_back(submit(std::move(job), i % 4 == 0 ? kM0 - 100 : kM0 - 1).id);  // every fourth scheduled
    }

    // Round 1: three holders claim everything while every third job is canceled.
    std::map<std::string, std::string> holderOf;
    {
        rampart::testing::Race race(seed);
        std::vector<std::future<std::vector<JobRecord>>> claims(3);
        for (int h = 0; h < 3; ++h) {
            const std::string holder = "w" + std::to_string(h);
            race.add<std::vector<JobRecord>>(
                claims[h], [this, holder] { return claimUntilEmpty(*store_, holder, 5, kM0); });
        }
        std::vector<std::future<MaybeJob>> cancels(kJobs);
        for (int i = 0; i < kJobs; i += 3) {
            const std::string id = ids[i];
            race.add<MaybeJob>(cancels[i], [this, id] { return store_->cancelJob(id, kM0); });
        }
        race.run();
        for (int h = 0; h < 3; ++h)
            for (const auto& job : claims[h].get()) holderOf[job.id] = "w" + std::to_string(h);
        for (auto& cancel : cancels)
            if (cancel.valid()) {
                EXPECT_TRUE(cancel.get());
            }
    }

    // Round 2: half of the running jobs get a cancel, both reports from their holder and one from an
    // intruder; the other half's holders have died, and recovery takes their leases back meanwhile.
    {
        rampart::testing::Race race(seed + 1);
        std::vector<std::future<MaybeJob>> cancels(kJobs);
        std::vector<std::future<MaybeState>> reports(kJobs * 3);
        for (int i = 0; i < kJobs; i += 2) {
            const std::string id = ids[i];
            if (!holderOf.contains(id)) continue;
            const std::string holder = holderOf[id];
            race.add<MaybeJob>(cancels[i], [this, id] { return store_->cancelJob(id, kM0 + 1); });
            race.add<MaybeState>(reports[i * 3], [this, id, holder] {
                return store_->finishAttempt(id, holder, successOutcome(), kM0 + 1);
            });
            race.add<MaybeState>(reports[i * 3 + 1], [this, id, holder] {
                return store_->finishAttempt(id, holder, failureOutcome(kM0 + 1000), kM0 + 1);
            });
            race.add<MaybeState>(reports[i * 3 + 2], [this, id] {
                return store_->finishAttempt(id, "intruder", successOutcome(), kM0 + 1);
            });
        }
        std::future<std::vector<FinishedAttempt>> recovered;
        race.add<std::vector<FinishedAttempt>>(recovered,
                                               [this] { return store_->recoverExpiredLeases(kM0 + kLease); });
        race.run();
        EXPECT_LE(recovered.get().size(), static_cast<std::size_t>(kJobs));
        for (int i = 0; i < kJobs; i += 2) {
            if (!reports[i * 3].valid()) continue;
            // At most one report of the attempt counts; none when recovery took the lease back first.
            const bool succeeded = reports[i * 3].get().has_value();
            const bool failed = reports[i * 3 + 1].get().has_value();
            EXPECT_FALSE(succeeded && failed) << ids[i];
            EXPECT_FALSE(reports[i * 3 + 2].get()) << ids[i];
        }
    }

    // Round 3: whatever may run again is claimed and succeeds.
    const auto again = runToCompletion(claimUntilEmpty(*store_, "w9", 5, kM0 + 2 * kLease));
    for (const auto& job : again)
        EXPECT_EQ(finish(job.id, "w9", true, kM0 + 2 * kLease), jobs::JobState::succeeded) << job.id;

    for (const auto& id : ids) {
        const auto job = runToCompletion(store_->findJob(id));
        ASSERT_TRUE(job);
        EXPECT_TRUE(jobs::isTerminal(job->state)) << id << " is " << jobs::stateName(job->state);
        expectOneLegalHistory(*store_, id);
    }
}

TEST_P(JobConformance, TheHistoryRecordsEveryStateChangeInOrder) {
    submit(jobRecord("j1"));
    ASSERT_EQ(claim(1, "w1").size(), 1u);
    EXPECT_EQ(finish("j1", "w1", false, kM0 + 1), jobs::JobState::failed);
    ASSERT_EQ(claim(1, "w1", kM0 + 6000).size(), 1u);
    runToCompletion(store_->cancelJob("j1", kM0 + 6001));
    EXPECT_EQ(finish("j1", "w1", false, kM0 + 6002), jobs::JobState::canceled);

    auto events = runToCompletion(store_->jobEvents("j1"));
    using S = jobs::JobState;
    const std::vector<std::pair<std::optional<S>, S>> expected = {
        {std::nullopt, S::queued}, {S::queued, S::running}, {S::running, S::failed},
        {S::failed, S::queued},    {S::queued, S::running}, {S::running, S::running} /* cancel requested */,
        {S::running, S::canceled}};
    ASSERT_EQ(events.size(), expected.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(events[i].from, expected[i].first);
        EXPECT_EQ(events[i].to, expected[i].second);
        if (i > 0) {
            EXPECT_GE(events[i].time, events[i - 1].time);
        }
    }
    EXPECT_EQ(events[5].detail, "cancel requested");
    EXPECT_TRUE(runToCompletion(store_->jobEvents("nope")).empty());
}

TEST_P(JobConformance, APausedQueueKeepsItsJobsUntilResumed) {
    submit(jobRecord("a1"));
    auto other = jobRecord("b1");
    other.queue = "bulk";
    submit(other);
    runToCompletion(store_->setQueuePaused("default", true, kM0));
    auto claimed = claim(10, "w1", kM0 + 1, {"default", "bulk"});
    ASSERT_EQ(claimed.size(), 1u) << "only the other queue's job";
    EXPECT_EQ(claimed[0].id, "b1");
    EXPECT_EQ(stateOf("a1"), jobs::JobState::queued);
    runToCompletion(store_->setQueuePaused("default", true, kM0 + 2)) /* twice is harmless */;
    runToCompletion(store_->setQueuePaused("default", false, kM0 + 3));
    claimed = claim(10, "w1", kM0 + 4, {"default", "bulk"});
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].id, "a1");
}

TEST_P(JobConformance, QueueStatsCountJobsByStateAndShowPausedQueues) {
    submit(jobRecord("a1"));
    submit(jobRecord("a2"));
    submit(jobRecord("a3", "u1", kM0 + 60'000));
    auto bulk = jobRecord("b1");
    bulk.queue = "bulk";
    submit(bulk);
    ASSERT_EQ(claim(1, "w1", kM0, {"bulk"}).size(), 1u);
    runToCompletion(store_->setQueuePaused("idle", true, kM0));

    auto stats = runToCompletion(store_->queueStats());
    ASSERT_EQ(stats.size(), 3u);
    EXPECT_EQ(stats[0].name, "bulk");
    EXPECT_FALSE(stats[0].paused);
    EXPECT_EQ(stats[0].counts,
              (std::vector<std::pair<jobs::JobState, std::int64_t>>{{jobs::JobState::running, 1}}));
    EXPECT_EQ(stats[1].name, "default");
    std::map<jobs::JobState, std::int64_t> counts(stats[1].counts.begin(), stats[1].counts.end());
    EXPECT_EQ(counts[jobs::JobState::queued], 2);
    EXPECT_EQ(counts[jobs::JobState::scheduled], 1);
    EXPECT_EQ(stats[2].name, "idle");
    EXPECT_TRUE(stats[2].paused);
    EXPECT_TRUE(stats[2].counts.empty());
}

TEST_P(JobConformance, RetentionDeletesOnlyJobsThatEndedLongEnoughAgo) {
    for (const char* id : {"old-ok", "old-dead", "new-ok", "running", "waiting"}) submit(jobRecord(id));
    auto oneAttempt = jobRecord("old-canceled");
    submit(oneAttempt);
    runToCompletion(store_->cancelJob("old-canceled", kM0 + 1));
    auto claimed = claim(4, "w1", kM0);
    ASSERT_EQ(claimed.size(), 4u);
    EXPECT_EQ(finish("old-ok", "w1", true, kM0 + 1), jobs::JobState::succeeded);
    EXPECT_EQ(finish("old-dead", "w1", false, kM0 + 1), jobs::JobState::failed);
    ASSERT_EQ(claim(2, "w1", kM0 + 6000).size(), 2u) << "the retry, and the job still waiting";
    EXPECT_EQ(finish("old-dead", "w1", false, kM0 + 6001), jobs::JobState::dead);
    EXPECT_EQ(finish("new-ok", "w1", true, kM0 + 20'000), jobs::JobState::succeeded);

    // Oldest first: old-ok and old-canceled ended at kM0 + 1, old-dead at kM0 + 6001.
    const auto first = runToCompletion(store_->deleteFinishedJobs(0, kM0 + 10'000, 1));
    EXPECT_EQ(first.count, 1) << "the limit holds";
    EXPECT_EQ(first.lastFinished, kM0 + 1);
    const auto nothingFrom = runToCompletion(store_->deleteFinishedJobs(kM0 + 6002, kM0 + 10'000, 100));
    EXPECT_EQ(nothingFrom.count, 0) << "none ended from kM0 + 6002 on, before kM0 + 10,000";
    EXPECT_EQ(nothingFrom.lastFinished, 0);
    const auto rest = runToCompletion(store_->deleteFinishedJobs(first.lastFinished, kM0 + 10'000, 100));
    EXPECT_EQ(rest.count, 2) << "from where the first call ended, its own time included";
    EXPECT_EQ(rest.lastFinished, kM0 + 6001);
    EXPECT_EQ(runToCompletion(store_->deleteFinishedJobs(0, kM0 + 10'000, 100)).count, 0);
    for (const char* gone : {"old-ok", "old-dead", "old-canceled"}) {
        EXPECT_FALSE(runToCompletion(store_->findJob(gone)).has_value()) << gone;
        EXPECT_TRUE(runToCompletion(store_->jobEvents(gone)).empty()) << "its history went with it";
    }
    for (const char* kept : {"new-ok", "running", "waiting"})
        EXPECT_TRUE(runToCompletion(store_->findJob(kept)).has_value()) << kept;
}

// --- sealed payloads (store/sealed_job_store.hpp) ---

TEST_P(JobConformance, PayloadKeyGenerationsStartAtOneAndOnlyGrow) {
    EXPECT_EQ(runToCompletion(store_->payloadKeyGeneration()), 1);
    EXPECT_EQ(runToCompletion(store_->startPayloadKeyGeneration(kM0)), 2);
    EXPECT_EQ(runToCompletion(store_->startPayloadKeyGeneration(kM0 + 1)), 3);
    EXPECT_EQ(runToCompletion(store_->payloadKeyGeneration()), 3);
}

TEST_P(JobConformance, JobPayloadsPageByIdAndARewriteAppliesOnlyWhileTheRowIsUnchanged) {
    for (const char* id : {"j3", "j1", "j2"}) submit(jobRecord(id));
    const auto claimed = claim(1, "w1");
    ASSERT_EQ(claimed.size(), 1u);
    ASSERT_TRUE(runToCompletion(store_->reportProgress(claimed[0].id, "w1", 10, "ten", kM0 + 1)));
    auto first = runToCompletion(store_->jobPayloads("", 2));
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].id, "j1");
    EXPECT_EQ(first[1].id, "j2");
    EXPECT_EQ(first[1].args, "{}");
    EXPECT_FALSE(first[1].result.has_value());
    auto rest = runToCompletion(store_->jobPayloads("j2", 2));
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].id, "j3");
    EXPECT_TRUE(runToCompletion(store_->jobPayloads("j3", 2)).empty());

    PayloadRewrite current{.before = first[1], .after = first[1]};
    current.after.args = R"({"n":2})";
    current.after.result = "{}";
    PayloadRewrite stale{.before = first[0], .after = first[0]};
    stale.before.args = R"({"changed":true})";  // what the reader saw is no longer there
    stale.after.args = R"({"n":3})";
    std::vector<PayloadRewrite> rewrites{current, stale};
    EXPECT_EQ(runToCompletion(store_->rewriteJobPayloads(rewrites)), 1);
    auto j2 = runToCompletion(store_->findJob("j2"));
    EXPECT_EQ(j2->args, R"({"n":2})");
    EXPECT_EQ(j2->result, "{}");
    EXPECT_EQ(runToCompletion(store_->findJob("j1"))->args, first[0].args) << "left as it was";
    EXPECT_EQ(runToCompletion(store_->rewriteJobPayloads({})), 0);
}

TEST_P(JobConformance, SealedPayloadsAreStoredSealedReadInClearAndReencryptedAfterARotation) {
    const SecretString secret("conformance-secret-key-0123456789-abcdef");
    // Written with sealing off: plaintext, read as it is once sealing is on.
    submit(jobRecord("plain"));
    ASSERT_EQ(claim(1, "w1").size(), 1u);
    runToCompletion(
        store_->finishAttempt("plain", "w1", JobOutcome{.succeeded = true, .result = "{\"p\":1}"}, kM0));

    auto sealed = std::make_unique<SealedJobStore>(*store_, *store_, secret);
    auto job = jobRecord("secret");
    job.args = R"({"marker":"ARGS-MARKER"})";
    job.idempotencyKey = "k";
    job.requestHash = "hash-of-the-request";
    runToCompletion(sealed->submitJob(job, kM0));
    auto claimed = runToCompletion(sealed->claimJobs({"default"}, 1, "w2", 30'000, kM0));
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].args, R"({"marker":"ARGS-MARKER"})") << "a worker gets plaintext";
    EXPECT_TRUE(runToCompletion(sealed->reportProgress("secret", "w2", 50, "PROGRESS-MARKER", kM0 + 1)));
    JobOutcome failed{.succeeded = false, .error = "ERROR-MARKER", .retry = false};
    runToCompletion(sealed->finishAttempt("secret", "w2", failed, kM0 + 2));

    auto raw = runToCompletion(store_->findJob("secret"));
    ASSERT_TRUE(raw);
    EXPECT_TRUE(raw->args.starts_with("$s1$1$")) << raw->args;
    EXPECT_TRUE(raw->progressMessage.starts_with("$s1$1$")) << raw->progressMessage;
    EXPECT_TRUE(raw->error->starts_with("$s1$1$")) << *raw->error;
    EXPECT_NE(raw->requestHash, "hash-of-the-request") << "the request hash is keyed";
    auto clear = runToCompletion(sealed->findJob("secret"));
    EXPECT_EQ(clear->args, R"({"marker":"ARGS-MARKER"})");
    EXPECT_EQ(clear->progressMessage, "PROGRESS-MARKER");
    EXPECT_EQ(clear->error, "ERROR-MARKER");
    EXPECT_EQ(runToCompletion(sealed->findJob("plain"))->result, "{\"p\":1}");
    // A replay of the idempotency key still finds the job (both hashes keyed alike).
    auto replay = jobRecord("secret-again");
    replay.idempotencyKey = "k";
    replay.requestHash = "hash-of-the-request";
    EXPECT_EQ(runToCompletion(sealed->submitJob(replay, kM0)).outcome, SubmitOutcome::existing);

    // A rotation: new payloads (here: a store started after it) use generation 2; old ones still open.
    EXPECT_EQ(runToCompletion(store_->startPayloadKeyGeneration(kM0 + 3)), 2);
    sealed = std::make_unique<SealedJobStore>(*store_, *store_, secret);
    runToCompletion(sealed->submitJob(jobRecord("newer"), kM0 + 4));
    EXPECT_TRUE(runToCompletion(store_->findJob("newer"))->args.starts_with("$s1$2$"));
    EXPECT_EQ(runToCompletion(sealed->findJob("secret"))->error, "ERROR-MARKER");

    // Reencrypt in batches of one: no payload of generation 1, and no plaintext, is left.
    const ReencryptCounts counts = runToCompletion(sealed->reencryptPayloads(1));
    EXPECT_EQ(counts.generation, 2);
    EXPECT_EQ(counts.jobs, 3);
    EXPECT_EQ(counts.resealed, 2) << "plain and secret; newer was current";
    EXPECT_EQ(counts.changed, 0);
    for (const JobPayload& row : runToCompletion(store_->jobPayloads("", 100))) {
        EXPECT_EQ(sealedGeneration(row.args), 2) << row.id;
        if (row.result) {
            EXPECT_EQ(sealedGeneration(*row.result), 2) << row.id;
        }
        if (row.error) {
            EXPECT_EQ(sealedGeneration(*row.error), 2) << row.id;
        }
        if (!row.progressMessage.empty()) {
            EXPECT_EQ(sealedGeneration(row.progressMessage), 2) << row.id;
        }
    }
    EXPECT_EQ(runToCompletion(sealed->findJob("plain"))->result, "{\"p\":1}");
    EXPECT_EQ(runToCompletion(sealed->findJob("secret"))->progressMessage, "PROGRESS-MARKER");
    EXPECT_EQ(runToCompletion(sealed->reencryptPayloads(500)).resealed, 0) << "nothing left to do";
}

TEST_P(JobConformance, ASealedPayloadCopiedToAnotherJobDoesNotOpen) {
    SealedJobStore sealed(*store_, *store_, SecretString("conformance-secret-key-0123456789-abcdef"));
    auto victim = jobRecord("victim");
    victim.args = R"({"owner":"victim"})";
    runToCompletion(sealed.submitJob(victim, kM0));
    runToCompletion(sealed.submitJob(jobRecord("attacker", "u2"), kM0));
    // Someone with write access to the database copies the victim's sealed args onto their own job.
    const auto rows = runToCompletion(store_->jobPayloads("", 10));
    ASSERT_EQ(rows.size(), 2u);
    PayloadRewrite copy{.before = rows[0], .after = rows[0]};
    copy.after.args = rows[1].args;
    ASSERT_EQ(rows[0].id, "attacker");
    ASSERT_EQ(runToCompletion(store_->rewriteJobPayloads({copy})), 1);
    EXPECT_THROW(runToCompletion(sealed.findJob("attacker")), SealedPayloadUnreadable);
    EXPECT_EQ(runToCompletion(sealed.findJob("victim"))->args, R"({"owner":"victim"})");
}

// --- schedules ---

ScheduleRecord scheduleRecord(std::string id, std::string owner = "u1", Millis nextDue = kM0) {
    return ScheduleRecord{.id = std::move(id),
                          .name = "nightly report",
                          .task = "noop",
                          .args = "{\"n\":1}",
                          .queue = "default",
                          .priority = 5,
                          .cron = "0 3 * * *",
                          .timeZone = "Europe/London",
                          .ownerId = std::move(owner),
                          .misfirePolicy = "catch_up",
                          .catchUpMax = 3,
                          .skipIfRunning = true,
                          .anchor = kM0 - 60'000,
                          .nextDue = nextDue,
                          .created = kM0 - 60'000,
                          .updated = kM0 - 60'000};
}

class ScheduleConformance : public JobConformance {
  protected:
    void SetUp() override {
        JobConformance::SetUp();
        ASSERT_TRUE(runToCompletion(store_->acquireLease(kSchedulerLease, "s1", 60'000, kM0)));
    }
    void create(ScheduleRecord schedule) {
        ASSERT_EQ(runToCompletion(store_->createSchedule(std::move(schedule), 100, 1000)),
                  CreateScheduleOutcome::created);
    }
    ScheduleRecord find(const std::string& id) { return *runToCompletion(store_->findSchedule(id)); }
    TickWrite tick(const std::string& id, Millis fireTime, std::optional<std::string> jobId = std::nullopt,
                   std::string holder = "s1") {
        TickWrite write{.scheduleId = id, .revision = find(id).revision, .holder = std::move(holder)};
        write.fireTime = fireTime;
        if (jobId) write.job = jobRecord(*jobId, "u1", fireTime);
        write.skipReason = "previous job still running";
        write.nextDue = fireTime + 60'000;
        return write;
    }
    TickOutcome record(TickWrite write, Millis now = kM0) {
        return runToCompletion(store_->recordTick(std::move(write), now));
    }
    int jobCount() {
        JobQuery all;
        all.limit = 500;
        return static_cast<int>(runToCompletion(store_->listJobs(all)).jobs.size());
    }
};

TEST_P(ScheduleConformance, ASchedulesFieldsRoundTrip) {
    create(scheduleRecord("s-a"));
    const auto stored = find("s-a");
    EXPECT_EQ(stored.name, "nightly report");
    EXPECT_EQ(stored.task, "noop");
    EXPECT_EQ(stored.args, "{\"n\":1}");
    EXPECT_EQ(stored.queue, "default");
    EXPECT_EQ(stored.priority, 5);
    EXPECT_EQ(stored.cron, std::optional<std::string>("0 3 * * *"));
    EXPECT_FALSE(stored.everySeconds);
    EXPECT_EQ(stored.timeZone, "Europe/London");
    EXPECT_TRUE(stored.enabled);
    EXPECT_EQ(stored.ownerId, "u1");
    EXPECT_EQ(stored.misfirePolicy, "catch_up");
    EXPECT_EQ(stored.catchUpMax, 3);
    EXPECT_TRUE(stored.skipIfRunning);
    EXPECT_EQ(stored.anchor, kM0 - 60'000);
    EXPECT_EQ(stored.nextDue, std::optional<Millis>(kM0));
    EXPECT_FALSE(stored.lastTick);
    EXPECT_FALSE(stored.lastJobId);
    EXPECT_EQ(stored.revision, 1);
    EXPECT_EQ(stored.created, kM0 - 60'000);

    auto interval = scheduleRecord("s-b");
    interval.cron.reset();
    interval.everySeconds = 90;
    interval.enabled = false;
    interval.skipIfRunning = false;
    interval.nextDue.reset();
    create(interval);
    const auto second = find("s-b");
    EXPECT_EQ(second.everySeconds, std::optional<std::int64_t>(90));
    EXPECT_FALSE(second.cron);
    EXPECT_FALSE(second.enabled);
    EXPECT_FALSE(second.skipIfRunning);
    EXPECT_FALSE(second.nextDue);
    EXPECT_FALSE(runToCompletion(store_->findSchedule("missing")));

    // Both a cron and an interval, or neither: the schema refuses it.
    auto both = scheduleRecord("s-c");
    both.everySeconds = 60;
    EXPECT_ANY_THROW(runToCompletion(store_->createSchedule(both, 100, 1000)));
    // An unknown owner: refused by the foreign key.
    EXPECT_ANY_THROW(runToCompletion(store_->createSchedule(scheduleRecord("s-d", "nobody"), 100, 1000)));
}

TEST_P(ScheduleConformance, UpdatesNeedTheCurrentRevisionAndKeepTheSchedulersProgress) {
    create(scheduleRecord("s-a"));
    ASSERT_EQ(record(tick("s-a", kM0, "j1")), TickOutcome::recorded);
    auto changed = find("s-a");
    changed.cron = "*/5 * * * *";
    changed.enabled = false;
    changed.nextDue = kM0 + 300'000;
    changed.updated = kM0 + 1;
    changed.ownerId = "u2";  // not a definition column: ignored
    auto updated = runToCompletion(store_->updateSchedule(changed));
    ASSERT_TRUE(updated);
    EXPECT_EQ(updated->revision, 2);
    EXPECT_EQ(updated->cron, std::optional<std::string>("*/5 * * * *"));
    EXPECT_FALSE(updated->enabled);
    EXPECT_EQ(updated->ownerId, "u1");
    EXPECT_EQ(updated->lastTick, std::optional<Millis>(kM0));
    EXPECT_EQ(updated->lastJobId, std::optional<std::string>("j1"));
    EXPECT_EQ(updated->updated, kM0 + 1);
    // A second update from the same read (revision 1) is refused: someone changed it meanwhile.
    EXPECT_FALSE(runToCompletion(store_->updateSchedule(changed)));
    changed.id = "missing";
    EXPECT_FALSE(runToCompletion(store_->updateSchedule(changed)));
}

TEST_P(ScheduleConformance, DeletingTakesTheTicksButLeavesTheJobs) {
    create(scheduleRecord("s-a"));
    ASSERT_EQ(record(tick("s-a", kM0, "j1")), TickOutcome::recorded);
    EXPECT_TRUE(runToCompletion(store_->deleteSchedule("s-a")));
    EXPECT_FALSE(runToCompletion(store_->deleteSchedule("s-a")));
    EXPECT_FALSE(runToCompletion(store_->findSchedule("s-a")));
    EXPECT_TRUE(runToCompletion(store_->scheduleTicks("s-a", 10)).empty());
    EXPECT_TRUE(runToCompletion(store_->findJob("j1")));
}

TEST_P(ScheduleConformance, ListsPageByIdAndFilterByOwner) {
    for (int i = 0; i < 5; ++i) create(scheduleRecord("s" + std::to_string(i), i % 2 ? "u2" : "u1"));
    ScheduleQuery query;
    query.limit = 2;
    std::vector<std::string> seen;
    for (int page = 0; page < 5; ++page) {
        auto result = runToCompletion(store_->listSchedules(query));
        for (const auto& schedule : result.schedules) seen.push_back(schedule.id);
        if (result.nextCursor.empty()) break;
        query.afterId = result.nextCursor;
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"}));
    ScheduleQuery mine;
    mine.ownerId = "u2";
    auto owned = runToCompletion(store_->listSchedules(mine));
    ASSERT_EQ(owned.schedules.size(), 2u);
    EXPECT_EQ(owned.schedules[0].id, "s1");
    EXPECT_EQ(owned.schedules[1].id, "s3");
    EXPECT_TRUE(owned.nextCursor.empty());
    ScheduleQuery bad;
    bad.limit = 0;
    EXPECT_THROW(runToCompletion(store_->listSchedules(bad)), std::invalid_argument);
    bad.limit = ScheduleQuery::kMaxLimit + 1;
    EXPECT_THROW(runToCompletion(store_->listSchedules(bad)), std::invalid_argument);
}

TEST_P(ScheduleConformance, CreationStopsAtThePerOwnerAndTotalLimits) {
    EXPECT_EQ(runToCompletion(store_->createSchedule(scheduleRecord("a1", "u1"), 2, 3)),
              CreateScheduleOutcome::created);
    EXPECT_EQ(runToCompletion(store_->createSchedule(scheduleRecord("a2", "u1"), 2, 3)),
              CreateScheduleOutcome::created);
    EXPECT_EQ(runToCompletion(store_->createSchedule(scheduleRecord("a3", "u1"), 2, 3)),
              CreateScheduleOutcome::ownerLimit);
    EXPECT_EQ(runToCompletion(store_->createSchedule(scheduleRecord("b1", "u2"), 2, 3)),
              CreateScheduleOutcome::created);
    EXPECT_EQ(runToCompletion(store_->createSchedule(scheduleRecord("b2", "u2"), 2, 3)),
              CreateScheduleOutcome::totalLimit);
    EXPECT_FALSE(runToCompletion(store_->findSchedule("a3")));
    EXPECT_FALSE(runToCompletion(store_->findSchedule("b2")));
}

TEST_P(ScheduleConformance, ConcurrentCreationsStayWithinTheLimit) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    rampart::testing::Race race(seed);
    std::vector<std::future<CreateScheduleOutcome>> outcomes(12);
    for (int i = 0; i < 12; ++i) {
        race.add<CreateScheduleOutcome>(outcomes[i], [this, i] {
            return store_->createSchedule(scheduleRecord("r" + std::to_string(i)), 5, 1000);
        });
    }
    race.run();
    int created = 0;
    for (auto& outcome : outcomes) created += outcome.get() == CreateScheduleOutcome::created ? 1 : 0;
    EXPECT_EQ(created, 5);
    ScheduleQuery all;
    EXPECT_EQ(runToCompletion(store_->listSchedules(all)).schedules.size(), 5u);
}

TEST_P(ScheduleConformance, DueSchedulesAreEnabledOnesWhoseTimeHasComeSoonestFirst) {
    create(scheduleRecord("late", "u1", kM0 - 10));
    create(scheduleRecord("later", "u1", kM0));
    create(scheduleRecord("future", "u1", kM0 + 1));
    auto off = scheduleRecord("off", "u1", kM0 - 20);
    off.enabled = false;
    create(off);
    auto never = scheduleRecord("never", "u1");
    never.nextDue.reset();
    create(never);
    auto due = runToCompletion(store_->dueSchedules(kM0, 10));
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].id, "late");
    EXPECT_EQ(due[1].id, "later");
    EXPECT_EQ(runToCompletion(store_->dueSchedules(kM0, 1)).size(), 1u);
}

TEST_P(ScheduleConformance, ATickRecordsItsJobAndTheSchedulesProgressTogether) {
    create(scheduleRecord("s-a"));
    ASSERT_EQ(record(tick("s-a", kM0, "j1")), TickOutcome::recorded);
    const auto job = runToCompletion(store_->findJob("j1"));
    ASSERT_TRUE(job);
    EXPECT_EQ(job->state, jobs::JobState::queued);
    const auto schedule = find("s-a");
    EXPECT_EQ(schedule.lastTick, std::optional<Millis>(kM0));
    EXPECT_EQ(schedule.lastJobId, std::optional<std::string>("j1"));
    EXPECT_EQ(schedule.nextDue, std::optional<Millis>(kM0 + 60'000));
    const auto ticks = runToCompletion(store_->scheduleTicks("s-a", 10));
    ASSERT_EQ(ticks.size(), 1u);
    EXPECT_EQ(ticks[0].fireTime, kM0);
    EXPECT_EQ(ticks[0].jobId, std::optional<std::string>("j1"));
    EXPECT_EQ(ticks[0].holder, "s1");
    EXPECT_EQ(ticks[0].recorded, kM0);
    EXPECT_TRUE(ticks[0].skipReason.empty());
}

TEST_P(ScheduleConformance, ATickIsRecordedOnceAndItsCopiesInsertNoJob) {
    create(scheduleRecord("s-a"));
    const auto first = tick("s-a", kM0, "j1");
    ASSERT_EQ(record(first), TickOutcome::recorded);
    // The same tick again (another scheduler that read the schedule before), with another job id.
    auto copy = first;
    copy.job->id = "j1-copy";
    EXPECT_EQ(record(copy), TickOutcome::duplicate);
    // An older tick than the newest recorded: refused too.
    EXPECT_EQ(record(tick("s-a", kM0 - 60'000, "j0")), TickOutcome::duplicate);
    EXPECT_FALSE(runToCompletion(store_->findJob("j1-copy")));
    EXPECT_FALSE(runToCompletion(store_->findJob("j0")));
    EXPECT_EQ(jobCount(), 1);
    EXPECT_EQ(runToCompletion(store_->scheduleTicks("s-a", 10)).size(), 1u);
    EXPECT_EQ(find("s-a").lastJobId, std::optional<std::string>("j1"));
}

TEST_P(ScheduleConformance, ATickFromAStaleReadOrWithoutTheLeaseWritesNothing) {
    create(scheduleRecord("s-a"));
    auto stale = tick("s-a", kM0, "j1");
    auto changed = find("s-a");
    changed.priority = 9;
    ASSERT_TRUE(runToCompletion(store_->updateSchedule(changed)));
    EXPECT_EQ(record(stale), TickOutcome::stale);
    EXPECT_EQ(record(tick("s-a", kM0, "j2", "s2")), TickOutcome::notLeader);
    // The lease expired: its holder may not record either.
    EXPECT_EQ(record(tick("s-a", kM0, "j3"), kM0 + 60'000), TickOutcome::notLeader);
    auto gone = tick("s-a", kM0, "j4");
    ASSERT_TRUE(runToCompletion(store_->deleteSchedule("s-a")));
    EXPECT_EQ(record(gone), TickOutcome::stale);
    EXPECT_EQ(jobCount(), 0);
}

TEST_P(ScheduleConformance, ASkippedTickIsRecordedWithoutAJobAndAdvancingOnlyMovesNextDue) {
    create(scheduleRecord("s-a"));
    ASSERT_EQ(record(tick("s-a", kM0, "j1")), TickOutcome::recorded);
    ASSERT_EQ(record(tick("s-a", kM0 + 60'000)), TickOutcome::recorded);  // no job: skipped
    auto schedule = find("s-a");
    EXPECT_EQ(schedule.lastTick, std::optional<Millis>(kM0 + 60'000));
    EXPECT_EQ(schedule.lastJobId, std::optional<std::string>("j1"));  // still the last job
    auto ticks = runToCompletion(store_->scheduleTicks("s-a", 10));
    ASSERT_EQ(ticks.size(), 2u);
    EXPECT_FALSE(ticks[0].jobId);
    EXPECT_EQ(ticks[0].skipReason, "previous job still running");
    // Missed ticks skipped by the misfire policy: no tick row, only the next due time moves.
    TickWrite advance{.scheduleId = "s-a", .revision = schedule.revision, .holder = "s1"};
    advance.nextDue = kM0 + 600'000;
    ASSERT_EQ(record(advance), TickOutcome::recorded);
    schedule = find("s-a");
    EXPECT_EQ(schedule.nextDue, std::optional<Millis>(kM0 + 600'000));
    EXPECT_EQ(schedule.lastTick, std::optional<Millis>(kM0 + 60'000));
    EXPECT_EQ(runToCompletion(store_->scheduleTicks("s-a", 10)).size(), 2u);
    EXPECT_EQ(jobCount(), 1);
}

TEST_P(ScheduleConformance, OnlyTheNewestTicksAreKept) {
    create(scheduleRecord("s-a"));
    for (int i = 0; i < kTicksKept + 5; ++i)
        ASSERT_EQ(record(tick("s-a", kM0 + i * 1000)), TickOutcome::recorded);
    const auto ticks = runToCompletion(store_->scheduleTicks("s-a", 1000));
    ASSERT_EQ(static_cast<int>(ticks.size()), kTicksKept);
    EXPECT_EQ(ticks.front().fireTime, kM0 + (kTicksKept + 4) * 1000);
    EXPECT_EQ(ticks.back().fireTime, kM0 + 5 * 1000);
    // A pruned tick still cannot fire again: it is older than the newest.
    EXPECT_EQ(record(tick("s-a", kM0, "again")), TickOutcome::duplicate);
}

TEST_P(ScheduleConformance, RacingCopiesOfEachTickInsertExactlyOneJob) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    constexpr int kTicks = 10;
    constexpr int kCopies = 4;
    create(scheduleRecord("s-a"));
    const std::int64_t revision = find("s-a").revision;
    rampart::testing::Race race(seed);
    std::vector<std::future<TickOutcome>> outcomes(kTicks * kCopies);
    for (int t = 0; t < kTicks; ++t) {
        for (int c = 0; c < kCopies; ++c) {
            TickWrite write{.scheduleId = "s-a", .revision = revision, .holder = "s1"};
            write.fireTime = kM0 + t * 1000;
            write.job = jobRecord("t" + std::to_string(t) + "c" + std::to_string(c), "u1", kM0);
            write.nextDue = kM0 + (t + 1) * 1000;
            race.add<TickOutcome>(outcomes[t * kCopies + c],
                                  [this, write] { return store_->recordTick(write, kM0); });
        }
    }
    race.run();
    int recorded = 0;
    for (auto& outcome : outcomes) {
        const auto value = outcome.get();
        EXPECT_NE(value, TickOutcome::stale);
        recorded += value == TickOutcome::recorded ? 1 : 0;
    }
    // Ticks race out of order: a tick that arrives after a later one is refused (never fired twice).
    const auto ticks = runToCompletion(store_->scheduleTicks("s-a", 100));
    EXPECT_EQ(static_cast<int>(ticks.size()), recorded);
    EXPECT_EQ(jobCount(), recorded) << "one job per recorded tick, none for a refused copy";
    std::set<Millis> fireTimes;
    for (const auto& tick : ticks) {
        EXPECT_TRUE(fireTimes.insert(tick.fireTime).second) << "tick " << tick.fireTime << " recorded twice";
        ASSERT_TRUE(tick.jobId);
        EXPECT_TRUE(runToCompletion(store_->findJob(*tick.jobId)));
    }
    EXPECT_GE(recorded, 1);
}

TEST_P(ScheduleConformance, TheLeaseHasOneHolderUntilItExpiresOrIsReleased) {
    // s1 holds it (SetUp) until kM0 + 60 s.
    EXPECT_FALSE(runToCompletion(store_->acquireLease(kSchedulerLease, "s2", 60'000, kM0 + 1)));
    EXPECT_TRUE(
        runToCompletion(store_->acquireLease(kSchedulerLease, "s1", 60'000, kM0 + 30'000)));  // renewed
    EXPECT_FALSE(runToCompletion(store_->acquireLease(kSchedulerLease, "s2", 60'000, kM0 + 60'000)));
    EXPECT_TRUE(
        runToCompletion(store_->acquireLease(kSchedulerLease, "s2", 60'000, kM0 + 90'000)));  // expired
    EXPECT_FALSE(runToCompletion(store_->acquireLease(kSchedulerLease, "s1", 60'000, kM0 + 90'001)));
    runToCompletion(store_->releaseLease(kSchedulerLease, "s1"));  // not the holder: nothing happens
    EXPECT_FALSE(runToCompletion(store_->acquireLease(kSchedulerLease, "s1", 60'000, kM0 + 90'002)));
    runToCompletion(store_->releaseLease(kSchedulerLease, "s2"));
    EXPECT_TRUE(runToCompletion(store_->acquireLease(kSchedulerLease, "s1", 60'000, kM0 + 90'003)));
    // Other leases are independent.
    EXPECT_TRUE(runToCompletion(store_->acquireLease("other", "s2", 60'000, kM0 + 90'003)));
}

TEST_P(ScheduleConformance, RacingTakersOfAFreeLeaseLeaveOneHolder) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    rampart::testing::Race race(seed);
    std::vector<std::future<bool>> taken(8);
    for (int i = 0; i < 8; ++i) {
        race.add<bool>(taken[i], [this, i] {
            return store_->acquireLease("contested", "p" + std::to_string(i), 60'000, kM0);
        });
    }
    race.run();
    int holders = 0;
    for (auto& result : taken) holders += result.get() ? 1 : 0;
    EXPECT_EQ(holders, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScheduleConformance, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(Backends, JobConformance, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace rampart::store
