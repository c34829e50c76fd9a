// PostgresStore's job calls over migrations 4-7, with SqliteStore's behaviour for many processes on one
// database: a state change locks the job's row (FOR UPDATE), asks jobs::nextState and writes its answer
// with the history row in one transaction; claims skip rows other claimers hold (SKIP LOCKED).
#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include "store/job_columns.hpp"
#include "store/job_rules.hpp"
#include "store/postgres/pg_job_rows.hpp"
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;
using jobs::JobEvent;
using jobs::JobState;

// A job's columns with seq last (kJobCursorColumn): it is the listing cursor (PostgreSQL has no rowid).
std::string jobColumnsAndSeq() {
    std::string columns(kJobColumns);
    columns += ", seq";
    return columns;
}

std::string jobSelect(std::string_view where) {
    std::string sql = "SELECT ";
    sql += jobColumnsAndSeq();
    sql += " FROM jobs ";
    sql += where;
    return sql;
}

// A detail as an SQL literal, for the statements that write history rows themselves (no quote in any).
std::string quoted(std::string_view detail) {
    std::string literal = "'";
    literal += detail;
    literal += '\'';
    return literal;
}

JobRecord jobOf(const pg::Result& rows, int row) {
    return jobOfRow(pg::Row(rows, row));
}

std::vector<JobRecord> jobsOf(const pg::Result& rows) {
    std::vector<JobRecord> jobs;
    jobs.reserve(rows.rows());
    for (int row = 0; row < rows.rows(); ++row) jobs.push_back(jobOf(rows, row));
    return jobs;
}

std::optional<JobRecord> firstJob(const pg::Result& rows) {
    if (rows.empty()) return std::nullopt;
    return jobOf(rows, 0);
}

// Array parameters for unnest(). Params::addArray quotes every element, which suits text without
// NULLs; these also carry NULLs (unquoted), numbers and booleans.
std::string textArray(const std::vector<std::optional<std::string>>& values) {
    std::string literal = "{";
    for (const auto& value : values) {
        if (literal.size() > 1) literal += ',';
        if (!value) {
            literal += "NULL";
            continue;
        }
        literal += '"';
        for (char c : *value) {
            if (c == '"' || c == '\\') literal += '\\';
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

std::string bigintArray(const std::vector<std::optional<std::int64_t>>& values) {
    std::string literal = "{";
    for (const auto& value : values) {
        if (literal.size() > 1) literal += ',';
        literal += value ? std::to_string(*value) : "NULL";
    }
    literal += '}';
    return literal;
}

std::string booleanArray(const std::vector<bool>& values) {
    std::string literal = "{";
    for (bool value : values) {
        if (literal.size() > 1) literal += ',';
        literal += value ? 't' : 'f';
    }
    literal += '}';
    return literal;
}

// History rows, written by one statement per transaction step.
class EventRows {
  public:
    void add(const std::string& id, std::optional<JobState> from, JobState to, std::string_view detail) {
        ids_.emplace_back(id);
        from_.push_back(from ? std::optional<std::string>(jobs::stateName(*from)) : std::nullopt);
        to_.emplace_back(jobs::stateName(to));
        details_.emplace_back(std::string(detail));
    }
    [[nodiscard]] bool empty() const { return ids_.empty(); }

    [[nodiscard]] pg::Statement insert(Millis now) const {
        pg::Params params;
        params.add(textArray(ids_)).add(textArray(from_)).add(textArray(to_)).add(textArray(details_));
        params.add(now);
        return pg::Statement{.sql =
                                 "INSERT INTO job_events (job_id, time, from_state, to_state, detail) "
                                 "SELECT e.job_id, $5::bigint, e.from_state, e.to_state, e.detail "
                                 "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
                                 "AS e (job_id, from_state, to_state, detail)",
                             .params = std::move(params)};
    }

  private:
    std::vector<std::optional<std::string>> ids_, from_, to_, details_;
};

// State changes that are not a lease holder's report (cancels, lost leases): the state, the finish
// time when it is terminal, and no lease (none of these edges ends in running).
class MoveRows {
  public:
    void add(const JobRecord& job, JobState to, Millis now, std::string_view detail) {
        ids_.emplace_back(job.id);
        states_.emplace_back(jobs::stateName(to));
        finished_.push_back(finishedAt(to, now));
        events_.add(job.id, job.state, to, detail);
    }
    [[nodiscard]] bool empty() const { return ids_.empty(); }

    [[nodiscard]] std::vector<pg::Statement> statements(Millis now) const {
        pg::Params params;
        params.add(textArray(ids_)).add(textArray(states_)).add(bigintArray(finished_)).add(now);
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "UPDATE jobs SET state = m.state, updated = $4::bigint, finished = m.finished, "
                   "lease_holder = NULL, lease_expires = NULL "
                   "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS m (id, state, finished) "
                   "WHERE jobs.id = m.id",
            .params = std::move(params)});
        statements.push_back(events_.insert(now));
        return statements;
    }

  private:
    std::vector<std::optional<std::string>> ids_, states_;
    std::vector<std::optional<Millis>> finished_;
    EventRows events_;
};

// The ends of lease holders' attempts: the state, result or error, the retry time and the finish time.
class FinishRows {
  public:
    void add(const JobRecord& job, JobState to, const JobOutcome& outcome, Millis now) {
        ids_.emplace_back(job.id);
        states_.emplace_back(jobs::stateName(to));
        results_.push_back(outcome.result);
        errors_.push_back(outcome.error);
        runAt_.push_back(runAtAfter(job, to, outcome));
        succeeded_.push_back(outcome.succeeded);
        finished_.push_back(finishedAt(to, now));
        events_.add(job.id, job.state, to, attemptEndOf(outcome).detail);
    }
    [[nodiscard]] bool empty() const { return ids_.empty(); }

    [[nodiscard]] std::vector<pg::Statement> statements(Millis now) const {
        pg::Params params;
        params.add(textArray(ids_)).add(textArray(states_)).add(textArray(results_)).add(textArray(errors_));
        params.add(bigintArray(runAt_)).add(booleanArray(succeeded_)).add(bigintArray(finished_)).add(now);
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "UPDATE jobs SET state = f.state, result = f.result, error = f.error, run_at = f.run_at, "
                   "progress = CASE WHEN f.succeeded THEN 100 ELSE jobs.progress END, updated = $8::bigint, "
                   "finished = f.finished, lease_holder = NULL, lease_expires = NULL "
                   "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[], "
                   "$7::bigint[]) AS f (id, state, result, error, run_at, succeeded, finished) "
                   "WHERE jobs.id = f.id",
            .params = std::move(params)});
        statements.push_back(events_.insert(now));
        return statements;
    }

  private:
    std::vector<std::optional<std::string>> ids_, states_, results_, errors_;
    std::vector<std::optional<Millis>> runAt_, finished_;
    std::vector<bool> succeeded_;
    EventRows events_;
};

