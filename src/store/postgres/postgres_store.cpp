// PostgresStore: the store's thread and pool, close, migrations and ping. Identity, audit and jobs
// live in pg_identity.cpp, pg_audit.cpp and pg_jobs.cpp.
#include "store/postgres/postgres_store.hpp"

#include <algorithm>
#include <future>

#include <spdlog/spdlog.h>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "store/migrations/postgres_migrations.hpp"

namespace rampart::store {
namespace {

using namespace std::chrono_literals;

// pg_advisory_lock key that serialises `rampart migrate` and start-up migrations across nodes.
constexpr std::int64_t kMigrationLock = 0x52414d5041525401;  // "RAMPART" 01

// How often the listener looks at close(); also bounds how long close() waits for it.
constexpr auto kListenerTick = 250ms;

int latestKnownVersion() {
    const auto migrations = postgres::postgresMigrations();
    return migrations.empty() ? 0 : migrations.back().version;
}

int recordedVersion(pg::BlockingConnection& db) {
    const auto exists = db.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists.boolean(0, 0)) return 0;
    return static_cast<int>(db.exec("SELECT coalesce(max(version), 0) FROM schema_migrations").int64(0, 0));
}

}  // namespace

PostgresStore::PostgresStore(SecretString conninfo, Options options)
    : conninfo_(std::move(conninfo)),
      work_(boost::asio::make_work_guard(io_)),
      pool_(io_.get_executor(), conninfo_, options),
      thread_([this] { io_.run(); }) {}

PostgresStore::~PostgresStore() {
    close();
}

bool PostgresStore::enter() {
    inFlight_.fetch_add(1, std::memory_order_acq_rel);
    if (closed_.load(std::memory_order_acquire)) {
        leave();
        return false;
    }
    return true;
}

