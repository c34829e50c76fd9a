// SqliteStore: files and PRAGMAs, migrations, threading of write()/read(), group commit, savepoint
// isolation inside a batch, durability across reopen, and behaviour after close().
#include "store/sqlite/sqlite_store.hpp"

#include <sys/stat.h>
#include <atomic>

#include <chrono>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include "testing/run_to_completion.hpp"

#include "store/migrations/sqlite_migrations.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using sqlite::Connection;
using sqlite::SqliteError;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;

using rampart::testing::runToCompletion;

unsigned modeOf(const std::filesystem::path& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 0777;
}

void createNumbersTable(SqliteStore& store) {
    runToCompletion(
        store.write([](Connection& db) { db.execute("CREATE TABLE numbers (n INTEGER NOT NULL)"); }));
}

void insertNumber(Connection& db, std::int64_t n) {
    auto insert = db.prepare("INSERT INTO numbers (n) VALUES (?1)");
    insert.bindInt64(1, n);
    insert.step();
}

std::int64_t countNumbers(SqliteStore& store, std::string_view where = "1") {
    // The filter is test-owned fixed text, never a value.
    const std::string sql = "SELECT count(*) FROM numbers WHERE " + std::string(where);
    return runToCompletion(store.read([sql](Connection& db) {
        auto count = db.prepare(sql);
        count.step();
        return count.columnInt64(0);
    }));
}

std::int64_t count(SqliteStore& store, std::string sql) {
    return runToCompletion(store.read([sql = std::move(sql)](Connection& db) {
        auto query = db.prepare(sql);
        query.step();
        return query.columnInt64(0);
    }));
}

boost::asio::awaitable<void> writeNumber(SqliteStore& store, std::int64_t n) {
    co_await store.write([n](Connection& db) { insertNumber(db, n); });
}

class SqliteStoreTest : public ::testing::Test {
  protected:
    // A missing parent directory, so each test also covers its creation.
    [[nodiscard]] std::filesystem::path databasePath() const { return dir_.path() / "data" / "rampart.db"; }

    // A database with the migrations before `version` applied and recorded, as an older release left it.
    [[nodiscard]] std::unique_ptr<Connection> databaseBefore(int version) const {
        std::filesystem::create_directories(databasePath().parent_path());
        auto connection = std::make_unique<Connection>(databasePath(), Connection::Mode::readWrite);
        Connection& db = *connection;
        db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)");
        for (const auto& migration : sqlite::sqliteMigrations()) {
            if (migration.version >= version) break;
            db.execute(migration.sql);
            db.prepare("INSERT INTO schema_migrations VALUES (?1, ?2, 'then')")
                .bindInt64(1, migration.version)
                .bindText(2, migration.name)
                .step();
        }
        return connection;
    }

    rampart::testing::TempDirectory dir_;
};

TEST(SqliteMigrations, AreNumberedFromOneWithoutGaps) {
    int expected = 1;
    for (const auto& migration : sqlite::sqliteMigrations()) {
        EXPECT_EQ(migration.version, expected++);
        EXPECT_FALSE(migration.name.empty());
        EXPECT_FALSE(migration.sql.empty());
    }
}

TEST_F(SqliteStoreTest, MigrateAppliesEveryMigrationOnce) {
    SqliteStore store(databasePath());
    EXPECT_EQ(store.schemaVersion(), 0);
    EXPECT_EQ(store.migrate(), static_cast<int>(sqlite::sqliteMigrations().size()));
    EXPECT_EQ(store.schemaVersion(), store.latestSchemaVersion());
    EXPECT_EQ(store.latestSchemaVersion(), sqlite::sqliteMigrations().back().version);
    EXPECT_EQ(store.migrate(), 0);
    EXPECT_EQ(store.schemaVersion(), store.latestSchemaVersion());

    const auto recorded = runToCompletion(store.read([](Connection& db) {
        auto row = db.prepare("SELECT name, applied_at FROM schema_migrations WHERE version = 1");
        EXPECT_TRUE(row.step());
        return row.columnText(0) + " " + row.columnText(1);
    }));
    EXPECT_THAT(recorded, HasSubstr("instance 20"));
}

