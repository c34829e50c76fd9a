#!/usr/bin/env bash
# Peer: Celery 5 (Debian's python3-celery, python3-redis). TOTAL no-op tasks sent with apply_async over one
# producer connection (Celery has no batch submit) to a redis-server broker and result backend started here
# (free 127.0.0.1 port, temporary directory, no persistence, a password), run by one prefork worker of
# CONCURRENCY processes (default: the number of cores), each process stopped by its PID. Timed from the
# first send to the last result's date_done; every task must have SUCCESS and the worker log no warning.
# Rampart's figure: bench/jobs.sh e2e in the same run (bench/peers/rampart_e2e.sh).
# Last line on stdout: PEER celery e2e_jobs_per_s <rampart> <celery> <rampart/celery>
#
# Usage: bench/peers/celery.sh   (make bench runs it)
# Knobs: TOTAL=100000, BATCH=1000 and CLIENTS=4 (Rampart's side), CONCURRENCY=$(nproc), PYTHON=/usr/bin/python3,
#        RAMPART_E2E (Rampart's figure, if measured already).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
source bench/peers/rampart_e2e.sh

TOTAL=${TOTAL:-100000}
BATCH=${BATCH:-1000}
CLIENTS=${CLIENTS:-4}
CONCURRENCY=${CONCURRENCY:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
"$PYTHON" -c 'import celery, redis' 2>/dev/null || die "install python3-celery and python3-redis (make deps)"

work=$(mktemp -d /tmp/rampart-peer-celery-XXXXXX)
redis_pid=""
worker_pid=""
cleanup() {
    stop_pid "$worker_pid"
    stop_pid "$redis_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
rampart_e2e

start_redis "$work/redis"
export CELERY_BROKER_URL="redis://:$redis_password@127.0.0.1:$redis_port/0"
export CELERY_RESULT_BACKEND="redis://:$redis_password@127.0.0.1:$redis_port/1"
export PYTHONPATH="$PWD/bench/peers"
"$PYTHON" -m celery -A celery_app worker -Q bench -c "$CONCURRENCY" -P prefork \
    --without-gossip --without-mingle --loglevel warning >"$work/worker.log" 2>&1 &
worker_pid=$!
version=$("$PYTHON" -c 'import celery; print(celery.__version__)')
log "celery $version: prefork worker (pid $worker_pid), concurrency $CONCURRENCY; sending $TOTAL tasks once it answers a ping"
read -r _ t0 t1 last ok < <("$PYTHON" bench/peers/celery_app.py "$TOTAL" | grep '^SENT') || true
[ -n "${ok:-}" ] || { cat "$work/worker.log" >&2; die "the celery run failed"; }
stop_pid "$worker_pid"
worker_pid=""
[ "$ok" = "$TOTAL" ] || die "celery: $ok of $TOTAL tasks succeeded"
if grep -E '(WARNING|ERROR|CRITICAL)' "$work/worker.log" >&2; then die "celery: the worker logged the lines above"; fi
ms=$((last - t0))
rate=$(awk -v n="$TOTAL" -v ms="$ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
log "celery: $TOTAL tasks sent in $((t1 - t0)) ms, all succeeded $ms ms after the first send = $rate tasks/s"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PEER celery e2e_jobs_per_s $rampart_rate $rate $(awk -v a="$rampart_rate" -v b="$rate" 'BEGIN { printf "%.2f", a / b }')"
