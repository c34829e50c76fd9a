// The pipelined connection and the pool against a real PostgreSQL: parameters round-trip, a pipeline
// is all or nothing, errors never quote parameters or passwords, lost connections are noticed and
// dropped, and the pool's bounds and back-off hold.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include "store/postgres/pg_connection.hpp"
#include "store/postgres/pg_pool.hpp"
#include "store/postgres/postgres_store.hpp"
#include "testing/postgres_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::store::pg {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using rampart::testing::runToCompletion;

asio::awaitable<std::unique_ptr<Connection>> connect(std::string url) {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await Connection::open(executor, SecretString(std::move(url)), 5s);
}

class PgConnectionTest : public ::testing::Test {
  protected:
    std::string url_ = rampart::testing::freshDatabaseUrl();
};

TEST_F(PgConnectionTest, ParametersAndColumnsRoundTrip) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(url);
        const std::vector<std::string> items{"plain", "with \"quotes\"", "back\\slash", "a,b", "{}", ""};
        const unsigned char raw[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
        Params params("text ' with; quote", std::int64_t{-9007199254740993}, true, std::nullopt);
        params.addArray(items).addBytes(raw);
        const auto row = co_await db->query(
            "SELECT $1::text, $2::bigint, $3::boolean, $4::text, $5::text[], $6::bytea, "
            "array_length($5::text[], 1)",
            std::move(params));
        EXPECT_EQ(row.rows(), 1);
        EXPECT_EQ(row.text(0, 0), "text ' with; quote");
        EXPECT_EQ(row.int64(0, 1), -9007199254740993);
        EXPECT_TRUE(row.boolean(0, 2));
        EXPECT_TRUE(row.isNull(0, 3));
        EXPECT_EQ(row.optionalString(0, 3), std::nullopt);
        EXPECT_EQ(row.text(0, 4), R"({plain,"with \"quotes\"","back\\slash","a,b","{}",""})");
        EXPECT_EQ(row.bytes(0, 5), std::vector<unsigned char>(std::begin(raw), std::end(raw)));
        EXPECT_EQ(row.int64(0, 6), 6);
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, APipelineIsAllOrNothingAndTheConnectionStaysUsable) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(url);
        co_await db->query("CREATE TABLE t (k TEXT PRIMARY KEY)");
        std::vector<Statement> batch;
        batch.push_back({"INSERT INTO t VALUES ($1)", Params("a")});
        batch.push_back({"INSERT INTO t VALUES ($1)", Params("b")});
        batch.push_back({"INSERT INTO t VALUES ($1)", Params("a")});  // duplicate: the whole batch fails
        batch.push_back({"INSERT INTO t VALUES ($1)", Params("c")});
        std::string sqlstate;
        try {
            co_await db->pipeline(std::move(batch));
        } catch (const QueryError& error) {
            sqlstate = error.sqlstate();
            EXPECT_TRUE(error.uniqueViolation());
        }
        EXPECT_EQ(sqlstate, "23505");
        EXPECT_TRUE(db->healthy());
        auto count = co_await db->query("SELECT count(*) FROM t");
        EXPECT_EQ(count.int64(0, 0), 0) << "nothing of the failed pipeline stayed";

        std::vector<Statement> good;
        good.push_back({"INSERT INTO t VALUES ($1)", Params("a")});
        good.push_back({"INSERT INTO t VALUES ($1) RETURNING k", Params("b")});
        auto results = co_await db->pipeline(std::move(good));
        EXPECT_EQ(results.size(), 2u);
        EXPECT_EQ(results[0].affected(), 1);
        EXPECT_EQ(results[1].text(0, 0), "b");
        count = co_await db->query("SELECT count(*) FROM t");
        EXPECT_EQ(count.int64(0, 0), 2);
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, StatementsArePreparedOncePerConnection) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(url);
        for (int i = 0; i < 3; ++i) {
            co_await db->query("SELECT $1::int + 1", Params(i));
            co_await db->query("SELECT $1::int + 2", Params(i));
        }
        const auto prepared = co_await db->query("SELECT count(*) FROM pg_prepared_statements");
        EXPECT_EQ(prepared.int64(0, 0), 3) << "two statements and this one";
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, ErrorsNeverQuoteParameterValues) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(url);
        std::string message;
        try {
            co_await db->query("SELECT $1::int", Params("secret-value-123"));
        } catch (const QueryError& error) {
            message = error.what();
        }
        EXPECT_NE(message.find("22P02"), std::string::npos) << message;
        EXPECT_EQ(message.find("secret-value-123"), std::string::npos) << message;
        EXPECT_TRUE(db->healthy());
    };
    runToCompletion(work(url_));
}