// Migration 13 copies the jobs table: a database with jobs and their history, made by the migrations
// before it, keeps every row, rowid and history row, and its foreign keys and state checks, after it.
TEST_F(SqliteStoreTest, RebuildingTheJobsTableKeepsJobsHistoryAndConstraints) {
    {
        const auto old = databaseBefore(13);
        Connection& db = *old;
        db.execute(
            "INSERT INTO users (id, username, role, active, password_hash, totp_secret, totp_enabled, "
            "created, "
            "failed_logins) VALUES ('u1', 'alice', 'user', 1, '', '', 0, 0, 0);"
            "INSERT INTO jobs (rowid, id, task, args, queue, state, max_attempts, run_at, timeout_ms, "
            "owner_id, "
            "idempotency_key, created, updated) VALUES "
            "(7, 'j-old', 'noop', '{\"a\":1}', 'default', 'queued', 3, 5, 1000, 'u1', 'k1', 4, 4),"
            "(9, 'j-new', 'noop', '{}', 'mail', 'scheduled', 2, 6, 1000, 'u1', NULL, 5, 5);"
            "UPDATE jobs SET state = 'running', attempts = 1, attempt_deadline = 99 WHERE id = 'j-old';"
            "INSERT INTO job_events (job_id, time, to_state) VALUES ('j-old', 4, 'queued'), "
            "('j-old', 5, 'running'), ('j-new', 5, 'scheduled');");
    }

    SqliteStore store(databasePath());
    EXPECT_EQ(store.migrate(), static_cast<int>(sqlite::sqliteMigrations().size()) - 12);
    const auto jobs = runToCompletion(store.read([](Connection& db) {
        std::vector<std::string> rows;
        auto select = db.prepare(
            "SELECT rowid || ' ' || id || ' ' || args || ' ' || queue || ' ' || state || ' ' || attempts || "
            "' ' || coalesce(idempotency_key, '-') || ' ' || coalesce(attempt_deadline, '-') FROM jobs ORDER "
            "BY "
            "rowid");
        while (select.step()) rows.push_back(select.columnText(0));
        return rows;
    }));
    EXPECT_THAT(jobs, ::testing::ElementsAre("7 j-old {\"a\":1} default running 1 k1 99",
                                             "9 j-new {} mail scheduled 0 - -"));
    EXPECT_EQ(count(store, "SELECT count(*) FROM job_events"), 3);
    EXPECT_EQ(
        count(store,
              "SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'jobs' AND type = 'index' AND name IN "
              "('jobs_idempotency', 'jobs_claim', 'jobs_due', 'jobs_leases', 'jobs_owner', 'jobs_finished')"),
        6);

    // The rebuilt table's checks and the history's foreign key hold.
    const auto refused = [&](std::string sql) {
        try {
            runToCompletion(store.write([sql](Connection& db) { db.execute(sql); }));
            return false;
        } catch (const std::exception&) {
            return true;
        }
    };
    EXPECT_TRUE(refused("UPDATE jobs SET state = 'succeeded' WHERE id = 'j-new'"));
    EXPECT_TRUE(refused("UPDATE jobs SET state = 'bogus' WHERE id = 'j-old'"));
    EXPECT_TRUE(refused("UPDATE jobs SET attempts = -1 WHERE id = 'j-old'"));
    EXPECT_TRUE(refused("INSERT INTO job_events (job_id, time, to_state) VALUES ('nobody', 1, 'queued')"));
    EXPECT_FALSE(refused("UPDATE jobs SET state = 'succeeded' WHERE id = 'j-old'"));
    EXPECT_FALSE(refused("DELETE FROM jobs WHERE id = 'j-old'"));
    EXPECT_EQ(count(store, "SELECT count(*) FROM job_events"), 1);  // its history went with it
}

