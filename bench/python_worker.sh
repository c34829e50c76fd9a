#!/usr/bin/env bash
# One Python SDK worker against one Celery 5 worker, same machine, same run, same concurrency:
#   rampart - N no-op jobs of a declared task type (bench.noop, on a queue only external workers serve)
#             submitted with the SDK's submit_many (POST /api/v1/jobs/batch, 1,000 a request), run by ONE
#             `python -m rampart worker` process (threads, --concurrency C); timed from the first submit
#             to the last job's finish time in the store.
#   celery  - the same N no-op tasks through Debian's python3-celery with a redis-server broker and result
#             backend started here (free port, temporary directory, no persistence), run by ONE prefork
#             worker (-c C); each sent with apply_async over one producer connection (Celery has no batch
#             submit); timed from the first send to the last result's date_done.
# Rampart runs as bench/jobs.sh runs it: development mode, a fresh data directory, the rate limiter on with
# the user, jobs.submit and worker limits raised out of reach (a server without the worker policy ignores
# its variable). Only the answers meant count: the SDK clients retry nothing (max_retries=0), so a 429 or
# any error ends the run instead of being hidden by a retry; a worker log with any warning or error, or any
# 4xx/5xx in the server's rampart_http_requests_total, rejects it; every job must have succeeded on its
# first attempt, every Celery task with SUCCESS. Each process is stopped by its PID.
# Prints each step on stderr; on stdout both rates, the ratio and a Markdown row for docs/benchmarks.md.
#
# Usage: bench/python_worker.sh
# Knobs: N=20000, CONCURRENCY=8, WAIT_SECONDS and PREFETCH (unset: the SDK worker's defaults; else passed
#        to it: 0 to 30 for the long-poll wait, 0 polls; jobs leased beyond its free threads),
#        RAMPART_BIN=build/rampart, PYTHON=/usr/bin/python3
#        (Debian's, which sees python3-celery), MACHINE (text for the table's machine column), KEEP_WORK (set:
#        keep the work directory, with the logs and the store, and say where).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh  # log, die, stop_pid, start_rampart, start_redis
repo=$(pwd)

N=${N:-20000}
CONCURRENCY=${CONCURRENCY:-8}
WAIT_SECONDS=${WAIT_SECONDS:-}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
PYTHON=${PYTHON:-/usr/bin/python3}


case "$N" in '' | *[!0-9]*) die "N is a whole number" ;; esac
case "$CONCURRENCY" in '' | *[!0-9]*) die "CONCURRENCY is a whole number" ;; esac
[ -z "$WAIT_SECONDS" ] || case "$WAIT_SECONDS" in *[!0-9]*) die "WAIT_SECONDS is a whole number, 0 to 30" ;; esac
PREFETCH=${PREFETCH:-}
[ -z "$PREFETCH" ] || case "$PREFETCH" in *[!0-9]*) die "PREFETCH is a whole number" ;; esac

