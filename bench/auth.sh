#!/usr/bin/env bash
# Authentication cost: wrk against GET /healthz (public, no credential) and GET /api/v1/me with an
# access token (JWT) and with a personal API token, on one Rampart, same run; prints req/s and the
# ratio of each authenticated route to /healthz.
#
# Usage: bench/auth.sh   (build/rampart must exist: make build)
# Knobs: DURATION=10, THREADS=2, CONNECTIONS=50, RAMPART_BIN=build/rampart.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}

command -v wrk >/dev/null 2>&1 || { echo "bench: install wrk (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$RAMPART_BIN" ] || { echo "bench: $RAMPART_BIN not found; run make build" >&2; exit 1; }

work=$(mktemp -d /tmp/rampart-bench-auth-XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
env -i PATH="$PATH" HOME="${HOME:-$work}" RAMPART_DATA_DIR="$work/data" RAMPART_ACCESS_LOG=false \
    RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    "$RAMPART_BIN" serve --listen 127.0.0.1:0 --port-file "$work/port" >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")
base="http://127.0.0.1:$port"

login=$(curl -sf -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}")
access=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
created=$(curl -sf -X POST "$base/api/v1/tokens" -H "Authorization: Bearer $access" \
    -H 'Content-Type: application/json' -d '{"name":"bench","scopes":["jobs:read"]}')
apitoken=$(printf '%s' "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

rate() {  # path, then an optional Authorization header value
    local args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
    [ $# -gt 1 ] && args+=(-H "Authorization: $2")
    wrk "${args[@]}" "$base$1" | awk '/Requests\/sec/ {print $2}'
}

healthz=$(rate /healthz)
jwt=$(rate /api/v1/me "Bearer $access")
token=$(rate /api/v1/me "Bearer $apitoken")
printf 'GET /healthz (public)          %10.0f req/s\n' "$healthz"
printf 'GET /api/v1/me (access token)  %10.0f req/s  %.2f of /healthz\n' "$jwt" "$(echo "$jwt / $healthz" | bc -l)"
printf 'GET /api/v1/me (API token)     %10.0f req/s  %.2f of /healthz\n' "$token" "$(echo "$token / $healthz" | bc -l)"