// Foreign keys are off while migrations run, so each migration is checked before it commits: one that
// would leave a history row without its job is rolled back, and the schema stays where it was.
TEST_F(SqliteStoreTest, AMigrationThatWouldBreakAForeignKeyIsRolledBack) {
    {
        const auto old = databaseBefore(13);
        Connection& db = *old;
        // A history row whose job is gone, as only a connection without foreign keys could leave it.
        db.execute("PRAGMA foreign_keys=OFF");
        db.execute("INSERT INTO job_events (job_id, time, to_state) VALUES ('no-such-job', 1, 'queued')");
    }
    SqliteStore store(databasePath());
    EXPECT_THAT([&] { store.migrate(); }, ThrowsMessage<StoreUnavailable>(HasSubstr("migration failed")));
    EXPECT_EQ(store.schemaVersion(), 12);
    EXPECT_EQ(count(store, "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs_rebuilt'"), 0);
    // Foreign keys are on again for the store's own writes.
    EXPECT_EQ(runToCompletion(store.write([](Connection& db) {
                  auto pragma = db.prepare("PRAGMA foreign_keys");
                  pragma.step();
                  return pragma.columnInt64(0);
              })),
              1);
}

TEST_F(SqliteStoreTest, RefusesADatabaseWithANewerSchema) {
    SqliteStore store(databasePath());
    store.migrate();
    const int future = store.latestSchemaVersion() + 1;
    runToCompletion(store.write([future](Connection& db) {
        auto insert = db.prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, 'from the future', 'x')");
        insert.bindInt64(1, future);
        insert.step();
    }));
    EXPECT_THAT([&] { store.migrate(); },
                ThrowsMessage<StoreUnavailable>(HasSubstr("database schema is newer than this binary")));
    EXPECT_EQ(store.schemaVersion(), future);
}

TEST_F(SqliteStoreTest, CreatesPrivateFilesInWalMode) {
    SqliteStore store(databasePath());
    EXPECT_EQ(modeOf(databasePath().parent_path()), 0700u);
    EXPECT_EQ(modeOf(databasePath()), 0600u);

    createNumbersTable(store);
    const auto wal = std::filesystem::path(databasePath().string() + "-wal");
    ASSERT_TRUE(std::filesystem::exists(wal));
    EXPECT_EQ(modeOf(wal), 0600u);

    const auto pragma = [](std::string sql) {
        return [sql](Connection& db) {
            auto statement = db.prepare(sql);
            statement.step();
            return statement.columnText(0);
        };
    };
    EXPECT_EQ(runToCompletion(store.read(pragma("PRAGMA journal_mode"))), "wal");
    EXPECT_EQ(runToCompletion(store.write(pragma("PRAGMA journal_mode"))), "wal");
    EXPECT_EQ(runToCompletion(store.read(pragma("PRAGMA synchronous"))), "2");  // FULL
    EXPECT_EQ(runToCompletion(store.write(pragma("PRAGMA synchronous"))), "2");
    EXPECT_EQ(runToCompletion(store.read(pragma("PRAGMA busy_timeout"))), "5000");
}

TEST_F(SqliteStoreTest, EnforcesForeignKeys) {
    SqliteStore store(databasePath());
    const auto foreignKeys = [](Connection& db) {
        auto statement = db.prepare("PRAGMA foreign_keys");
        statement.step();
        return statement.columnInt64(0);
    };
    EXPECT_EQ(runToCompletion(store.read(foreignKeys)), 1);
    EXPECT_EQ(runToCompletion(store.write(foreignKeys)), 1);

    runToCompletion(store.write([](Connection& db) {
        db.execute(
            "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
            "CREATE TABLE children (parent INTEGER NOT NULL REFERENCES parents (id));");
    }));
    try {
        runToCompletion(store.write([](Connection& db) { db.execute("INSERT INTO children VALUES (42)"); }));
        FAIL() << "an orphan row was accepted";
    } catch (const SqliteError& error) {
        EXPECT_TRUE(error.isConstraintViolation());
        EXPECT_THAT(error.what(), Not(HasSubstr("children")));  // no SQL in the message
    }
}

TEST_F(SqliteStoreTest, PingRunsOnAStoreThreadAndResumesOnTheCallersThread) {
    SqliteStore store(databasePath());
    boost::asio::io_context io;
    const auto ioThread = std::this_thread::get_id();
    std::thread::id workThread;
    bool pinged = false;
    bool resumedOnIoThread = false;
    auto check = [&]() -> boost::asio::awaitable<void> {
        pinged = co_await store.ping();
        resumedOnIoThread = std::this_thread::get_id() == ioThread;
        workThread = co_await store.read([](Connection&) { return std::this_thread::get_id(); });
        resumedOnIoThread = resumedOnIoThread && std::this_thread::get_id() == ioThread;
    };
    auto done = boost::asio::co_spawn(io, check(), boost::asio::use_future);
    io.run();
    done.get();
    EXPECT_TRUE(pinged);
    EXPECT_TRUE(resumedOnIoThread);
    EXPECT_NE(workThread, ioThread);
}