# ---- prerequisites: Debian packages only -------------------------------------------------------
missing=""
for tool in curl jq sqlite3 redis-server; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"  # each tool's package has its name
done
"$PYTHON" -c 'import requests' 2>/dev/null || missing="$missing python3-requests"
"$PYTHON" -c 'import celery' 2>/dev/null || missing="$missing python3-celery"
"$PYTHON" -c 'import redis' 2>/dev/null || missing="$missing python3-redis"
[ -z "$missing" ] || die "missing Debian packages; install with: apt-get install -y --no-install-recommends$missing"
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; build it first (make build)"
RAMPART_BIN=$(cd "$(dirname "$RAMPART_BIN")" && pwd)/$(basename "$RAMPART_BIN")

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- clean-up: each process by its own PID -----------------------------------------------------
work=$(mktemp -d /tmp/rampart-bench-pyworker-XXXXXX)
server_pid=""
worker_pid=""
redis_pid=""
cleanup() {
    stop_pid "$worker_pid"
    stop_pid "$server_pid"
    stop_pid "$redis_pid"
    [ -n "${KEEP_WORK:-}" ] && log "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---- the Python side: worker module, Celery app, and the driver that submits and times ---------
cat >"$work/bench_worker.py" <<'PY'
"""The Rampart worker: one no-op task; its client retries nothing, so a 429 shows in the log."""
import logging
import os

import rampart

# WAIT_SECONDS and PREFETCH, when set, replace the worker's defaults (0 waits not: it polls).
options = {name.lower(): int(os.environ[name]) for name in ("WAIT_SECONDS", "PREFETCH")
           if os.environ.get(name)}
worker = rampart.Worker(rampart.Client(max_retries=0), queues=["bench"], **options)


class _Lifecycle(logging.Filter):
    """Keeps the worker's start and stop lines and every warning; drops the two info lines per job."""

    def filter(self, record):
        return record.levelno > logging.INFO or not record.getMessage().startswith("job ")


logging.getLogger("rampart.worker").addFilter(_Lifecycle())


@worker.task("bench.noop")
def noop(args, ctx):
    return None
PY

cat >"$work/bench_celery.py" <<'PY'
"""The Celery app: one no-op task; results in Redis (their date_done times the run)."""
import os

from celery import Celery

app = Celery("bench_celery", broker=os.environ["CELERY_BROKER_URL"],
             backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_default_queue="bench", result_expires=None)


@app.task(name="bench.noop")
def noop():
    return None
PY

cat >"$work/driver.py" <<'PY'
"""Submits N jobs and waits for them. Prints: first-submit time, submits-done time, last-finish time
(all epoch milliseconds), then the count that succeeded."""
import datetime
import json
import sqlite3
import sys
import time

mode, n = sys.argv[1], int(sys.argv[2])


def now_ms():
    return int(time.time() * 1000)


if mode == "rampart":
    import rampart

    url, token, db = sys.argv[3:6]
    client = rampart.Client(url, token=token, max_retries=0)  # a 429 raises: the run is void
    jobs = [{"task": "bench.noop", "args": {}} for _ in range(n)]
    t0 = now_ms()
    submitted = client.submit_many(jobs)
    t1 = now_ms()
    assert len(submitted) == n, f"{len(submitted)} of {n} jobs acknowledged"
    store = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    deadline = time.monotonic() + 900
    while store.execute("SELECT count(*) FROM jobs WHERE finished IS NULL").fetchone()[0]:
        if time.monotonic() > deadline:
            sys.exit("jobs still unfinished after 900 s")
        time.sleep(0.2)
    last, ok = store.execute("SELECT max(finished), sum(state = 'succeeded' AND attempts = 1) FROM jobs "
                             "WHERE task = 'bench.noop'").fetchone()
    print(t0, t1, last, ok)
else:
    import redis

    from bench_celery import app, noop

    backend = redis.Redis.from_url(sys.argv[3])
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):  # the worker is up and consuming
        if time.monotonic() > deadline:
            sys.exit("the Celery worker did not answer a ping within 60 s")
    t0 = now_ms()
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            noop.apply_async(producer=producer)
    t1 = now_ms()
    deadline = time.monotonic() + 900
    while backend.dbsize() < n:
        if time.monotonic() > deadline:
            sys.exit(f"{backend.dbsize()} of {n} results after 900 s")
        time.sleep(0.2)
    keys = backend.keys("celery-task-meta-*")
    last, ok = 0, 0
    for i in range(0, len(keys), 1000):
        for raw in backend.mget(keys[i:i + 1000]):
            meta = json.loads(raw)
            ok += meta["status"] == "SUCCESS"
            done = datetime.datetime.fromisoformat(meta["date_done"])
            if done.tzinfo is None:  # Celery writes UTC without an offset
                done = done.replace(tzinfo=datetime.timezone.utc)
            last = max(last, int(done.timestamp() * 1000))
    print(t0, t1, last, ok)
PY

# ---- Rampart ------------------------------------------------------------------------------------
cat >"$work/rampart.toml" <<'TOML'
[jobs]
queues = ["default", "bench"]
[jobs.queue.bench]
concurrency = 0                 # only the Python worker runs it
[tasks."bench.noop"]
description = "does nothing"
args_schema = { type = "object" }
queue = "bench"
TOML
password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
start_rampart "$work/rampart" RAMPART_SECRET_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')" \
    RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    RAMPART_RATE_LIMITS__USER=1000000000/hour RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT=1000000000/hour \
    RAMPART_RATE_LIMITS__WORKER=1000000000/hour -- --config "$work/rampart.toml"
server_pid=$started_pid
base=$started_base
db="$work/rampart/data/rampart.db"

api() {  # METHOD PATH BEARER [JSON]: the answer's body; fails on any status but 200/201
    curl -fsS --max-time 30 -X "$1" "$base$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        ${4:+-d "$4"}
}
admin=$(login_token "$base" admin "$password")
user_password="bench Heron 17 reads the tide"
personal_token() {  # USERNAME ROLE SCOPES-JSON
    api POST /api/v1/users "$admin" \
        "$(jq -cn --arg u "$1" --arg r "$2" --arg p "$user_password" '{username: $u, role: $r, password: $p}')" >/dev/null
    api POST /api/v1/tokens "$(login_token "$base" "$1" "$user_password")" \
        "$(jq -cn --argjson s "$3" '{name: "bench", scopes: $s}')" | jq -r .token
}
app_token=$(personal_token bench-app user '["jobs:read", "jobs:write"]')
worker_token=$(personal_token bench-worker worker '["worker"]')
log "rampart (pid $server_pid) on $base"

env RAMPART_URL="$base" RAMPART_TOKEN="$worker_token" WAIT_SECONDS="$WAIT_SECONDS" PREFETCH="$PREFETCH" \
    PYTHONPATH="$repo/clients/python/src:$work" \
    "$PYTHON" -m rampart worker bench_worker:worker --concurrency "$CONCURRENCY" --log-level info \
    >"$work/rampart-worker.log" 2>&1 &
