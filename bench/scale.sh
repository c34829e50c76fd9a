#!/usr/bin/env bash
# Cost as work grows (issue 19, section 6): the same Rampart (release build, development mode) on an empty
# store and on a store already holding RETAINED finished (succeeded) jobs:
#   e2e       - TOTAL_JOBS noop jobs in batches of 1,000 (POST /api/v1/jobs/batch, BATCH_CLIENTS curl
#               clients), timed from the first request to the last job's finish time in the store (the
#               method of bench/jobs.sh e2e); goal: big store >= 0.8 of the empty store's jobs/s;
#   list      - GET /api/v1/jobs?state=succeeded and ?state=queued with wrk (only 200s count): req/s and p99;
#               goal: big store >= 0.8 of the empty store's rate and p99 within 1.25x;
#   retention - the big store restarted with jobs.retention_hours = 1, so that every retained job is due at
#               the first sweep (about a minute after start): p99 of single submits (POST /api/v1/jobs at
#               RATE/s on one connection, as bench/jobs.sh latency) before the sweep and during it, and how
#               long the sweep took; goal: p99 during <= 2x before.
# The "empty" store holds a few jobs (FEW, one batch: a listing's first page is as full as on the big store). The big store is filled
# directly, not through the API: the server migrates a fresh store and creates the admin, is stopped,
# then one transaction inserts RETAINED rows in `jobs` (state succeeded, args '{}' in plaintext, which the
# store reads as it is; created and finished 30 days ago, one ms apart; ids of 30 characters that sort by
# time, like the server's) and one `job_events` row each, owned by the admin. SQLite (sqlite3): the
# `jobs_initial_state` trigger (a job starts scheduled or queued) is dropped for that insert and recreated
# from its own saved text in the same transaction. PostgreSQL (psql, generate_series): see fill_postgres.
# Until the retention run, the big store runs with retention off (jobs.retention_hours = 0): its jobs are
# older than the default 14 days, and a sweep would otherwise start a minute into its measurements.
# STORE=postgres: a durable PostgreSQL started here (bench/lib.sh start_postgres, as bench/jobs.sh), one
# database per store; the jobs' `seq` stands for SQLite's rowid.
# The rate limiter stays on with the user and jobs.submit limits out of reach (as bench/jobs.sh). Prints
# each run on stderr, a summary and Markdown rows for docs/benchmarks.md on stdout.
#
# Usage: bench/scale.sh                 (`make bench-scripts` runs it; not part of `make bench` or `make test`)
# Knobs: RETAINED=10000000 (jobs in the big store), STORE=sqlite|postgres, ROUNDS=3 (e2e runs
#        on each store; medians), TOTAL_JOBS=100000, BATCH=1000, BATCH_CLIENTS=4, DURATION=10 (seconds per
#        wrk listing run), CONNECTIONS=8, THREADS=2, RATE=100 (submits/s in the retention runs),
#        BEFORE_SECONDS=30 (submits timed before the sweep; the sweep starts about 60 s after start),
#        SLICE_SECONDS=2 (submits during the sweep are timed in runs this long, back to back, until it
#        ends; the figure merges those that ended before it did), FEW=100 (a full first page), RAMPART_BIN=build/rampart, MACHINE (text for the table's machine column),
#        PG_STATS (set, with STORE=postgres: pg_stat_statements on, and when each server stops the statements
#        that took the database's time since it started, top 12, on stderr; not for the figures themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh # log, die, stop_pid, start_rampart, start_postgres, pg_psql, login_token, wrk_counted, wrk_rate_lua, median

RETAINED=${RETAINED:-10000000}
STORE=${STORE:-sqlite}
ROUNDS=${ROUNDS:-3}
TOTAL_JOBS=${TOTAL_JOBS:-100000}
BATCH=${BATCH:-1000}
BATCH_CLIENTS=${BATCH_CLIENTS:-4}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
RATE=${RATE:-100}
BEFORE_SECONDS=${BEFORE_SECONDS:-30}
SLICE_SECONDS=${SLICE_SECONDS:-2}
FEW=${FEW:-100}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
PG_STATS=${PG_STATS:-}