void PostgresStore::close() {
    if (closed_.exchange(true)) return;
    // Calls already handed to the loop finish (or fail) first; a bounded wait, as at shutdown the
    // database may be the thing that hangs.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (inFlight_.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    // The pool lives on the loop's thread: drain it there, and wait, before the loop stops.
    std::promise<void> drained;
    boost::asio::post(io_, [this, &drained] {
        pool_.drain();
        drained.set_value();
    });
    drained.get_future().wait_for(5s);
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

bool PostgresStore::watchQueuedJobs(std::function<void(const std::string& queue)> wake) {
    if (!enter()) return false;  // counted until the listener ends, so close() waits for it
    boost::asio::co_spawn(io_, listenForQueuedJobs(std::move(wake)), boost::asio::detached);
    return true;
}

void PostgresStore::announceQueuedJobs(std::vector<std::string> queues) {
    boost::asio::post(io_, [this, queues = std::move(queues)] {
        pendingWakeups_.insert(queues.begin(), queues.end());
        if (sendingWakeups_ || !enter()) return;
        sendingWakeups_ = true;
        boost::asio::co_spawn(io_, sendWakeups(), boost::asio::detached);
    });
}

boost::asio::awaitable<void> PostgresStore::sendWakeups() {
    const Entered counted{this};
    while (!pendingWakeups_.empty() && !closed_.load()) {
        std::vector<std::string> queues(pendingWakeups_.begin(), pendingWakeups_.end());
        pendingWakeups_.clear();
        std::vector<pg::Statement> statements;
        statements.push_back({"BEGIN"});
        statements.push_back({"SET LOCAL synchronous_commit = off"});
        pg::Params params(pg::kJobsChannel);
        params.addArray(queues);
        statements.push_back(
            {"SELECT pg_notify($1::text, queue) FROM unnest($2::text[]) AS queue", std::move(params)});
        statements.push_back({"COMMIT"});
        try {
            auto connection = co_await pool_.acquire();
            co_await connection->pipeline(std::move(statements));
        } catch (const StoreUnavailable& error) {
            spdlog::debug("job wake-ups: could not notify ({}); workers will poll", error.what());
        }
    }
    pendingWakeups_.clear();
    sendingWakeups_ = false;
}

boost::asio::awaitable<void> PostgresStore::pause(std::chrono::milliseconds duration) {
    boost::asio::steady_timer timer(io_);
    for (auto left = duration; left > 0ms && !closed_.load(); left -= kListenerTick) {
        timer.expires_after(std::min<std::chrono::milliseconds>(left, kListenerTick));
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
}

boost::asio::awaitable<void> PostgresStore::listenForQueuedJobs(
    std::function<void(const std::string&)> wake) {
    const Entered counted{this};
    std::chrono::milliseconds backoff = 0ms;
    bool warned = false;
    while (!closed_.load()) {
        std::unique_ptr<pg::Connection> connection;
        std::string failure;
        try {
            connection = co_await pg::Connection::open(io_.get_executor(), conninfo_, 5s);
            co_await connection->query("LISTEN " + std::string(pg::kJobsChannel));
        } catch (const StoreUnavailable& error) {
            failure = error.what();
            connection.reset();
        }
        if (!connection) {
            if (!warned)
                spdlog::warn("job wake-ups: cannot listen ({}); workers poll until it comes back", failure);
            warned = true;
            backoff =
                std::clamp(backoff * 2, std::chrono::milliseconds(250), std::chrono::milliseconds(5000));
            co_await pause(backoff);
            continue;
        }
        if (warned) spdlog::info("job wake-ups: listening again");
        warned = false;
        backoff = 0ms;
        wake("");  // whatever was queued while nobody listened
        while (!closed_.load() && connection->healthy()) {
            try {
                co_await connection->waitReadable(kListenerTick);
            } catch (const StoreUnavailable&) {
                break;  // healthy() is false now: reconnect
            }
            for (const auto& notification : connection->takeNotifications()) wake(notification.payload);
        }
    }
}

int PostgresStore::migrate() {
    try {
        return applyMigrations();
    } catch (const pg::QueryError& error) {
        // The app role may use a current schema but not create one: a development server started as
        // that role on an unmigrated database should say what to do, not only what PostgreSQL refused.
        if (error.sqlstate() != "42501") throw;
        throw StoreUnavailable("the database schema is not current and this role may not change it (" +
                               std::string(error.what()) + "); run `rampart migrate` as the schema's owner");
    }
}

int PostgresStore::applyMigrations() {
    return blocking([](pg::BlockingConnection& db) {
        db.exec("SELECT pg_advisory_lock($1)", pg::Params(kMigrationLock));
        // On an error the session ends with the connection: its transaction rolls back, the lock goes.
        int applied = 0;
        // A current schema needs no DDL: the app role, which may not create tables, can start too.
        if (recordedVersion(db) == latestKnownVersion()) {
            db.exec("SELECT pg_advisory_unlock($1)", pg::Params(kMigrationLock));
            return applied;
        }
        db.execScript(std::string(postgres::kMigrationsTable));
        const int latest = latestKnownVersion();
        for (const auto& migration : postgres::postgresMigrations()) {
            const int current = recordedVersion(db);
            if (current > latest) throw StoreUnavailable("database schema is newer than this binary");
            if (migration.version <= current) continue;
            db.execScript("BEGIN");
            db.execScript(std::string(migration.sql));
            db.exec(
                "INSERT INTO schema_migrations (version, name, applied) "
                "VALUES ($1, $2, (extract(epoch FROM now()) * 1000)::bigint)",
                pg::Params(migration.version, migration.name));
            db.execScript("COMMIT");
            spdlog::info("applied database migration {} ({})", migration.version, migration.name);
            ++applied;
        }
        db.exec("SELECT pg_advisory_unlock($1)", pg::Params(kMigrationLock));
        return applied;
    });
}

void PostgresStore::grantDataPrivileges(std::string_view role) {
    const std::string sql = postgres::grantDataPrivileges(role);  // validates the name first
    blocking([&sql](pg::BlockingConnection& db) {
        db.execScript("BEGIN");
        db.execScript(sql);
        db.execScript("COMMIT");
    });
}

int PostgresStore::schemaVersion() {
    return blocking([](pg::BlockingConnection& db) { return recordedVersion(db); });
}

int PostgresStore::latestSchemaVersion() const {
    return latestKnownVersion();
}

boost::asio::awaitable<bool> PostgresStore::ping() {
    bool answered = false;
    try {
        answered = co_await withConnection([](pg::Connection& connection) -> boost::asio::awaitable<bool> {
            const auto result = co_await connection.query("SELECT 1");
            co_return result.rows() == 1;
        });
    } catch (const StoreUnavailable&) {
        answered = false;
    }
    co_return answered;
}

}  // namespace rampart::store