// finishAttempts' body: locks the reported jobs in id order (so that two such calls cannot deadlock),
// applies each report in turn to the row as the reports before it left it, and writes every change
// in one round trip. A refused report (nullopt) changes nothing.
asio::awaitable<std::vector<std::optional<FinishedAttempt>>> finishReports(
    pg::Connection& db, const std::vector<AttemptReport>& reports, Millis now) {
    std::vector<std::optional<FinishedAttempt>> finished;
    if (reports.empty()) co_return finished;
    std::vector<std::string> ids;
    for (const auto& report : reports) ids.push_back(report.id);
    pg::Params lockParams;
    lockParams.addArray(ids);
    // attempt_deadline after the job's columns and seq, for the attempt's start (FinishedAttempt).
    std::string lock = "SELECT ";
    lock += jobColumnsAndSeq();
    lock += ", attempt_deadline FROM jobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE";
    const auto locked = co_await db.query(lock, std::move(lockParams));
    constexpr int kAttemptDeadlineColumn = kJobCursorColumn + 1;
    std::map<std::string, std::pair<JobRecord, std::optional<Millis>>> jobsById;
    for (int row = 0; row < locked.rows(); ++row) {
        JobRecord job = jobOf(locked, row);
        std::string id = job.id;
        jobsById.emplace(std::move(id),
                         std::pair(std::move(job), locked.optionalInt64(row, kAttemptDeadlineColumn)));
    }

    FinishRows rows;
    finished.reserve(reports.size());
    for (const auto& report : reports) {
        const auto found = jobsById.find(report.id);
        if (found == jobsById.end() || !holdsLiveLease(found->second.first, report.holder, now)) {
            finished.emplace_back(std::nullopt);
            continue;
        }
        JobRecord& job = found->second.first;
        const JobOutcome& outcome = report.outcome;
        const auto next = jobs::nextState(job.state, attemptEndOf(outcome).event, factsOf(job));
        if (!next) {
            finished.emplace_back(std::nullopt);
            continue;
        }
        finished.push_back(finishedAttemptOf(job, *next, found->second.second));
        rows.add(job, *next, outcome, now);
        // Every finish edge leaves running: a second report of this attempt is refused.
        job.state = *next;
        job.leaseHolder.reset();
        job.leaseExpires.reset();
    }
    if (!rows.empty()) {
        auto writes = rows.statements(now);
        co_await db.pipeline(std::move(writes));
    }
    co_return finished;
}

// Inserts the job unless its owner used its idempotency key already (then nothing, and no row comes
// back), with its first history row; the conflict waits for a concurrent insert of that key to end.
std::string insertJobSql() {
    std::string sql = "WITH inserted AS (INSERT INTO jobs (";
    sql += kNewJobColumns;
    sql +=
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)"
        " ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
        " RETURNING *),"
        " history AS ("
        " INSERT INTO job_events (job_id, time, to_state, detail)"
        " SELECT id, created, state, " +
        quoted(kSubmittedDetail) + " FROM inserted) SELECT ";
    sql += jobColumnsAndSeq();
    sql += " FROM inserted";
    return sql;
}

// One statement for many new jobs (a batch, or single submits stored together): the jobs from parallel
// arrays, each with its own created time, and their history.
std::string insertJobsSql() {
    std::string sql = "WITH inserted AS (INSERT INTO jobs (";
    sql += kNewJobColumns;
    sql +=
        ") SELECT b.id, b.task, b.args, b.queue, b.priority, b.state, b.max_attempts, b.run_at, b.timeout_ms,"
        " b.owner_id, b.idempotency_key, b.request_hash, b.created, b.created, b.trace_parent"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[],"
        " $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[])"
        " AS b (id, task, args, queue, priority, state, max_attempts, run_at, timeout_ms, owner_id,"
        " idempotency_key, request_hash, created, trace_parent)"
        " ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
        " RETURNING id, state, created)"
        " INSERT INTO job_events (job_id, time, to_state, detail)"
        " SELECT id, created, state, " +
        quoted(kSubmittedDetail) + " FROM inserted";
    return sql;
}

