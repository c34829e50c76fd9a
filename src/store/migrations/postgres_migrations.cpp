// PostgreSQL migrations, numbered like sqlite_migrations.cpp and meaning the same tables; the types are
// PostgreSQL's own (BOOLEAN, BYTEA, identity columns, PL/pgSQL triggers). And the app role's grants.
#include "store/migrations/postgres_migrations.hpp"

#include <array>
#include <stdexcept>

namespace rampart::store::postgres {
namespace {

// Every SQLite INTEGER becomes BIGINT, not only the times: SQLite's integers are 64-bit, so the
// values each column admits stay the same on both backends, and the store can bind and read every
// integer column as int8. The trigger errors carry kJobStateRefused (RMP01) or kAuditRefused (RMP02) and the
// message text of SQLite's RAISE(ABORT, ...).
constexpr std::array kMigrations{
    Migration{1, "instance", R"sql(
        CREATE TABLE instance_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
    )sql"},
    // The hash-chained audit log; see sqlite_migrations.cpp for audit_head. TRUNCATE fires no row
    // trigger, so each table also has a statement trigger against it. The app role is also denied
    // UPDATE, DELETE and TRUNCATE on audit_log by grantDataPrivileges, so the triggers guard against
    // the owner's mistakes; verifyAudit() catches whoever drops them.
    // audit_log.id is a plain BIGINT, not an identity column: a sequence loses its value whenever an
    // appending transaction rolls back, and verifyAudit() reads a gap in the ids as removed rows. The
    // store writes id = audit_head.id + 1 while it holds audit_head's row lock (SELECT ... FOR
    // UPDATE), so ids are dense, increasing and never reused.
    // time is the ISO 8601 text the chain hashes; COLLATE "C" makes its range filters compare bytes,
    // as SQLite does, whatever the database's collation.
    Migration{2, "audit", R"sql(
        CREATE TABLE audit_log (
            id BIGINT PRIMARY KEY CHECK (id >= 1),
            time TEXT COLLATE "C" NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            client TEXT NOT NULL,
            request_id TEXT NOT NULL,
            target TEXT NOT NULL,
            outcome TEXT NOT NULL,
            details TEXT NOT NULL,
            prev_hash BYTEA NOT NULL,
            hash BYTEA NOT NULL
        );
        CREATE INDEX audit_log_action ON audit_log (action, id);
        CREATE INDEX audit_log_actor ON audit_log (actor, id);
        CREATE INDEX audit_log_outcome ON audit_log (outcome, id);
        CREATE INDEX audit_log_time ON audit_log (time);
        CREATE TABLE audit_head (
            id BIGINT NOT NULL,
            hash BYTEA NOT NULL,
            rows BIGINT NOT NULL
        );
        INSERT INTO audit_head (id, hash, rows) VALUES (0, decode(repeat('00', 32), 'hex'), 0);
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'RMP02';
        END;
        $fn$;
        CREATE FUNCTION audit_head_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            RAISE EXCEPTION 'audit_head has exactly one row' USING ERRCODE = 'RMP02';
        END;
        $fn$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
            FOR EACH ROW EXECUTE FUNCTION audit_head_refuse_change();
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
            FOR EACH ROW EXECUTE FUNCTION audit_head_refuse_change();
        CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
            FOR EACH STATEMENT EXECUTE FUNCTION audit_head_refuse_change();
    )sql"},
    // Identity; see sqlite_migrations.cpp. SQLite's COLLATE NOCASE becomes COLLATE "C" on the column
    // plus a unique index on lower(): under "C", lower() folds ASCII letters only, as NOCASE does, so
    // the same names clash on both backends and pages sort in the same (byte) order. The store looks
    // users up by lower(username) = lower($1) and pages by lower(username), which the indexes serve;
    // the columns keep the names as given. citext would need an extension (postgresql-contrib).
    // seq stands for SQLite's rowid in api_tokens and signing_keys, as in jobs: the tie-break between
    // rows created in the same second (the later token is listed first; the later key signs).
    Migration{3, "identity", R"sql(
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT COLLATE "C" NOT NULL,
            email TEXT COLLATE "C",
            role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'auditor', 'worker')),
            active BOOLEAN NOT NULL,
            password_hash TEXT NOT NULL,
            totp_secret TEXT NOT NULL,
            totp_enabled BOOLEAN NOT NULL,
            totp_last_step BIGINT,
            created BIGINT NOT NULL,
            last_login BIGINT,
            failed_logins BIGINT NOT NULL CHECK (failed_logins >= 0),
            locked_until BIGINT,
            credentials_revoked_at BIGINT
        );
        CREATE UNIQUE INDEX users_username ON users (lower(username));
        CREATE UNIQUE INDEX users_email ON users (lower(email));
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            user_id TEXT NOT NULL REFERENCES users (id),
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            display_prefix TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created BIGINT NOT NULL,
            expires BIGINT,
            last_used BIGINT,
            revoked BIGINT
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_id);
        CREATE TABLE refresh_families (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created BIGINT NOT NULL,
            revoked BIGINT
        );
        CREATE INDEX refresh_families_user ON refresh_families (user_id);
        CREATE TABLE refresh_tokens (
            token_id TEXT PRIMARY KEY,
            family_id TEXT NOT NULL REFERENCES refresh_families (id),
            user_id TEXT NOT NULL REFERENCES users (id),
            issued BIGINT NOT NULL,
            expires BIGINT NOT NULL,
            spent BIGINT
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            created BIGINT NOT NULL,
            expires BIGINT NOT NULL,
            revoked BIGINT
        );
        CREATE INDEX sessions_user ON sessions (user_id);
        CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            alg TEXT NOT NULL,
            public_key TEXT NOT NULL,
            encrypted_private_key TEXT NOT NULL,
            created BIGINT NOT NULL,
            not_after BIGINT NOT NULL,
            expires BIGINT NOT NULL
        );
    )sql"},
    // Jobs and their history; see sqlite_migrations.cpp. The same 11 edges as SQLite's trigger
    // (postgres_migrations_test.cpp holds both lists to core/job_state.cpp's table).
    // seq stands for SQLite's rowid, which PostgreSQL has not: insertion order, the job listing's
    // cursor and the claim order's last tie-break. Gaps in it are harmless.
    // jobs_claim returns one queue's claimable jobs in claim order, so "WHERE state = 'queued' AND
    // queue = $1 ORDER BY priority DESC, run_at, seq LIMIT n FOR UPDATE SKIP LOCKED" stops after n
    // index entries. No btree gives that order across several queues (queue = ANY($1) means sorting
    // every queued job of those queues, in full, as LockRows stands between the sort and the limit),
    // so the store claims from several queues with one such subquery per queue (LATERAL over
    // unnest($1)) and keeps the best n. Leading with priority instead would serve ANY($1) in order
    // but walk a paused queue's whole backlog on every claim from another queue.
    Migration{4, "jobs", R"sql(
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
            task TEXT NOT NULL,
            args TEXT NOT NULL,
            queue TEXT NOT NULL,
            priority BIGINT NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN
                ('scheduled', 'queued', 'running', 'failed', 'succeeded', 'dead', 'canceled')),
            attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_attempts BIGINT NOT NULL CHECK (max_attempts >= 1),
            run_at BIGINT NOT NULL,
            timeout_ms BIGINT NOT NULL CHECK (timeout_ms > 0),
            owner_id TEXT NOT NULL REFERENCES users (id),
            idempotency_key TEXT,
            request_hash TEXT,
            progress BIGINT NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
            progress_message TEXT NOT NULL DEFAULT '',
            result TEXT,
            error TEXT,
            cancel_requested BOOLEAN NOT NULL DEFAULT false,
            lease_holder TEXT,
            lease_expires BIGINT,
            created BIGINT NOT NULL,
            updated BIGINT NOT NULL,
            finished BIGINT
        );
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, seq) WHERE state = 'queued';
        CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('scheduled', 'failed');
        CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'running';
        CREATE INDEX jobs_owner ON jobs (owner_id, created);
        CREATE INDEX jobs_finished ON jobs (finished) WHERE finished IS NOT NULL;
        CREATE TABLE job_events (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            time BIGINT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX job_events_job ON job_events (job_id, id);
        CREATE FUNCTION jobs_check_initial_state() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF NEW.state NOT IN ('scheduled', 'queued') THEN
                RAISE EXCEPTION 'a job starts scheduled or queued' USING ERRCODE = 'RMP01',
                    DETAIL = format('job %s inserted as %s', NEW.id, NEW.state);
            END IF;
            RETURN NEW;
        END;
        $fn$;
        CREATE FUNCTION jobs_check_state_transition() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF OLD.state || '>' || NEW.state NOT IN (
                'scheduled>queued', 'failed>queued', 'queued>running', 'running>succeeded',
                'running>failed', 'running>dead', 'running>queued', 'running>canceled',
                'scheduled>canceled', 'queued>canceled', 'failed>canceled') THEN
                RAISE EXCEPTION 'illegal job state transition' USING ERRCODE = 'RMP01',
                    DETAIL = format('job %s: %s -> %s', NEW.id, OLD.state, NEW.state);
            END IF;
            RETURN NEW;
        END;
        $fn$;
        CREATE TRIGGER jobs_initial_state BEFORE INSERT ON jobs
            FOR EACH ROW EXECUTE FUNCTION jobs_check_initial_state();
        CREATE TRIGGER jobs_state_transition BEFORE UPDATE OF state ON jobs
            FOR EACH ROW WHEN (OLD.state <> NEW.state) EXECUTE FUNCTION jobs_check_state_transition();
    )sql"},
    Migration{5, "queues", R"sql(
        CREATE TABLE queues (
            name TEXT PRIMARY KEY,
            paused BOOLEAN NOT NULL,
            updated BIGINT NOT NULL
        );
        CREATE INDEX jobs_queue_state ON jobs (queue, state);
    )sql"},
    Migration{6, "job_lease_holders", R"sql(
        ALTER TABLE job_events ADD COLUMN holder TEXT;
    )sql"},
    // jobs_queue_state made every state change slower than all the rest of the job's writes: its keys
    // are few ('default', 'queued'), so every new row version went into one hot leaf and every claim
    // paid to clean the dead entries out of it. Without it, 50,000 noop jobs ran end to end at 4,556
    // jobs/s instead of 1,849 in one session (docs/benchmarks.md). The per-queue counts it served now
    // read the table, once per gauge refresh.
    Migration{7, "drop_jobs_queue_state", R"sql(
        DROP INDEX jobs_queue_state;
    )sql"},
    // Periodic jobs (sqlite_migrations.cpp says why these tables look as they do).
    Migration{8, "schedules", R"sql(
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            task TEXT NOT NULL,
            args TEXT NOT NULL,
            queue TEXT NOT NULL,
            priority INTEGER NOT NULL,
            cron TEXT,
            every_seconds BIGINT CHECK (every_seconds > 0),
            time_zone TEXT NOT NULL,
            enabled BOOLEAN NOT NULL,
            owner_id TEXT NOT NULL REFERENCES users (id),
            misfire_policy TEXT NOT NULL CHECK (misfire_policy IN ('skip', 'run_once', 'catch_up')),
            catch_up_max INTEGER NOT NULL CHECK (catch_up_max >= 0),
            skip_if_running BOOLEAN NOT NULL,
            anchor BIGINT NOT NULL,
            next_due BIGINT,
            last_tick BIGINT,
            last_job_id TEXT,
            revision BIGINT NOT NULL,
            created BIGINT NOT NULL,
            updated BIGINT NOT NULL,
            CHECK ((cron IS NULL) <> (every_seconds IS NULL))
        );
        CREATE INDEX schedules_due ON schedules (next_due) WHERE enabled AND next_due IS NOT NULL;
        CREATE INDEX schedules_owner ON schedules (owner_id, id);
        CREATE TABLE schedule_ticks (
            schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
            fire_time BIGINT NOT NULL,
            job_id TEXT,
            skip_reason TEXT NOT NULL DEFAULT '',
            holder TEXT NOT NULL,
            recorded BIGINT NOT NULL,
            UNIQUE (schedule_id, fire_time)
        );
        CREATE TABLE leader_leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires BIGINT NOT NULL
        );
    )sql"},
    // When the running attempt's timeout_ms runs out (set by each claim): a lease never outlives it by
    // more than kTimeoutGrace, however often its holder beats (store/job_rules.hpp).
    Migration{9, "attempt_deadline", R"sql(
        ALTER TABLE jobs ADD COLUMN attempt_deadline BIGINT;
    )sql"},
    // Failed-login counters per attempted username; see sqlite_migrations.cpp.
    Migration{10, "login_name_failures", R"sql(
        CREATE TABLE login_name_failures (
            name_key TEXT COLLATE "C" PRIMARY KEY,
            failures BIGINT NOT NULL CHECK (failures > 0),
            last_failure BIGINT NOT NULL,
            locked_until BIGINT
        );
        CREATE INDEX login_name_failures_last ON login_name_failures (last_failure);
    )sql"},
    // See sqlite_migrations.cpp. The app role may not update keyed_from (grantDataPrivileges).
    Migration{11, "audit_keyed_chain", R"sql(
        ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 1;
        UPDATE audit_head SET keyed_from = id + 1;
    )sql"},
    // The generations of the key job payloads are sealed with (store/payload_sealing.hpp): the highest
    // is the one new payloads use; none yet means generation 1. Only numbers: each key is derived from
    // the secret key and its generation.
    Migration{12, "payload_key_generations", R"sql(
        CREATE TABLE payload_key_generations (
            generation INTEGER PRIMARY KEY CHECK (generation > 1),
            created BIGINT NOT NULL
        );
    )sql"},
    // SQLite's jobs table was rebuilt so that its state checks build nothing per row; PostgreSQL checks
    // a list of constants directly, so this version changes nothing here.
    Migration{13, "cheaper_job_checks", R"sql(
        SELECT 1;
    )sql"},
    // See sqlite_migrations.cpp: a listing by owner or by state finds its page newest first without
    // reading the other jobs or sorting.
    Migration{14, "job_listing_indexes", R"sql(
        DROP INDEX jobs_owner;
        CREATE INDEX jobs_owner ON jobs (owner_id, seq);
        CREATE INDEX jobs_rare_states ON jobs (state, seq)
            WHERE state IN ('scheduled', 'failed', 'dead', 'canceled');
    )sql"},
    // See sqlite_migrations.cpp.
    Migration{15, "job_trace_parent", R"sql(
        ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
    )sql"},
    // A dead job may be retried (POST /api/v1/jobs/{id}/retry): the one edge out of a finished state.
    Migration{16, "job_retry", R"sql(
        CREATE OR REPLACE FUNCTION jobs_check_state_transition() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF OLD.state || '>' || NEW.state NOT IN (
                'scheduled>queued', 'failed>queued', 'dead>queued', 'queued>running', 'running>succeeded',
                'running>failed', 'running>dead', 'running>queued', 'running>canceled',
                'scheduled>canceled', 'queued>canceled', 'failed>canceled') THEN
                RAISE EXCEPTION 'illegal job state transition' USING ERRCODE = 'RMP01',
                    DETAIL = format('job %s: %s -> %s', NEW.id, OLD.state, NEW.state);
            END IF;
            RETURN NEW;
        END;
        $fn$;
    )sql"},
};