TEST_F(SqliteStoreTest, WriteThenReadRoundTripsEveryColumnType) {
    SqliteStore store(databasePath());
    store.migrate();
    const std::vector<std::uint8_t> bytes{0, 1, 2, 254, 255};
    const auto rowId = runToCompletion(store.write([&bytes](Connection& db) {
        db.execute("CREATE TABLE samples (i INTEGER, d REAL, t TEXT, b BLOB, z TEXT, e BLOB)");
        auto insert = db.prepare("INSERT INTO samples VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        insert.bindInt64(1, -9007199254740993)
            .bindDouble(2, 2.5)
            .bindText(3, "it's \"quoted\"; DROP TABLE samples; --")
            .bindBlob(4, bytes)
            .bindNull(5)
            .bindBlob(6, {});
        insert.step();
        EXPECT_EQ(db.changes(), 1);
        return db.lastInsertRowId();
    }));
    EXPECT_EQ(rowId, 1);

    runToCompletion(store.read([&bytes](Connection& db) {
        auto row = db.prepare("SELECT i, d, t, b, z, e, typeof(e) FROM samples");
        ASSERT_TRUE(row.step());
        EXPECT_EQ(row.columnInt64(0), -9007199254740993);
        EXPECT_EQ(row.columnDouble(1), 2.5);
        EXPECT_EQ(row.columnText(2), "it's \"quoted\"; DROP TABLE samples; --");
        EXPECT_EQ(row.columnBlob(3), bytes);
        EXPECT_TRUE(row.columnIsNull(4));
        EXPECT_FALSE(row.columnIsNull(5));  // an empty blob is not NULL
        EXPECT_EQ(row.columnText(6), "blob");
        EXPECT_FALSE(row.step());
    }));

    runToCompletion(store.write([](Connection& db) {
        auto insert = db.prepare("INSERT INTO instance_settings (key, value) VALUES (?1, ?2)");
        for (const auto* key : {"a", "b"}) {
            insert.bindText(1, key).bindText(2, "value");
            insert.step();
            insert.reset();
        }
    }));
    const auto settings = runToCompletion(store.read([](Connection& db) {
        auto count = db.prepare("SELECT count(*) FROM instance_settings");
        count.step();
        return count.columnInt64(0);
    }));
    EXPECT_EQ(settings, 2);
}

TEST_F(SqliteStoreTest, ConcurrentWritesShareCommits) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    const auto commitsBefore = store.commitCount();

    constexpr int kWrites = 200;
    boost::asio::io_context io;
    int succeeded = 0;
    int failed = 0;
    for (int i = 0; i < kWrites; ++i) {
        boost::asio::co_spawn(io, writeNumber(store, i),
                              [&](std::exception_ptr error) { ++(error ? failed : succeeded); });
    }
    io.run();

    const auto commits = store.commitCount() - commitsBefore;
    std::cout << "[          ] " << kWrites << " concurrent writes took " << commits << " commit(s)\n";
    RecordProperty("commits", static_cast<int>(commits));
    EXPECT_EQ(succeeded, kWrites);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(countNumbers(store), kWrites);
    EXPECT_GE(commits, 1u);
    EXPECT_LE(commits, 20u);
}