// insertJobsSql's parameters for jobs whose state, attempts and times are set already.
pg::Params insertJobsParams(const std::vector<JobRecord>& jobs) {
    std::vector<std::optional<std::string>> ids, tasks, args, queues, states, owners, keys, hashes, traces;
    std::vector<std::optional<std::int64_t>> priorities, maxAttempts, runAt, timeouts, created;
    for (const JobRecord& job : jobs) {
        ids.emplace_back(job.id);
        tasks.emplace_back(job.task);
        args.emplace_back(job.args);
        queues.emplace_back(job.queue);
        priorities.emplace_back(job.priority);
        states.emplace_back(jobs::stateName(job.state));
        maxAttempts.emplace_back(job.maxAttempts);
        runAt.emplace_back(job.runAt);
        timeouts.emplace_back(job.timeoutMs);
        owners.emplace_back(job.ownerId);
        keys.push_back(job.idempotencyKey);
        hashes.push_back(job.requestHash);
        created.emplace_back(job.created);
        traces.push_back(job.traceParent);
    }
    pg::Params params;
    params.add(textArray(ids)).add(textArray(tasks)).add(textArray(args)).add(textArray(queues));
    params.add(bigintArray(priorities)).add(textArray(states)).add(bigintArray(maxAttempts));
    params.add(bigintArray(runAt)).add(bigintArray(timeouts)).add(textArray(owners));
    params.add(textArray(keys)).add(textArray(hashes)).add(bigintArray(created)).add(textArray(traces));
    return params;
}

// Due scheduled and failed jobs become queued (jobs::nextState's `due` edge, which has no condition),
// each with its history row. Rows another transaction holds are left for the next claim, so that
// claimers never wait for each other here either.
std::string promoteDueJobsSql() {
    return "WITH due AS ("
           " SELECT id, state FROM jobs WHERE state IN ('scheduled', 'failed') AND run_at <= $1::bigint"
           " FOR UPDATE SKIP LOCKED),"
           " moved AS ("
           " UPDATE jobs SET state = 'queued', updated = $1::bigint FROM due WHERE jobs.id = due.id"
           " RETURNING jobs.id, due.state AS from_state)"
           " INSERT INTO job_events (job_id, time, from_state, to_state, detail)"
           " SELECT id, $1::bigint, from_state, 'queued', " +
           quoted(kDueDetail) + " FROM moved";
}

// Leases the best claimable jobs that no other transaction holds. `attempts < max_attempts` is
// jobs::nextState's condition for the `claim` edge out of queued.
// One subquery per queue, each reading jobs_claim in claim order and stopping after $2 rows it could
// lock: `queue = ANY($1)` in one query cannot use that order, and as LockRows stands between its sort
// and its limit, every claim sorted the queues' whole backlog (0.5 s a claim at 70,000 queued jobs).
// With several queues the rows locked beyond the best $2 stay locked until this transaction ends, a
// few milliseconds in which other claimers skip them.
std::string claimJobsSql() {
    std::string sql =
        "WITH picked AS ("
        " SELECT c.id FROM ("
        " SELECT DISTINCT name FROM unnest($1::text[]) AS u (name)"
        " WHERE name NOT IN (SELECT name FROM queues WHERE paused)) AS q"
        " CROSS JOIN LATERAL ("
        " SELECT id, priority, run_at, seq FROM jobs"
        " WHERE state = 'queued' AND queue = q.name AND attempts < max_attempts"
        " AND (cardinality($6::text[]) = 0 OR task = ANY($6::text[]))"
        " ORDER BY priority DESC, run_at, seq LIMIT $2::bigint"
        " FOR UPDATE SKIP LOCKED) AS c"
        " ORDER BY c.priority DESC, c.run_at, c.seq LIMIT $2::bigint),"
        " leased AS ("
        " UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_holder = $3::text,"
        " lease_expires = LEAST($4::bigint, $5::bigint + jobs.timeout_ms + " +
        std::to_string(kTimeoutGrace) +
        "), attempt_deadline = $5::bigint + jobs.timeout_ms, updated = $5::bigint"
        " FROM picked WHERE jobs.id = picked.id RETURNING jobs.*),"
        " history AS ("
        " INSERT INTO job_events (job_id, time, from_state, to_state, detail, holder)"
        " SELECT id, $5::bigint, 'queued', 'running', " +
        quoted(kClaimedDetail) + ", $3::text FROM leased) SELECT ";
    sql += jobColumnsAndSeq();
    sql += " FROM leased ORDER BY priority DESC, run_at, seq";
    return sql;
}

}  // namespace

namespace postgres {

pg::Statement insertNewJob(const JobRecord& job, Millis now) {
    return pg::Statement{.sql = insertJobSql(),
                         .params = pg::Params(job.id, job.task, job.args, job.queue, job.priority,
                                              jobs::stateName(initialState(job, now)), job.maxAttempts,
                                              job.runAt, job.timeoutMs, job.ownerId, job.idempotencyKey,
                                              job.requestHash, now, job.traceParent)};
}

}  // namespace postgres

boost::asio::awaitable<SubmitResult> PostgresStore::submitJob(JobRecord job, Millis now) {
    // A job with an idempotency key may exist already: its own statement says which. One without joins
    // the single submits on their way to the database, stored with them in one statement.
    const bool keyed = job.idempotencyKey.has_value();
    auto work = keyed ? storeJob(std::move(job), now) : storeWithOthers(newJobAt(std::move(job), now));
    SubmitResult result = co_await std::move(work);
    // Idle workers wake once it is committed; not when the key was used already or the job waits.
    if (result.outcome == SubmitOutcome::created && result.job.state == JobState::queued) {
        announceQueuedJobs({result.job.queue});
    }
    co_return result;
}