// What the HTTP layer answers depends on it: a refused statement is a 500 (our bug), an outage a 503.
TEST_F(PgConnectionTest, RefusedStatementsAreNotTransientButAnAdminShutdownIs) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(url);
        std::vector<std::pair<std::string, bool>> seen;
        for (const char* sql : {"SELECT * FROM no_such_table", "SELEC 1", "SELECT 1/0"}) {
            try {
                co_await db->query(sql);
            } catch (const QueryError& error) {
                seen.emplace_back(error.sqlstate(), error.transient());
            }
        }
        const std::vector<std::pair<std::string, bool>> expected = {
            {"42P01", false}, {"42601", false}, {"22012", false}};
        EXPECT_EQ(seen, expected);
        // Another session ends this one as a shutdown would (57P01, admin_shutdown).
        auto other = co_await connect(url);
        auto pid = co_await db->query("SELECT pg_backend_pid()");
        co_await other->query("SELECT pg_terminate_backend($1::int)", Params(pid.text(0, 0)));
        bool transient = false;
        try {
            co_await db->query("SELECT 1");
        } catch (const StoreUnavailable& error) {
            transient = error.transient();
        }
        EXPECT_TRUE(transient);
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, AWrongPasswordFailsWithoutTheUrlInTheMessage) {
    // The test server trusts loopback users by name only where it is configured to; a role with a
    // password and a wrong one must be refused either way, and the message must not carry it.
    auto work = [](std::string url) -> asio::awaitable<void> {
        std::string message;
        try {
            const auto at = url.find('@');
            std::string bad = "postgresql://nosuchuser:hunter2-secret" + url.substr(at);
            co_await connect(bad);
        } catch (const StoreUnavailable& error) {
            message = error.what();
        }
        EXPECT_FALSE(message.empty());
        EXPECT_EQ(message.find("hunter2-secret"), std::string::npos) << message;
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, AConnectionKilledByTheServerIsNoticedAndNotReused) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto victim = co_await connect(url);
        auto admin = co_await connect(url);
        const auto pid = co_await victim->query("SELECT pg_backend_pid()");
        co_await admin->query("SELECT pg_terminate_backend($1::int)", Params(pid.int64(0, 0)));
        asio::steady_timer pause(co_await asio::this_coro::executor, 100ms);
        co_await pause.async_wait(asio::use_awaitable);
        victim->poll();
        EXPECT_FALSE(victim->healthy());
        bool failed = false;
        try {
            co_await victim->query("SELECT 1");
        } catch (const StoreUnavailable&) {
            failed = true;
        }
        EXPECT_TRUE(failed);
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, ThePoolBoundsConnectionsAndHandsThemOn) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        ConnectionPool pool(executor, SecretString(url), {.size = 2, .acquireTimeout = 300ms});
        std::optional<ConnectionPool::Lease> first(co_await pool.acquire());
        auto second = co_await pool.acquire();
        EXPECT_EQ(pool.openConnections(), 2u);

        bool busy = false;
        const auto start = std::chrono::steady_clock::now();
        try {
            co_await pool.acquire();
        } catch (const StoreUnavailable& error) {
            busy = std::string(error.what()).find("busy") != std::string::npos;
        }
        EXPECT_TRUE(busy);
        EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms) << "it waited its turn first";

        // A waiter gets the next connection released.
        asio::steady_timer later(executor, 50ms);
        later.async_wait([&first](boost::system::error_code) { first.reset(); });
        auto third = co_await pool.acquire();
        EXPECT_EQ(pool.openConnections(), 2u);
        const auto one = co_await third->query("SELECT 1");
        EXPECT_EQ(one.int64(0, 0), 1);
    };
    runToCompletion(work(url_));
}

TEST_F(PgConnectionTest, AnUnreachableDatabaseFailsFastDuringTheBackOff) {
    auto work = []() -> asio::awaitable<void> {
        auto executor = co_await asio::this_coro::executor;
        // Port 1 on loopback: refused at once.
        ConnectionPool pool(executor, SecretString("postgresql://u:p@127.0.0.1:1/db?connect_timeout=2"),
                            {.size = 4});
        std::string first;
        std::string second;
        try {
            co_await pool.acquire();
        } catch (const StoreUnavailable& error) {
            first = error.what();
        }
        try {
            co_await pool.acquire();
        } catch (const StoreUnavailable& error) {
            second = error.what();
        }
        EXPECT_NE(first.find("connection"), std::string::npos) << first;
        EXPECT_NE(second.find("back-off"), std::string::npos) << second;
        EXPECT_EQ(pool.openConnections(), 0u);
    };
    runToCompletion(work());
}

TEST_F(PgConnectionTest, TheStorePingsMigratesAndRefusesCallsAfterClose) {
    PostgresStore store{SecretString(url_)};
    EXPECT_EQ(store.schemaVersion(), 0);
    EXPECT_EQ(store.migrate(), store.latestSchemaVersion());
    EXPECT_EQ(store.migrate(), 0);
    EXPECT_TRUE(runToCompletion(store.ping()));
    store.close();
    EXPECT_FALSE(runToCompletion(store.ping()));
}

}  // namespace
}  // namespace rampart::store::pg