// The tables the server reads and writes freely. A migration that adds a table adds it here or to
// one of the narrower grants below (postgres_migrations_test.cpp checks that every table is named).
constexpr std::string_view kDataTables =
    "instance_settings, users, api_tokens, refresh_families, refresh_tokens, sessions, signing_keys, "
    "jobs, job_events, queues, schedules, schedule_ticks, leader_leases, login_name_failures, "
    "payload_key_generations";

constexpr std::string_view kAllTables =
    "instance_settings, users, api_tokens, refresh_families, refresh_tokens, sessions, signing_keys, "
    "jobs, job_events, queues, schedules, schedule_ticks, leader_leases, login_name_failures, "
    "payload_key_generations, audit_log, audit_head, "
    "schema_migrations";

bool isSimpleRoleName(std::string_view role) {
    // 63 bytes is PostgreSQL's identifier limit: a longer name would be cut short silently, and the
    // grants would go to whichever role has the shorter name.
    if (role.empty() || role.size() > 63) return false;
    if (!(role.front() == '_' || (role.front() >= 'a' && role.front() <= 'z'))) return false;
    for (char c : role) {
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

std::string quoteIdentifier(std::string_view name) {
    std::string quoted = "\"";
    for (char c : name) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

}  // namespace

const std::string_view kMigrationsTable = R"sql(
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied BIGINT NOT NULL
    )
)sql";