TEST_F(SqliteStoreTest, ThrowingWriteRollsBackOnlyItsOwnChanges) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    const auto commitsBefore = store.commitCount();
    boost::asio::io_context io;

    // Write 1 holds the writer until writes 2, 3 and 4 are queued, so those three share one batch.
    std::promise<void> started;
    std::promise<void> release;
    auto released = release.get_future();
    auto blocker = boost::asio::co_spawn(io, store.write([&](Connection& db) {
        started.set_value();
        released.wait_for(std::chrono::seconds(10));
        insertNumber(db, 1);
    }),
                                         boost::asio::use_future);
    io.poll();
    started.get_future().wait();

    auto second = boost::asio::co_spawn(io, writeNumber(store, 2), boost::asio::use_future);
    auto third = boost::asio::co_spawn(io, store.write([](Connection& db) {
        insertNumber(db, 3);
        throw std::runtime_error("request 3 changed its mind");
    }),
                                       boost::asio::use_future);
    auto fourth = boost::asio::co_spawn(io, writeNumber(store, 4), boost::asio::use_future);
    io.poll();  // each coroutine runs up to its wait on the store, so all three are queued
    release.set_value();
    io.run();

    EXPECT_NO_THROW(blocker.get());
    EXPECT_NO_THROW(second.get());
    EXPECT_THAT([&] { third.get(); }, ThrowsMessage<std::runtime_error>("request 3 changed its mind"));
    EXPECT_NO_THROW(fourth.get());
    EXPECT_EQ(store.commitCount() - commitsBefore, 2u);  // {1} and {2, 3, 4}
    EXPECT_EQ(countNumbers(store), 3);
    EXPECT_EQ(countNumbers(store, "n = 3"), 0);
}

