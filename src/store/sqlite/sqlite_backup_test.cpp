// copyLiveDatabase against a database another connection keeps writing to: the copy finishes (it is
// never restarted by those writes), holds every row committed before it began, and is one consistent
// snapshot (no gap, no half-written transaction).
#include "store/sqlite/sqlite_backup.hpp"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "store/store_errors.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store::sqlite {
namespace {

using TempDir = rampart::testing::TempDirectory;

sqlite3* openDatabase(const std::filesystem::path& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

void run(sqlite3* db, const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
}

std::int64_t scalar(sqlite3* db, const char* sql) {
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
    const std::int64_t value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return value;
}

TEST(CopyLiveDatabase, FinishesWhileAnotherConnectionWritesAndHoldsOneConsistentSnapshot) {
    const TempDir dir;
    const auto source = dir.path() / "live.db";
    sqlite3* writer = openDatabase(source);
    run(writer, "PRAGMA journal_mode=WAL");
    // Each transaction inserts a pair of rows; a copy that cut one in half would hold an odd count.
    run(writer, "CREATE TABLE rows (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)");
    // About 3000 pages, so the copy takes a dozen steps with writes between them.
    run(writer,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000) "
        "INSERT INTO rows (pad) SELECT randomblob(2000) FROM n");

    std::atomic<std::int64_t> committed{scalar(writer, "SELECT max(id) FROM rows")};
    std::atomic<bool> stop{false};
    std::atomic<int> transactions{0};
    auto writing = std::async(std::launch::async, [&] {
        while (!stop) {
            run(writer,
                "BEGIN IMMEDIATE; INSERT INTO rows (pad) VALUES (randomblob(500)); "
                "INSERT INTO rows (pad) VALUES (randomblob(500)); COMMIT");
            committed = sqlite3_last_insert_rowid(writer);
            ++transactions;
        }
    });
    while (transactions < 20) std::this_thread::yield();

    const std::int64_t before = committed;
    const int transactionsBefore = transactions;
    const auto copy = dir.path() / "copy.db";
    auto copying = std::async(std::launch::async, [&] { copyLiveDatabase(source, copy); });
    const bool finished = copying.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
    const int transactionsDuring = transactions - transactionsBefore;
    stop = true;
    writing.get();
    ASSERT_TRUE(finished) << "the copy never finished while the writer wrote";
    copying.get();
    EXPECT_GT(transactionsDuring, 0) << "nothing was written while the copy ran; the test shows nothing";

    EXPECT_EQ(integrityProblem(copy), "");
    sqlite3* copied = openDatabase(copy);
    const std::int64_t count = scalar(copied, "SELECT count(*) FROM rows");
    EXPECT_GE(scalar(copied, "SELECT max(id) FROM rows"), before);
    EXPECT_EQ(count, scalar(copied, "SELECT max(id) FROM rows"));  // no gap
    EXPECT_EQ(count % 2, 0);                                       // no half transaction
    sqlite3_close(copied);
    sqlite3_close(writer);
}

TEST(CopyLiveDatabase, AMissingSourceIsAnErrorAndCreatesNothing) {
    const TempDir dir;
    EXPECT_THROW(copyLiveDatabase(dir.path() / "absent.db", dir.path() / "copy.db"), StoreUnavailable);
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "absent.db"));
}

TEST(IntegrityProblem, NamesWhatIsWrongWithAFileThatIsNoDatabase) {
    const TempDir dir;
    EXPECT_NE(integrityProblem(dir.write("junk.db", std::string(8192, 'x'))), "");
    EXPECT_NE(integrityProblem(dir.path() / "absent.db"), "");
}

}  // namespace
}  // namespace rampart::store::sqlite