std::span<const Migration> postgresMigrations() {
    return kMigrations;
}

std::string grantDataPrivileges(std::string_view role) {
    if (!isSimpleRoleName(role)) {
        throw std::invalid_argument("a PostgreSQL role for Rampart must match [a-z_][a-z0-9_]* (at most 63)");
    }
    // Quoted although the check above leaves nothing to escape, so the quoting is right on its own. The
    // check also keeps ' out, which matters where the name sits inside the DO block's string literals.
    const std::string to = quoteIdentifier(role);
    std::string sql;
    // The schema is whichever one the migrations created the tables in: the owner's current schema
    // (public unless its search_path says otherwise). A GRANT cannot name it by expression, hence DO.
    sql += "DO $grant$ BEGIN\n";
    sql += "    EXECUTE 'REVOKE CREATE ON SCHEMA ' || quote_ident(current_schema()) || ' FROM " + to + "';\n";
    sql += "    EXECUTE 'GRANT USAGE ON SCHEMA ' || quote_ident(current_schema()) || ' TO " + to + "';\n";
    sql += "END $grant$;\n";
    // Revoke first, so that running this again leaves exactly these privileges, whatever was granted
    // before (TRUNCATE, REFERENCES, TRIGGER, or a wider grant by hand).
    sql += "REVOKE ALL ON " + std::string(kAllTables) + " FROM " + to + ";\n";
    sql += "GRANT SELECT, INSERT, UPDATE, DELETE ON " + std::string(kDataTables) + " TO " + to + ";\n";
    // History is written once and read; never rewritten, even with the triggers dropped.
    sql += "GRANT SELECT, INSERT ON audit_log TO " + to + ";\n";
    // The one head row moves with every append (and is locked FOR UPDATE to number it); where the keyed
    // chain starts (keyed_from) is the owner's to set, so the app role cannot declare keyed rows legacy.
    sql += "GRANT SELECT, UPDATE (id, hash, rows) ON audit_head TO " + to + ";\n";
    // The server checks the schema version at start-up; `rampart migrate`, as the owner, changes it.
    sql += "GRANT SELECT ON schema_migrations TO " + to + ";\n";
    return sql;
}

}  // namespace rampart::store::postgres
