#!/usr/bin/env bash
# Peer: BullMQ (bench/peers/bullmq/package.json pins it; `make bench-peers` installs it with npm ci). TOTAL
# no-op jobs added with Queue.addBulk in batches of BATCH (CLIENTS batches in flight, as bench/jobs.sh e2e
# posts them to Rampart), run by one Worker process of concurrency CONCURRENCY, with a redis-server started
# here (free 127.0.0.1 port, temporary directory, no persistence, a password), each process stopped by its
# PID. Timed from the first addBulk to the last job's completion; every job must have completed, none failed.
# Rampart's figure, the same jobs through POST /api/v1/jobs/batch at default settings, comes from
# bench/jobs.sh e2e in the same run (bench/peers/rampart_e2e.sh).
# Last line on stdout: PEER bullmq e2e_jobs_per_s <rampart> <bullmq> <rampart/bullmq>
#
# Usage: bench/peers/bullmq.sh   (make bench runs it)
# Knobs: TOTAL=100000, BATCH=1000, CLIENTS=4, CONCURRENCY=50, RAMPART_E2E (Rampart's figure, if measured already).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
source bench/peers/rampart_e2e.sh

TOTAL=${TOTAL:-100000}
BATCH=${BATCH:-1000}
CLIENTS=${CLIENTS:-4}
CONCURRENCY=${CONCURRENCY:-50}
[ $((TOTAL % BATCH)) -eq 0 ] || die "TOTAL must be a multiple of BATCH"
command -v node >/dev/null 2>&1 || die "install nodejs (make deps)"
[ -d bench/peers/bullmq/node_modules/bullmq ] || die "BullMQ is not installed: make bench-peers"

work=$(mktemp -d /tmp/rampart-peer-bullmq-XXXXXX)
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
export REDIS_PORT=$redis_port REDIS_PASSWORD=$redis_password TOTAL BATCH CLIENTS CONCURRENCY
node bench/peers/bullmq/bench.mjs worker >"$work/worker.out" 2>"$work/worker.err" &
worker_pid=$!
for _ in $(seq 100); do
    grep -q READY "$work/worker.out" && break
    kill -0 "$worker_pid" 2>/dev/null || { cat "$work/worker.err" >&2; die "the BullMQ worker exited"; }
    sleep 0.1
done
grep -q READY "$work/worker.out" || die "the BullMQ worker did not start in 10 s"
version=$(node -p 'require("./bench/peers/bullmq/node_modules/bullmq/package.json").version')
log "bullmq $version: worker (pid $worker_pid), concurrency $CONCURRENCY; adding $TOTAL jobs in batches of $BATCH, $CLIENTS at a time"
read -r _ t0 t1 < <(node bench/peers/bullmq/bench.mjs produce | grep '^ADDED') || die "adding the jobs failed"
[ -n "${t1:-}" ] || die "adding the jobs failed"
for _ in $(seq 900); do
    grep -q '^DONE' "$work/worker.out" && break
    kill -0 "$worker_pid" 2>/dev/null || break
    sleep 1
done
read -r _ completed failed last < <(grep '^DONE' "$work/worker.out") || { cat "$work/worker.err" >&2; die "the BullMQ worker did not finish"; }
wait "$worker_pid" || true
worker_pid=""
read -r _ stored_completed stored_failed open < <(node bench/peers/bullmq/bench.mjs count)
[ "$completed" = "$TOTAL" ] && [ "$failed" = 0 ] && [ "$stored_completed" = "$TOTAL" ] && [ "$stored_failed" = 0 ] && [ "$open" = 0 ] ||
    die "bullmq: $completed completed and $failed failed by the worker's count, $stored_completed completed, $stored_failed failed and $open open in Redis, of $TOTAL"
ms=$((last - t0))
rate=$(awk -v n="$TOTAL" -v ms="$ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
log "bullmq: $TOTAL jobs added in $((t1 - t0)) ms, all completed $ms ms after the first addBulk = $rate jobs/s"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PEER bullmq e2e_jobs_per_s $rampart_rate $rate $(awk -v a="$rampart_rate" -v b="$rate" 'BEGIN { printf "%.2f", a / b }')"
