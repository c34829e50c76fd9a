// SqliteStore: file set-up, the group-committing writer thread, the reader pool and migrations.
#include "store/sqlite/sqlite_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/audit_log.hpp"
#include "store/migrations/sqlite_migrations.hpp"
#include "store/sqlite/sqlite_audit.hpp"

namespace rampart::store {
namespace {

using sqlite::Connection;
using sqlite::detail::StoreJob;

[[noreturn]] void throwFileError(std::string_view what) {
    // strerror only, never the path: logs are shipped to places the data directory is not.
    spdlog::warn("sqlite store: could not {}: {}", what, std::strerror(errno));
    throw StoreUnavailable("database unavailable");
}

// Creates the missing directories up to and including dir, each 0700: the database holds password
// hashes and job payloads, so no other account needs to list it.
void createPrivateDirectories(const std::filesystem::path& dir) {
    std::error_code ignored;
    if (dir.empty() || std::filesystem::is_directory(dir, ignored)) return;
    createPrivateDirectories(dir.parent_path());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throwFileError("create the database directory");
}

// SQLite would create the file 0644 (less the umask) and its -wal/-shm files with the same mode, so
// the file is created here first, 0600, and SQLite copies that mode to the files beside it.
void createPrivateDatabaseFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        const bool modeSet = ::fchmod(fd, 0600) == 0;  // the umask may have taken the owner's bits
        ::close(fd);
        if (!modeSet) throwFileError("set the database file's mode");
        return;
    }
    if (errno != EEXIST) throwFileError("create the database file");
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
        spdlog::warn("sqlite store: the database file is open to other accounts; chmod it to 600");
    }
}

constexpr std::string_view kCreateMigrationsTable = R"sql(
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )
)sql";

int latestKnownVersion() {
    const auto migrations = sqlite::sqliteMigrations();
    return migrations.empty() ? 0 : migrations.back().version;
}

int recordedVersion(Connection& db) {
    auto version = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations");
    version.step();
    return static_cast<int>(version.columnInt64(0));
}

}  // namespace

// --- JobQueue ---

namespace sqlite::detail {

bool JobQueue::tryPush(std::unique_ptr<StoreJob>& job) {
    {
        const std::lock_guard lock(mutex_);
        if (closed_) return false;
        jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
}

std::vector<std::unique_ptr<StoreJob>> JobQueue::popBatch(std::size_t maxJobs) {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return closed_ || !jobs_.empty(); });
    std::vector<std::unique_ptr<StoreJob>> batch;
    while (!jobs_.empty() && batch.size() < maxJobs) {
        batch.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
    }
    return batch;
}

void JobQueue::close() {
    {
        const std::lock_guard lock(mutex_);
        closed_ = true;
    }
    ready_.notify_all();
}

}  // namespace sqlite::detail

// --- SqliteStore ---

namespace {
std::atomic<std::uint64_t> nextStoreSerial{1};

// The calling thread's readHere() connection: valid while the store whose serial it carries is open.
struct CallerConnection {
    std::uint64_t serial = 0;
    Connection* connection = nullptr;
};
thread_local CallerConnection callerConnectionOfThread;
}  // namespace

SqliteStore::SqliteStore(const std::filesystem::path& path, Options options)
    : options_(options), serial_(nextStoreSerial.fetch_add(1)), path_(path) {
    if (options_.readThreads < 1 || options_.maxBatch < 1) {
        throw std::invalid_argument("SqliteStore needs at least one reader thread and a batch size of 1");
    }
    createPrivateDirectories(path.parent_path());
    createPrivateDatabaseFile(path);
    // The writer opens first: it switches the file to WAL, which the read-only connections need.
    writeConnection_ = std::make_unique<Connection>(path, Connection::Mode::readWrite);
    // Replaces SQLite's automatic checkpoint on commit (itself a WAL hook) with ours.
    sqlite3_wal_hook(writeConnection_->db_, &SqliteStore::onWalCommit, this);
    checkpointConnection_ = std::make_unique<Connection>(path, Connection::Mode::readWrite);
    for (int i = 0; i < options_.readThreads; ++i) {
        readConnections_.push_back(std::make_unique<Connection>(path, Connection::Mode::readOnly));
    }
    try {
        checkpointer_ = std::thread([this] { checkpointLoop(); });
        writer_ = std::thread([this] { writerLoop(); });
        for (auto& connection : readConnections_) {
            readers_.emplace_back([this, reader = connection.get()] { readerLoop(*reader); });
        }
    } catch (...) {
        close();
        throw;
    }
}

SqliteStore::~SqliteStore() {
    close();
}

Connection* SqliteStore::threadConnection() const {
    const CallerConnection& mine = callerConnectionOfThread;
    return mine.serial == serial_ ? mine.connection : nullptr;
}

bool SqliteStore::threadConnectionTried() const {
    return callerConnectionOfThread.serial == serial_;
}