// A single submit waiting on the loop for the statement that stores its group.
struct PostgresStore::PendingSubmit {
    PendingSubmit(asio::io_context& io, JobRecord record)
        : job(std::move(record)), done(io, asio::steady_timer::time_point::max()) {}
    JobRecord job;
    asio::steady_timer done;  // cancelled once stored or failed
    bool stored = false;
    std::exception_ptr error;
};

boost::asio::awaitable<SubmitResult> PostgresStore::storeWithOthers(JobRecord job) {
    if (!enter()) throw StoreUnavailable("database store is closed");
    auto work = joinGroup(std::move(job));
    co_return co_await asio::co_spawn(io_, std::move(work), asio::use_awaitable);
}

// On the loop: queues the job and waits for a group statement to take it. Up to kSubmitGroups
// statements are on their way at once; each takes every submit that arrived meanwhile (at most
// kMaxGroup). A lone submit finds a statement free and goes at once, so waiting costs nothing at a
// low rate; under load, one commit carries many submits instead of each paying for its own.
boost::asio::awaitable<SubmitResult> PostgresStore::joinGroup(JobRecord job) {
    const Entered counted{this};
    auto pending = std::make_shared<PendingSubmit>(io_, std::move(job));
    pendingSubmits_.push_back(pending);
    if (submitGroups_ < kSubmitGroups) {
        ++submitGroups_;
        asio::co_spawn(io_, storeGroups(), asio::detached);
    }
    if (!pending->stored && !pending->error) {
        boost::system::error_code cancelled;
        co_await pending->done.async_wait(asio::redirect_error(asio::use_awaitable, cancelled));
    }
    if (pending->error) std::rethrow_exception(pending->error);
    co_return SubmitResult{.outcome = SubmitOutcome::created, .job = std::move(pending->job)};
}

// Stores groups of waiting submits until none waits. Needs no count of its own in close(): it runs
// only while counted submits wait for it.
boost::asio::awaitable<void> PostgresStore::storeGroups() {
    while (!pendingSubmits_.empty()) {
        const std::size_t take = std::min(pendingSubmits_.size(), kMaxGroup);
        std::vector<std::shared_ptr<PendingSubmit>> group(
            pendingSubmits_.begin(), pendingSubmits_.begin() + static_cast<std::ptrdiff_t>(take));
        pendingSubmits_.erase(pendingSubmits_.begin(),
                              pendingSubmits_.begin() + static_cast<std::ptrdiff_t>(take));
        auto work = storeGroup(group);
        co_await std::move(work);
        for (const auto& pending : group) pending->done.cancel();
    }
    --submitGroups_;
}

// Stores a group in one statement. One job can fail it for all (its owner deleted meanwhile, say): then
// each half again, so that only that job fails, at a few statements' cost. When the database is down or
// busy, the whole group fails at once.
boost::asio::awaitable<void> PostgresStore::storeGroup(
    std::span<const std::shared_ptr<PendingSubmit>> group) {
    std::vector<JobRecord> jobs;
    jobs.reserve(group.size());
    for (const auto& pending : group) jobs.push_back(pending->job);
    std::exception_ptr failure;
    bool refused = false;  // the statement ran and the database refused a row of it
    try {
        auto work = insertJobs(std::move(jobs));
        co_await std::move(work);
        for (const auto& pending : group) pending->stored = true;
    } catch (const pg::QueryError& error) {
        failure = std::current_exception();
        refused = error.sqlstate().starts_with("23");  // integrity constraint violation
    } catch (...) {
        failure = std::current_exception();
    }
    if (!failure) co_return;
    if (group.size() == 1 || !refused) {
        // Unreachable or busy database: every job of the group fails alike, without trying again.
        for (const auto& pending : group) pending->error = failure;
        co_return;
    }
    const std::size_t half = group.size() / 2;
    auto first = storeGroup(group.first(half));
    co_await std::move(first);
    auto second = storeGroup(group.subspan(half));
    co_await std::move(second);
}

boost::asio::awaitable<void> PostgresStore::insertJobs(std::vector<JobRecord> jobs) {
    return withConnection([jobs = std::move(jobs)](pg::Connection& db) -> asio::awaitable<void> {
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{.sql = insertJobsSql(), .params = insertJobsParams(jobs)});
        co_await db.pipeline(std::move(statements));
    });
}

// No BEGIN/COMMIT: the job and its first history row are one statement, atomic on its own, so a submit
// is one round trip (and one commit); reading an earlier job of the same key needs no transaction.
boost::asio::awaitable<SubmitResult> PostgresStore::storeJob(JobRecord job, Millis now) {
    return withConnection([job = std::move(job), now](pg::Connection& db) -> asio::awaitable<SubmitResult> {
        // A second round only when retention deleted the key's job between the two statements.
        for (int round = 0; round < 2; ++round) {
            std::vector<pg::Statement> statements;
            statements.push_back(postgres::insertNewJob(job, now));
            auto results = co_await db.pipeline(std::move(statements));
            if (auto stored = firstJob(results[0])) {
                co_return SubmitResult{.outcome = SubmitOutcome::created, .job = std::move(*stored)};
            }
            // The key is taken by a committed job: ON CONFLICT waited for its transaction to end.
            auto earlierRows = co_await db.query(jobSelect("WHERE owner_id = $1 AND idempotency_key = $2"),
                                                 pg::Params(job.ownerId, job.idempotencyKey));
            if (auto earlier = firstJob(earlierRows)) co_return earlierSubmit(std::move(*earlier), job);
        }
        throw StoreUnavailable("an idempotency key's job kept vanishing");
    });
}

