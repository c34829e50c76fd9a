#!/usr/bin/env bash
# Job benchmarks against a real Rampart (release build, development mode, fresh data directory each):
#   submit   - 32 wrk connections POSTing single noop jobs (POST /api/v1/jobs): 201s per second, next
#              to GET /healthz on the same server in the same run (the reference ratio);
#   e2e      - 100,000 noop jobs in batches of 1,000 (POST /api/v1/jobs/batch, several curl clients),
#              timed from the first request to the last job's finish time in the store;
#   latency  - noop jobs submitted at a steady rate (one wrk connection on a fixed schedule); per job from
#              the store, in ms: the `running` event's time and the finish time, each minus created.
# The server keeps its rate limiter on, with the user and jobs.submit limits raised out of reach (as a
# service account's token override would be): the figures measure the job path, not the default quotas.
# Completion is read from the SQLite file with the sqlite3 CLI, read-only (WAL lets it read beside the
# writer), or with psql. Prints each run on stderr, a summary on stdout, and Markdown rows for
# docs/benchmarks.md.
# STORE=postgres runs the same against PostgreSQL: a durable server (fsync, synchronous_commit on: the
# defaults) started here from Debian's postgresql (as the postgres user when run as root), on a free
# port in the work directory, with a fresh database for each run.
#
# Usage: bench/jobs.sh [submit] [e2e] [latency]     (default: all three; `make bench-scripts` runs it, `make bench` its e2e)
# Knobs: ROUNDS=3 (runs of each benchmark; medians), DURATION=10 (seconds per wrk run), CONNECTIONS=32,
#        THREADS=2, TOTAL_JOBS=100000, BATCH=1000, BATCH_CLIENTS=4, RATE=100 (jobs/s), LATENCY_SECONDS=20,
#        WORKER_CONCURRENCY (unset: the server's default; else RAMPART_JOBS__WORKER_CONCURRENCY),
#        STORE=sqlite|postgres, PG_STATS (set, with STORE=postgres: pg_stat_statements on, and after each
#        run the statements that took the server's time, top 12, on stderr), PG_SETUP_SQL (SQL run on each
#        fresh database once the server has migrated it: to try a schema change), EXTRA_SERVER_ENV="NAME=value ..."
#        (more server settings, e.g. a collector for bench/tracing.sh), RAMPART_BIN=build/rampart, PERF_DIR (set: `perf record $PERF_ARGS` on the server during each
#        measured run, files kept there), PERF_ARGS="-g", MACHINE (text for the table's machine column).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh  # log, die, stop_pid, start_rampart, start_postgres, pg_psql, wrk_counted, median

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
TOTAL_JOBS=${TOTAL_JOBS:-100000}
BATCH=${BATCH:-1000}
BATCH_CLIENTS=${BATCH_CLIENTS:-4}
RATE=${RATE:-100}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}
WORKER_CONCURRENCY=${WORKER_CONCURRENCY:-}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
STORE=${STORE:-sqlite}
PERF_DIR=${PERF_DIR:-}
PG_STATS=${PG_STATS:-}
PG_SETUP_SQL=${PG_SETUP_SQL:-}
PERF_ARGS=${PERF_ARGS:--g}


benchmarks=("$@")
[ ${#benchmarks[@]} -gt 0 ] || benchmarks=(submit e2e latency)
for b in "${benchmarks[@]}"; do
    case "$b" in submit | e2e | latency) ;; *) die "unknown benchmark '$b' (submit, e2e, latency)" ;; esac
done
[ $((TOTAL_JOBS % BATCH)) -eq 0 ] || die "TOTAL_JOBS must be a multiple of BATCH"
[ "$BATCH" -le 1000 ] || die "the batch route takes at most 1000 jobs"
case "$STORE" in sqlite | postgres) ;; *) die "STORE is sqlite or postgres" ;; esac

# ---- prerequisites: Debian packages only -------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
if [ "$STORE" = postgres ]; then
    [ -n "$(postgres_bin)" ] || missing="$missing postgresql"
    command -v psql >/dev/null 2>&1 || missing="$missing postgresql-client"
fi
if [ -n "$PERF_DIR" ] && ! command -v perf >/dev/null 2>&1; then missing="$missing linux-perf"; fi
if [ -n "$missing" ]; then
    die "missing Debian packages; install with: apt-get install -y --no-install-recommends$missing"
fi
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; build it first (make build, or make bench)"
[ -z "$PERF_DIR" ] || mkdir -p "$PERF_DIR"

# ---- clean-up: each process by its own PID -----------------------------------------------------
work=$(mktemp -d /tmp/rampart-bench-jobs-XXXXXX)
pid=""

# stop_pid: bench/lib.sh