// The sub-journal that ROLLBACK TO replays stays in memory up to 16 MiB, then spills to a file: both
// must give back exactly the pages the failed request changed, and keep its batch-mates' changes.
TEST_F(SqliteStoreTest, ThrowingWritesOfManyPagesRollBackOnlyTheirOwnChanges) {
    SqliteStore store(databasePath());
    runToCompletion(store.write([](Connection& db) {
        db.execute("CREATE TABLE blobs (n INTEGER NOT NULL, body TEXT NOT NULL)");
        db.execute("CREATE INDEX blobs_n ON blobs (n)");
    }));
    const auto insertRows = [](Connection& db, int from, int count) {
        const std::string body(1000, 'x');
        for (int n = from; n < from + count; ++n) {
            auto insert = db.prepare("INSERT INTO blobs (n, body) VALUES (?1, ?2)");
            insert.bindInt64(1, n).bindText(2, body);
            insert.step();
        }
    };
    runToCompletion(store.write([&](Connection& db) { insertRows(db, 0, 3000); }));
    for (const int rows : {2'000, 20'000}) {  // about 2 MiB and 20 MiB of changed pages
        boost::asio::io_context io;
        auto failing = boost::asio::co_spawn(io, store.write([&](Connection& db) {
            db.execute("UPDATE blobs SET body = 'changed' WHERE n < 1000");
            db.execute("DELETE FROM blobs WHERE n >= 2000 AND n < 3000");
            insertRows(db, 100'000, rows);
            throw std::runtime_error("changed its mind");
        }),
                                             boost::asio::use_future);
        auto kept = boost::asio::co_spawn(
            io, store.write([&](Connection& db) { insertRows(db, 50'000, 10); }), boost::asio::use_future);
        io.run();
        EXPECT_THROW(failing.get(), std::runtime_error);
        EXPECT_NO_THROW(kept.get());
        const auto count = [&store](std::string sql) {
            return runToCompletion(store.read([sql](Connection& db) {
                auto query = db.prepare(sql);
                query.step();
                return query.columnInt64(0);
            }));
        };
        EXPECT_EQ(count("SELECT count(*) FROM blobs WHERE n >= 100000"), 0) << rows;
        EXPECT_EQ(count("SELECT count(*) FROM blobs WHERE n < 3000 AND length(body) = 1000"), 3000) << rows;
        EXPECT_EQ(count("SELECT count(*) FROM blobs WHERE n >= 50000 AND n < 50010"), 10) << rows;
        runToCompletion(
            store.write([](Connection& db) { db.execute("DELETE FROM blobs WHERE n >= 50000"); }));
        EXPECT_EQ(count("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"), 0);
    }
}

TEST_F(SqliteStoreTest, FailedCommitFailsEveryRequestOfTheBatch) {
    SqliteStore store(databasePath());
    // A deferred foreign key is only checked at COMMIT: the one way a request can make the whole
    // batch's COMMIT fail on a healthy disk.
    runToCompletion(store.write([](Connection& db) {
        db.execute(
            "CREATE TABLE numbers (n INTEGER NOT NULL);"
            "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
            "CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);");
    }));
    const auto commitsBefore = store.commitCount();
    boost::asio::io_context io;

    std::promise<void> started;
    std::promise<void> release;
    auto released = release.get_future();
    auto blocker = boost::asio::co_spawn(io, store.write([&](Connection& db) {
        started.set_value();
        released.wait_for(std::chrono::seconds(10));
    }),
                                         boost::asio::use_future);
    io.poll();
    started.get_future().wait();
    auto before = boost::asio::co_spawn(io, writeNumber(store, 1), boost::asio::use_future);
    auto orphan = boost::asio::co_spawn(
        io, store.write([](Connection& db) { db.execute("INSERT INTO children VALUES (42)"); }),
        boost::asio::use_future);
    auto after = boost::asio::co_spawn(io, writeNumber(store, 2), boost::asio::use_future);
    io.poll();
    release.set_value();
    io.run();

    EXPECT_NO_THROW(blocker.get());
    for (auto* request : {&before, &orphan, &after}) {
        EXPECT_THAT([&] { request->get(); }, ThrowsMessage<StoreUnavailable>("write failed"));
    }
    EXPECT_EQ(store.commitCount() - commitsBefore, 1u);  // only the blocker's batch
    EXPECT_EQ(countNumbers(store), 0);

    runToCompletion(writeNumber(store, 3));  // the writer recovers for the next batch
    EXPECT_EQ(countNumbers(store), 1);
}

TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveCloseAndReopen) {
    {
        SqliteStore store(databasePath());
        store.migrate();
        runToCompletion(store.write([](Connection& db) {
            auto insert = db.prepare("INSERT INTO instance_settings (key, value) VALUES (?1, ?2)");
            insert.bindText(1, "instance_id").bindText(2, "abc123");
            insert.step();
        }));
        store.close();
    }
    SqliteStore reopened(databasePath());
    EXPECT_EQ(reopened.schemaVersion(), reopened.latestSchemaVersion());
    const auto value = runToCompletion(reopened.read([](Connection& db) {
        auto select = db.prepare("SELECT value FROM instance_settings WHERE key = ?1");
        select.bindText(1, "instance_id");
        return select.step() ? select.columnText(0) : std::string("<missing>");
    }));
    EXPECT_EQ(value, "abc123");
}

TEST_F(SqliteStoreTest, CloseIsIdempotentAndLaterWorkFailsCleanly) {
    SqliteStore store(databasePath());
    store.migrate();
    store.close();
    store.close();

    EXPECT_THAT([&] { runToCompletion(store.write([](Connection& db) { db.execute("SELECT 1"); })); },
                ThrowsMessage<StoreUnavailable>("store is closed"));
    EXPECT_THAT([&] { runToCompletion(store.read([](Connection&) { return 1; })); },
                ThrowsMessage<StoreUnavailable>("store is closed"));
    EXPECT_FALSE(runToCompletion(store.ping()));
    EXPECT_THROW(store.migrate(), StoreUnavailable);
    EXPECT_THROW(store.schemaVersion(), StoreUnavailable);
}

TEST_F(SqliteStoreTest, WorkCannotTakeOverTheTransaction) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    // The writer owns BEGIN/COMMIT: a request that commits on its own would commit its batch-mates'
    // changes before they are allowed to be acknowledged.
    for (const auto* sql : {"COMMIT", "BEGIN", "SAVEPOINT mine", "ATTACH DATABASE 'other.db' AS other"}) {
        EXPECT_THROW(runToCompletion(store.write([sql](Connection& db) { db.execute(sql); })), SqliteError)
            << sql;
    }
    EXPECT_THROW(runToCompletion(store.read([](Connection& db) { db.execute("BEGIN"); })), SqliteError);
    runToCompletion(writeNumber(store, 7));
    EXPECT_EQ(countNumbers(store), 1);
}

TEST_F(SqliteStoreTest, ErrorMessagesHoldNeitherSqlNorPaths) {
    SqliteStore store(databasePath());
    try {
        runToCompletion(store.read([](Connection& db) { db.execute("SELECT * FROM secret_table_name"); }));
        FAIL() << "query on a missing table succeeded";
    } catch (const StoreUnavailable& error) {
        EXPECT_THAT(error.what(), Not(HasSubstr("secret_table_name")));
    }
    // A second statement would be silently ignored by SQLite, so prepare refuses it.
    EXPECT_THROW(runToCompletion(
                     store.read([](Connection& db) { auto statement = db.prepare("SELECT 1; SELECT 2"); })),
                 std::logic_error);

    const auto unreachable = dir_.path() / "file" / "db.sqlite";
    std::filesystem::create_directories(dir_.path());
    { std::ofstream(dir_.path() / "file") << "not a directory"; }
    try {
        SqliteStore broken(unreachable);
        FAIL() << "opened a database below a regular file";
    } catch (const StoreUnavailable& error) {
        EXPECT_THAT(error.what(), Not(HasSubstr(dir_.path().string())));
    }
}

TEST_F(SqliteStoreTest, PreparedStatementsAreReusedResetAndUnbound) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    runToCompletion(store.write([](Connection& db) {
        const std::size_t before = db.cachedStatements();
        for (int n = 1; n <= 3; ++n) insertNumber(db, n);
        EXPECT_EQ(db.cachedStatements(), before + 1);  // one text, one kept statement
        {
            // A cached statement comes back with no bindings and no pending row.
            auto select = db.prepare("SELECT n FROM numbers WHERE n >= ?1 ORDER BY n");
            select.bindInt64(1, 2);
            ASSERT_TRUE(select.step());
            EXPECT_EQ(select.columnInt64(0), 2);
        }
        auto again = db.prepare("SELECT n FROM numbers WHERE n >= ?1 ORDER BY n");
        EXPECT_FALSE(again.step());  // ?1 is NULL now: no row compares
        {
            // The same text twice at once: the second is prepared anew, and both work.
            auto other = db.prepare("SELECT n FROM numbers WHERE n >= ?1 ORDER BY n");
            other.bindInt64(1, 3);
            ASSERT_TRUE(other.step());
            EXPECT_EQ(other.columnInt64(0), 3);
        }
    }));
    EXPECT_EQ(countNumbers(store), 3);
    // The writer's own BEGIN/SAVEPOINT/COMMIT statements are cached apart: prepare() still refuses them.
    for (const auto* sql : {"COMMIT", "SAVEPOINT request", "RELEASE request", "BEGIN IMMEDIATE"}) {
        EXPECT_THROW(
            runToCompletion(store.write([sql](Connection& db) { auto statement = db.prepare(sql); })),
            SqliteError)
            << sql;
    }
    EXPECT_EQ(countNumbers(store), 3);
}

TEST_F(SqliteStoreTest, TheStatementCacheIsBounded) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    runToCompletion(store.write([](Connection& db) {
        for (std::size_t i = 0; i < Connection::kMaxCachedStatements + 10; ++i) {
            auto statement = db.prepare("SELECT " + std::to_string(i));
            ASSERT_TRUE(statement.step());
            EXPECT_EQ(statement.columnInt64(0), static_cast<std::int64_t>(i));
        }
        EXPECT_EQ(db.cachedStatements(), Connection::kMaxCachedStatements);
        // A text first used once the cache is full takes an idle one's place: it is kept and reused.
        { auto statement = db.prepare("SELECT 'late'"); }
        EXPECT_EQ(db.cachedStatements(), Connection::kMaxCachedStatements);
        auto again = db.prepare("SELECT 'late'");
        EXPECT_EQ(db.cachedStatements(), Connection::kMaxCachedStatements - 1);  // handed out, not new
        ASSERT_TRUE(again.step());
        EXPECT_EQ(again.columnText(0), "late");
    }));
}

// The writer does not checkpoint the WAL on commit; a thread of the store's own does, once the WAL has
// grown by SqliteStore::kCheckpointPages, and what it copied stays readable and durable.
TEST_F(SqliteStoreTest, AnotherThreadCheckpointsTheWal) {
    SqliteStore store(databasePath());
    runToCompletion(store.write([](Connection& db) { db.execute("CREATE TABLE blobs (b BLOB NOT NULL)"); }));
    const std::vector<std::uint8_t> page(4000, 0x5a);
    const auto walPages = [&] { return std::filesystem::file_size(databasePath().string() + "-wal") / 4096; };
    // Separate commits, each well under the threshold, to past it; then the checkpointer runs.
    for (int i = 0; i < SqliteStore::kCheckpointPages / 10 + 10; ++i) {
        runToCompletion(store.write([&page](Connection& db) {
            for (int n = 0; n < 10; ++n)
                db.prepare("INSERT INTO blobs (b) VALUES (?1)").bindBlob(1, page).step();
        }));
    }
    EXPECT_GE(walPages(), static_cast<std::uintmax_t>(SqliteStore::kCheckpointPages));
    for (int waited = 0; waited < 10'000 && store.checkpointCount() == 0; ++waited)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_GT(store.checkpointCount(), 0u);
    // The database file itself now holds the rows the checkpoint copied.
    EXPECT_GT(std::filesystem::file_size(databasePath()), 100u * 4096u);
    const std::int64_t rows = count(store, "SELECT count(*) FROM blobs");
    store.close();
    SqliteStore reopened(databasePath());
    EXPECT_EQ(count(reopened, "SELECT count(*) FROM blobs"), rows);
}

TEST_F(SqliteStoreTest, ReadsAreReadOnly) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    EXPECT_THROW(runToCompletion(store.read([](Connection& db) { insertNumber(db, 1); })), SqliteError);
    EXPECT_EQ(countNumbers(store), 0);
}

std::int64_t countHere(SqliteStore& store) {
    return runToCompletion(store.readHere([](Connection& db) {
        auto count = db.prepare("SELECT count(*) FROM numbers");
        count.step();
        return count.columnInt64(0);
    }));
}

// readHere() keeps a connection per thread: it must still see every write acknowledged before it
// (never a snapshot kept from an earlier read), and run on the caller's thread.
TEST_F(SqliteStoreTest, ReadHereRunsOnTheCallersThreadAndSeesEveryAcknowledgedWrite) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    const auto caller = std::this_thread::get_id();
    EXPECT_EQ(runToCompletion(store.readHere([](Connection&) { return std::this_thread::get_id(); })),
              caller);
    for (std::int64_t n = 0; n < 20; ++n) {
        EXPECT_EQ(countHere(store), n);
        runToCompletion(writeNumber(store, n));
    }
    EXPECT_EQ(countHere(store), 20);
}

