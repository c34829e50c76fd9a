#!/usr/bin/env bash
# Peer: nginx, the HTTP ceiling. wrk against Rampart's authenticated GET /api/v1/jobs/{id} (an access
# token, JWT; CREDENTIAL=token: a personal API token) and against Debian's nginx serving the same JSON
# bytes from a file at the same path (stock settings, access log off), alternating ROUNDS times, medians.
# Rampart keeps its rate limiter on with the user limit raised out of reach, access log off. Only 200s
# count; any other answer or a socket error rejects the run (wrk_counted, bench/lib.sh).
# Last line on stdout: PEER nginx get_job_req_per_s <rampart> <nginx> <rampart/nginx>
#
# Usage: bench/peers/nginx.sh   (make bench runs it)
# Knobs: DURATION=10, ROUNDS=3, THREADS=2, CONNECTIONS=50, CREDENTIAL=jwt|token, RAMPART_BIN=build/rampart,
# COUNT=2xx (or an exact status: counted per answer in wrk's Lua, which costs wrk CPU), PERF_DIR (set:
# `perf record $PERF_ARGS` on Rampart during each of its rounds, files kept there).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
CREDENTIAL=${CREDENTIAL:-jwt}
COUNT=${COUNT:-2xx}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
command -v wrk >/dev/null 2>&1 || die "install wrk (make deps)"
command -v jq >/dev/null 2>&1 || die "install jq (make deps)"
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; run make build"

work=$(mktemp -d /tmp/rampart-peer-nginx-XXXXXX)
pid=""
nginx_pid=""
cleanup() {
    stop_pid "$perf_pid" INT
    stop_pid "$nginx_pid"
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
start_rampart "$work/rampart" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    RAMPART_RATE_LIMITS__USER=1000000000/hour
pid=$started_pid
base=$started_base
access=$(login_token "$base" admin "$password")
job=$(submit_noop "$base" "$access")
bearer=$access
if [ "$CREDENTIAL" = token ]; then
    bearer=$(curl -fsS -X POST "$base/api/v1/tokens" -H "Authorization: Bearer $bearer" \
        -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["jobs:read"]}' | jq -r .token)
    [ -n "$bearer" ] && [ "$bearer" != null ] || die "creating an API token failed"
fi
path="/api/v1/jobs/$job"
# The job finishes (a no-op), so its JSON stops changing: both servers then answer the same bytes.
for _ in $(seq 100); do
    state=$(curl -fsS "$base$path" -H "Authorization: Bearer $bearer" | jq -r .state)
    [ "$state" = succeeded ] && break
    sleep 0.1
done
[ "$state" = succeeded ] || die "job $job is still $state"
curl -fsS -o "$work/job.json" "$base$path" -H "Authorization: Bearer $bearer"

# nginx's workers run as www-data when started by root: they may read the file and nothing else here.
mkdir -p "$work/www"
cp "$work/job.json" "$work/www/job.json"
chmod 711 "$work"
chmod 755 "$work/www"
chmod 644 "$work/www/job.json"
start_nginx "$work/nginx" "location = $path { default_type application/json; alias $work/www/job.json; }"
cmp -s "$work/job.json" <(curl -fsS "http://127.0.0.1:$nginx_port$path") || die "nginx does not serve Rampart's bytes"

log "load before: $(cut -d' ' -f1-3 /proc/loadavg); GET $path ($(wc -c <"$work/job.json") bytes), $CREDENTIAL"
: >"$work/rampart.results"
: >"$work/nginx.results"
for round in $(seq "$ROUNDS"); do
    perf_start "rampart-$round" "$pid"
    wrk_counted "rampart round $round" "$COUNT" "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $bearer" "$base$path" >>"$work/rampart.results"
    perf_stop
    wrk_counted "nginx round $round" "$COUNT" "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $bearer" "http://127.0.0.1:$nginx_port$path" >>"$work/nginx.results"
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
r=$(cut -d' ' -f1 "$work/rampart.results" | median)
n=$(cut -d' ' -f1 "$work/nginx.results" | median)
log "rampart req/s per round: $(cut -d' ' -f1 "$work/rampart.results" | tr '\n' ' ')"
log "nginx req/s per round:   $(cut -d' ' -f1 "$work/nginx.results" | tr '\n' ' ')"
echo "PEER nginx get_job_req_per_s $r $n $(awk -v a="$r" -v b="$n" 'BEGIN { printf "%.2f", a / b }')"
