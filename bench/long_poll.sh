#!/usr/bin/env bash
# Long-poll leasing (POST /api/v1/worker/lease with wait_seconds) against a real Rampart: development mode,
# embedded SQLite, a fresh data directory per run, no in-process workers (RAMPART_JOBS__RUN_WORKERS=false),
# so only the benchmark's external worker runs the jobs.
#   latency - one external worker leases (max 1, wait_seconds 20) and completes each job at once, while
#             single noop jobs are submitted on a fixed schedule (RATE jobs/s for DURATION s, open loop).
#             Per job: submit-to-start = when the worker received the lease answer carrying the job minus
#             when the submitter began its POST (CLOCK_MONOTONIC in both processes). Then the same with a
#             polling worker (no wait_seconds; sleeps POLL_INTERVAL after an empty answer) as the reference.
#   idle    - the server's CPU time (utime + stime of its process, /proc/PID/stat) over IDLE_SECONDS with
#             no waiting worker, then over IDLE_SECONDS with IDLE_WORKERS workers waiting (each its own
#             connection, lease calls with wait_seconds 30, nothing submitted); % of one core.
# A run is rejected if any request got another answer than expected (201 for submits, 200 for leases and
# completes; a 429 too), if a submitted job was never started, or if an idle call leased a job or came back
# before its wait ended. The rate limiter stays on; the user, jobs.submit and worker limits are raised out
# of reach (WORKER_RATE_LIMIT to measure another worker policy).
# Prints each run on stderr, a summary on stdout, and Markdown rows for docs/benchmarks.md.
#
# Usage: bench/long_poll.sh [latency] [idle]      (default: both)
# Knobs: RATE=100 (jobs/s), DURATION=20 (s), POLL_INTERVAL=1.0 (s), LEASE_WAIT=20 (s), SUBMIT_THREADS=4,
#        IDLE_WORKERS=200, IDLE_SECONDS=30, IDLE_WAIT=30 (s), RAMPART_BIN=build/rampart,
#        PYTHON=/usr/bin/python3 (needs requests: Debian's python3-requests),
#        WORKER_RATE_LIMIT=1000000000/hour (RAMPART_RATE_LIMITS__WORKER), LOG_LEVEL=warn (the server's;
#        KEEP_LOGS=DIR copies there each server's logs and /metrics, and the per-job times of each latency
#        run: DIR/latency-*.submits and .starts), MACHINE (text for the table's machine column).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh  # log, die, stop_pid, start_rampart

RATE=${RATE:-100}
DURATION=${DURATION:-20}
POLL_INTERVAL=${POLL_INTERVAL:-1.0}
LEASE_WAIT=${LEASE_WAIT:-20}
SUBMIT_THREADS=${SUBMIT_THREADS:-4}
IDLE_WORKERS=${IDLE_WORKERS:-200}
IDLE_SECONDS=${IDLE_SECONDS:-30}
IDLE_WAIT=${IDLE_WAIT:-30}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
WORKER_RATE_LIMIT=${WORKER_RATE_LIMIT:-1000000000/hour}
LOG_LEVEL=${LOG_LEVEL:-warn}
KEEP_LOGS=${KEEP_LOGS:-}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi


parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(latency idle)
for b in "${parts[@]}"; do
    case "$b" in latency | idle) ;; *) die "unknown benchmark '$b' (latency, idle)" ;; esac
done
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; build it first (make build) or set RAMPART_BIN"
"$PYTHON" -c 'import requests' 2>/dev/null ||
    die "$PYTHON cannot import requests; install Debian's: apt-get install -y --no-install-recommends python3-requests"
for w in "$IDLE_WAIT" "$LEASE_WAIT"; do
    if [ "$w" -lt 1 ] || [ "$w" -gt 30 ]; then die "IDLE_WAIT and LEASE_WAIT are 1 to 30 (the API's bound on wait_seconds)"; fi
done
helper=bench/long_poll.py
expect=$(awk -v r="$RATE" -v d="$DURATION" 'BEGIN { printf "%d", r * d + 0.5 }')
[ "$expect" -ge 2 ] || die "RATE x DURATION must be at least 2 jobs"

# ---- clean-up: each process by its own PID -----------------------------------------------------
work=$(mktemp -d /tmp/rampart-bench-longpoll-XXXXXX)
pid=""        # the server
worker_pid="" # the external worker of a latency run
idle_pid=""   # the idle run's client