case "$STORE" in sqlite | postgres) ;; *) die "STORE is sqlite or postgres" ;; esac
[ $((TOTAL_JOBS % BATCH)) -eq 0 ] || die "TOTAL_JOBS must be a multiple of BATCH"
[ "$BATCH" -le 1000 ] || die "the batch route takes at most 1000 jobs"
if [ "$RETAINED" -lt 1 ] || [ "$RETAINED" -gt 1000000000 ]; then die "RETAINED is 1 to 1000000000"; fi
[ "$BEFORE_SECONDS" -le 50 ] || die "BEFORE_SECONDS must end before the first sweep (about 60 s after start)"

# ---- prerequisites: Debian packages only -------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
if [ "$STORE" = postgres ]; then
    [ -n "$(postgres_bin)" ] || missing="$missing postgresql"
    command -v psql >/dev/null 2>&1 || missing="$missing postgresql-client"
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"
else
    command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
fi
if [ -n "$missing" ]; then
    die "missing Debian packages; install with: apt-get install -y --no-install-recommends$missing"
fi
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; build it first (make build)"

# ---- clean-up: each process by its own PID -----------------------------------------------------
work=$(mktemp -d /tmp/rampart-bench-scale-XXXXXX)
pid=""
pg_pid=""
cleanup() {
    stop_pid "$pid"
    stop_pid "$pg_pid" INT
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s' "$password" >"$work/admin-password"
secret_key=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')

# PostgreSQL: one durable server for the whole run (bench/lib.sh), a database per store.
if [ "$STORE" = postgres ]; then start_postgres "$work/pg"; fi

# start_server NAME [VAR=value ...]: Rampart on $work/NAME (an existing data directory, or PostgreSQL
# database scale_NAME, is kept). Sets pid, base, db (the SQLite file or the PostgreSQL database's name)
# and token.
start_server() {
    local name=$1 dir="$work/$1" store=()
    shift
    if [ "$STORE" = postgres ]; then
        db="scale_$name"
        [ "$(pg_psql postgres -At -c "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 1 ] ||
            pg_psql postgres -c "CREATE DATABASE $db"
        [ -z "$PG_STATS" ] || pg_psql "$db" -c "SET client_min_messages = warning" \
            -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
        store=(RAMPART_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/$db")
    else
        db="$dir/data/rampart.db"
    fi
    start_rampart "$dir" RAMPART_SECRET_KEY="$secret_key" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
        RAMPART_RATE_LIMITS__USER=1000000000/hour RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT=1000000000/hour \
        "${store[@]}" "$@"
    pid=$started_pid
    base=$started_base
    [ "$STORE" = postgres ] || [ -f "$db" ] || die "no database at $db"
    token=$(login_token "$base" admin "$password")
}
stop_server() {
    [ "$STORE" != postgres ] || [ -z "$PG_STATS" ] || pg_top_statements "$db"
    stop_pid "$pid"
    pid=""
}
# sql QUERY: one query on the current store, its rows' columns separated by '|'.
sql() {
    if [ "$STORE" = postgres ]; then
        pg_psql "$db" -At -c "$1"
    else
        sqlite3 -readonly -cmd '.timeout 10000' "$db" "$1"
    fi
}
now_ms() { date +%s%3N; }
# The jobs' insertion order: SQLite's rowid, PostgreSQL's identity column seq (src/store/migrations).
if [ "$STORE" = postgres ]; then rowid=seq; else rowid=rowid; fi

# last_rowid: the newest job's rowid; the jobs submitted after it are the ones a measurement waits for.
last_rowid() { sql "SELECT coalesce(max($rowid), 0) FROM jobs"; }

# wait_finished SECONDS AFTER_ROWID: waits until the jobs after AFTER_ROWID have all finished (a range of
# rowids: a count over the whole big store would take seconds of the CPU we measure).
wait_finished() {
    local limit=$1 after=$2 open=""
    for _ in $(seq "$limit"); do
        open=$(sql "SELECT count(*) FROM jobs WHERE $rowid > $after AND finished IS NULL")
        [ "$open" = 0 ] && return 0
        sleep 1
    done
    die "$open job(s) still unfinished after ${limit} s"
}

# ---- filling the big store ---------------------------------------------------------------------
# fill_store DB OWNER COUNT: COUNT succeeded jobs of OWNER, created 30 days ago and on, one ms apart.
# An id is the time in 8 characters of the server's sorted base64 alphabet, then 22 more: the row number
# in 5 (unique) and a constant tail (the server's are random; these need only be unique and sort by time).
# char EXPRESSION BIT: SQL for 6 bits of EXPRESSION (an integer) from BIT on, as a character of `a`.
char() { printf "substr(a, (((%s >> %d) & 63)%s) + 1, 1)" "$1" "$2" "$([ "$STORE" = postgres ] && echo '::int')"; }
# job_id T I: SQL for the id of the job made at time T (ms), row I (0 on), both integers.
job_id() {
    local id="" shift_
    for shift_ in 42 36 30 24 18 12 6 0; do id="$id$(char "$1" "$shift_") || "; done
    for shift_ in 24 18 12 6 0; do id="$id$(char "$2" "$shift_") || "; done
    echo "$id'AAAAAAAAAAAAAAAA-'"
}
alphabet="'-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz'"
fill_store() {
    fill_ms=0 vacuum_ms=0
    if [ "$STORE" = postgres ]; then fill_postgres "$@"; else fill_sqlite "$@"; fi
}
fill_sqlite() {
    local target=$1 owner=$2 count=$3 start trigger t0
    t0=$(($(now_ms) - 30 * 24 * 3600 * 1000 - count))
    trigger=$(sqlite3 "$target" "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'jobs_initial_state'")
    [ -n "$trigger" ] || die "no jobs_initial_state trigger in $target: the schema changed, update fill_store"
    start=$(now_ms)
    sqlite3 "$target" >&2 <<SQL
.bail on
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
DROP TRIGGER jobs_initial_state;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $count - 1),
    r AS (SELECT i, $t0 + i AS t, $alphabet AS a FROM n)
INSERT INTO jobs (id, task, args, queue, priority, state, attempts, max_attempts, run_at, timeout_ms, owner_id,
                  progress, created, updated, finished)
SELECT $(job_id t i), 'noop', '{}', 'default', 0, 'succeeded', 1, 3, t, 10000, '$owner', 100, t, t + 1, t + 1 FROM r;
INSERT INTO job_events (job_id, time, from_state, to_state, detail)
SELECT id, finished, 'running', 'succeeded', 'succeeded' FROM jobs ORDER BY rowid;
$trigger;
COMMIT;
SQL
    fill_ms=$(($(now_ms) - start))
    log "filled $count jobs (and one event each) in $fill_ms ms; database $(du -sh "$(dirname "$target")" | cut -f1)"
}

# fill_postgres DATABASE OWNER COUNT: the same rows with psql, in one transaction: `jobs` from
# generate_series (seq, an identity column, numbers them in that order, so it sorts by time as the ids
# do), then `job_events` from the same series (the same ids, no read of `jobs`). The transaction runs
# with session_replication_role = replica, which skips the triggers of both tables for it alone (as
# pg_restore --disable-triggers does): `jobs_initial_state` (a job starts scheduled or queued) and the
# foreign key's per-row check of job_events.job_id, which would lock each new job row once more. The
# foreign key is checked instead in one anti-join before COMMIT. Then VACUUM (ANALYZE): statistics,
# as a real store has them, and the visibility map and hint bits its 30-day-old rows would have (else
# autovacuum rewrites the new table during the measurements); then a CHECKPOINT, so that the fill's
# dirty pages are not written out during them.
fill_postgres() {
    local target=$1 owner=$2 count=$3 start t0 series
    t0=$(($(now_ms) - 30 * 24 * 3600 * 1000 - count))
    series="(SELECT i, $t0 + i AS t, $alphabet AS a FROM generate_series(0::bigint, $count - 1) AS i) AS r"
    start=$(now_ms)
    pg_psql "$target" -v ON_ERROR_STOP=1 >&2 <<SQL
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO jobs (id, task, args, queue, priority, state, attempts, max_attempts, run_at, timeout_ms, owner_id,
                  progress, created, updated, finished)
SELECT $(job_id t i), 'noop', '{}', 'default', 0, 'succeeded', 1, 3, t, 10000, '$owner', 100, t, t + 1, t + 1
FROM $series;
INSERT INTO job_events (job_id, time, from_state, to_state, detail)
SELECT $(job_id t i), t + 1, 'running', 'succeeded', 'succeeded' FROM $series;
DO \$\$
BEGIN
    IF EXISTS (SELECT 1 FROM job_events e WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)) THEN
        RAISE EXCEPTION 'a filled job_events row names no job';
    END IF;
END
\$\$;
COMMIT;
SQL
    fill_ms=$(($(now_ms) - start))
    start=$(now_ms)
    pg_psql "$target" -v ON_ERROR_STOP=1 -c 'VACUUM (ANALYZE) jobs' -c 'VACUUM (ANALYZE) job_events' -c CHECKPOINT >&2
    vacuum_ms=$(($(now_ms) - start))
    log "filled $count jobs (and one event each) in $fill_ms ms, then VACUUM (ANALYZE) and CHECKPOINT in $vacuum_ms ms; $(pg_psql "$target" -At -c "SELECT 'database ' || pg_size_pretty(pg_database_size(current_database())) || ' (jobs ' || pg_size_pretty(pg_total_relation_size('jobs')) || ', job_events ' || pg_size_pretty(pg_total_relation_size('job_events')) || ')'")"
}

