#!/usr/bin/env bash
# Writes the OpenAPI document the server serves (GET /openapi.json) to a file, from the real binary: starts
# `rampart serve` on a free loopback port with a fresh data directory, fetches the document, stops it.
# Usage: fetch.sh RAMPART_BINARY OUTPUT [SERVE ARGS...] (e.g. --config FILE, for declared task types)
set -euo pipefail
BIN=$1
OUT=$2
shift 2
WORK=$(mktemp -d /tmp/rampart-openapi.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
RAMPART_DATA_DIR="$WORK/data" RAMPART_LOG_LEVEL=warn \
    "$BIN" serve --listen 127.0.0.1:0 --port-file "$WORK/port" --no-workers "$@" >"$WORK/stdout.log" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 150); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || { echo "openapi: the server did not start:" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
curl -sS --fail --max-time 10 -o "$OUT.tmp" "http://127.0.0.1:$(cat "$WORK/port")/openapi.json"
mv "$OUT.tmp" "$OUT"
echo "openapi: $OUT ($(wc -c <"$OUT") bytes) from $BIN"