boost::asio::awaitable<std::vector<JobRecord>> PostgresStore::submitJobs(std::vector<JobRecord> batch,
                                                                         Millis now) {
    auto work = storeJobs(std::move(batch), now);
    std::vector<JobRecord> stored = co_await std::move(work);
    std::set<std::string> queues;
    for (const JobRecord& job : stored)
        if (job.state == JobState::queued) queues.insert(job.queue);
    if (!queues.empty()) announceQueuedJobs(std::vector<std::string>(queues.begin(), queues.end()));
    co_return stored;
}

boost::asio::awaitable<std::vector<JobRecord>> PostgresStore::storeJobs(std::vector<JobRecord> batch,
                                                                        Millis now) {
    return inTransaction(
        [batch = std::move(batch), now](pg::Connection& db) -> asio::awaitable<std::vector<JobRecord>> {
            std::vector<JobRecord> stored;
            if (batch.empty()) co_return stored;
            stored.reserve(batch.size());
            for (const JobRecord& job : batch) stored.push_back(newJobAt(job, now));
            std::vector<pg::Statement> statements;
            statements.push_back(pg::Statement{.sql = insertJobsSql(), .params = insertJobsParams(stored)});
            auto results = co_await db.pipeline(std::move(statements));
            // A row left out is an idempotency key in use (before or earlier in this batch): throwing
            // rolls the whole batch back.
            if (results[0].affected() != static_cast<std::int64_t>(stored.size())) {
                refuseBatchWithUsedKey();
            }
            co_return stored;
        });
}

boost::asio::awaitable<std::optional<JobRecord>> PostgresStore::findJob(std::string id) {
    return withConnection(
        [id = std::move(id)](pg::Connection& db) -> asio::awaitable<std::optional<JobRecord>> {
            const auto rows = co_await db.query(jobSelect("WHERE id = $1"), pg::Params(id));
            co_return firstJob(rows);
        });
}

boost::asio::awaitable<JobPage> PostgresStore::listJobs(JobQuery query) {
    return withConnection([query = std::move(query)](pg::Connection& db) -> asio::awaitable<JobPage> {
        checkJobPageLimit(query);
        // Only fixed fragments go into the text; every value but the state is a parameter, numbered as it
        // is added.
        std::string where = "WHERE true";
        pg::Params params;
        auto next = [&params] { return "$" + std::to_string(params.size() + 1); };
        if (query.before > 0) {
            where += " AND seq < " + next();
            params.add(query.before);
        }
        if (query.ownerId) {
            where += " AND owner_id = " + next();
            params.add(*query.ownerId);
        }
        if (query.state) {
            // A literal (one of the machine's own names), so that a reused plan still uses the state's
            // partial index (jobs_claim, jobs_leases, jobs_rare_states) rather than walking every job.
            where += " AND state = '";
            where += jobs::stateName(*query.state);
            where += "'";
        }
        if (query.queue) {
            where += " AND queue = " + next();
            params.add(*query.queue);
        }
        if (query.task) {
            where += " AND task = " + next();
            params.add(*query.task);
        }
        if (query.createdSince) {
            where += " AND created >= " + next();
            params.add(*query.createdSince);
        }
        if (query.createdUntil) {
            where += " AND created < " + next();
            params.add(*query.createdUntil);
        }
        where += " ORDER BY seq DESC LIMIT " + next();
        params.add(query.limit);
        const auto rows = co_await db.query(jobSelect(where), std::move(params));
        JobPage page{.jobs = jobsOf(rows)};
        if (rows.rows() == query.limit) page.nextCursor = rows.int64(rows.rows() - 1, kJobCursorColumn);
        co_return page;
    });
}

boost::asio::awaitable<std::optional<JobRecord>> PostgresStore::cancelJob(std::string id, Millis now) {
    return inTransaction(
        [id = std::move(id), now](pg::Connection& db) -> asio::awaitable<std::optional<JobRecord>> {
            const auto locked = co_await db.query(jobSelect("WHERE id = $1 FOR UPDATE"), pg::Params(id));
            auto job = firstJob(locked);
            if (!job) co_return std::nullopt;
            const auto next = jobs::nextState(job->state, JobEvent::cancel, factsOf(*job));
            if (!next) co_return job;  // finished already: nothing to cancel
            std::vector<pg::Statement> statements;
            if (*next == JobState::running) {
                // The holder learns of it at its next heartbeat and acknowledges by failing the attempt.
                statements.push_back(pg::Statement{
                    .sql = "UPDATE jobs SET cancel_requested = true, updated = $2 WHERE id = $1",
                    .params = pg::Params(id, now)});
                EventRows event;
                event.add(id, job->state, JobState::running, kCancelRequestedDetail);
                statements.push_back(event.insert(now));
            } else {
                MoveRows move;
                move.add(*job, *next, now, kCanceledDetail);
                statements = move.statements(now);
            }
            statements.push_back(pg::Statement{.sql = jobSelect("WHERE id = $1"), .params = pg::Params(id)});
            auto results = co_await db.pipeline(std::move(statements));
            co_return firstJob(results.back());
        });
}

