// Tampering with the SQLite audit log as an attacker with the file but without the secret key would:
// drop the triggers, edit rows, delete rows, recompute the chain with plain SHA-256, append forged
// rows. verifyAudit() must name the first bad row each time; the triggers must refuse UPDATE and DELETE
// through the store's own connection. Rows from before the chain was keyed still verify as plain.
#include "store/sqlite/sqlite_audit.hpp"

#include <sqlite3.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include "testing/run_to_completion.hpp"

#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/raw_audit_database.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using rampart::testing::RawDatabase;
using sqlite::Connection;
using sqlite::SqliteError;
using ::testing::HasSubstr;

using rampart::testing::runToCompletion;

class SqliteAuditTest : public ::testing::Test {
  protected:
    void SetUp() override {
        SqliteStore store(path_);
        store.setAuditKey(rampart::testing::testAuditKey());
        store.migrate();
        for (int i = 1; i <= kRows; ++i) {
            obs::AuditEvent event{.time = std::chrono::system_clock::now(),
                                  .action = "test.event",
                                  .actor = "user-" + std::to_string(i),
                                  .client = "192.0.2.1",
                                  .requestId = "req-" + std::to_string(i),
                                  .target = "",
                                  .outcome = "success",
                                  .details = {{"i", i}}};
            runToCompletion(store.appendAudit(std::move(event)));
        }
        const auto intact = store.verifyAudit({});
        ASSERT_TRUE(intact.ok) << intact.problem;
        ASSERT_EQ(intact.rows, kRows);
    }

    AuditVerification verify() {
        SqliteStore store(path_);
        store.setAuditKey(rampart::testing::testAuditKey());
        return store.verifyAudit({});
    }

    static constexpr int kRows = 6;
    rampart::testing::TempDirectory dir_;
    std::filesystem::path path_ = dir_.path() / "audit.db";
};

TEST_F(SqliteAuditTest, ChangedFieldIsReportedAtThatRow) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("UPDATE audit_log SET outcome = 'failure' WHERE id = 3");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, 3);
    EXPECT_THAT(result.problem, HasSubstr("changed"));
}

TEST_F(SqliteAuditTest, ChangedDetailsOrTimeAreReportedAtThatRow) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("UPDATE audit_log SET details = '{\"i\":40}' WHERE id = 4");
    }
    EXPECT_EQ(verify().firstBadId, 4);
    {
        RawDatabase raw(path_);
        raw.exec("UPDATE audit_log SET time = '2000-01-01T00:00:00.000000Z' WHERE id = 2");
    }
    EXPECT_EQ(verify().firstBadId, 2);
}

TEST_F(SqliteAuditTest, DeletedMiddleRowIsReportedAtTheRowAfterTheGap) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("DELETE FROM audit_log WHERE id = 3");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, 4);
    EXPECT_THAT(result.problem, HasSubstr("missing"));
}

TEST_F(SqliteAuditTest, DeletedFirstRowIsReported) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("DELETE FROM audit_log WHERE id = 1");
    }
    EXPECT_EQ(verify().firstBadId, 2);
}

TEST_F(SqliteAuditTest, TruncatedTailIsReportedAgainstTheHead) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("DELETE FROM audit_log WHERE id >= 5");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.rows, 4);
    EXPECT_EQ(result.firstBadId, 5);
    EXPECT_THAT(result.problem, HasSubstr("head records row 6"));
}

TEST_F(SqliteAuditTest, RowWithARecomputedPlainHashIsReportedAtThatRow) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.forgeActor(3, "mallory");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, 3);
    EXPECT_THAT(result.problem, HasSubstr("forged"));
}

TEST_F(SqliteAuditTest, ForgedNewestRowIsReportedAtThatRow) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.forgeActor(kRows, "mallory");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, kRows);
}

