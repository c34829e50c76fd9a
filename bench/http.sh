#!/usr/bin/env bash
# HTTP benchmark: wrk against Rampart's /healthz and against stock nginx serving the same bytes,
# on this machine, one run each; prints req/s, p99 and the ratio, last line a Markdown table row.
# Then the rate limiter's cost: a limited anonymous route (/.well-known/jwks.json) on a Rampart with
# rate limits on (quota high enough that nothing is refused) against one with them off; prints
# that ratio too (SKIP_LIMITER=1 leaves it out). Then, with REDIS=1, the same route on a Rampart whose
# limits are shared through a local redis-server (password, loopback, no persistence) started here:
# every decision is then one script call to Redis.
#
# Usage: bench/http.sh            (from `make bench`, which builds build/rampart first)
# Knobs: DURATION=10 (seconds per run), ROUNDS=3 (alternating runs; medians), THREADS=2, CONNECTIONS=50, RAMPART_BIN=build/rampart,
#        NGINX=/usr/sbin/nginx, MACHINE="free text for the table" (default: CPU model and cores).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
NGINX=${NGINX:-/usr/sbin/nginx}

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

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

# stop_pid: bench/lib.sh
source bench/lib.sh  # the scripts run from the repository root (cd above)

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
# start_rampart NAME [VAR=value ...]: starts build/rampart in $work/NAME with these extra variables;
# sets started_pid and started_port.
start_rampart() {
    local name=$1
    shift
    mkdir -p "$work/$name/data"
    env -i PATH="$PATH" HOME="${HOME:-$work}" \
        RAMPART_ENV=development RAMPART_DATA_DIR="$work/$name/data" \
        RAMPART_LOG_LEVEL=warn RAMPART_ACCESS_LOG=${RAMPART_ACCESS_LOG:-false} "$@" \
        "$RAMPART_BIN" serve --listen 127.0.0.1:0 --port-file "$work/$name/port" \
        >"$work/$name/stdout.log" 2>"$work/$name/stderr.log" &
    started_pid=$!
    for _ in $(seq 150); do
        [ -s "$work/$name/port" ] && break
        kill -0 "$started_pid" 2>/dev/null || { cat "$work/$name/stderr.log" >&2; die "$name exited during start-up"; }
        sleep 0.1
    done
    [ -s "$work/$name/port" ] || { cat "$work/$name/stderr.log" >&2; die "$name wrote no port file in 15 s"; }
    started_port=$(tr -d '[:space:]' <"$work/$name/port")
    log "$name (pid $started_pid) on port $started_port"
}

# Rate limits on, with an anonymous quota no benchmark reaches (/healthz is never limited anyway).
start_rampart rampart RAMPART_RATE_LIMITS__ANON=1000000000/hour
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
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mkdir -p "$work/nginx"
nginx_port=""
for _ in $(seq 10); do
    candidate=$((20000 + RANDOM % 40000))
    port_in_use "$candidate" && continue
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/client_body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$candidate;
        location = /healthz {
            default_type application/json;
            return 200 '$nginx_body';
        }
    }
}
NGINX
    "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' \
        >"$work/nginx/stdout.log" 2>"$work/nginx/stderr.log" &
    nginx_pid=$!
    for _ in $(seq 50); do
        kill -0 "$nginx_pid" 2>/dev/null || break
        port_in_use "$candidate" && { nginx_port=$candidate; break; }
        sleep 0.1
    done
    [ -n "$nginx_port" ] && break
    # Lost a race for the port (or failed for another reason): show why, then try another port.
    cat "$work/nginx/stderr.log" "$work/nginx/error.log" >&2 2>/dev/null || true
    stop_pid "$nginx_pid"
    nginx_pid=""
done
[ -n "$nginx_port" ] || die "nginx did not start"
log "nginx (pid $nginx_pid) on port $nginx_port"

