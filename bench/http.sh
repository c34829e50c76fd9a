#!/usr/bin/env bash
# HTTP benchmark: wrk against Rampart's /healthz and against stock nginx serving the same bytes,
# on this machine, one run each; prints req/s, p99 and the ratio, last line a Markdown table row.
# Then the rate limiter's cost: a limited anonymous route (/.well-known/jwks.json) on a Rampart with
# rate limits on (quota high enough that nothing is refused) against one with them off; prints
# that ratio too (SKIP_LIMITER=1 leaves it out). Then, with REDIS=1, the same route on a Rampart whose
# limits are shared through a local redis-server (password, loopback, no persistence) started here:
# every decision is then one script call to Redis.
#
# Usage: bench/http.sh            (from `make bench-scripts`, which builds build/rampart first)
# Knobs: DURATION=10 (seconds per run), ROUNDS=3 (alternating runs; medians), THREADS=2, CONNECTIONS=50, RAMPART_BIN=build/rampart,
#        NGINX=/usr/sbin/nginx, MACHINE="free text for the table" (default: CPU model and cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh  # stop_pid, start_rampart, start_redis, wrk_counted, median

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
NGINX=${NGINX:-/usr/sbin/nginx}

# ---- prerequisites ---------------------------------------------------------------------------
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
[ -x "$NGINX" ] || missing="$missing nginx-light"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
    die "missing Debian packages; install with: apt-get install -y --no-install-recommends$missing"
fi
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; build it first (make build, or make bench)"

# ---- clean-up: each server by its own PID ----------------------------------------------------
work=$(mktemp -d /tmp/rampart-bench-XXXXXX)
rampart_pid=""
nginx_pid=""
unlimited_pid=""
redis_rampart_pid=""
redis_pid=""

cleanup() {
    stop_pid "$rampart_pid"
    stop_pid "$unlimited_pid"
    stop_pid "$nginx_pid"
    stop_pid "$redis_rampart_pid"
    stop_pid "$redis_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Rampart ---------------------------------------------------------------------------------
# Rate limits on, with an anonymous quota no benchmark reaches (/healthz is never limited anyway).
start_rampart "$work/rampart" RAMPART_RATE_LIMITS__ANON=1000000000/hour
rampart_pid=$started_pid
rampart_port=$started_port

body=$(curl -fsS --max-time 5 -H 'Host: 127.0.0.1' "http://127.0.0.1:$rampart_port/healthz") ||
    die "GET /healthz on rampart failed"
content_type=$(curl -fsS --max-time 5 -o /dev/null -w '%{content_type}' -H 'Host: 127.0.0.1' \
    "http://127.0.0.1:$rampart_port/healthz")
case "$content_type" in
    application/json*) ;;
    *) log "warning: rampart's /healthz Content-Type is '$content_type', nginx will send application/json" ;;
