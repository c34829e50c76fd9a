// What the conformance suite cannot see of PostgresStore's identity and audit calls: two stores on one
// database stand for two processes, so the atomic calls must hold through the database's own locks;
// the chain walk pages through long logs and finds tampering an owner could do; same-second ties.
#include <chrono>
#include <future>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/postgres/pg_connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/postgres_server.hpp"
#include "testing/race.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using rampart::testing::runToCompletion;

const Seconds kS0{std::chrono::seconds{1'714'564'800}};  // 2024-05-01T12:00:00Z

UserRecord userRecord(std::string id, std::string username) {
    return UserRecord{.id = std::move(id), .username = std::move(username), .role = "user", .created = kS0};
}

RefreshTokenRecord refreshToken(std::string tokenId, std::string familyId) {
    return RefreshTokenRecord{.tokenId = std::move(tokenId),
                              .familyId = std::move(familyId),
                              .userId = "u1",
                              .issued = kS0,
                              .expires = kS0 + 24h};
}

obs::AuditEvent auditEvent(std::string actor) {
    return obs::AuditEvent{.time = std::chrono::system_clock::now(),
                           .action = "test.event",
                           .actor = std::move(actor),
                           .client = "192.0.2.1",
                           .requestId = "req",
                           .target = "",
                           .outcome = "success",
                           .details = {{"n", 1}}};
}

std::chrono::seconds noLockout(int) {
    return std::chrono::seconds{0};
}

class PgIdentityTest : public ::testing::Test {
  protected:
    void SetUp() override {
        first_.migrate();
        runToCompletion(first_.createUser(userRecord("u1", "alice")));
    }

    // The owner's view, as someone with the database's password would have it: triggers off.
    void tamper(const std::string& sql) {
        pg::BlockingConnection owner{SecretString(url_)};
        owner.execScript("ALTER TABLE audit_log DISABLE TRIGGER USER; " + sql +
                         "; ALTER TABLE audit_log ENABLE TRIGGER USER");
    }

    void appendAudit(int count) {
        for (int i = 0; i < count; ++i)
            runToCompletion(first_.appendAudit(auditEvent("user-" + std::to_string(i))));
    }

    std::string url_ = rampart::testing::freshDatabaseUrl();
    // Two stores, each with its own loop and pool: two processes as far as PostgreSQL can tell.
    PostgresStore first_{SecretString(url_), {.size = 4}};
    PostgresStore second_{SecretString(url_), {.size = 4}};
    const bool keyed_ = [this] {
        first_.setAuditKey(rampart::testing::testAuditKey());
        second_.setAuditKey(rampart::testing::testAuditKey());
        return true;
    }();
};

TEST_F(PgIdentityTest, AppendsFromTwoProcessesMakeOneDenseChainThatVerifiesAcrossPages) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    // More rows than the verifier reads per page (1000).
    constexpr int kPerStore = 530;
    rampart::testing::Race race(seed);
    std::vector<std::future<void>> appended(2 * kPerStore);
    for (int i = 0; i < 2 * kPerStore; ++i) {
        PostgresStore* store = i % 2 == 0 ? &first_ : &second_;
        const std::string actor = "actor-" + std::to_string(i);
        race.add<void>(appended[i], [store, actor] { return store->appendAudit(auditEvent(actor)); });
    }
    race.run();
    for (auto& done : appended) done.get();

    std::vector<std::int64_t> ids;
    std::set<std::string> actors;
    AuditQuery page{.limit = AuditQuery::kMaxAuditPage};
    for (;;) {
        const auto records = runToCompletion(second_.listAudit(page));
        if (records.empty()) break;
        for (const auto& record : records) {
            ids.push_back(record.id);
            actors.insert(record.event.actor);
        }
        page.afterId = records.back().id;
    }
    ASSERT_EQ(ids.size(), 2u * kPerStore);
    for (std::size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(actors.size(), 2u * kPerStore);
    for (PostgresStore* store : {&first_, &second_}) {
        const auto result = store->verifyAudit({});
        EXPECT_TRUE(result.ok) << result.problem;
        EXPECT_EQ(result.rows, 2 * kPerStore);
    }

    // A row removed just past the first page: the walk keeps its place across pages.
    tamper("DELETE FROM audit_log WHERE id = 1001");
    const auto result = first_.verifyAudit({});
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, std::optional<std::int64_t>(1002));
    EXPECT_EQ(result.rows, 1000);
    EXPECT_NE(result.problem.find("1001..1001"), std::string::npos) << result.problem;
}

TEST_F(PgIdentityTest, AChangedRowIsReportedAtThatRow) {
    appendAudit(5);
    tamper("UPDATE audit_log SET actor = 'mallory' WHERE id = 3");
    const auto result = first_.verifyAudit({});
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, std::optional<std::int64_t>(3));
    EXPECT_EQ(result.rows, 2);
    EXPECT_EQ(result.problem.find("mallory"), std::string::npos) << "never quotes row contents";
}

TEST_F(PgIdentityTest, ATruncatedTailIsReportedAgainstTheHead) {
    appendAudit(5);
    tamper("DELETE FROM audit_log WHERE id >= 4");
    const auto result = first_.verifyAudit({});
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, std::optional<std::int64_t>(4));
    EXPECT_EQ(result.rows, 3);
    EXPECT_NE(result.problem.find("newest rows were removed"), std::string::npos) << result.problem;
}

