// Tampering with the SQLite audit log as an attacker with the file would: drop the triggers, edit
// rows, delete rows, forge a hash. verifyAudit() must name the first bad row each time; the
// triggers must refuse UPDATE and DELETE through the store's own connection.
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
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using sqlite::Connection;
using sqlite::SqliteError;
using ::testing::HasSubstr;

using rampart::testing::runToCompletion;

// The attacker's view: a plain sqlite3 handle on the file, no store, no authorizer.
class RawDatabase {
  public:
    explicit RawDatabase(const std::filesystem::path& path) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open failed");
    }
    RawDatabase(const RawDatabase&) = delete;
    RawDatabase& operator=(const RawDatabase&) = delete;
    ~RawDatabase() { sqlite3_close(db_); }

    void exec(const std::string& sql) {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = error ? error : "unknown";
            sqlite3_free(error);
            throw std::runtime_error(message);
        }
    }

    void dropTriggers() { exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"); }

    // Changes row id's actor and stores the hash recomputed over the changed row, as a careful
    // forger would; the next row's prev_hash is left alone.
    void forgeActor(std::int64_t id, const std::string& actor) {
        sqlite3_stmt* select = nullptr;
        sqlite3_prepare_v2(db_,
                           "SELECT time, action, actor, client, request_id, target, outcome, details, "
                           "prev_hash FROM audit_log WHERE id = ?1",
                           -1, &select, nullptr);
        sqlite3_bind_int64(select, 1, id);
        ASSERT_EQ(sqlite3_step(select), SQLITE_ROW);
        auto text = [select](int column) {
            return std::string(reinterpret_cast<const char*>(sqlite3_column_text(select, column)));
        };
        obs::AuditFields fields{text(0), text(1), actor, text(3), text(4), text(5), text(6), text(7)};
        const auto* previous = static_cast<const std::uint8_t*>(sqlite3_column_blob(select, 8));
        const std::vector<std::uint8_t> previousHash(previous, previous + sqlite3_column_bytes(select, 8));
        sqlite3_finalize(select);
        const obs::AuditHash hash = obs::auditRowHash(previousHash, obs::canonicalAuditContent(fields));

        sqlite3_stmt* update = nullptr;
        sqlite3_prepare_v2(db_, "UPDATE audit_log SET actor = ?1, hash = ?2 WHERE id = ?3", -1, &update,
                           nullptr);
        sqlite3_bind_text(update, 1, actor.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(update, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(update, 3, id);
        EXPECT_EQ(sqlite3_step(update), SQLITE_DONE);
        sqlite3_finalize(update);
    }

  private:
    sqlite3* db_ = nullptr;
};

class SqliteAuditTest : public ::testing::Test {
  protected:
    void SetUp() override {
        SqliteStore store(path_);
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
        const auto intact = store.verifyAudit();
        ASSERT_TRUE(intact.ok) << intact.problem;
        ASSERT_EQ(intact.rows, kRows);
    }

    AuditVerification verify() {
        SqliteStore store(path_);
        return store.verifyAudit();
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

TEST_F(SqliteAuditTest, ForgedHashWithoutFixingTheNextLinkIsReportedAtTheNextRow) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.forgeActor(3, "mallory");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, 4);
    EXPECT_THAT(result.problem, HasSubstr("link"));
}

TEST_F(SqliteAuditTest, ForgedNewestRowIsReportedAgainstTheHead) {
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.forgeActor(kRows, "mallory");
    }
    const auto result = verify();
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.firstBadId, kRows + 1);
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
    const auto result = store.verifyAudit();
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kRows);
}

TEST_F(SqliteAuditTest, AppendsContinueTheChainAcrossReopen) {
    {
        SqliteStore store(path_);
        runToCompletion(store.appendAudit(obs::AuditEvent{.action = "after.reopen", .actor = "system"}));
    }
    const auto result = verify();
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kRows + 1);
}

}  // namespace
}  // namespace rampart::store
