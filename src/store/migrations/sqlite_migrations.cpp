// SQLite migrations, numbered; each feature brings its own tables.
#include "store/migrations/sqlite_migrations.hpp"

#include <array>

namespace rampart::store::sqlite {
namespace {

constexpr std::array kMigrations{
    Migration{1, "instance", R"sql(
        CREATE TABLE instance_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
    )sql"},
    // The hash-chained audit log. audit_head holds the newest row's id and hash and the row count,
    // moved in the same transaction as every append, so removing the newest rows is detectable.
    // The triggers stop the server's own bugs from rewriting history; verifyAudit() catches whoever
    // drops them and edits the file.
    Migration{2, "audit", R"sql(
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            client TEXT NOT NULL,
            request_id TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL
        );
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        CREATE INDEX audit_log_outcome ON audit_log (outcome, id);
        CREATE INDEX audit_log_time ON audit_log (time);
        CREATE TABLE audit_head (
            id INTEGER NOT NULL,
            hash BLOB NOT NULL,
            rows INTEGER NOT NULL
        );
        INSERT INTO audit_head (id, hash, rows) VALUES (0, zeroblob(32), 0);
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit_head has exactly one row'); END;
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'audit_head has exactly one row'); END;
    )sql"},
    // Identity: users and every credential they hold. Times are Unix seconds. Users are never
    // deleted (ids are never reused; disabling sets active = 0), so credentials reference them.
    // Usernames and emails compare case-insensitively (ASCII) through the column collation, so
    // "Alice" and "alice" cannot both exist; several users may have no email (NULLs never clash).
    // Tokens and session ids are stored only as hashes.
    Migration{3, "identity", R"sql(
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            email TEXT UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'auditor', 'worker')),
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            password_hash TEXT NOT NULL,
            totp_secret TEXT NOT NULL,
            totp_enabled INTEGER NOT NULL CHECK (totp_enabled IN (0, 1)),
            totp_last_step INTEGER,
            created INTEGER NOT NULL,
            last_login INTEGER,
            failed_logins INTEGER NOT NULL CHECK (failed_logins >= 0),
            locked_until INTEGER,
            credentials_revoked_at INTEGER
        );
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            display_prefix TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created INTEGER NOT NULL,
            expires INTEGER,
            last_used INTEGER,
            revoked INTEGER
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_id);
        CREATE TABLE refresh_families (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created INTEGER NOT NULL,
            revoked INTEGER
        );
        CREATE INDEX refresh_families_user ON refresh_families (user_id);
        CREATE TABLE refresh_tokens (
            token_id TEXT PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES refresh_families (id),
            user_id TEXT NOT NULL REFERENCES users (id),
            issued INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            spent INTEGER
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            revoked INTEGER
        );
        CREATE INDEX sessions_user ON sessions (user_id);
        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            alg TEXT NOT NULL,
            public_key TEXT NOT NULL,
            encrypted_private_key TEXT NOT NULL,
            created INTEGER NOT NULL,
            not_after INTEGER NOT NULL,
            expires INTEGER NOT NULL
        );
    )sql"},
    // Jobs and their history. The state triggers are the store's copy of core/job_state.cpp's
    // transition table (sqlite_jobs_schema_test.cpp checks every pair against it): no caller can move a
    // job along an edge the machine does not have. Times are Unix milliseconds.
    Migration{4, "jobs", R"sql(
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            task TEXT NOT NULL,
            args TEXT NOT NULL,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN
                ('scheduled', 'queued', 'running', 'failed', 'succeeded', 'dead', 'canceled')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            run_at INTEGER NOT NULL,
            timeout_ms INTEGER NOT NULL CHECK (timeout_ms > 0),
            owner_id TEXT NOT NULL REFERENCES users (id),
            idempotency_key TEXT,
            request_hash TEXT,
            progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
            progress_message TEXT NOT NULL DEFAULT '',
            result TEXT,
            error TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
            lease_holder TEXT,
            lease_expires INTEGER,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            finished INTEGER
        );
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at) WHERE state = 'queued';
        CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'failed');
        CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
        CREATE INDEX jobs_owner ON jobs (owner_id, created);
        CREATE INDEX jobs_finished ON jobs (finished) WHERE finished IS NOT NULL;
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            time INTEGER NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX job_events_job ON job_events (job_id, id);
        CREATE TRIGGER jobs_initial_state BEFORE INSERT ON jobs
        WHEN NEW.state NOT IN ('scheduled', 'queued')
        BEGIN SELECT RAISE(ABORT, 'a job starts scheduled or queued'); END;
        CREATE TRIGGER jobs_state_transition BEFORE UPDATE OF state ON jobs
        WHEN OLD.state <> NEW.state AND OLD.state || '>' || NEW.state NOT IN (
            'scheduled>queued', 'failed>queued', 'queued>running', 'running>succeeded',
            'running>failed', 'running>dead', 'running>queued', 'running>canceled',
            'scheduled>canceled', 'queued>canceled', 'failed>canceled')
        BEGIN SELECT RAISE(ABORT, 'illegal job state transition'); END;
    )sql"},
    // Paused queues (a row per queue ever paused or resumed), and an index for the per-queue counts
    // (dropped again by migration 7).
    Migration{5, "queues", R"sql(
        CREATE TABLE queues (
            name TEXT PRIMARY KEY,
            paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
            updated INTEGER NOT NULL
        );
        CREATE INDEX jobs_queue_state ON jobs (queue, state);
    )sql"},
    // Who held each lease: a claim's history row names its holder, so the worker API can tell a worker
    // whose lease was lost (409) from a caller that never held the job (404).
    Migration{6, "job_lease_holders", R"sql(
        ALTER TABLE job_events ADD COLUMN holder TEXT;
    )sql"},
    // The (queue, state) index cost every state change a write and served only the per-queue counts,
    // which now read the table once per gauge refresh (on PostgreSQL it slowed jobs down 2.5 times:
    // postgres_migrations.cpp).
    Migration{7, "drop_jobs_queue_state", R"sql(
        DROP INDEX jobs_queue_state;
    )sql"},
    // Periodic jobs. A tick is a (schedule, fire time) row, unique, inserted in the transaction that
    // inserts its job: a second scheduler firing the same tick inserts nothing. leader_leases holds one
    // row per lease (the scheduler's), taken by a conditional upsert. Times are Unix milliseconds.
    Migration{8, "schedules", R"sql(
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            task TEXT NOT NULL,
            args TEXT NOT NULL,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL,
            cron TEXT,
            every_seconds INTEGER CHECK (every_seconds > 0),
            time_zone TEXT NOT NULL,
            enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
            owner_id TEXT NOT NULL REFERENCES users (id),
            misfire_policy TEXT NOT NULL CHECK (misfire_policy IN ('skip', 'run_once', 'catch_up')),
            catch_up_max INTEGER NOT NULL CHECK (catch_up_max >= 0),
            skip_if_running INTEGER NOT NULL CHECK (skip_if_running IN (0, 1)),
            anchor INTEGER NOT NULL,
            next_due INTEGER,
            last_tick INTEGER,
            last_job_id TEXT,
            revision INTEGER NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            CHECK ((cron IS NULL) <> (every_seconds IS NULL))
        );
        CREATE INDEX schedules_due ON schedules (next_due) WHERE enabled = 1 AND next_due IS NOT NULL;
        CREATE INDEX schedules_owner ON schedules (owner_id, id);
        CREATE TABLE schedule_ticks (
            schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
            fire_time INTEGER NOT NULL,
            job_id TEXT,
            skip_reason TEXT NOT NULL DEFAULT '',
            holder TEXT NOT NULL,
            recorded INTEGER NOT NULL,
            UNIQUE (schedule_id, fire_time)
        );
        CREATE TABLE leader_leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires INTEGER NOT NULL
        );
    )sql"},
    // When the running attempt's timeout_ms runs out (set by each claim): a lease never outlives it by
    // more than kTimeoutGrace, however often its holder beats (store/job_rules.hpp).
    Migration{9, "attempt_deadline", R"sql(
        ALTER TABLE jobs ADD COLUMN attempt_deadline INTEGER;
    )sql"},
    // Failed-login counters per attempted username, known or not, so that an unknown name locks exactly
    // like a known one on every node and across restarts. name_key is a keyed hash of the lower-cased
    // name (identity::LoginNameKey), never the name: guessed passwords often land in the username field.
    // Rows are forgotten after a quiet spell and capped (pruneLoginNameFailures). Times are Unix seconds.
    Migration{10, "login_name_failures", R"sql(
        CREATE TABLE login_name_failures (
            name_key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL CHECK (failures > 0),
            last_failure INTEGER NOT NULL,
            locked_until INTEGER
        );
        CREATE INDEX login_name_failures_last ON login_name_failures (last_failure);
    )sql"},
    // The audit chain is keyed (HMAC, obs/audit_keys.hpp) from the first row appended after this
    // migration; the rows before it keep their plain SHA-256 chain, which verify checks as such.
    Migration{11, "audit_keyed_chain", R"sql(
        ALTER TABLE audit_head ADD COLUMN keyed_from INTEGER NOT NULL DEFAULT 1;
        UPDATE audit_head SET keyed_from = id + 1;
    )sql"},
    // The generations of the key job payloads are sealed with (store/payload_sealing.hpp): the highest
    // is the one new payloads use; none yet means generation 1. Only numbers: each key is derived from
    // the secret key and its generation.
    Migration{12, "payload_key_generations", R"sql(
        CREATE TABLE payload_key_generations (
            generation INTEGER PRIMARY KEY CHECK (generation > 1),
            created INTEGER NOT NULL
        );
    )sql"},
    // The jobs table again, with its state CHECK and transition trigger written as equalities: SQLite
    // evaluates a list of more than two constants (`state IN (...)`, `... NOT IN (...)`) by building a
    // temporary b-tree every time the statement or trigger runs, and both ran on every insert and every
    // state change (a third of the writer's time per job). Same columns, rowids (the listing cursor),
    // indexes and edges; sqlite_jobs_schema_test.cpp checks the edges again. A CHECK is part of the
    // table, so the table is copied: applyMigrations runs with foreign keys off and checks them before
    // committing, so dropping the old table does not cascade to job_events, which keeps pointing at
    // `jobs` by name.
    Migration{13, "cheaper_job_checks", R"sql(
        CREATE TABLE jobs_rebuilt (
            id TEXT PRIMARY KEY,
            task TEXT NOT NULL,
            args TEXT NOT NULL,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state = 'scheduled' OR state = 'queued' OR state = 'running'
                OR state = 'failed' OR state = 'succeeded' OR state = 'dead' OR state = 'canceled'),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
            run_at INTEGER NOT NULL,
            timeout_ms INTEGER NOT NULL CHECK (timeout_ms > 0),
            owner_id TEXT NOT NULL REFERENCES users (id),
            idempotency_key TEXT,
            request_hash TEXT,
            progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
            progress_message TEXT NOT NULL DEFAULT '',
            result TEXT,
            error TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
            lease_holder TEXT,
            lease_expires INTEGER,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            finished INTEGER,
            attempt_deadline INTEGER
        );
        INSERT INTO jobs_rebuilt (rowid, id, task, args, queue, priority, state, attempts, max_attempts, run_at,
                timeout_ms, owner_id, idempotency_key, request_hash, progress, progress_message, result, error,
                cancel_requested, lease_holder, lease_expires, created, updated, finished, attempt_deadline)
            SELECT rowid, id, task, args, queue, priority, state, attempts, max_attempts, run_at,
                timeout_ms, owner_id, idempotency_key, request_hash, progress, progress_message, result, error,
                cancel_requested, lease_holder, lease_expires, created, updated, finished, attempt_deadline
            FROM jobs ORDER BY rowid;
        DROP TABLE jobs;
        ALTER TABLE jobs_rebuilt RENAME TO jobs;
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at) WHERE state = 'queued';
        CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'failed');
        CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
        CREATE INDEX jobs_owner ON jobs (owner_id, created);
        CREATE INDEX jobs_finished ON jobs (finished) WHERE finished IS NOT NULL;
        CREATE TRIGGER jobs_initial_state BEFORE INSERT ON jobs
        WHEN NEW.state NOT IN ('scheduled', 'queued')
        BEGIN SELECT RAISE(ABORT, 'a job starts scheduled or queued'); END;
        CREATE TRIGGER jobs_state_transition BEFORE UPDATE OF state ON jobs
        WHEN OLD.state <> NEW.state AND NOT (CASE OLD.state
            WHEN 'scheduled' THEN NEW.state = 'queued' OR NEW.state = 'canceled'
            WHEN 'failed' THEN NEW.state = 'queued' OR NEW.state = 'canceled'
            WHEN 'queued' THEN NEW.state = 'running' OR NEW.state = 'canceled'
            WHEN 'running' THEN NEW.state = 'succeeded' OR NEW.state = 'failed' OR NEW.state = 'dead'
                OR NEW.state = 'queued' OR NEW.state = 'canceled'
            ELSE 0 END)
        BEGIN SELECT RAISE(ABORT, 'illegal job state transition'); END;
    )sql"},
    // Listings (GET /api/v1/jobs) walk an index that yields their rows newest first without reading the
    // others (see SqliteStore::listJobs). An owner's jobs: keyed by owner alone, an index is in rowid
    // order within one owner (migration 4's also had `created`, so a user's listing sorted all their
    // jobs for every page). A state's jobs: queued and running jobs have their indexes (jobs_claim,
    // jobs_leases); this one holds the states a job passes through rarely or ends in other than
    // succeeded, keyed by state for the same reason. Succeeded jobs, most of a store, are found by the
    // table walk itself. The condition is written with equalities (see migration 13).
    Migration{14, "job_listing_indexes", R"sql(
        DROP INDEX jobs_owner;
        CREATE INDEX jobs_owner ON jobs (owner_id);
        CREATE INDEX jobs_rare_states ON jobs (state)
            WHERE state = 'scheduled' OR state = 'failed' OR state = 'dead' OR state = 'canceled';
    )sql"},
    // The W3C traceparent of the span that submitted a job (JobRecord::traceParent); NULL when tracing
    // was off, which costs a row nothing.
    Migration{15, "job_trace_parent", R"sql(
        ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
    )sql"},
    // A dead job may be retried (POST /api/v1/jobs/{id}/retry): the one edge out of a finished state.
    Migration{16, "job_retry", R"sql(
        DROP TRIGGER jobs_state_transition;
        CREATE TRIGGER jobs_state_transition BEFORE UPDATE OF state ON jobs
        WHEN OLD.state <> NEW.state AND NOT (CASE OLD.state
            WHEN 'scheduled' THEN NEW.state = 'queued' OR NEW.state = 'canceled'
            WHEN 'failed' THEN NEW.state = 'queued' OR NEW.state = 'canceled'
            WHEN 'dead' THEN NEW.state = 'queued'
            WHEN 'queued' THEN NEW.state = 'running' OR NEW.state = 'canceled'
            WHEN 'running' THEN NEW.state = 'succeeded' OR NEW.state = 'failed' OR NEW.state = 'dead'
                OR NEW.state = 'queued' OR NEW.state = 'canceled'
            ELSE 0 END)
        BEGIN SELECT RAISE(ABORT, 'illegal job state transition'); END;
    )sql"},
};

}  // namespace

std::span<const Migration> sqliteMigrations() {
    return kMigrations;
}

}  // namespace rampart::store::sqlite