void SqliteStore::openThreadConnection() {
    const std::unique_lock lock(callerMutex_);
    if (callerClosed_) return;
    if (callerConnections_.size() >= kMaxCallerConnections) {
        callerConnectionOfThread = CallerConnection{.serial = serial_, .connection = nullptr};
        return;
    }
    callerConnections_.push_back(std::make_unique<Connection>(path_, Connection::Mode::readOnly));
    callerConnectionOfThread =
        CallerConnection{.serial = serial_, .connection = callerConnections_.back().get()};
}

void SqliteStore::close() {
    const std::lock_guard lock(closeMutex_);
    if (closed_) return;
    closed_ = true;
    {
        // Waits for every readHere() under way; later ones find the store closed.
        const std::unique_lock callers(callerMutex_);
        callerClosed_ = true;
        callerConnections_.clear();
    }
    // Closing the queues refuses new work; the threads drain what is already queued, then exit.
    writes_.close();
    reads_.close();
    if (writer_.joinable()) writer_.join();
    {
        const std::lock_guard checkpointLock(checkpointMutex_);
        checkpointStop_ = true;
    }
    checkpointWanted_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
    for (auto& reader : readers_) {
        if (reader.joinable()) reader.join();
    }
    // The writer closes last: the last connection checkpoints everything and removes the WAL.
    readConnections_.clear();
    checkpointConnection_.reset();
    writeConnection_.reset();
}