cleanup() {
    stop_pid "$worker_pid"
    stop_pid "$idle_pid"
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
secret_key=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')

# ---- one fresh server per run ------------------------------------------------------------------
# Sets pid, base and dir; the worker and user accounts' API tokens are in $dir/worker-token, user-token.
start_server() {
    local name=$1
    dir="$work/$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$work/admin-password" "$dir/admin-password"
    start_rampart "$dir" RAMPART_SECRET_KEY="$secret_key" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
        RAMPART_LOG_LEVEL="$LOG_LEVEL" RAMPART_JOBS__RUN_WORKERS=false \
        RAMPART_RATE_LIMITS__USER=1000000000/hour RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT=1000000000/hour \
        RAMPART_RATE_LIMITS__WORKER="$WORKER_RATE_LIMIT"
    pid=$started_pid
    base=$started_base
    "$PYTHON" "$helper" setup "$base" "$dir" || die "$name: creating the accounts failed"
    log "$name: rampart (pid $pid) on $base; accounts bench-worker (worker) and bench-user (user)"
}

stop_server() {
    # The server's own request durations (GET /metrics, loopback), kept with KEEP_LOGS for a closer look.
    [ -z "$KEEP_LOGS" ] || "$PYTHON" -c 'import requests, sys; sys.stdout.write(requests.get(sys.argv[1] + "/metrics", timeout=10).text)' \
        "$base" >"$dir/metrics" 2>&1 || true
    stop_pid "$pid"
    pid=""
    if [ -n "$KEEP_LOGS" ]; then
        mkdir -p "$KEEP_LOGS"
        local f
        for f in stdout.log stderr.log submits starts metrics; do
            [ ! -f "$dir/$f" ] || cp "$dir/$f" "$KEEP_LOGS/$(basename "$dir").$f"
        done
    fi
}

# The server's CPU time so far (utime + stime, clock ticks; fields 14 and 15 after the command name).
server_ticks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
# The whole machine's busy and total clock ticks so far, summed over its cores (/proc/stat): to see how
# much else ran during a measurement (other processes share the cores with the server and the clients).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# ---- latency: one worker, jobs at a steady rate ------------------------------------------------
# $1: longpoll or poll. Appends `name value` lines to $work/$1.figures.
run_latency() {
    local kind=$1 wait=0 rc=0
    [ "$kind" = poll ] || wait=$LEASE_WAIT
    start_server "latency-$kind"
    log "latency ($kind): a worker leasing max 1$([ "$wait" = 0 ] && echo ", polling every ${POLL_INTERVAL} s when idle" || echo " with wait_seconds $wait"); $expect noop jobs at $RATE/s for ${DURATION} s, $SUBMIT_THREADS submit threads"
    "$PYTHON" "$helper" worker "$base" "$dir" --wait-seconds "$wait" --poll-interval "$POLL_INTERVAL" \
        --expect "$expect" --max-seconds "$(awk -v d="$DURATION" -v p="$POLL_INTERVAL" 'BEGIN { print d + 40 + 2 * p }')" \
        --out "$dir/starts" --ready "$dir/worker-ready" &
    worker_pid=$!
    for _ in $(seq 100); do [ -e "$dir/worker-ready" ] && break; sleep 0.1; done
    [ -e "$dir/worker-ready" ] || die "the worker did not start"
    sleep 1 # its first lease call is waiting (or, polling, has come back empty and sleeps)
    local t0 t1 m0 m1
    t0=$(server_ticks)
    m0=$(machine_ticks)
    "$PYTHON" "$helper" submit "$base" "$dir" --rate "$RATE" --duration "$DURATION" --threads "$SUBMIT_THREADS" \
        --out "$dir/submits" || rc=$?
    [ "$rc" = 0 ] || die "latency ($kind): submits failed (above); run rejected"
    wait "$worker_pid" || rc=$?
    worker_pid=""
    t1=$(server_ticks)
    m1=$(machine_ticks)
    [ "$rc" = 0 ] || { grep -v '^START' "$dir/starts" >&2 || true; die "latency ($kind): the worker failed (status $rc); run rejected"; }
    "$PYTHON" "$helper" report --submits "$dir/submits" --starts "$dir/starts" --expect "$expect" --histogram \
        >"$work/$kind.figures" || rc=$?
    sed "s/^/  latency $kind| /" "$work/$kind.figures" >&2
    [ "$rc" = 0 ] || die "latency ($kind): $(grep -c '^PROBLEM' "$work/$kind.figures") problem(s) above; run rejected"
    # Server CPU from the first submit to the last job's completion, per job; the machine's busy share
    # (all processes: server, benchmark clients and anything else) over the same time, % of all cores.
    awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$expect" -v m0="$m0" -v m1="$m1" 'BEGIN {
        split(m0, a, " "); split(m1, b, " ")
        printf "server_cpu_ms_per_job %.3f\n", t * 1000 / hz / n
        printf "server_cpu_pct %.1f\n", 100 * t / (b[2] - a[2]) * '"$(nproc)"'
        printf "machine_busy_pct %.1f\n", 100 * (b[1] - a[1]) / (b[2] - a[2]) }' >>"$work/$kind.figures"
    log "latency ($kind): server CPU $(fig "$kind" server_cpu_pct) % of a core; the machine's cores $(fig "$kind" machine_busy_pct) % busy (everything together)"
    stop_server
}

fig() { awk -v k="$2" '$1 == k { print $2 }' "$work/$1.figures"; }

