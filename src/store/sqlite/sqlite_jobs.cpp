// SqliteStore's job calls over migration 4. Each state change reads the job, asks jobs::nextState
// where the event takes it, and writes that, with a history row, inside one writer job (one
// savepoint), so no other writer can interleave. Plain functions returning write()/read()'s
// awaitable, like the rest of the store (see sqlite_identity.cpp for why).
#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "store/job_columns.hpp"
#include "store/job_rules.hpp"
#include "store/sqlite/job_rows.hpp"
#include "store/sqlite/row_helpers.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rampart::store {
namespace {

using jobs::JobEvent;
using jobs::JobState;
using sqlite::bindOptional;
using sqlite::Columns;
using sqlite::Connection;
using sqlite::Statement;

// rowid last (kJobCursorColumn): it is the listing cursor.
std::string jobSelect(std::string_view where) {
    std::string sql = "SELECT ";
    sql += kJobColumns;
    sql += ", rowid FROM jobs ";
    sql += where;
    return sql;
}

JobRecord jobOf(const Statement& row) {
    return jobOfRow(Columns(row));
}

std::optional<JobRecord> loadJob(Connection& db, const std::string& id) {
    auto query = db.prepare(jobSelect("WHERE id = ?1"));
    query.bindText(1, id);
    if (!query.step()) return std::nullopt;
    return jobOf(query);
}

// `holder`: the lease holder, on claims only.
void recordEvent(Connection& db, const std::string& id, Millis now, std::optional<JobState> from, JobState to,
                 std::string_view detail = {}, const std::optional<std::string>& holder = std::nullopt) {
    auto insert = db.prepare(
        "INSERT INTO job_events (job_id, time, from_state, to_state, detail, holder) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    insert.bindText(1, id).bindInt64(2, now);
    bindOptional(insert, 3, from ? std::optional<std::string>(jobs::stateName(*from)) : std::nullopt);
    insert.bindText(4, jobs::stateName(to)).bindText(5, detail);
    bindOptional(insert, 6, holder);
    insert.step();
}

JobRecord insertJob(Connection& db, JobRecord job, Millis now) {
    job = newJobAt(std::move(job), now);
    auto insert = db.prepare("INSERT INTO jobs (" + std::string(kNewJobColumns) +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)");
    insert.bindText(1, job.id)
        .bindText(2, job.task)
        .bindText(3, job.args)
        .bindText(4, job.queue)
        .bindInt64(5, job.priority)
        .bindText(6, jobs::stateName(job.state))
        .bindInt64(7, job.maxAttempts)
        .bindInt64(8, job.runAt)
        .bindInt64(9, job.timeoutMs);
    insert.bindText(10, job.ownerId);
    bindOptional(insert, 11, job.idempotencyKey);
    bindOptional(insert, 12, job.requestHash);
    insert.bindInt64(13, now);
    bindOptional(insert, 14, job.traceParent);
    insert.step();
    recordEvent(db, job.id, now, std::nullopt, job.state, kSubmittedDetail);
    return job;
}

std::optional<JobRecord> findByKey(Connection& db, const std::string& owner, const std::string& key) {
    auto query = db.prepare(jobSelect("WHERE owner_id = ?1 AND idempotency_key = ?2"));
    query.bindText(1, owner).bindText(2, key);
    if (!query.step()) return std::nullopt;
    return jobOf(query);
}

// Writes the new state (and the finish time when it is terminal) with its history row.
void moveJob(Connection& db, const JobRecord& job, JobState to, Millis now, std::string_view detail) {
    auto update = db.prepare(
        "UPDATE jobs SET state = ?2, updated = ?3, finished = ?4, lease_holder = CASE WHEN ?2 = 'running' "
        "THEN lease_holder END, lease_expires = CASE WHEN ?2 = 'running' THEN lease_expires END WHERE id = "
        "?1");
    update.bindText(1, job.id).bindText(2, jobs::stateName(to)).bindInt64(3, now);
    bindOptional(update, 4, finishedAt(to, now));
    update.step();
    recordEvent(db, job.id, now, job.state, to, detail);
}

// A leased job as finishing or giving it back needs it: the columns the lease rules read (id, state,
// attempts, limits, lease, run_at) and what a finish reports for the metrics (queue, task, created, the
// attempt's start), with its rowid.
struct LeasedRow {
    JobRecord job;
    std::int64_t rowid = 0;
    std::optional<Millis> attemptDeadline;
};

// The leased row, if `holder` holds a live lease on the job. Finishes and releases run this for every
// job, on the writer, so it decodes no payload.
std::optional<LeasedRow> leasedJob(Connection& db, const std::string& id, const std::string& holder,
                                   Millis now) {
    auto lease = db.prepare(
        "SELECT rowid, state, attempts, max_attempts, cancel_requested, lease_holder, lease_expires, run_at, "
        "queue, task, created, timeout_ms, attempt_deadline, trace_parent FROM jobs WHERE id = ?1");
    lease.bindText(1, id);
    if (!lease.step()) return std::nullopt;
    JobRecord job{.id = id,
                  .task = lease.columnText(9),
                  .queue = lease.columnText(8),
                  .state = jobStateOf(lease.columnText(1)),
                  .attempts = static_cast<int>(lease.columnInt64(2)),
                  .maxAttempts = static_cast<int>(lease.columnInt64(3)),
                  .runAt = lease.columnInt64(7),
                  .timeoutMs = lease.columnInt64(11),
                  .cancelRequested = lease.columnInt64(4) != 0,
                  .leaseHolder = sqlite::optionalText(lease, 5),
                  .leaseExpires = sqlite::optionalInt(lease, 6),
                  .created = lease.columnInt64(10),
                  .traceParent = sqlite::optionalText(lease, 13)};
    if (!holdsLiveLease(job, holder, now)) return std::nullopt;
    return LeasedRow{.job = std::move(job),
                     .rowid = lease.columnInt64(0),
                     .attemptDeadline = sqlite::optionalInt(lease, 12)};
}

// Ends the holder's attempt (finishAttempt's body); nullopt, changing nothing, without a live lease.
std::optional<FinishedAttempt> finishLeased(Connection& db, const std::string& id, const std::string& holder,
                                            const JobOutcome& outcome, Millis now) {
    auto leased = leasedJob(db, id, holder, now);
    if (!leased) return std::nullopt;
    const JobRecord& job = leased->job;
    const AttemptEnd end = attemptEndOf(outcome);
    auto next = jobs::nextState(job.state, end.event, factsOf(job));
    if (!next) return std::nullopt;
    // The outcome and the move in one statement (every finish edge leaves running: no lease is kept).
    auto record = db.prepare(
        "UPDATE jobs SET result = ?2, error = ?3, run_at = ?4, progress = "
        "CASE WHEN ?5 THEN 100 ELSE progress END, state = ?6, updated = ?7, finished = ?8, "
        "lease_holder = NULL, lease_expires = NULL WHERE rowid = ?1");
    record.bindInt64(1, leased->rowid);
    bindOptional(record, 2, outcome.result);
    bindOptional(record, 3, outcome.error);
    record.bindInt64(4, runAtAfter(job, *next, outcome));
    record.bindInt64(5, outcome.succeeded ? 1 : 0);
    record.bindText(6, jobs::stateName(*next)).bindInt64(7, now);
    bindOptional(record, 8, finishedAt(*next, now));
    record.step();
    recordEvent(db, id, now, job.state, *next, end.detail);
    return finishedAttemptOf(job, *next, leased->attemptDeadline);
}

// The index a listing of one state walks. SQLite keeps no statistics here, so left alone it walks the
// whole table newest first, reading every row when few jobs are in the state asked for. Each partial
// index holds exactly the rows its state implies; queued and running pages are sorted from it (the
// jobs in those states, bounded by the backlog and the workers), the rare states' index is in rowid
// order already. Succeeded jobs are most of a store: the table walk finds them soonest.
std::string_view listingIndex(JobState state) {
    switch (state) {
        case JobState::queued:
            return "INDEXED BY jobs_claim ";
        case JobState::running:
            return "INDEXED BY jobs_leases ";
        case JobState::scheduled:
        case JobState::failed:
        case JobState::dead:
        case JobState::canceled:
            return "INDEXED BY jobs_rare_states ";
        case JobState::succeeded:
            break;
    }
    return {};
}

}  // namespace

namespace sqlite {

JobRecord insertNewJob(Connection& db, JobRecord job, Millis now) {
    return insertJob(db, std::move(job), now);
}

std::string jobListingSql(const JobQuery& query) {
    // Only fixed fragments go into the text; every value is bound but the state, one of the machine's
    // own names, written as a literal so that its index applies (listingIndex).
    std::string where(query.state ? listingIndex(*query.state) : std::string_view());
    where += "WHERE 1 = 1";
    if (query.before > 0) where += " AND rowid < ?1";
    if (query.ownerId) where += " AND owner_id = ?2";
    if (query.state) {
        where += " AND state = '";
        where += jobs::stateName(*query.state);
        where += "'";
    }
    if (query.queue) where += " AND queue = ?4";
    if (query.task) where += " AND task = ?5";
    if (query.createdSince) where += " AND created >= ?6";
    if (query.createdUntil) where += " AND created < ?7";
    where += " ORDER BY rowid DESC LIMIT ?8";
    return jobSelect(where);
}

}  // namespace sqlite

boost::asio::awaitable<SubmitResult> SqliteStore::submitJob(JobRecord job, Millis now) {
    return write([job = std::move(job), now](Connection& db) -> SubmitResult {
        if (job.idempotencyKey) {
            if (auto earlier = findByKey(db, job.ownerId, *job.idempotencyKey)) {
                return earlierSubmit(std::move(*earlier), job);
            }
        }
        return SubmitResult{.outcome = SubmitOutcome::created, .job = insertJob(db, job, now)};
    });
}

boost::asio::awaitable<std::vector<JobRecord>> SqliteStore::submitJobs(std::vector<JobRecord> jobs,
                                                                       Millis now) {
    return write([jobs = std::move(jobs), now](Connection& db) {
        std::vector<JobRecord> stored;
        stored.reserve(jobs.size());
        for (const JobRecord& job : jobs) {
            // Throwing rolls back this request's savepoint: the batch is all or none.
            if (job.idempotencyKey && findByKey(db, job.ownerId, *job.idempotencyKey)) {
                refuseBatchWithUsedKey();
            }
            stored.push_back(insertJob(db, job, now));
        }
        return stored;
    });
}

boost::asio::awaitable<std::optional<JobRecord>> SqliteStore::findJob(std::string id) {
    // On the calling thread: one indexed row, and the hottest read of the API (GET /api/v1/jobs/{id}).
    return readHere([id = std::move(id)](Connection& db) { return loadJob(db, id); });
}

boost::asio::awaitable<JobPage> SqliteStore::listJobs(JobQuery query) {
    return read([query = std::move(query)](Connection& db) {
        checkJobPageLimit(query);
        auto select_ = db.prepare(sqlite::jobListingSql(query));
        if (query.before > 0) select_.bindInt64(1, query.before);
        if (query.ownerId) select_.bindText(2, *query.ownerId);
        if (query.queue) select_.bindText(4, *query.queue);
        if (query.task) select_.bindText(5, *query.task);
        if (query.createdSince) select_.bindInt64(6, *query.createdSince);
        if (query.createdUntil) select_.bindInt64(7, *query.createdUntil);
        select_.bindInt64(8, query.limit);
        JobPage page;
        std::int64_t lastRowid = 0;
        while (select_.step()) {
            page.jobs.push_back(jobOf(select_));
            lastRowid = select_.columnInt64(kJobCursorColumn);
        }
        if (static_cast<int>(page.jobs.size()) == query.limit) page.nextCursor = lastRowid;
        return page;
    });
}

boost::asio::awaitable<std::optional<JobRecord>> SqliteStore::cancelJob(std::string id, Millis now) {
    return write([id = std::move(id), now](Connection& db) -> std::optional<JobRecord> {
        auto job = loadJob(db, id);
        if (!job) return std::nullopt;
        auto next = jobs::nextState(job->state, JobEvent::cancel, factsOf(*job));
        if (!next) return job;  // finished already: nothing to cancel
        if (*next == JobState::running) {
            auto request = db.prepare("UPDATE jobs SET cancel_requested = 1, updated = ?2 WHERE id = ?1");
            request.bindText(1, id).bindInt64(2, now).step();
            recordEvent(db, id, now, job->state, JobState::running, kCancelRequestedDetail);
        } else {
            moveJob(db, *job, *next, now, kCanceledDetail);
        }
        return loadJob(db, id);
    });
}

boost::asio::awaitable<std::optional<JobRecord>> SqliteStore::retryJob(std::string id, Millis now) {
    return write([id = std::move(id), now](Connection& db) -> std::optional<JobRecord> {
        auto job = loadJob(db, id);
        if (!job) return std::nullopt;
        const auto next = jobs::nextState(job->state, JobEvent::retry, factsOf(*job));
        if (!next) return job;  // neither failed nor dead: nothing to retry
        auto again = db.prepare(
            "UPDATE jobs SET run_at = ?2, max_attempts = MAX(max_attempts, attempts + 1) WHERE id = ?1");
        again.bindText(1, id).bindInt64(2, now).step();
        moveJob(db, *job, *next, now, kRetriedDetail);
        return loadJob(db, id);
    });
}

boost::asio::awaitable<std::vector<JobRecord>> SqliteStore::claimJobs(std::vector<std::string> queues,
                                                                      std::vector<std::string> tasks, int max,
                                                                      std::string holder, Millis leaseMs,
                                                                      Millis now) {
    return write([queues = std::move(queues), tasks = std::move(tasks), max, holder = std::move(holder),
                  leaseMs, now](Connection& db) -> std::vector<JobRecord> {
        std::vector<JobRecord> claimed;
        if (queues.empty() || max < 1) return claimed;
        // Due jobs first become claimable, each with its history row.
        {
            auto due = db.prepare(jobSelect("WHERE state IN ('scheduled', 'failed') AND run_at <= ?1"));
            due.bindInt64(1, now);
            std::vector<JobRecord> ready;
            while (due.step()) ready.push_back(jobOf(due));
            for (const JobRecord& job : ready) moveJob(db, job, JobState::queued, now, kDueDetail);
        }
        std::string placeholders;
        for (std::size_t i = 0; i < queues.size(); ++i)
            placeholders += (i ? ", ?" : "?") + std::to_string(i + 2);
        std::string taskFilter;
        for (std::size_t i = 0; i < tasks.size(); ++i)
            taskFilter += (i ? ", ?" : " AND task IN (?") + std::to_string(queues.size() + i + 2);
        if (!tasks.empty()) taskFilter += ")";
        auto pick =
            db.prepare(jobSelect("WHERE state = 'queued' AND queue IN (" + placeholders + ")" + taskFilter +
                                 " AND queue NOT IN (SELECT name FROM queues WHERE paused = 1) "
                                 "ORDER BY priority DESC, run_at, rowid LIMIT ?1"));
        pick.bindInt64(1, max);
        for (std::size_t i = 0; i < queues.size(); ++i) pick.bindText(static_cast<int>(i) + 2, queues[i]);
        for (std::size_t i = 0; i < tasks.size(); ++i)
            pick.bindText(static_cast<int>(queues.size() + i) + 2, tasks[i]);
        std::vector<std::pair<JobRecord, std::int64_t>> picked;  // with its rowid
        while (pick.step()) picked.emplace_back(jobOf(pick), pick.columnInt64(kJobCursorColumn));
        for (const auto& [job, rowid] : picked) {
            if (!jobs::nextState(job.state, JobEvent::claim, factsOf(job))) continue;
            const Millis deadline = now + job.timeoutMs;
            const Millis expires = leaseEnd(now, leaseMs, deadline);
            auto lease = db.prepare(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_holder = ?2, "
                "lease_expires = ?3, updated = ?4, attempt_deadline = ?5 WHERE rowid = ?1");
            lease.bindInt64(1, rowid)
                .bindText(2, holder)
                .bindInt64(3, expires)
                .bindInt64(4, now)
                .bindInt64(5, deadline)
                .step();
            recordEvent(db, job.id, now, job.state, JobState::running, kClaimedDetail, holder);
            // The row as the UPDATE left it, without reading it back: nothing else changes it here.
            JobRecord leased = job;
            leased.state = JobState::running;
            leased.attempts += 1;
            leased.leaseHolder = holder;
            leased.leaseExpires = expires;
            leased.updated = now;
            claimed.push_back(std::move(leased));
        }
        return claimed;
    });
}

boost::asio::awaitable<std::optional<LeaseRenewal>> SqliteStore::heartbeatJob(std::string id,
                                                                              std::string holder,
                                                                              Millis leaseMs, Millis now) {
    return write([id = std::move(id), holder = std::move(holder), leaseMs,
                  now](Connection& db) -> std::optional<LeaseRenewal> {
        // leaseEnd in SQL (a job claimed before attempt_deadline existed has none).
        auto update = db.prepare(
            "UPDATE jobs SET lease_expires = MIN(?3, COALESCE(attempt_deadline + ?5, ?3)), updated = ?4 "
            "WHERE id = ?1 AND state = 'running' AND lease_holder = ?2 AND lease_expires > ?4 "
            "RETURNING cancel_requested, lease_expires");
        update.bindText(1, id)
            .bindText(2, holder)
            .bindInt64(3, now + leaseMs)
            .bindInt64(4, now)
            .bindInt64(5, kTimeoutGrace);
        if (!update.step()) return std::nullopt;
        const LeaseRenewal renewal{.cancelRequested = update.columnInt64(0) != 0,
                                   .leaseExpires = update.columnInt64(1)};
        while (update.step()) {
        }
        return renewal;
    });
}

boost::asio::awaitable<bool> SqliteStore::reportProgress(std::string id, std::string holder, int percent,
                                                         std::string message, Millis now) {
    return write([id = std::move(id), holder = std::move(holder), percent, message = std::move(message),
                  now](Connection& db) {
        checkProgress(percent, message);
        auto update = db.prepare(
            "UPDATE jobs SET progress = ?3, progress_message = ?4, updated = ?5 WHERE id = ?1 "
            "AND state = 'running' AND lease_holder = ?2 AND lease_expires > ?5");
        update.bindText(1, id)
            .bindText(2, holder)
            .bindInt64(3, percent)
            .bindText(4, message)
            .bindInt64(5, now);
        update.step();
        return db.changes() == 1;
    });
}

boost::asio::awaitable<std::optional<JobState>> SqliteStore::finishAttempt(std::string id, std::string holder,
                                                                           JobOutcome outcome, Millis now) {
    return write([id = std::move(id), holder = std::move(holder), outcome = std::move(outcome),
                  now](Connection& db) -> std::optional<JobState> {
        auto finished = finishLeased(db, id, holder, outcome, now);
        if (!finished) return std::nullopt;
        return finished->state;
    });
}

boost::asio::awaitable<std::vector<std::optional<FinishedAttempt>>> SqliteStore::finishAttempts(
    std::vector<AttemptReport> reports, Millis now) {
    return write([reports = std::move(reports), now](Connection& db) {
        std::vector<std::optional<FinishedAttempt>> finished;
        finished.reserve(reports.size());
        for (const AttemptReport& report : reports)
            finished.push_back(finishLeased(db, report.id, report.holder, report.outcome, now));
        return finished;
    });
}

boost::asio::awaitable<std::vector<std::string>> SqliteStore::leaseHolders(std::string id) {
    return read([id = std::move(id)](Connection& db) {
        auto query =
            db.prepare("SELECT holder FROM job_events WHERE job_id = ?1 AND holder IS NOT NULL ORDER BY id");
        query.bindText(1, id);
        std::vector<std::string> holders;
        while (query.step()) holders.push_back(query.columnText(0));
        return holders;
    });
}

boost::asio::awaitable<std::vector<std::string>> SqliteStore::releaseJobs(std::vector<std::string> ids,
                                                                          std::string holder, Millis now) {
    return write([ids = std::move(ids), holder = std::move(holder), now](Connection& db) {
        std::vector<std::string> released;
        for (const std::string& id : ids) {
            auto leased = leasedJob(db, id, holder, now);
            if (!leased) continue;
            const JobRecord& job = leased->job;
            auto next = jobs::nextState(job.state, JobEvent::release, factsOf(job));
            if (!next) continue;
            // The attempt the claim counted never started.
            auto uncount = db.prepare(
                "UPDATE jobs SET attempts = attempts - 1, attempt_deadline = NULL WHERE id = ?1 AND attempts "
                "> 0");
            uncount.bindText(1, id).step();
            moveJob(db, job, *next, now, kReleasedDetail);
            released.push_back(id);
        }
        return released;
    });
}

boost::asio::awaitable<std::vector<FinishedAttempt>> SqliteStore::recoverExpiredLeases(Millis now) {
    return write([now](Connection& db) {
        // attempt_deadline after the job's columns and rowid, for the attempt's start (FinishedAttempt).
        auto expired =
            db.prepare("SELECT " + std::string(kJobColumns) +
                       ", rowid, attempt_deadline FROM jobs WHERE state = 'running' AND lease_expires <= ?1");
        expired.bindInt64(1, now);
        std::vector<std::pair<JobRecord, std::optional<Millis>>> lost;
        while (expired.step())
            lost.emplace_back(jobOf(expired), sqlite::optionalInt(expired, kJobCursorColumn + 1));
        std::vector<FinishedAttempt> taken;
        for (const auto& [job, attemptDeadline] : lost) {
            auto next = jobs::nextState(job.state, JobEvent::leaseExpired, factsOf(job));
            if (!next) continue;
            moveJob(db, job, *next, now, kLeaseExpiredDetail);
            taken.push_back(finishedAttemptOf(job, *next, attemptDeadline));
        }
        return taken;
    });
}

boost::asio::awaitable<std::vector<JobEventRecord>> SqliteStore::jobEvents(std::string id) {
    return read([id = std::move(id)](Connection& db) {
        auto select_ = db.prepare("SELECT " + std::string(kJobEventColumns) +
                                  " FROM job_events WHERE job_id = ?1 ORDER BY id");
        select_.bindText(1, id);
        std::vector<JobEventRecord> events;
        while (select_.step()) events.push_back(jobEventOfRow(Columns(select_)));
        return events;
    });
}

boost::asio::awaitable<void> SqliteStore::setQueuePaused(std::string queue, bool paused, Millis now) {
    return write([queue = std::move(queue), paused, now](Connection& db) {
        auto upsert = db.prepare(
            "INSERT INTO queues (name, paused, updated) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated = excluded.updated");
        upsert.bindText(1, queue).bindInt64(2, paused ? 1 : 0).bindInt64(3, now).step();
    });
}

boost::asio::awaitable<std::vector<QueueStats>> SqliteStore::queueStats() {
    return read([](Connection& db) {
        std::vector<QueueStats> queues;
        auto statsFor = [&](const std::string& name) -> QueueStats& {
            for (QueueStats& queue : queues)
                if (queue.name == name) return queue;
            return queues.emplace_back(QueueStats{.name = name});
        };
        auto counts =
            db.prepare("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state ORDER BY queue");
        while (counts.step())
            statsFor(counts.columnText(0))
                .counts.emplace_back(jobStateOf(counts.columnText(1)), counts.columnInt64(2));
        auto paused = db.prepare("SELECT name, paused FROM queues");
        while (paused.step()) statsFor(paused.columnText(0)).paused = paused.columnInt64(1) != 0;
        std::sort(queues.begin(), queues.end(),
                  [](const QueueStats& a, const QueueStats& b) { return a.name < b.name; });
        return queues;
    });
}

boost::asio::awaitable<DeletedJobs> SqliteStore::deleteFinishedJobs(Millis finishedFrom,
                                                                    Millis finishedBefore, int limit) {
    return write([finishedFrom, finishedBefore, limit](Connection& db) {
        DeletedJobs deleted;
        if (limit < 1) return deleted;
        // Only jobs that ended; their history goes with them (ON DELETE CASCADE).
        auto remove = db.prepare(
            "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs WHERE finished >= ?3 AND finished < ?1 "
            "AND state IN ('succeeded', 'dead', 'canceled') ORDER BY finished LIMIT ?2) RETURNING finished");
        remove.bindInt64(1, finishedBefore).bindInt64(2, limit).bindInt64(3, finishedFrom);
        while (remove.step()) {
            ++deleted.count;
            deleted.lastFinished = std::max(deleted.lastFinished, remove.columnInt64(0));
        }
        return deleted;
    });
}

boost::asio::awaitable<std::int64_t> SqliteStore::payloadKeyGeneration() {
    return read([](Connection& db) {
        auto query = db.prepare("SELECT coalesce(max(generation), 1) FROM payload_key_generations");
        query.step();
        return query.columnInt64(0);
    });
}

boost::asio::awaitable<std::int64_t> SqliteStore::startPayloadKeyGeneration(Millis now) {
    return write([now](Connection& db) {
        auto insert = db.prepare(
            "INSERT INTO payload_key_generations (generation, created) "
            "SELECT coalesce(max(generation), 1) + 1, ?1 FROM payload_key_generations RETURNING generation");
        insert.bindInt64(1, now);
        insert.step();
        const std::int64_t generation = insert.columnInt64(0);
        while (insert.step()) {
        }
        return generation;
    });
}

boost::asio::awaitable<std::vector<JobPayload>> SqliteStore::jobPayloads(std::string afterId, int limit) {
    return read([afterId = std::move(afterId), limit](Connection& db) {
        auto query = db.prepare(
            "SELECT id, args, progress_message, result, error FROM jobs WHERE id > ?1 ORDER BY id LIMIT ?2");
        query.bindText(1, afterId).bindInt64(2, limit);
        std::vector<JobPayload> payloads;
        while (query.step()) {
            payloads.push_back(JobPayload{.id = query.columnText(0),
                                          .args = query.columnText(1),
                                          .progressMessage = query.columnText(2),
                                          .result = sqlite::optionalText(query, 3),
                                          .error = sqlite::optionalText(query, 4)});
        }
        return payloads;
    });
}

boost::asio::awaitable<int> SqliteStore::rewriteJobPayloads(std::vector<PayloadRewrite> rewrites) {
    return write([rewrites = std::move(rewrites)](Connection& db) {
        int changed = 0;
        for (const PayloadRewrite& rewrite : rewrites) {
            auto update = db.prepare(
                "UPDATE jobs SET args = ?2, progress_message = ?3, result = ?4, error = ?5 WHERE id = ?1 "
                "AND args = ?6 AND progress_message = ?7 AND result IS ?8 AND error IS ?9");
            update.bindText(1, rewrite.before.id)
                .bindText(2, rewrite.after.args)
                .bindText(3, rewrite.after.progressMessage);
            bindOptional(update, 4, rewrite.after.result);
            bindOptional(update, 5, rewrite.after.error);
            update.bindText(6, rewrite.before.args).bindText(7, rewrite.before.progressMessage);
            bindOptional(update, 8, rewrite.before.result);
            bindOptional(update, 9, rewrite.before.error);
            update.step();
            changed += static_cast<int>(db.changes());
        }
        return changed;
    });
}

}  // namespace rampart::store