// Without the key, a well-chained append (link, plain hash, head and sqlite_sequence all moved) is all
// an attacker can make: the plain chain accepted it, the keyed one does not.
TEST_F(SqliteAuditTest, WellChainedAppendWithoutTheKeyIsReportedAsForged) {
    {
        RawDatabase raw(path_);
        raw.appendPlain("mallory");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, kRows + 1);
    EXPECT_THAT(result.problem, HasSubstr("forged"));
}

// An old row changed and every later link and hash recomputed, the head moved to match: whole as a
// plain chain, reported at the changed row by the keyed one.
TEST_F(SqliteAuditTest, RewrittenHistoryWithEveryLaterHashRecomputedIsReported) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("UPDATE audit_log SET outcome = 'failure' WHERE id = 2");
        raw.rechainPlainFrom(2);
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, 2);
}

// A database from before the keyed chain: its rows keep their plain hashes and verify as such
// (keyed_from, set by the migration), the rows appended since are keyed, and a plain-hashed row after
// the switch is still refused.
TEST(SqliteAuditUpgradeTest, RowsBeforeTheKeyedChainVerifyPlainAndLaterOnesKeyed) {
    rampart::testing::TempDirectory dir;
    const auto path = dir.path() / "audit.db";
    {
        SqliteStore store(path);
        store.setAuditKey(rampart::testing::testAuditKey());
        store.migrate();
    }
    {
        RawDatabase raw(path);
        for (int i = 0; i < 3; ++i) raw.appendPlain("before-" + std::to_string(i));
        raw.exec("UPDATE audit_head SET keyed_from = 4");  // what migration 10 sets on such a database
    }
    SqliteStore store(path);
    store.setAuditKey(rampart::testing::testAuditKey());
    runToCompletion(store.appendAudit(obs::AuditEvent{.action = "after.upgrade", .actor = "system"}));
    runToCompletion(store.appendAudit(obs::AuditEvent{.action = "after.upgrade", .actor = "system"}));
    const auto intact = store.verifyAudit({});
    ASSERT_TRUE(intact.ok) << intact.problem;
    EXPECT_EQ(intact.rows, 5);
    EXPECT_EQ(intact.keyedFrom, 4);
    {
        RawDatabase raw(path);
        raw.appendPlain("mallory");
    }
    const auto forged = store.verifyAudit({});
    EXPECT_FALSE(forged.ok);
    EXPECT_EQ(forged.firstBadId, 6);
}

TEST_F(SqliteAuditTest, AppendsNeedTheKey) {
    SqliteStore store(path_);
    EXPECT_THROW(runToCompletion(store.appendAudit(obs::AuditEvent{.action = "no.key", .actor = "system"})),
                 StoreUnavailable);
    EXPECT_THROW((void)store.verifyAudit({}), StoreUnavailable);
}

TEST_F(SqliteAuditTest, TriggersRefuseUpdateAndDeleteThroughTheStore) {
    SqliteStore store(path_);
    auto refused = [&store](std::string sql) {
        try {
            runToCompletion(store.write([sql](Connection& db) { db.execute(sql); }));
        } catch (const SqliteError& error) {
            return error.isConstraintViolation();
        }
        return false;
    };
    EXPECT_TRUE(refused("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"));
    EXPECT_TRUE(refused("DELETE FROM audit_log WHERE id = 2"));
    EXPECT_TRUE(refused("DELETE FROM audit_log"));
    EXPECT_TRUE(refused("DELETE FROM audit_head"));
    EXPECT_TRUE(refused("INSERT INTO audit_head (id, hash, rows) VALUES (0, x'00', 0)"));
    store.setAuditKey(rampart::testing::testAuditKey());
    const auto result = store.verifyAudit({});
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kRows);
}

TEST_F(SqliteAuditTest, AppendsContinueTheChainAcrossReopen) {
    {
        SqliteStore store(path_);
        store.setAuditKey(rampart::testing::testAuditKey());
        runToCompletion(store.appendAudit(obs::AuditEvent{.action = "after.reopen", .actor = "system"}));
    }
    const auto result = verify();
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kRows + 1);
}

}  // namespace
}  // namespace rampart::store