boost::asio::awaitable<std::optional<JobRecord>> PostgresStore::retryJob(std::string id, Millis now) {
    return inTransaction(
        [id = std::move(id), now](pg::Connection& db) -> asio::awaitable<std::optional<JobRecord>> {
            const auto locked = co_await db.query(jobSelect("WHERE id = $1 FOR UPDATE"), pg::Params(id));
            auto job = firstJob(locked);
            if (!job) co_return std::nullopt;
            const auto next = jobs::nextState(job->state, JobEvent::retry, factsOf(*job));
            if (!next) co_return job;  // neither failed nor dead: nothing to retry
            std::vector<pg::Statement> statements;
            statements.push_back(pg::Statement{
                .sql = "UPDATE jobs SET run_at = $2, max_attempts = GREATEST(max_attempts, attempts + 1) "
                       "WHERE id = $1",
                .params = pg::Params(id, now)});
            MoveRows move;
            move.add(*job, *next, now, kRetriedDetail);
            for (auto& statement : move.statements(now)) statements.push_back(std::move(statement));
            statements.push_back(pg::Statement{.sql = jobSelect("WHERE id = $1"), .params = pg::Params(id)});
            auto results = co_await db.pipeline(std::move(statements));
            co_return firstJob(results.back());
        });
}

boost::asio::awaitable<std::vector<JobRecord>> PostgresStore::claimJobs(std::vector<std::string> queues,
                                                                        std::vector<std::string> tasks,
                                                                        int max, std::string holder,
                                                                        Millis leaseMs, Millis now) {
    // One round trip, no BEGIN: a pipeline outside a transaction block is one transaction of its own,
    // and nothing here waits for a lock (SKIP LOCKED), so it cannot deadlock and need not be rerun.
    return withConnection([queues = std::move(queues), tasks = std::move(tasks), max,
                           holder = std::move(holder), leaseMs,
                           now](pg::Connection& db) -> asio::awaitable<std::vector<JobRecord>> {
        if (queues.empty() || max < 1) co_return std::vector<JobRecord>{};
        pg::Params claimParams;
        claimParams.addArray(queues).add(max).add(holder).add(now + leaseMs).add(now).addArray(tasks);
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{.sql = promoteDueJobsSql(), .params = pg::Params(now)});
        statements.push_back(pg::Statement{.sql = claimJobsSql(), .params = std::move(claimParams)});
        auto results = co_await db.pipeline(std::move(statements));
        co_return jobsOf(results[1]);
    });
}

boost::asio::awaitable<std::optional<LeaseRenewal>> PostgresStore::heartbeatJob(std::string id,
                                                                                std::string holder,
                                                                                Millis leaseMs, Millis now) {
    return withConnection([id = std::move(id), holder = std::move(holder), leaseMs,
                           now](pg::Connection& db) -> asio::awaitable<std::optional<LeaseRenewal>> {
        // One statement: it waits for a transaction that holds the row and then sees its outcome.
        // leaseEnd in SQL (a job claimed before attempt_deadline existed has none).
        const auto rows = co_await db.query(
            "UPDATE jobs SET lease_expires = LEAST($3, COALESCE(attempt_deadline + $5, $3)), updated = $4 "
            "WHERE id = $1 AND state = 'running' AND lease_holder = $2 AND lease_expires > $4 "
            "RETURNING cancel_requested, lease_expires",
            pg::Params(id, holder, now + leaseMs, now, kTimeoutGrace));
        if (rows.empty()) co_return std::nullopt;
        co_return LeaseRenewal{.cancelRequested = rows.boolean(0, 0), .leaseExpires = rows.int64(0, 1)};
    });
}

boost::asio::awaitable<bool> PostgresStore::reportProgress(std::string id, std::string holder, int percent,
                                                           std::string message, Millis now) {
    return withConnection([id = std::move(id), holder = std::move(holder), percent,
                           message = std::move(message), now](pg::Connection& db) -> asio::awaitable<bool> {
        checkProgress(percent, message);
        const auto rows = co_await db.query(
            "UPDATE jobs SET progress = $3, progress_message = $4, updated = $5 WHERE id = $1 "
            "AND state = 'running' AND lease_holder = $2 AND lease_expires > $5",
            pg::Params(id, holder, percent, message, now));
        co_return rows.affected() == 1;
    });
}

boost::asio::awaitable<std::optional<jobs::JobState>> PostgresStore::finishAttempt(std::string id,
                                                                                   std::string holder,
                                                                                   JobOutcome outcome,
                                                                                   Millis now) {
    std::vector<AttemptReport> reports;
    reports.push_back(
        AttemptReport{.id = std::move(id), .holder = std::move(holder), .outcome = std::move(outcome)});
    return inTransaction(
        [reports = std::move(reports), now](pg::Connection& db) -> asio::awaitable<std::optional<JobState>> {
            const auto finished = co_await finishReports(db, reports, now);
            if (!finished.front()) co_return std::nullopt;
            co_return finished.front()->state;
        });
}

boost::asio::awaitable<std::vector<std::string>> PostgresStore::leaseHolders(std::string id) {
    return withConnection(
        [id = std::move(id)](pg::Connection& db) -> asio::awaitable<std::vector<std::string>> {
            const auto rows = co_await db.query(
                "SELECT holder FROM job_events WHERE job_id = $1 AND holder IS NOT NULL ORDER BY id",
                pg::Params(id));
            std::vector<std::string> holders;
            for (int row = 0; row < rows.rows(); ++row) holders.push_back(rows.string(row, 0));
            co_return holders;
        });
}

boost::asio::awaitable<std::vector<std::optional<FinishedAttempt>>> PostgresStore::finishAttempts(
    std::vector<AttemptReport> reports, Millis now) {
    return inTransaction(
        [reports = std::move(reports),
         now](pg::Connection& db) -> asio::awaitable<std::vector<std::optional<FinishedAttempt>>> {
            return finishReports(db, reports, now);
        });
}

