#!/usr/bin/env bash
# Memory: the resident size (VmRSS) of one `rampart serve` over TLS, with SQLite and its in-process workers,
# at each stage of a run (issue 19 asks idle RSS <= 30 MB, after a load too, and 10,000 idle TLS
# connections <= 150 MB more than idle):
#   1. start: a few seconds after start-up, nothing received yet;
#   2. IDLE_CONNECTIONS idle keep-alive TLS connections (tests/security/probe.cpp's `idle`: one GET
#      /healthz on each, then held for IDLE_HOLD_SECONDS): the peak RSS and the cost per connection;
#   3. the same connections closed, QUIET_SECONDS later;
#   4. one login (Argon2id keeps its memory on the hashing thread that ran it: auth.argon2_memory_kib);
#   5. during LOAD_SECONDS of wrk on an authenticated GET /api/v1/jobs?limit=20 and on POST /api/v1/jobs
#      (the submitted echo jobs run on the workers): the peak RSS;
#   6. right after the load, and QUIET_SECONDS after it;
#   7. LOGIN_IDLE_SECONDS after the login (the hashing threads give Argon2's memory back after a minute
#      without one).
# A load run counts only 2xx answers: any 4xx, 5xx or socket error fails the run (a 429 measures nothing).
# Prints one line per stage and a Markdown row for docs/benchmarks.md. Not part of `make test`.
#
# Usage: bench/memory.sh   (build/rampart and build/rampart_security_probe must exist: make build)
# Knobs: LOAD_SECONDS=20, QUIET_SECONDS=15, LOGIN_IDLE_SECONDS=65, IDLE_CONNECTIONS=10000, IDLE_HOLD_SECONDS=5,
#        IDLE_WAVES=1 (waves of those connections, each opened, held, closed: 3 tells a leak from a peak), CONNECTIONS=32
#        (wrk's, per route), RAMPART_BIN=build/rampart, PROBE_BIN=build/rampart_security_probe,
#        EXTRA_SERVER_ENV="NAME=value ..." (e.g. MALLOC_ARENA_MAX=2), MACHINE="free text for the table".
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

LOAD_SECONDS=${LOAD_SECONDS:-20}
QUIET_SECONDS=${QUIET_SECONDS:-15}
LOGIN_IDLE_SECONDS=${LOGIN_IDLE_SECONDS:-65}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
IDLE_HOLD_SECONDS=${IDLE_HOLD_SECONDS:-5}
IDLE_WAVES=${IDLE_WAVES:-1}
CONNECTIONS=${CONNECTIONS:-32}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
PROBE_BIN=${PROBE_BIN:-build/rampart_security_probe}

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for tool in wrk curl jq openssl; do command -v "$tool" >/dev/null || die "install $tool"; done
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; run make build"
[ -x "$PROBE_BIN" ] || die "$PROBE_BIN not found; run make build"