int SqliteStore::onWalCommit(void* store, sqlite3* db, const char*, int pages) {
    auto& self = *static_cast<SqliteStore*>(store);
    if (pages >= kWriterCheckpointPages) {
        // Bounds the WAL when the checkpointer cannot keep up; SQLITE_BUSY (it is checkpointing now) is fine.
        sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (pages >= kCheckpointPages) {
        {
            const std::lock_guard lock(self.checkpointMutex_);
            self.checkpointDue_ = true;
        }
        self.checkpointWanted_.notify_one();
    }
    return SQLITE_OK;
}

void SqliteStore::checkpointLoop() {
    sqlite3* db = checkpointConnection_->db_;
    for (;;) {
        {
            std::unique_lock lock(checkpointMutex_);
            checkpointWanted_.wait(lock, [this] { return checkpointDue_ || checkpointStop_; });
            if (checkpointStop_) return;
            checkpointDue_ = false;
        }
        const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        if (rc == SQLITE_OK) {
            checkpoints_.fetch_add(1, std::memory_order_relaxed);
        } else if (rc != SQLITE_BUSY) {
            spdlog::warn("sqlite store: WAL checkpoint failed: {}", sqlite3_errmsg(db));
        }
    }
}

void SqliteStore::enqueue(sqlite::detail::JobQueue& queue, std::unique_ptr<StoreJob> job) {
    if (queue.tryPush(job)) return;
    job->fail(std::make_exception_ptr(StoreUnavailable("store is closed")));
    job->complete();
}

void SqliteStore::writerLoop() {
    for (;;) {
        const auto jobs = writes_.popBatch(options_.maxBatch);
        if (jobs.empty()) return;  // closed and drained
        // Keep submission order: batch consecutive ordinary writes, run exclusive work alone.
        std::size_t begin = 0;
        while (begin < jobs.size()) {
            if (jobs[begin]->exclusive()) {
                runExclusive(*jobs[begin]);
                ++begin;
                continue;
            }
            std::size_t end = begin;
            while (end < jobs.size() && !jobs[end]->exclusive()) ++end;
            commitBatch(std::span(jobs).subspan(begin, end - begin));
            begin = end;
        }
    }
}

// Group commit: one transaction and one fsync for every request in the batch. Each request runs in
// its own savepoint, so a request that throws loses only its own changes. Nobody is told their
// write happened before the COMMIT returns.
void SqliteStore::commitBatch(std::span<const std::unique_ptr<StoreJob>> jobs) {
    Connection& db = *writeConnection_;
    bool committed = false;
    try {
        db.executeTransactionControl("BEGIN IMMEDIATE");
        for (const auto& job : jobs) {
            db.executeTransactionControl("SAVEPOINT request");
            const bool succeeded = job->run(db);
            // Some errors (disk full, I/O, out of memory) make SQLite roll back the whole transaction
            // by itself: the batch-mates' changes are gone too, so none of them may be acknowledged.
            if (!db.inTransaction()) throw StoreUnavailable("write failed");
            if (!succeeded) db.executeTransactionControl("ROLLBACK TO request");
            db.executeTransactionControl("RELEASE request");
        }
        db.executeTransactionControl("COMMIT");
        committed = true;
        commits_.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::exception& error) {
        spdlog::warn("sqlite store: a batch of {} write(s) failed and was rolled back: {}", jobs.size(),
                     error.what());
    }
    if (!committed) {
        if (db.inTransaction()) {
            try {
                db.executeTransactionControl("ROLLBACK");
            } catch (const std::exception&) {
                // Already logged by the connection; the next BEGIN will report a lasting problem.
            }
        }
        // One exception each: the awaiting coroutines may resume on different threads.
        for (const auto& job : jobs) job->fail(std::make_exception_ptr(StoreUnavailable("write failed")));
    }
    writeStamp_.fetch_add(1, std::memory_order_release);
    for (const auto& job : jobs) job->complete();
}

void SqliteStore::runExclusive(StoreJob& job) {
    Connection& db = *writeConnection_;
    job.run(db);
    if (db.inTransaction()) {
        // Exclusive work manages its own transactions; never let one leak into the next batch.
        try {
            db.executeTransactionControl("ROLLBACK");
        } catch (const std::exception&) {
        }
    }
    writeStamp_.fetch_add(1, std::memory_order_release);
    job.complete();
}

void SqliteStore::readerLoop(Connection& connection) {
    for (;;) {
        const auto jobs = reads_.popBatch(1);
        if (jobs.empty()) return;  // closed and drained
        for (const auto& job : jobs) {
            job->run(connection);
            job->complete();
        }
    }
}

int SqliteStore::migrate() {
    return runBlocking<int>(
        writes_, [](Connection& db) { return applyMigrations(db); }, true);
}

// One transaction per migration, and the version is read inside it (BEGIN IMMEDIATE holds the write
// lock), so two processes migrating at once cannot both apply the same step. Foreign keys are off
// meanwhile, as SQLite's procedure for rebuilding a table asks (dropping a parent table would otherwise
// delete its children), and checked before each migration commits.
int SqliteStore::applyMigrations(Connection& db) {
    db.execute("PRAGMA foreign_keys=OFF");
    try {
        const int applied = applyMigrationsWithoutForeignKeys(db);
        db.execute("PRAGMA foreign_keys=ON");
        return applied;
    } catch (...) {
        db.execute("PRAGMA foreign_keys=ON");
        throw;
    }
}

int SqliteStore::applyMigrationsWithoutForeignKeys(Connection& db) {
    db.execute(kCreateMigrationsTable);
    const auto migrations = sqlite::sqliteMigrations();
    const int latest = latestKnownVersion();
    int applied = 0;
    for (;;) {
        db.executeTransactionControl("BEGIN IMMEDIATE");
        try {
            const int current = recordedVersion(db);
            if (current > latest) throw StoreUnavailable("database schema is newer than this binary");
            const auto next = std::find_if(migrations.begin(), migrations.end(),
                                           [current](const auto& m) { return m.version > current; });
            if (next == migrations.end()) {
                db.executeTransactionControl("ROLLBACK");
                return applied;
            }
            db.execute(next->sql);
            {
                auto record = db.prepare(
                    "INSERT INTO schema_migrations (version, name, applied_at) "
                    "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
                record.bindInt64(1, next->version).bindText(2, next->name);
                record.step();
            }
            if (db.prepare("PRAGMA foreign_key_check").step()) {
                spdlog::error("database migration {} ({}) would break a foreign key", next->version,
                              next->name);
                throw StoreUnavailable("database migration failed");
            }
            db.executeTransactionControl("COMMIT");
            spdlog::info("applied database migration {} ({})", next->version, next->name);
            ++applied;
        } catch (...) {
            if (db.inTransaction()) {
                try {
                    db.executeTransactionControl("ROLLBACK");
                } catch (const std::exception&) {
                    // The original error says more; the connection has logged this one.
                }
            }
            throw;
        }
    }
}

int SqliteStore::schemaVersion() {
    return runBlocking<int>(
        reads_,
        [](Connection& db) {
            auto exists = db.prepare(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'");
            exists.step();
            return exists.columnInt64(0) == 0 ? 0 : recordedVersion(db);
        },
        false);
}

int SqliteStore::latestSchemaVersion() const {
    return latestKnownVersion();
}

boost::asio::awaitable<bool> SqliteStore::ping() {
    try {
        co_return co_await read([](Connection& db) {
            auto one = db.prepare("SELECT 1");
            return one.step() && one.columnInt64(0) == 1;
        });
    } catch (const std::exception&) {
        co_return false;
    }
}

// appendAudit and listAudit are plain functions returning write()/read()'s awaitable, not coroutines:
// with g++ 12, a lambda that moved a coroutine's by-value parameter into its capture, awaited in
// the same expression, was destroyed twice (a double free under valgrind).
boost::asio::awaitable<void> SqliteStore::appendAudit(obs::AuditEvent event) {
    // The writer thread runs one request at a time, so the last hash read inside the request is
    // still the last one when the new row goes in.
    return write([key = auditKey(), event = std::move(event)](Connection& db) {
        sqlite::appendAuditRow(db, requireAuditKey(key), event);
    });
}

boost::asio::awaitable<std::vector<obs::AuditRecord>> SqliteStore::listAudit(AuditQuery query) {
    // Checked on the reader thread so that a bad query fails when awaited, like every other error.
    return read([query = std::move(query)](Connection& db) {
        checkAuditQuery(query);
        return sqlite::listAuditRows(db, query);
    });
}

AuditVerification SqliteStore::verifyAudit(const std::vector<std::int64_t>& hashesAt) {
    const obs::AuditChainKey& key = requireAuditKey(auditKey());
    return runBlocking<AuditVerification>(
        reads_, [&key, &hashesAt](Connection& db) { return sqlite::verifyAuditChain(db, key, hashesAt); },
        false);
}

}  // namespace rampart::store
