#!/usr/bin/env bash
# Authentication cost: wrk against GET /healthz (public, no credential) and GET /api/v1/me with an
# access token (JWT) and with a personal API token, on one Rampart, same run; prints req/s and the
# ratio of each authenticated route to /healthz. The rate limiter stays on, with the anonymous and user
# limits raised out of reach (as bench/jobs.sh does): only 200s count, and any other answer (a 429 is
# fast and measures nothing) or socket error rejects the run.
#
# Usage: bench/auth.sh   (build/rampart must exist: make build)
# Knobs: DURATION=10, THREADS=2, CONNECTIONS=50, RAMPART_BIN=build/rampart.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}

command -v wrk >/dev/null 2>&1 || die "install wrk (apt-get install -y wrk)"
command -v jq >/dev/null 2>&1 || die "install jq (apt-get install -y jq)"
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; run make build"

work=$(mktemp -d /tmp/rampart-bench-auth-XXXXXX)
pid=""
cleanup() {
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT

password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
start_rampart "$work/rampart" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    RAMPART_RATE_LIMITS__ANON=1000000000/hour RAMPART_RATE_LIMITS__USER=1000000000/hour
pid=$started_pid
base=$started_base

access=$(login_token "$base" admin "$password")
apitoken=$(curl -fsS -X POST "$base/api/v1/tokens" -H "Authorization: Bearer $access" \
    -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["jobs:read"]}' | jq -r .token)
[ -n "$apitoken" ] && [ "$apitoken" != null ] || die "creating an API token failed"

rate() { # name, path, then an optional Authorization header value; prints 200s per second
    local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
    [ $# -gt 2 ] && args+=(-H "Authorization: $3")
    wrk_counted "$1" 200 "" "${args[@]}" "$base$2" | cut -d' ' -f1
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
healthz=$(rate healthz /healthz)
jwt=$(rate me-jwt /api/v1/me "Bearer $access")
token=$(rate me-token /api/v1/me "Bearer $apitoken")
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'GET /healthz (public)          %10.0f req/s (200 only)\n' "$healthz"
printf 'GET /api/v1/me (access token)  %10.0f req/s  %.2f of /healthz\n' "$jwt" "$(echo "$jwt / $healthz" | bc -l)"
printf 'GET /api/v1/me (API token)     %10.0f req/s  %.2f of /healthz\n' "$token" "$(echo "$token / $healthz" | bc -l)"