work=$(mktemp -d /tmp/rampart-bench-memory-XXXXXX)
pid=""
cleanup() {
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT

# A test CA and a server certificate for localhost (as tests/security/run.sh makes them).
(
    cd "$work" &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
            -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr 2>/dev/null &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf \
            -out server.pem 2>/dev/null
) || die "could not create the test PKI"
password="Bm-$(openssl rand -hex 16)"
printf '%s' "$password" >"$work/admin_password" && chmod 600 "$work/admin_password"
mkdir -m 700 "$work/data"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_server() { # [NAME=value ...]: starts the server in the background; sets pid
    rm -f "$work/port"
    # shellcheck disable=SC2086 # EXTRA_SERVER_ENV is a list of NAME=value words
    env RAMPART_DATA_DIR="$work/data" RAMPART_TLS_CERT="$work/server.pem" RAMPART_TLS_KEY="$work/server.key" \
        RAMPART_LOG_LEVEL=warn RAMPART_RATE_LIMITS__ANON=1000000000/hour \
        RAMPART_RATE_LIMITS__USER=1000000000/hour RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT=1000000000/hour \
        RAMPART_LIMITS__MAX_CONNECTIONS=$((IDLE_CONNECTIONS + 1000)) ${EXTRA_SERVER_ENV:-} "$@" \
        "$RAMPART_BIN" serve --listen 127.0.0.1:0 --port-file "$work/port" >/dev/null 2>>"$work/server.log" &
    pid=$!
    for _ in $(seq 150); do [ -s "$work/port" ] && break; sleep 0.1; done
    [ -s "$work/port" ] || { tail -20 "$work/server.log" >&2; die "the server did not start"; }
}
# The first start creates the admin account, which hashes its password (Argon2id's memory then stays on
# that hashing thread): the measured server is a second start on the same database, with no hash done yet.
start_server RAMPART_ADMIN_PASSWORD_FILE="$work/admin_password"
stop_pid "$pid"
start_server
port=$(cat "$work/port")
base=https://localhost:$port
curl_=(curl -sS --cacert "$work/ca.pem" --max-time 30)

rss() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
declare -A mib
stage() { # name figure: records and prints one stage
    mib[$1]=$2
    printf '%-34s %8s MiB\n' "$1" "$2"
}

sleep 3
stage start "$(rss)"

# --- Idle TLS connections, before any login ---------------------------------------------------------------
if [ "$IDLE_CONNECTIONS" -gt 0 ]; then
    log "opening $IDLE_CONNECTIONS idle TLS connections"
    # The probe's own verdict also times normal requests (over 1 s fails it): on a busy machine that says
    # nothing about memory, so only connections that were not all opened or held fail this run.
    "$PROBE_BIN" idle "$port" "$work/ca.pem" "$IDLE_CONNECTIONS" "$IDLE_HOLD_SECONDS" "$pid" >"$work/idle.txt" 2>&1 || true
    grep -q '^server RSS:' "$work/idle.txt" || { cat "$work/idle.txt" >&2; die "the idle-connection probe failed"; }
    if grep -qE '^FAIL (only|the server closed)' "$work/idle.txt"; then
        cat "$work/idle.txt" >&2
        die "not all $IDLE_CONNECTIONS connections were held"
    fi
    grep '^FAIL' "$work/idle.txt" | sed 's/^/bench: probe: /' >&2 || true
    held=$(grep -oE 'while holding [0-9]+' "$work/idle.txt" | awk '{print $3}')
    per=$(grep -oE '[0-9-]+ bytes per connection' "$work/idle.txt" | awk '{print $1}')
    stage "$IDLE_CONNECTIONS idle TLS connections" "$held"
    printf '%-34s %8s KiB\n' "  per connection" "$(awk -v b="$per" 'BEGIN {printf "%.1f", b / 1024}')"
    per_kib=$(awk -v b="$per" 'BEGIN {printf "%.1f", b / 1024}')
    sleep "$QUIET_SECONDS"
    stage "connections closed, ${QUIET_SECONDS} s later" "$(rss)"
    # More waves of the same connections: memory kept after the first that stays flat after the next is
    # a high-water mark (allocator and pools sized by the peak), one that grows with each wave a leak.
    for wave in $(seq 2 "$IDLE_WAVES"); do
        "$PROBE_BIN" idle "$port" "$work/ca.pem" "$IDLE_CONNECTIONS" "$IDLE_HOLD_SECONDS" "$pid" >"$work/idle.txt" 2>&1 || true
        grep -q '^server RSS:' "$work/idle.txt" || { cat "$work/idle.txt" >&2; die "the idle-connection probe failed"; }
        sleep "$QUIET_SECONDS"
        stage "wave $wave closed, ${QUIET_SECONDS} s later" "$(rss)"
    done
fi

# --- One login --------------------------------------------------------------------------------------------
token=$("${curl_[@]}" -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "$(jq -nc --arg p "$password" '{username: "admin", password: $p}')" | jq -r '.access_token // empty')
[ -n "$token" ] || die "login failed"
login_at=$(date +%s)
sleep 1
stage "after one login" "$(rss)"

# --- Load: authenticated GETs and job submits ---------------------------------------------------------------
cat >"$work/submit.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"task": "echo", "args": {"n": 1}}'
wrk.headers["Content-Type"] = "application/json"
dofile("tests/security/wrk_status.lua")
EOF
log "load: ${LOAD_SECONDS} s of wrk on GET /api/v1/jobs and POST /api/v1/jobs"
TOKEN=$token wrk -t 1 -c "$CONNECTIONS" -d "${LOAD_SECONDS}s" -s tests/security/wrk_status.lua \
    "$base/api/v1/jobs?limit=20" >"$work/get.txt" 2>&1 &
get_pid=$!
TOKEN=$token wrk -t 1 -c "$CONNECTIONS" -d "${LOAD_SECONDS}s" -s "$work/submit.lua" \
    "$base/api/v1/jobs" >"$work/post.txt" 2>&1 &
post_pid=$!
peak=0
while kill -0 "$get_pid" 2>/dev/null || kill -0 "$post_pid" 2>/dev/null; do
    now=$(rss)
    peak=$(awk -v a="$peak" -v b="$now" 'BEGIN {print (b > a) ? b : a}')
    sleep 0.5
done
wait "$get_pid" "$post_pid" || true
for f in get post; do
    line=$(grep '^statuses:' "$work/$f.txt") || { cat "$work/$f.txt" >&2; die "wrk ($f) gave no status counts"; }
    ok=$(sed -E 's/.*2xx=([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.*4xx=([0-9]+) 5xx=([0-9]+) other=([0-9]+) socket_errors=([0-9]+).*/\1 \2 \3 \4/' <<<"$line")
    [ "$ok" -gt 0 ] && [ "$bad" = "0 0 0 0" ] || die "the $f load got answers other than 2xx: $line"
    log "$f: $ok answers, $(grep -E '^ *Requests/sec' "$work/$f.txt" | awk '{print $2}')/s"
done
stage "peak during the load" "$peak"
stage "right after the load" "$(rss)"
sleep "$QUIET_SECONDS"
stage "load gone ${QUIET_SECONDS} s" "$(rss)"
# The password-hashing threads give their Argon2 memory back after a minute without a login
# (PasswordHasher::kKeepMemoryWhileIdle).
wait_for=$((login_at + LOGIN_IDLE_SECONDS - $(date +%s)))
[ "$wait_for" -le 0 ] || sleep "$wait_for"
stage "${LOGIN_IDLE_SECONDS} s after the login" "$(rss)"

machine=${MACHINE:-"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"}
echo
echo "| date | machine | load avg | start | ${IDLE_CONNECTIONS} idle TLS (per conn.) | closed | after login | load peak | load gone ${QUIET_SECONDS} s | ${LOGIN_IDLE_SECONDS} s after the login |"
echo "| $(date -u +%F) | $machine | $(cut -d' ' -f1 /proc/loadavg) | ${mib[start]} MiB | ${held:-?} MiB (${per_kib:-?} KiB) | ${mib["connections closed, ${QUIET_SECONDS} s later"]:-?} MiB | ${mib["after one login"]} MiB | ${mib["peak during the load"]} MiB | ${mib["load gone ${QUIET_SECONDS} s"]} MiB | ${mib["${LOGIN_IDLE_SECONDS} s after the login"]} MiB |"