TEST_F(PgIdentityTest, ConcurrentRotationsOfOneTokenFromTwoProcessesRotateOnce) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    for (int round = 0; round < 10; ++round) {
        const std::string n = std::to_string(round);
        runToCompletion(first_.createRefreshFamily(refreshToken("r" + n, "f" + n)));
        rampart::testing::Race race(seed + round);
        std::future<IdentityStore::RotateResult> fromFirst;
        std::future<IdentityStore::RotateResult> fromSecond;
        race.add<IdentityStore::RotateResult>(fromFirst, [this, n] {
            return first_.rotateRefreshToken("r" + n, refreshToken("a" + n, ""), kS0 + 1s);
        });
        race.add<IdentityStore::RotateResult>(fromSecond, [this, n] {
            return second_.rotateRefreshToken("r" + n, refreshToken("b" + n, ""), kS0 + 1s);
        });
        race.run();
        const std::multiset<RefreshOutcome> outcomes{fromFirst.get().outcome, fromSecond.get().outcome};
        EXPECT_EQ(outcomes, (std::multiset<RefreshOutcome>{RefreshOutcome::rotated, RefreshOutcome::reused}))
            << "round " << round;
        EXPECT_FALSE(runToCompletion(second_.refreshFamilyLive("f" + n))) << "round " << round;
    }
}

TEST_F(PgIdentityTest, OneTotpStepFromTwoProcessesIsAcceptedOnce) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    for (std::int64_t step = 1000; step < 1010; ++step) {
        rampart::testing::Race race(seed + static_cast<std::uint32_t>(step));
        std::future<bool> fromFirst;
        std::future<bool> fromSecond;
        race.add<bool>(fromFirst, [this, step] { return first_.consumeTotpStep("u1", step); });
        race.add<bool>(fromSecond, [this, step] { return second_.consumeTotpStep("u1", step); });
        race.run();
        EXPECT_EQ(int{fromFirst.get()} + int{fromSecond.get()}, 1) << "step " << step;
    }
}

TEST_F(PgIdentityTest, LoginFailuresFromTwoProcessesAreEachCounted) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    rampart::testing::Race race(seed);
    std::vector<std::future<std::optional<UserRecord>>> failures(20);
    for (int i = 0; i < 20; ++i) {
        PostgresStore* store = i % 2 == 0 ? &first_ : &second_;
        race.add<std::optional<UserRecord>>(
            failures[i], [store] { return store->recordLoginFailure("u1", kS0, noLockout); });
    }
    race.run();
    std::set<int> counts;
    for (auto& failure : failures) counts.insert(failure.get()->failedLogins);
    EXPECT_EQ(counts.size(), 20u) << "every failure saw its own count";
    EXPECT_EQ(*counts.rbegin(), 20);
    EXPECT_EQ(runToCompletion(first_.findUserById("u1"))->failedLogins, 20);
}

TEST_F(PgIdentityTest, OneUsernameCreatedByTwoProcessesAtOnceExistsOnceAndTheOtherConflicts) {
    const auto seed = rampart::testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    rampart::testing::Race race(seed);
    std::future<void> fromFirst;
    std::future<void> fromSecond;
    race.add<void>(fromFirst, [this] { return first_.createUser(userRecord("u2", "bob")); });
    race.add<void>(fromSecond, [this] { return second_.createUser(userRecord("u3", "BOB")); });
    race.run();
    int created = 0;
    std::string conflict;
    for (auto* outcome : {&fromFirst, &fromSecond}) {
        try {
            outcome->get();
            ++created;
        } catch (const Conflict& error) {
            conflict = error.what();
        }
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(conflict, "username taken");
    EXPECT_EQ(first_.countUsersBlocking(), 2);
}

TEST_F(PgIdentityTest, SameSecondKeysLoadAndTokensListInInsertionOrder) {
    // Random ids and kids must not decide: the later insert is the newer one.
    for (const char* kid : {"k-z", "k-a", "k-m"}) {
        second_.insertSigningKeyBlocking(SigningKeyRecord{.kid = kid,
                                                          .alg = "EdDSA",
                                                          .publicKey = "pub",
                                                          .encryptedPrivateKey = "sealed",
                                                          .created = kS0,
                                                          .notAfter = kS0 + 24h,
                                                          .expires = kS0 + 48h});
    }
    std::vector<std::string> kids;
    for (const auto& key : first_.loadSigningKeysBlocking()) kids.push_back(key.kid);
    EXPECT_EQ(kids, (std::vector<std::string>{"k-z", "k-a", "k-m"}));

    for (const char* id : {"t-z", "t-a", "t-m"}) {
        const std::string tokenId = id;
        ApiTokenRecord token{.id = tokenId,
                             .userId = "u1",
                             .name = tokenId,
                             .tokenHash = "hash-" + tokenId,
                             .displayPrefix = "t",
                             .scopes = {"jobs:read"},
                             .created = kS0};
        runToCompletion(first_.createApiToken(std::move(token)));
    }
    std::vector<std::string> listed;
    for (const auto& token : runToCompletion(second_.listApiTokens("u1"))) listed.push_back(token.id);
    EXPECT_EQ(listed, (std::vector<std::string>{"t-m", "t-a", "t-z"}));
}

}  // namespace
}  // namespace rampart::store