// Threads past kMaxCallerConnections read through the reader pool instead, and see the same rows.
TEST_F(SqliteStoreTest, ThreadsPastTheConnectionCapStillReadEveryWrite) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    runToCompletion(writeNumber(store, 1));
    std::vector<std::thread> threads;
    std::atomic<int> right{0};
    for (std::size_t t = 0; t < SqliteStore::kMaxCallerConnections + 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 3; ++i)
                if (countHere(store) == 1) ++right;
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(right.load(), static_cast<int>(3 * (SqliteStore::kMaxCallerConnections + 4)));
}

TEST_F(SqliteStoreTest, ReadHereIsReadOnly) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    EXPECT_THROW(runToCompletion(store.readHere([](Connection& db) { insertNumber(db, 1); })), SqliteError);
    EXPECT_EQ(countHere(store), 0);
}

// One thread reading two stores (and a third opened at the address of a closed one) never gets another
// store's connection.
TEST_F(SqliteStoreTest, ReadHereKeepsEachStoresConnectionApart) {
    rampart::testing::TempDirectory other;
    SqliteStore first(databasePath());
    SqliteStore second(other.path() / "other.db");
    createNumbersTable(first);
    createNumbersTable(second);
    runToCompletion(writeNumber(second, 1));
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(countHere(first), 0);
        EXPECT_EQ(countHere(second), 1);
    }
    auto reopened = std::make_unique<SqliteStore>(other.path() / "third.db");
    createNumbersTable(*reopened);
    EXPECT_EQ(countHere(*reopened), 0);
    reopened.reset();
    reopened = std::make_unique<SqliteStore>(other.path() / "fourth.db");
    createNumbersTable(*reopened);
    runToCompletion(writeNumber(*reopened, 1));
    runToCompletion(writeNumber(*reopened, 2));
    EXPECT_EQ(countHere(*reopened), 2);
}

TEST_F(SqliteStoreTest, ReadHereAfterCloseFailsCleanly) {
    SqliteStore store(databasePath());
    createNumbersTable(store);
    EXPECT_EQ(countHere(store), 0);
    store.close();
    EXPECT_THAT([&] { countHere(store); }, ThrowsMessage<StoreUnavailable>("store is closed"));
}

}  // namespace
}  // namespace rampart::store