# submit_few: FEW noop jobs in one batch, waited for.
submit_few() {
    local after
    after=$(last_rowid)
    jq -cn --argjson n "$FEW" '{jobs: [range($n) | {task: "noop", args: {}}]}' |
        curl -fsS -o /dev/null -X POST --data-binary @- -H 'Content-Type: application/json' \
            -H "Authorization: Bearer $token" "$base/api/v1/jobs/batch" || die "submitting $FEW jobs failed"
    wait_finished 60 "$after"
}

# ---- the measurements --------------------------------------------------------------------------
run_e2e() {
    local label=$1 round=$2 batches=$((TOTAL_JOBS / BATCH)) t0 t1 codes ok last done_after rate after
    : >"$work/batch.curlrc"
    for _ in $(seq "$batches"); do printf 'url = "%s/api/v1/jobs/batch"\noutput = "/dev/null"\n' "$base" >>"$work/batch.curlrc"; done
    after=$(last_rowid)
    t0=$(now_ms)
    codes=$(curl -sS --no-progress-meter --parallel --parallel-max "$BATCH_CLIENTS" -X POST --data-binary @"$work/batch.json" \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        -w '%{http_code}\n' -K "$work/batch.curlrc")
    t1=$(now_ms)
    ok=$(printf '%s\n' "$codes" | grep -c '^201$' || true)
    [ "$ok" = "$batches" ] || die "e2e $label $round: only $ok of $batches batches got 201"
    wait_finished 600 "$after"
    # Only this run's jobs.
    read -r done_after last < <(sql "SELECT count(*), max(finished) FROM jobs WHERE $rowid > $after AND state = 'succeeded'" | tr '|' ' ')
    [ "$done_after" = "$TOTAL_JOBS" ] || die "e2e $label $round: $done_after of $TOTAL_JOBS jobs succeeded"
    rate=$(awk -v n="$TOTAL_JOBS" -v ms=$((last - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }')
    log "e2e $label $round: acknowledged in $((t1 - t0)) ms; all $TOTAL_JOBS succeeded $((last - t0)) ms after the first request = $rate jobs/s"
    echo "$rate" >>"$work/e2e-$label.results"
}

# cpu_ticks PID...: the CPU time (user + system, in clock ticks) the live ones of PID... used so far.
cpu_ticks() {
    local p total=0 ticks
    for p in "$@"; do
        ticks=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
        total=$((total + ticks))
    done
    echo "$total"
}

# wait_idle: waits (at most 120 s) until the server (with PostgreSQL: and the postmaster's processes, where
# its queries run) used under 5 % of a core for half a second: a listing wrk stopped waiting for may still
# be running (a scan of the big store takes seconds), and would take the CPU from the next measurement.
wait_idle() {
    local before after pids
    for _ in $(seq 240); do
        pids=("$pid")
        [ "$STORE" != postgres ] || mapfile -t -O 1 pids < <(pgrep -P "$pg_pid")
        before=$(cpu_ticks "${pids[@]}")
        sleep 0.5
        after=$(cpu_ticks "${pids[@]}")
        [ $((after - before)) -gt $(($(getconf CLK_TCK) / 40)) ] || return 0
    done
    log "warning: the server was still busy 120 s after the last run"
}

run_list() {
    local label=$1 state rps p99 n
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$token" >"$work/list-headers.lua"
    for state in succeeded queued; do
        read -r rps p99 n < <(wrk_counted "list $label state=$state" 200 "$work/list-headers.lua" \
            -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 60s --latency "$base/api/v1/jobs?state=$state")
        [ -n "${n:-}" ] || die "list $label: the run was rejected"
        log "list $label state=$state: $rps req/s (200), p99 $p99 ms"
        echo "$state $rps $p99" >>"$work/list-$label.results"
        wait_idle
    done
}

# submit_rate_run NAME SECONDS HISTOGRAM: single submits at RATE/s on one connection; prints "<p99 ms>
# <201s>", writes the latency histogram to the file HISTOGRAM.
submit_rate_run() {
    local rps p99 n
    read -r rps p99 n < <(WRK_HISTOGRAM=$3 wrk_counted "$1" 201 "$work/rate-setup.lua" -t1 -c1 -d"${2}s" --latency "$base/api/v1/jobs")
    [ -n "${n:-}" ] || die "$1: the run was rejected"
    echo "$p99 $n"
}

# ---- run ---------------------------------------------------------------------------------------
machine=$(machine_name)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before: $load_before; $STORE; RETAINED=$RETAINED; $ROUNDS e2e round(s) of $TOTAL_JOBS jobs"
jq -cn --argjson n "$BATCH" '{jobs: [range($n) | {task: "noop", args: {}}]}' >"$work/batch.json"

# The empty store: FEW jobs, the listings, then the e2e runs (each adds TOTAL_JOBS to it).
start_server empty
admin_id=$(sql "SELECT id FROM users WHERE username = 'admin'")
submit_few
run_list empty
for round in $(seq "$ROUNDS"); do run_e2e empty "$round"; done
stop_server

# The big store: migrated and its admin created by the server, then filled while it is down. Retention
# off until the retention run (its jobs are older than the default 14 days).
start_server big RAMPART_JOBS__RETENTION_HOURS=0
admin_id=$(sql "SELECT id FROM users WHERE username = 'admin'")
[ -n "$admin_id" ] || die "no admin user in $db"
stop_server
fill_store "$db" "$admin_id" "$RETAINED"
start_server big RAMPART_JOBS__RETENTION_HOURS=0
# A filled job reads back through the API: listed, then fetched (args '{}') with its history.
filled=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/jobs?state=succeeded&limit=1" | jq -r '.items[0].id // empty') ||
    die "listing the filled store failed"
[ -n "$filled" ] || die "the filled store lists no succeeded job"
got=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/jobs/$filled" | jq -c '[.state, .args]') ||
    die "GET /api/v1/jobs/$filled failed"
[ "$got" = '["succeeded",{}]' ] || die "the filled job $filled reads back as $got, not [\"succeeded\",{}]"
got=$(curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/jobs/$filled/events" | jq -r '.items | length') ||
    die "GET /api/v1/jobs/$filled/events failed"
[ "$got" = 1 ] || die "the filled job $filled has $got events, not 1"
log "a filled job reads back through the API: $filled"
submit_few
run_list big
for round in $(seq "$ROUNDS"); do run_e2e big "$round"; done
stop_server

# Retention: restart with every retained job due; submits before the first sweep and during it. The sweep
# deletes the oldest first, so the smallest rowid moving up is its start; its log line its end.
due_before=$(sql "SELECT count(*) FROM jobs WHERE finished < $(($(now_ms) - 2 * 3600 * 1000))")
first_rowid=$(sql "SELECT min($rowid) FROM jobs")
started_ms=$(now_ms)
start_server big RAMPART_JOBS__RETENTION_HOURS=1 RAMPART_LOG_LEVEL=info
{
    printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
        "'{\"task\":\"noop\",\"args\":{}}'" "$token"
    printf 'interval_ms = %s\n' "$(awk -v r="$RATE" 'BEGIN { printf "%.6f", 1000 / r }')"
    wrk_rate_lua
} >"$work/rate-setup.lua"
read -r p99_before n_before < <(submit_rate_run "submits before the sweep" "$BEFORE_SECONDS" "$work/before.hist")
p99_before=$(histogram_p99 "$work/before.hist") # as the figure during the sweep is computed
[ "$(sql "SELECT min($rowid) FROM jobs")" = "$first_rowid" ] || die "the sweep started before the 'before' run ended; lower BEFORE_SECONDS"
sweep_start=""
for _ in $(seq 1200); do
    [ "$(sql "SELECT min($rowid) FROM jobs")" = "$first_rowid" ] || {
        sweep_start=$(now_ms)
        break
    }
    sleep 0.1
done
[ -n "$sweep_start" ] || die "no sweep within 2 minutes of start"
log "retention: the sweep started about $(((sweep_start - started_ms) / 1000)) s after start"
# During it: runs of SLICE_SECONDS back to back until it has logged its end (the line's time stamp). The
# figure merges the histograms of the slices that ended before the sweep did (the first one alone, with
# a warning, when the sweep was shorter than a slice).
sweep_line=""
: >"$work/slices"
for slice in $(seq 3600); do
    slice_start=$(now_ms)
    read -r _ _ < <(submit_rate_run "submits during the sweep ($slice)" "$SLICE_SECONDS" "$work/during-$slice.hist")
    echo "$slice $slice_start $(now_ms)" >>"$work/slices"
    sweep_line=$(grep -h 'retention: deleted' "$work/big/stderr.log" "$work/big/stdout.log" | head -1 || true)
    [ -z "$sweep_line" ] || break
done
[ -n "$sweep_line" ] || die "the sweep did not end"
sweep_end=$(date -d "$(cut -d' ' -f1 <<<"$sweep_line")" +%s%3N) || die "no time in the sweep's log line: $sweep_line"
inside=$(awk -v e="$sweep_end" '$3 <= e { printf "%s/during-%s.hist ", w, $1 }' w="$work" "$work/slices")
if [ -z "$inside" ]; then
    log "warning: the sweep was shorter than one slice of $SLICE_SECONDS s: its figure is the first slice's, partly after it"
    inside="$work/during-1.hist"
fi
# shellcheck disable=SC2086 # a list of file names without spaces
p99_during=$(histogram_p99 $inside)
# shellcheck disable=SC2086
n_during=$(cat $inside | awk '{ n += $2 } END { print n + 0 }')
slices_used=$(wc -w <<<"$inside")
left=$(sql "SELECT count(*) FROM jobs WHERE finished < $(($(now_ms) - 2 * 3600 * 1000))")
deleted=$((due_before - left))
sweep_ms=$((sweep_end - sweep_start))
log "retention: $sweep_line"
log "retention: $deleted of $due_before due jobs deleted in about $sweep_ms ms (first sweep; $left left for the next ones); submits during it: p99 $p99_during ms over $n_during submits in $slices_used slice(s) of $SLICE_SECONDS s"
stop_server
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "load after: $load_after"

# ---- summary -----------------------------------------------------------------------------------
rounds_of() { tr '\n' '/' <"$work/$1.results" | sed 's#/$##'; }
e2e_empty=$(median <"$work/e2e-empty.results")
e2e_big=$(median <"$work/e2e-big.results")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
verdict() { awk -v r="$1" -v g="$2" -v op="$3" 'BEGIN { print ((op == ">=" ? r >= g : r <= g) ? "met" : "missed") }'; }
today=$(date -u +%Y-%m-%d)
size="$RETAINED retained"
if [ "$STORE" = postgres ]; then note="postgresql"; else note="sqlite"; fi
note="$note; load $load_before -> $load_after"
r=$(ratio "$e2e_big" "$e2e_empty")
echo "e2e:       empty $e2e_empty jobs/s, $size $e2e_big jobs/s, ratio $r (medians of $ROUNDS; rounds $(rounds_of e2e-empty) and $(rounds_of e2e-big)); goal >= 0.8: $(verdict "$r" 0.8 '>=')"
rows=("| $today | $machine | e2e, $TOTAL_JOBS jobs in batches of $BATCH | empty $e2e_empty jobs/s | $size: $e2e_big jobs/s | ratio $r (goal >= 0.8) | $note; rounds $(rounds_of e2e-empty) / $(rounds_of e2e-big) |")
for state in succeeded queued; do
    read -r _ rps_e p99_e < <(grep "^$state " "$work/list-empty.results")
    read -r _ rps_b p99_b < <(grep "^$state " "$work/list-big.results")
    rr=$(ratio "$rps_b" "$rps_e")
    pr=$(ratio "$p99_b" "$p99_e")
    echo "list $state: empty $rps_e req/s p99 $p99_e ms, $size $rps_b req/s p99 $p99_b ms; rate ratio $rr (goal >= 0.8: $(verdict "$rr" 0.8 '>=')), p99 ratio $pr (goal <= 1.25: $(verdict "$pr" 1.25 '<='))"
    rows+=("| $today | $machine | GET /api/v1/jobs?state=$state, wrk -c$CONNECTIONS | empty $rps_e req/s, p99 $p99_e ms | $size: $rps_b req/s, p99 $p99_b ms | rate ratio $rr (goal >= 0.8), p99 ratio $pr (goal <= 1.25) | $note |")
done
pr=$(ratio "$p99_during" "$p99_before")
echo "retention: submit p99 before the sweep $p99_before ms ($n_before submits), during it $p99_during ms ($n_during submits in $slices_used slice(s) of $SLICE_SECONDS s), ratio $pr (goal <= 2: $(verdict "$pr" 2 '<=')); first sweep deleted $deleted of $due_before in $sweep_ms ms; filling took $fill_ms ms$([ "$STORE" != postgres ] || echo ", VACUUM (ANALYZE) and CHECKPOINT $vacuum_ms ms")"
rows+=("| $today | $machine | submit p99 at $RATE/s during a retention sweep | before $p99_before ms ($n_before submits) | during $p99_during ms ($n_during submits) | ratio $pr (goal <= 2) | $note; sweep deleted $deleted of $due_before in $sweep_ms ms |")
printf '%s\n' "${rows[@]}"