# ---- idle: waiting workers against none ---------------------------------------------------------
run_idle() {
    local rc=0
    start_server idle
    sleep 3 # start-up and the accounts' writes behind it
    log "idle: server CPU over ${IDLE_SECONDS} s with no waiting worker (baseline)"
    "$PYTHON" "$helper" cpu --pid "$pid" --seconds "$IDLE_SECONDS" >"$work/baseline.figures"
    log "idle: $IDLE_WORKERS workers waiting (lease calls with wait_seconds $IDLE_WAIT), server CPU over ${IDLE_SECONDS} s"
    "$PYTHON" "$helper" idle "$base" "$dir" --pid "$pid" --workers "$IDLE_WORKERS" --seconds "$IDLE_SECONDS" \
        --wait-seconds "$IDLE_WAIT" >"$work/idle.figures" &
    idle_pid=$!
    wait "$idle_pid" || rc=$?
    idle_pid=""
    sed "s/^/  idle| /" "$work/baseline.figures" "$work/idle.figures" >&2
    [ "$rc" = 0 ] || die "idle: the waiting workers' calls were not all answered as expected (above); run rejected"
    stop_server
}

# ---- run ---------------------------------------------------------------------------------------
machine=${MACHINE:-"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -s ' '), $(nproc) cores"}
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in "${parts[@]}"; do
    case "$b" in
    latency) run_latency longpoll; run_latency poll ;;
    idle) run_idle ;;
    esac
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "load after: $load_after"

today=$(date -u +%Y-%m-%d)
for b in "${parts[@]}"; do
    case "$b" in
    latency)
        p99=$(fig longpoll p99)
        ratio50=$(awk -v a="$(fig poll p50)" -v b="$(fig longpoll p50)" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')
        ratio99=$(awk -v a="$(fig poll p99)" -v b="$p99" 'BEGIN { printf "%.0f", (b > 0 ? a / b : 0) }')
        verdict=$(awk -v p="$p99" 'BEGIN { print (p <= 10 ? "met" : "missed") }')
        for k in longpoll poll; do
            echo "latency $k: submit->start p50 $(fig $k p50) ms, p90 $(fig $k p90) ms, p99 $(fig $k p99) ms, max $(fig $k max) ms, mean $(fig $k mean) ms over $(fig $k count) jobs; submits at $(fig $k rate_held)/s (p99 $(fig $k late_p99) ms behind schedule, max $(fig $k late_max) ms), submit round trip p50 $(fig $k submit_p50) ms, p99 $(fig $k submit_p99) ms; $(fig $k lease_calls) lease calls, $(fig $k empty_leases) empty; server CPU $(fig $k server_cpu_ms_per_job) ms per job; cores $(fig $k machine_busy_pct) % busy"
        done
        echo "latency: polling/long-poll p50 ${ratio50}x, p99 ${ratio99}x; goal p99 <= 10 ms at $RATE jobs/s: $verdict"
        echo "| $today | $machine | long-poll latency | submit->start p50 $(fig longpoll p50) ms, p90 $(fig longpoll p90) ms, p99 $p99 ms, max $(fig longpoll max) ms | polling every ${POLL_INTERVAL} s: p50 $(fig poll p50) ms, p99 $(fig poll p99) ms, max $(fig poll max) ms | ratio p50 ${ratio50}x, p99 ${ratio99}x | $(fig longpoll count) jobs at $(fig longpoll rate_held)/s, wait_seconds $LEASE_WAIT, max 1; server CPU $(fig longpoll server_cpu_ms_per_job) vs $(fig poll server_cpu_ms_per_job) ms/job; cores $(fig longpoll machine_busy_pct) % busy; load after $load_after |"
        ;;
    idle)
        base_pct=$(awk '$1 == "cpu" { print $2 }' "$work/baseline.figures")
        idle_pct=$(awk '$1 == "cpu" { print $2 }' "$work/idle.figures")
        diff_pct=$(awk -v a="$idle_pct" -v b="$base_pct" 'BEGIN { printf "%.2f", a - b }')
        verdict=$(awk -v d="$diff_pct" 'BEGIN { print (d < 2 ? "met" : "missed") }')
        calls=$(awk '$1 == "calls" { print $2 }' "$work/idle.figures")
        wmin=$(awk '$1 == "waited_min" { print $2 }' "$work/idle.figures")
        wmax=$(awk '$1 == "waited_max" { print $2 }' "$work/idle.figures")
        echo "idle: $IDLE_WORKERS waiting workers: server $(printf '%.2f' "$idle_pct") % of a core over ${IDLE_SECONDS} s; none waiting: $(printf '%.2f' "$base_pct") %; difference $diff_pct %; $calls lease calls, all 200 with no job after $wmin-$wmax s; goal < 2 %: $verdict"
        echo "| $today | $machine | long-poll idle | $IDLE_WORKERS waiting: $(printf '%.2f' "$idle_pct") % of a core | none waiting: $(printf '%.2f' "$base_pct") % | difference $diff_pct % | ${IDLE_SECONDS} s each; wait_seconds $IDLE_WAIT; $calls calls, all 200 [] after $wmin-$wmax s; load after $load_after |"
        ;;
    esac
done