boost::asio::awaitable<std::vector<std::string>> PostgresStore::releaseJobs(std::vector<std::string> ids,
                                                                            std::string holder, Millis now) {
    using IdsAndQueues = std::pair<std::vector<std::string>, std::vector<std::string>>;
    auto work = inTransaction([ids = std::move(ids), holder = std::move(holder),
                               now](pg::Connection& db) -> asio::awaitable<IdsAndQueues> {
        IdsAndQueues released;
        if (ids.empty()) co_return released;
        // Id order, as finishAttempts locks, so that neither deadlocks.
        pg::Params lockParams;
        lockParams.addArray(ids);
        const auto locked = co_await db.query(jobSelect("WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"),
                                              std::move(lockParams));
        MoveRows moves;
        std::set<std::string> requeued;
        for (const JobRecord& job : jobsOf(locked)) {
            if (!holdsLiveLease(job, holder, now)) continue;
            const auto next = jobs::nextState(job.state, JobEvent::release, factsOf(job));
            if (!next) continue;
            moves.add(job, *next, now, kReleasedDetail);
            released.first.push_back(job.id);
            if (*next == JobState::queued) requeued.insert(job.queue);
        }
        if (!moves.empty()) {
            // The attempt the claim counted never started.
            pg::Params params;
            params.addArray(released.first);
            std::vector<pg::Statement> writes;
            writes.push_back(
                pg::Statement{.sql = "UPDATE jobs SET attempts = attempts - 1, attempt_deadline = NULL "
                                     "WHERE id = ANY($1::text[]) AND attempts > 0",
                              .params = std::move(params)});
            for (auto& statement : moves.statements(now)) writes.push_back(std::move(statement));
            co_await db.pipeline(std::move(writes));
        }
        released.second.assign(requeued.begin(), requeued.end());
        co_return released;
    });
    IdsAndQueues released = co_await std::move(work);
    // Other nodes' idle workers may take them now, not at their next poll.
    if (!released.second.empty()) announceQueuedJobs(std::move(released.second));
    co_return std::move(released.first);
}

boost::asio::awaitable<std::vector<FinishedAttempt>> PostgresStore::recoverExpiredLeases(Millis now) {
    auto work = takeBackExpiredLeases(now);
    LeasesTakenBack taken = co_await std::move(work);
    // The jobs queued again wake idle workers on every node now, not at their next poll.
    if (!taken.requeued.empty()) announceQueuedJobs(std::move(taken.requeued));
    co_return std::move(taken.jobs);
}

boost::asio::awaitable<PostgresStore::LeasesTakenBack> PostgresStore::takeBackExpiredLeases(Millis now) {
    return inTransaction([now](pg::Connection& db) -> asio::awaitable<LeasesTakenBack> {
        // No SKIP LOCKED: every expired lease is taken back, so this waits for a report in flight (and
        // then sees the job it left). Id order, as finishAttempts locks, so that neither deadlocks.
        // attempt_deadline after the job's columns and seq, for the attempt's start (FinishedAttempt).
        const auto expired = co_await db.query("SELECT " + jobColumnsAndSeq() +
                                                   ", attempt_deadline FROM jobs WHERE state = 'running' AND "
                                                   "lease_expires <= $1 ORDER BY id FOR UPDATE",
                                               pg::Params(now));
        constexpr int kAttemptDeadlineColumn = kJobCursorColumn + 1;
        MoveRows moves;
        std::set<std::string> requeued;
        LeasesTakenBack taken;
        for (int row = 0; row < expired.rows(); ++row) {
            const JobRecord job = jobOf(expired, row);
            if (auto next = jobs::nextState(job.state, JobEvent::leaseExpired, factsOf(job))) {
                moves.add(job, *next, now, kLeaseExpiredDetail);
                if (*next == JobState::queued) requeued.insert(job.queue);
                taken.jobs.push_back(
                    finishedAttemptOf(job, *next, expired.optionalInt64(row, kAttemptDeadlineColumn)));
            }
        }
        if (!moves.empty()) {
            auto writes = moves.statements(now);
            co_await db.pipeline(std::move(writes));
        }
        taken.requeued.assign(requeued.begin(), requeued.end());
        co_return taken;
    });
}

boost::asio::awaitable<std::vector<JobEventRecord>> PostgresStore::jobEvents(std::string id) {
    return withConnection(
        [id = std::move(id)](pg::Connection& db) -> asio::awaitable<std::vector<JobEventRecord>> {
            const auto rows = co_await db.query(
                "SELECT " + std::string(kJobEventColumns) + " FROM job_events WHERE job_id = $1 ORDER BY id",
                pg::Params(id));
            std::vector<JobEventRecord> events;
            events.reserve(rows.rows());
            for (int row = 0; row < rows.rows(); ++row) events.push_back(jobEventOfRow(pg::Row(rows, row)));
            co_return events;
        });
}

boost::asio::awaitable<void> PostgresStore::setQueuePaused(std::string queue, bool paused, Millis now) {
    return withConnection(
        [queue = std::move(queue), paused, now](pg::Connection& db) -> asio::awaitable<void> {
            co_await db.query(
                "INSERT INTO queues (name, paused, updated) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated = excluded.updated",
                pg::Params(queue, paused, now));
        });
}