esac
# nginx interpolates $ in strings and has no escape for it.
case "$body" in *'$'*) die "the /healthz body contains '\$', which nginx's return cannot reproduce: $body" ;; esac
nginx_body=$(printf '%s' "$body" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")

# ---- nginx -----------------------------------------------------------------------------------
# Stock settings except the access log (off on both sides) and the one location.
start_nginx "$work/nginx" "location = /healthz { default_type application/json; return 200 '$nginx_body'; }"

nginx_check=$(curl -fsS --max-time 5 -H 'Host: 127.0.0.1' "http://127.0.0.1:$nginx_port/healthz")
[ "$nginx_check" = "$body" ] || die "nginx serves '$nginx_check', rampart serves '$body'"

# ---- measurement -----------------------------------------------------------------------------
# Prints "<requests/s> <p99 in ms>" for one wrk run, counting 200s only; any other answer or a socket
# error rejects the run (wrk_counted, bench/lib.sh).
measure() {
    local name=$1 port=$2 path=${3:-/healthz}
    wrk_counted "$name" 200 "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'Host: 127.0.0.1' \
        "http://127.0.0.1:$port$path" | cut -d' ' -f1,2
}

# Alternate the two servers ROUNDS times and take the median of each: on a shared machine a single
# pair of runs can differ by a third from the next.
: >"$work/rampart.results"
: >"$work/nginx.results"
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    measure rampart "$rampart_port" >>"$work/rampart.results"
    measure nginx "$nginx_port" >>"$work/nginx.results"
done
rampart_rps=$(cut -d' ' -f1 "$work/rampart.results" | median)
rampart_p99=$(cut -d' ' -f2 "$work/rampart.results" | median)
nginx_rps=$(cut -d' ' -f1 "$work/nginx.results" | median)
nginx_p99=$(cut -d' ' -f2 "$work/nginx.results" | median)
log "rampart req/s per round: $(cut -d' ' -f1 "$work/rampart.results" | tr '\n' ' ')"
log "nginx req/s per round:   $(cut -d' ' -f1 "$work/nginx.results" | tr '\n' ' ')"
ratio=$(awk -v r="$rampart_rps" -v n="$nginx_rps" 'BEGIN { printf "%.2f", (n > 0 ? r / n : 0) }')

machine=$(machine_name)

echo "rampart: ${rampart_rps} req/s, p99 ${rampart_p99} ms (medians of $ROUNDS rounds)"
echo "nginx:   ${nginx_rps} req/s, p99 ${nginx_p99} ms"
echo "ratio rampart/nginx: ${ratio}"
echo "| $(date -u +%Y-%m-%d) | ${machine} | ${rampart_rps} | ${nginx_rps} | ${ratio} | ${rampart_p99} ms | ${nginx_p99} ms |"

# ---- the rate limiter's cost -----------------------------------------------------------------
[ "${SKIP_LIMITER:-0}" = 1 ] && exit 0
start_rampart "$work/unlimited" RAMPART_RATE_LIMITS__ENABLED=false
unlimited_pid=$started_pid
unlimited_port=$started_port
limited_path=/.well-known/jwks.json
headers=$(curl -fsS --max-time 5 -D - -o /dev/null -H 'Host: 127.0.0.1' "http://127.0.0.1:$rampart_port$limited_path") ||
    die "GET $limited_path on rampart failed"
printf '%s' "$headers" | grep -qi '^RateLimit:' || die "$limited_path carries no RateLimit header: is it limited?"
# compare_with_off NAME PORT LABEL [GOAL]: ROUNDS alternating runs of $limited_path on PORT and on the
# server with rate limits off; prints medians, the ratio and a Markdown row whose first column is LABEL.
compare_with_off() {
    local name=$1 port=$2 label=$3 goal=${4:-}
    : >"$work/$name.results"
    : >"$work/$name-off.results"
    for round in $(seq "$ROUNDS"); do
        log "$name round $round of $ROUNDS"
        measure "$name" "$port" "$limited_path" >>"$work/$name.results"
        measure limiter-off "$unlimited_port" "$limited_path" >>"$work/$name-off.results"
    done
    local on_rps on_p99 off_rps off_p99 ratio
    on_rps=$(cut -d' ' -f1 "$work/$name.results" | median)
    on_p99=$(cut -d' ' -f2 "$work/$name.results" | median)
    off_rps=$(cut -d' ' -f1 "$work/$name-off.results" | median)
    off_p99=$(cut -d' ' -f2 "$work/$name-off.results" | median)
    log "$name req/s per round:    $(cut -d' ' -f1 "$work/$name.results" | tr '\n' ' ')"
    log "limiter off req/s per round: $(cut -d' ' -f1 "$work/$name-off.results" | tr '\n' ' ')"
    ratio=$(awk -v a="$on_rps" -v b="$off_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    echo "$name: ${on_rps} req/s, p99 ${on_p99} ms ($limited_path, medians of $ROUNDS rounds)"
    echo "limiter off: ${off_rps} req/s, p99 ${off_p99} ms"
    echo "ratio $name/off: ${ratio}${goal:+ (goal: $goal)}"
    echo "| $(date -u +%Y-%m-%d) | ${machine} | ${label}${on_rps} | ${off_rps} | ${ratio} | ${on_p99} ms | ${off_p99} ms |"
}
compare_with_off limiter-on "$rampart_port" "" ">= 0.9"

# ---- the same through Redis (REDIS=1) ----------------------------------------------------------
[ "${REDIS:-0}" = 1 ] || exit 0
start_redis "$work/redis"
start_rampart "$work/redis-rampart" RAMPART_RATE_LIMITS__ANON=1000000000/hour \
    RAMPART_REDIS_URL="redis://:$redis_password@127.0.0.1:$redis_port"
redis_rampart_pid=$started_pid
redis_rampart_port=$started_port
compare_with_off limiter-redis "$redis_rampart_port" "through Redis: "
curl -fsS --max-time 5 -H 'Host: 127.0.0.1' -o "$work/redis-metrics" "http://127.0.0.1:$redis_rampart_port/metrics" ||
    die "GET /metrics on the Redis-backed server failed"
grep -q 'rampart_rate_limit_fallback_active 0' "$work/redis-metrics" || die "the Redis-backed server fell back to memory"