pg_pid=""
cleanup() {
    stop_pid "$perf_pid" INT
    stop_pid "$pid"
    stop_pid "$pg_pid" INT
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
secret_key=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')

# ---- PostgreSQL (STORE=postgres): one durable server for the whole run (bench/lib.sh) ----------
if [ "$STORE" = postgres ]; then
    start_postgres "$work/pg"  # PG_STATS: pg_stat_statements preloaded
fi

# ---- one fresh server per benchmark run --------------------------------------------------------
# Sets pid, base, db and token (an access token; each run logs in again, they live 10 minutes).
start_server() {
    local name=$1 dir="$work/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    local extra=()
    [ -z "$WORKER_CONCURRENCY" ] || extra+=(RAMPART_JOBS__WORKER_CONCURRENCY="$WORKER_CONCURRENCY")
    # shellcheck disable=SC2206 # EXTRA_SERVER_ENV is a list of NAME=value words
    extra+=(${EXTRA_SERVER_ENV:-})
    if [ "$STORE" = postgres ]; then
        pg_db="bench_${name//-/_}"
        pg_psql postgres -c "CREATE DATABASE $pg_db"
        [ -z "$PG_STATS" ] || pg_psql "$pg_db" \
            -c "CREATE EXTENSION pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
        extra+=(RAMPART_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/$pg_db")
    fi
    start_rampart "$dir" RAMPART_SECRET_KEY="$secret_key" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
        RAMPART_RATE_LIMITS__USER=1000000000/hour RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT=1000000000/hour \
        "${extra[@]}"
    pid=$started_pid
    base=$started_base
    db="$dir/data/rampart.db"
    [ "$STORE" = postgres ] || [ -f "$db" ] || die "no database at $db"
    token=$(login_token "$base" admin "$password")
    if [ "$STORE" = postgres ] && [ -n "$PG_SETUP_SQL" ]; then
        pg_psql "$pg_db" -v ON_ERROR_STOP=1 -c "$PG_SETUP_SQL" >&2 ||
            die "PG_SETUP_SQL failed"
    fi
    log "$name: rampart (pid $pid) on $base"
}

stop_server() {
    if [ "$STORE" = postgres ] && [ -n "$PG_STATS" ]; then
        pg_top_statements "$pg_db"
    fi
    stop_pid "$pid"
    pid=""
}

sql() {
    if [ "$STORE" = postgres ]; then
        pg_psql "$pg_db" -At -c "$1"
    else
        sqlite3 -readonly -cmd '.timeout 10000' "$db" "$1"
    fi
}
now_ms() { date +%s%3N; }

# Waits until no job is left unfinished (at most $1 seconds); fails when jobs are still open. Once a second:
# the count reads the whole table, and the runs are timed from the store's own timestamps, not from here.
wait_finished() {
    local limit=$1 open=""
    for _ in $(seq "$limit"); do
        open=$(sql "SELECT count(*) FROM jobs WHERE finished IS NULL")
        [ "$open" = 0 ] && return 0
        sleep 1
    done
    die "$open job(s) still unfinished after ${limit} s"
}


# ---- submit: wrk, single jobs ------------------------------------------------------------------
# Only 201s count; any other answer or a socket error rejects the run (wrk_counter_lua, bench/lib.sh).
wrk_counter_lua 201 >"$work/submit.lua"

run_submit() {
    local round=$1 created seconds p99 rps hz
    start_server "submit-$round"
    printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
        "'{\"task\":\"noop\",\"args\":{}}'" "$token" >"$work/submit-headers.lua"

    hz=$(wrk_counted "submit $round /healthz (reference)" 200 "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$base/healthz" | cut -d' ' -f1)
    perf_start "submit-$round" "$pid"
    read -r rps p99 created < <(wrk_counted "submit $round POST /api/v1/jobs" 201 "$work/submit-headers.lua" \
        -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$base/api/v1/jobs")
    perf_stop
    [ -n "${created:-}" ] || die "submit $round: the run was rejected"
    seconds=$DURATION
    # The stored jobs run meanwhile; let them finish so the next run starts idle and we know they all did.
    wait_finished 600
    local stored
    stored=$(sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
    log "submit $round: $created created (201) in ${seconds} s = $rps jobs/s, p99 $p99 ms; /healthz $hz req/s; $stored succeeded in the store"
    [ "$stored" -ge "$created" ] || die "the store has fewer succeeded jobs ($stored) than 201s ($created)"
    stop_server
    echo "$rps $hz $p99" >>"$work/submit.results"
}

# ---- e2e: batches of 1,000 ---------------------------------------------------------------------
run_e2e() {
    local round=$1 batches=$((TOTAL_JOBS / BATCH)) t0 t1 codes ok last first e2e_ms
    start_server "e2e-$round"
    jq -cn --argjson n "$BATCH" '{jobs: [range($n) | {task: "noop", args: {}}]}' >"$work/batch.json"
    : >"$work/batch.curlrc"
    for _ in $(seq "$batches"); do printf 'url = "%s/api/v1/jobs/batch"\noutput = "/dev/null"\n' "$base" >>"$work/batch.curlrc"; done
    log "e2e $round: $batches batches of $BATCH noop jobs, $BATCH_CLIENTS at a time"
    perf_start "e2e-$round" "$pid"
    t0=$(now_ms)
    codes=$(curl -sS --no-progress-meter --parallel --parallel-max "$BATCH_CLIENTS" -X POST --data-binary @"$work/batch.json" \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
        -w '%{http_code}\n' -K "$work/batch.curlrc")
    t1=$(now_ms)
    ok=$(printf '%s\n' "$codes" | grep -c '^201$' || true)
    [ "$ok" = "$batches" ] || die "only $ok of $batches batches got 201: $(printf '%s\n' "$codes" | sort | uniq -c | tr '\n' ' ')"
    wait_finished 600
    perf_stop
    read -r first last < <(sql "SELECT min(created), max(finished) FROM jobs WHERE task = 'noop'" | tr '|' ' ')
    local succeeded
    succeeded=$(sql "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
    [ "$succeeded" = "$TOTAL_JOBS" ] || die "$succeeded of $TOTAL_JOBS jobs succeeded: $(sql "SELECT state, count(*) FROM jobs GROUP BY state" | tr '\n' ' ')"
    e2e_ms=$((last - t0))
    local submit_rate e2e_rate
    submit_rate=$(awk -v n="$TOTAL_JOBS" -v ms=$((t1 - t0)) 'BEGIN { printf "%.0f", n * 1000 / ms }')
    e2e_rate=$(awk -v n="$TOTAL_JOBS" -v ms="$e2e_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
    log "e2e $round: all $batches batches acknowledged in $((t1 - t0)) ms ($submit_rate jobs/s); all $TOTAL_JOBS succeeded $e2e_ms ms after the first request = $e2e_rate jobs/s (first created at +$((first - t0)) ms)"
    stop_server
    echo "$e2e_rate $submit_rate $e2e_ms" >>"$work/e2e.results"
}

# ---- latency: steady rate, submit to start -----------------------------------------------------
# One wrk connection whose delay() holds a fixed schedule (curl --rate waits a whole interval after
# each transfer, so it falls short of the rate): a request every 1000/RATE ms, late ones sent at once.
wrk_rate_lua >"$work/rate.lua"  # bench/lib.sh

run_latency() {
    local round=$1 out created others status errors seconds stats
    start_server "latency-$round"
    {
        printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
            "'{\"task\":\"noop\",\"args\":{}}'" "$token"
        printf 'interval_ms = %s\n' "$(awk -v r="$RATE" 'BEGIN { printf "%.6f", 1000 / r }')"
        cat "$work/rate.lua" "$work/submit.lua"
    } >"$work/latency-run.lua"
    log "latency $round: noop jobs at $RATE/s for ${LATENCY_SECONDS} s, one connection (wrk -t1 -c1, scheduled delay())"
    perf_start "latency-$round"
    out=$(wrk -t1 -c1 -d"${LATENCY_SECONDS}s" --latency -s "$work/latency-run.lua" "$base/api/v1/jobs")
    perf_stop
    printf '%s\n' "$out" | sed "s/^/  latency $round| /" >&2
    read -r created others status errors seconds submit_p99 < <(printf '%s\n' "$out" | awk '$1 == "COUNT" { print $2, $3, $4, $5, $6, $7 }')
    [ -n "$created" ] || die "no figures from wrk's script"
    [ "$others" = 0 ] || die "$others submit(s) were not answered 201 (last: $status); the run is rejected"
    [ "$errors" = 0 ] || die "$errors socket error(s) during the latency run; the run is rejected"
    wait_finished 120
    # Per job: the `running` event's time (the worker's clock when it asked the store for the job)
    # and the finish time (after the handler ran and its report was made), each minus created.
    sql "SELECT e.time - j.created, j.finished - j.created FROM jobs j JOIN job_events e ON e.job_id = j.id
         AND e.id = (SELECT min(id) FROM job_events WHERE job_id = j.id AND to_state = 'running')" \
        >"$work/latency.delays"
    local rate_held submit_p50
    rate_held=$(sql "SELECT round((count(*) - 1) * 1000.0 / (max(created) - min(created)), 1) FROM jobs")
    submit_p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }')
    percentiles() { sort -n | awk '{ v[NR] = $1; s += $1 } END { printf "%d %d %d %d %.2f\n", v[int((NR + 1) * 0.5)], v[int(NR * 0.99 + 0.5)], v[NR], NR, s / NR }'; }
    local p50 p99 max n mean f50 f99 fmax fn fmean
    read -r p50 p99 max n mean < <(cut -d'|' -f1 "$work/latency.delays" | percentiles)
    read -r f50 f99 fmax fn fmean < <(cut -d'|' -f2 "$work/latency.delays" | percentiles)
    [ "$n" = "$created" ] || log "warning: $created jobs acknowledged but $n found with a running event"
    log "latency $round: $n jobs at $rate_held/s held; submit->claim p50 $p50 ms, p99 $p99 ms, max $max ms, mean $mean ms; submit->finished p50 $f50 ms, p99 $f99 ms, max $fmax ms; submit round trip (201) p50 $submit_p50 ms, p99 $(printf '%.2f' "$submit_p99") ms"
    log "latency $round: submit->claim histogram (ms: jobs) $(cut -d'|' -f1 "$work/latency.delays" | sort -n | uniq -c | awk '{ printf "%s:%s ", $2, $1 }' | cut -c1-300)"
    stop_server
    echo "$p50 $p99 $max $mean $submit_p50 $submit_p99 $rate_held $f50 $f99" >>"$work/latency.results"
}

# ---- run ---------------------------------------------------------------------------------------
machine=$(machine_name)
concurrency_note="$STORE; worker concurrency ${WORKER_CONCURRENCY:-default}"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg); $concurrency_note; $ROUNDS round(s)"
for b in "${benchmarks[@]}"; do
    : >"$work/$b.results"
    for round in $(seq "$ROUNDS"); do "run_$b" "$round"; done
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

column() { cut -d' ' -f"$2" "$work/$1.results" | median; }
rounds_of() { cut -d' ' -f"$2" "$work/$1.results" | tr '\n' '/' | sed 's#/$##'; }
today=$(date -u +%Y-%m-%d)
# The goals in docs/benchmarks.md: the embedded store's, and PostgreSQL's.
if [ "$STORE" = postgres ]; then goal_submit=3000 goal_e2e=10000 goal_p99=10; else goal_submit=5000 goal_e2e=25000 goal_p99=5; fi
for b in "${benchmarks[@]}"; do
    case "$b" in
    submit)
        rps=$(column submit 1)
        hz=$(column submit 2)
        ratio=$(awk -v r="$rps" -v h="$hz" 'BEGIN { printf "%.3f", (h > 0 ? r / h : 0) }')
        echo "submit:  $rps jobs/s acknowledged (201), p99 $(column submit 3) ms; /healthz $hz req/s; ratio $ratio (medians of $ROUNDS; rounds $(rounds_of submit 1)); goal >= $goal_submit: $([ "${rps%.*}" -ge "$goal_submit" ] && echo met || echo missed)"
        echo "| $today | $machine | submit | $rps jobs/s | /healthz $hz req/s, ratio $ratio | p99 $(column submit 3) ms | $concurrency_note; rounds $(rounds_of submit 1) |"
        ;;
    e2e)
        rate=$(column e2e 1)
        echo "e2e:     $rate jobs/s ($TOTAL_JOBS noop jobs submitted in batches of $BATCH and run; submits alone $(column e2e 2) jobs/s; medians of $ROUNDS; rounds $(rounds_of e2e 1)); goal >= $goal_e2e: $([ "${rate%.*}" -ge "$goal_e2e" ] && echo met || echo missed)"
        echo "| $today | $machine | e2e | $rate jobs/s | submits alone $(column e2e 2) jobs/s | $(column e2e 3) ms for $TOTAL_JOBS | $concurrency_note; rounds $(rounds_of e2e 1) |"
        ;;
    latency)
        p99=$(column latency 2)
        echo "latency: submit->claim p50 $(column latency 1) ms, p99 $p99 ms, max $(column latency 3) ms; submit->finished p50 $(column latency 8) ms, p99 $(column latency 9) ms; at $(column latency 7) jobs/s; submit round trip p50 $(column latency 5) ms, p99 $(column latency 6) ms (medians of $ROUNDS; p99 rounds $(rounds_of latency 2)); goal p99 <= $goal_p99 ms: $([ "${p99%.*}" -le "$goal_p99" ] && echo met || echo missed)"
        echo "| $today | $machine | latency | claim p50 $(column latency 1) ms, p99 $p99 ms | finished p50 $(column latency 8) ms, p99 $(column latency 9) ms | submit round trip p50 $(column latency 5) ms, p99 $(column latency 6) ms | $concurrency_note; $(column latency 7) jobs/s held; claim p99 rounds $(rounds_of latency 2) |"
        ;;
    esac
done