nginx_check=$(curl -fsS --max-time 5 -H 'Host: 127.0.0.1' "http://127.0.0.1:$nginx_port/healthz")
[ "$nginx_check" = "$body" ] || die "nginx serves '$nginx_check', rampart serves '$body'"

# ---- measurement -----------------------------------------------------------------------------
# Prints "<requests/s> <p99 in ms>" for one wrk run; fails if any response was not 2xx/3xx.
measure() {
    local name=$1 port=$2 path=${3:-/healthz} out
    log "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency against $name $path"
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H 'Host: 127.0.0.1' \
        "http://127.0.0.1:$port$path")
    printf '%s\n' "$out" | sed "s/^/  $name| /" >&2
    if printf '%s\n' "$out" | grep -q 'Non-2xx or 3xx responses'; then
        die "$name answered with errors during the run; the figures would be meaningless"
    fi
    printf '%s\n' "$out" | grep -q 'Socket errors' && log "warning: $name had socket errors (see above)"
    printf '%s\n' "$out" | awk '
        /^Requests\/sec:/ { rps = $2 }
        $1 == "99%" {
            v = $2
            if (v ~ /us$/)      { sub(/us$/, "", v); p99 = v / 1000 }
            else if (v ~ /ms$/) { sub(/ms$/, "", v); p99 = v }
            else if (v ~ /s$/)  { sub(/s$/, "", v);  p99 = v * 1000 }
            else if (v ~ /m$/)  { sub(/m$/, "", v);  p99 = v * 60000 }
        }
        END {
            if (rps == "" || p99 == "") exit 1
            printf "%.0f %.2f\n", rps, p99
        }' || die "could not read wrk's output for $name"
}

# Alternate the two servers ROUNDS times and take the median of each: on a shared machine a single
# pair of runs can differ by a third from the next.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
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

machine=${MACHINE:-"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -s ' '), $(nproc) cores"}

echo "rampart: ${rampart_rps} req/s, p99 ${rampart_p99} ms (medians of $ROUNDS rounds)"
echo "nginx:   ${nginx_rps} req/s, p99 ${nginx_p99} ms"
echo "ratio rampart/nginx: ${ratio}"
echo "| $(date -u +%Y-%m-%d) | ${machine} | ${rampart_rps} | ${nginx_rps} | ${ratio} | ${rampart_p99} ms | ${nginx_p99} ms |"

# ---- the rate limiter's cost -----------------------------------------------------------------
[ "${SKIP_LIMITER:-0}" = 1 ] && exit 0
start_rampart unlimited RAMPART_RATE_LIMITS__ENABLED=false
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
command -v redis-server >/dev/null 2>&1 || die "REDIS=1 needs Debian's redis-server"
mkdir -p "$work/redis"
redis_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
redis_port=""
for _ in $(seq 10); do
    candidate=$((20000 + RANDOM % 40000))
    port_in_use "$candidate" && continue
    redis_port=$candidate
    break
done
[ -n "$redis_port" ] || die "no free port for redis-server"
printf 'port %s\nbind 127.0.0.1\ndir %s\nsave ""\nappendonly no\nrequirepass %s\n' \
    "$redis_port" "$work/redis" "$redis_password" >"$work/redis/redis.conf"
redis-server "$work/redis/redis.conf" >"$work/redis/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do
    port_in_use "$redis_port" && break
    sleep 0.1
done
port_in_use "$redis_port" || { cat "$work/redis/redis.log" >&2; die "redis-server did not start"; }
start_rampart redis RAMPART_RATE_LIMITS__ANON=1000000000/hour \
    RAMPART_REDIS_URL="redis://:$redis_password@127.0.0.1:$redis_port"
redis_rampart_pid=$started_pid
redis_rampart_port=$started_port
compare_with_off limiter-redis "$redis_rampart_port" "through Redis: "
grep -q 'rampart_rate_limit_fallback_active 0' <(curl -fsS --max-time 5 -H 'Host: 127.0.0.1' \
    "http://127.0.0.1:$redis_rampart_port/metrics") || die "the Redis-backed server fell back to memory"