worker_pid=$!
for _ in $(seq 100); do
    grep -q "worker started" "$work/rampart-worker.log" && break
    kill -0 "$worker_pid" 2>/dev/null || { cat "$work/rampart-worker.log" >&2; die "the SDK worker exited"; }
    sleep 0.1
done
grep -q "worker started" "$work/rampart-worker.log" || die "the SDK worker did not start in 10 s"
log "rampart: SDK worker (pid $worker_pid), concurrency $CONCURRENCY${WAIT_SECONDS:+, wait_seconds $WAIT_SECONDS}${PREFETCH:+, prefetch $PREFETCH}; submitting $N jobs"
read -r r_t0 r_t1 r_last r_ok < <(PYTHONPATH="$repo/clients/python/src" "$PYTHON" "$work/driver.py" rampart "$N" \
    "$base" "$app_token" "$db") || die "the rampart run failed"
stop_pid "$worker_pid"
worker_pid=""
[ "$r_ok" = "$N" ] || die "rampart: $r_ok of $N jobs succeeded on their first attempt: $(sqlite3 -readonly "$db" \
    "SELECT state, attempts, count(*) FROM jobs GROUP BY 1, 2" | tr '\n' ' ')"
if grep -E ' (WARNING|ERROR) ' "$work/rampart-worker.log" >&2; then die "rampart: the worker logged the warnings above"; fi
# The server's own count of its answers: any 4xx (a 429 above all) or 5xx voids the run.
refused=$(curl -fsS --max-time 10 "$base/metrics" | awk '/^rampart_http_requests_total\{/ && /status="[45][0-9][0-9]"/ && $NF > 0 { print }')
[ -z "$refused" ] || { printf '%s\n' "$refused" >&2; die "rampart: the server answered the requests above with an error"; }
stop_pid "$server_pid"
server_pid=""
r_ms=$((r_last - r_t0))
r_rate=$(awk -v n="$N" -v ms="$r_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
log "rampart: $N jobs submitted in $((r_t1 - r_t0)) ms, all succeeded $r_ms ms after the first submit = $r_rate jobs/s"

# ---- Celery -------------------------------------------------------------------------------------
start_redis "$work/redis"
broker="redis://:$redis_password@127.0.0.1:$redis_port/0"
backend="redis://:$redis_password@127.0.0.1:$redis_port/1"
(cd "$work" && exec env CELERY_BROKER_URL="$broker" CELERY_RESULT_BACKEND="$backend" \
    "$PYTHON" -m celery -A bench_celery worker -Q bench -c "$CONCURRENCY" -P prefork \
    --without-gossip --without-mingle --loglevel warning) >"$work/celery-worker.log" 2>&1 &
worker_pid=$!
log "celery: prefork worker (pid $worker_pid), concurrency $CONCURRENCY; submitting $N tasks once it answers a ping"
read -r c_t0 c_t1 c_last c_ok < <(cd "$work" && CELERY_BROKER_URL="$broker" CELERY_RESULT_BACKEND="$backend" \
    "$PYTHON" "$work/driver.py" celery "$N" "$backend") || { cat "$work/celery-worker.log" >&2; die "the celery run failed"; }
stop_pid "$worker_pid"
worker_pid=""
[ "$c_ok" = "$N" ] || die "celery: $c_ok of $N tasks succeeded"
if grep -E '(WARNING|ERROR|CRITICAL)' "$work/celery-worker.log" >&2; then die "celery: the worker logged the lines above"; fi
c_ms=$((c_last - c_t0))
c_rate=$(awk -v n="$N" -v ms="$c_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
log "celery: $N tasks sent in $((c_t1 - c_t0)) ms, all succeeded $c_ms ms after the first send = $c_rate tasks/s"

# ---- summary ------------------------------------------------------------------------------------
machine=$(machine_name)
ratio=$(awk -v r="$r_rate" -v c="$c_rate" 'BEGIN { printf "%.2f", r / c }')
celery_version=$("$PYTHON" -c 'import celery; print(celery.__version__)')
echo "rampart: $r_rate jobs/s ($N no-op jobs, one SDK worker process, concurrency $CONCURRENCY, $r_ms ms end to end)"
echo "celery:  $c_rate tasks/s ($N no-op tasks, Celery $celery_version, redis broker and backend, one prefork worker, concurrency $CONCURRENCY, $c_ms ms end to end)"
echo "ratio rampart/celery: $ratio"
echo "| $(date -u +%Y-%m-%d) | $machine | $N | $CONCURRENCY | $r_rate jobs/s ($r_ms ms) | $c_rate tasks/s ($c_ms ms) | $ratio | ${WAIT_SECONDS:+wait_seconds $WAIT_SECONDS; }${PREFETCH:+prefetch $PREFETCH; }Celery $celery_version; load before $load_before |"