boost::asio::awaitable<std::vector<QueueStats>> PostgresStore::queueStats() {
    return withConnection([](pg::Connection& db) -> asio::awaitable<std::vector<QueueStats>> {
        std::vector<pg::Statement> statements;
        statements.push_back(pg::Statement{
            .sql = "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state ORDER BY state"});
        statements.push_back(pg::Statement{.sql = "SELECT name, paused FROM queues"});
        // One round trip for both.
        const auto results = co_await db.pipeline(std::move(statements));
        std::map<std::string, QueueStats> byName;
        auto statsFor = [&byName](const std::string& name) -> QueueStats& {
            auto [entry, added] = byName.try_emplace(name);
            if (added) entry->second.name = name;
            return entry->second;
        };
        const auto& counts = results[0];
        for (int row = 0; row < counts.rows(); ++row)
            statsFor(counts.string(row, 0))
                .counts.emplace_back(jobStateOf(counts.text(row, 1)), counts.int64(row, 2));
        const auto& paused = results[1];
        for (int row = 0; row < paused.rows(); ++row)
            statsFor(paused.string(row, 0)).paused = paused.boolean(row, 1);
        // By name in bytes, as SQLite sorts, whatever the database's collation.
        std::vector<QueueStats> queues;
        queues.reserve(byName.size());
        for (auto& [name, stats] : byName) queues.push_back(std::move(stats));
        co_return queues;
    });
}

boost::asio::awaitable<DeletedJobs> PostgresStore::deleteFinishedJobs(Millis finishedFrom,
                                                                      Millis finishedBefore, int limit) {
    return withConnection(
        [finishedFrom, finishedBefore, limit](pg::Connection& db) -> asio::awaitable<DeletedJobs> {
            DeletedJobs deleted;
            if (limit < 1) co_return deleted;
            // Only jobs that ended; their history goes with them (ON DELETE CASCADE). Rows another
            // process's retention is deleting are skipped, not waited for.
            const auto rows = co_await db.query(
                "WITH gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished >= $3 "
                "AND finished < $1 AND state IN ('succeeded', 'dead', 'canceled') ORDER BY finished LIMIT $2 "
                "FOR UPDATE SKIP LOCKED) RETURNING finished) SELECT count(*), coalesce(max(finished), 0) "
                "FROM gone",
                pg::Params(finishedBefore, limit, finishedFrom));
            deleted.count = static_cast<int>(rows.int64(0, 0));
            deleted.lastFinished = rows.int64(0, 1);
            co_return deleted;
        });
}

boost::asio::awaitable<std::int64_t> PostgresStore::payloadKeyGeneration() {
    return withConnection([](pg::Connection& db) -> asio::awaitable<std::int64_t> {
        const auto rows =
            co_await db.query("SELECT coalesce(max(generation), 1) FROM payload_key_generations");
        co_return rows.int64(0, 0);
    });
}

boost::asio::awaitable<std::int64_t> PostgresStore::startPayloadKeyGeneration(Millis now) {
    return inTransaction([now](pg::Connection& db) -> asio::awaitable<std::int64_t> {
        // Two rotations at once: one of them fails on the primary key, and the transaction runs again.
        const auto rows = co_await db.query(
            "INSERT INTO payload_key_generations (generation, created) "
            "SELECT coalesce(max(generation), 1) + 1, $1::bigint FROM payload_key_generations RETURNING "
            "generation",
            pg::Params(now));
        co_return rows.int64(0, 0);
    });
}

boost::asio::awaitable<std::vector<JobPayload>> PostgresStore::jobPayloads(std::string afterId, int limit) {
    return withConnection([afterId = std::move(afterId),
                           limit](pg::Connection& db) -> asio::awaitable<std::vector<JobPayload>> {
        const auto rows = co_await db.query(
            "SELECT id, args, progress_message, result, error FROM jobs WHERE id > $1 ORDER BY id "
            "LIMIT $2",
            pg::Params(afterId, limit));
        std::vector<JobPayload> payloads;
        for (int i = 0; i < rows.rows(); ++i) {
            payloads.push_back(JobPayload{.id = rows.string(i, 0),
                                          .args = rows.string(i, 1),
                                          .progressMessage = rows.string(i, 2),
                                          .result = rows.optionalString(i, 3),
                                          .error = rows.optionalString(i, 4)});
        }
        co_return payloads;
    });
}

boost::asio::awaitable<int> PostgresStore::rewriteJobPayloads(std::vector<PayloadRewrite> rewrites) {
    return inTransaction([rewrites = std::move(rewrites)](pg::Connection& db) -> asio::awaitable<int> {
        if (rewrites.empty()) co_return 0;
        std::vector<pg::Statement> statements;
        for (const PayloadRewrite& rewrite : rewrites) {
            pg::Params params(rewrite.before.id, rewrite.after.args, rewrite.after.progressMessage);
            params.add(rewrite.after.result).add(rewrite.after.error);
            params.add(rewrite.before.args).add(rewrite.before.progressMessage);
            params.add(rewrite.before.result).add(rewrite.before.error);
            statements.push_back(pg::Statement{
                .sql = "UPDATE jobs SET args = $2, progress_message = $3, result = $4, error = $5 WHERE id = "
                       "$1 AND args = $6 AND progress_message = $7 AND result IS NOT DISTINCT FROM $8 AND "
                       "error IS NOT DISTINCT FROM $9",
                .params = std::move(params)});
        }
        const auto results = co_await db.pipeline(std::move(statements));
        int changed = 0;
        for (const auto& result : results) changed += static_cast<int>(result.affected());
        co_return changed;
    });
}

}  // namespace rampart::store
