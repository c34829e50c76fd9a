#!/usr/bin/env bash
# Login flood: p99 latency of GET /healthz and of an authenticated GET /api/v1/jobs/{id}, unloaded and then
# during a flood of logins for unknown usernames from many addresses (each a fresh IPv6 /64 of one /48,
# sent through X-Forwarded-For from a trusted proxy, so each has its own login budget and lockout), on one
# Rampart. Each login costs a full Argon2id hash (the dummy one); issue 18 asks that neither route's p99
# grows beyond 2x its unloaded p99. Prints both p99s, the ratios, the flood's answers and a Markdown row.
#
# The measured clients send at a fixed pace (wrk's delay(): MEASURE_CONNECTIONS connections, one request
# per PACE_MS each), so the p99 is a latency, not a saturation figure. A measured run counts only 200s:
# any other status or a socket error (a timeout included) fails the run. The flood's 401 (unknown name),
# 429 (rate limit, lockout) and 503 (hashing pool full) are expected; anything else fails the run.
#
# Usage: bench/login_flood.sh   (build/rampart must exist: make build)
# The flood is paced too (FLOOD_CONNECTIONS connections, one login per FLOOD_PACE_MS each: 256 logins/s by
# default, many times what the hashing pool can hash), so it keeps the pool full without measuring merely
# how many requests of any kind saturate the machine; FLOOD_PACE_MS=0 floods as fast as wrk can.
#
# Knobs: DURATION=10 (seconds per measured run), MEASURE_CONNECTIONS=8, PACE_MS=10, FLOOD_CONNECTIONS=64,
#        FLOOD_PACE_MS=250, HASH_THREADS (auth.password_hash_threads; default: the server's, one per
#        core), RAMPART_BIN=build/rampart, MACHINE="free text for the table" (default: CPU
#        model and cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh  # log, die, stop_pid, start_rampart

DURATION=${DURATION:-10}
MEASURE_CONNECTIONS=${MEASURE_CONNECTIONS:-8}
PACE_MS=${PACE_MS:-10}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-64}
FLOOD_PACE_MS=${FLOOD_PACE_MS:-250}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}


command -v wrk >/dev/null 2>&1 || die "install wrk (apt-get install -y wrk)"
command -v curl >/dev/null 2>&1 || die "install curl"
command -v jq >/dev/null 2>&1 || die "install jq"
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; run make build"

work=$(mktemp -d /tmp/rampart-bench-flood-XXXXXX)
pid=""
flood_pid=""
cleanup() {
    stop_pid "$flood_pid"
    stop_pid "$pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Rampart: the default hashing cost and pool; the proxy on 127.0.0.1 is trusted --------------------
password="bench Walrus 58 juggles quietly"
printf '%s\n' "$password" >"$work/admin-password"
start_rampart "$work/rampart" RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    RAMPART_TRUSTED_PROXIES=127.0.0.1 ${HASH_THREADS:+RAMPART_AUTH__PASSWORD_HASH_THREADS=$HASH_THREADS} \
    RAMPART_RATE_LIMITS__ANON=1000000000/hour RAMPART_RATE_LIMITS__USER=1000000000/hour
pid=$started_pid
base=$started_base

access=$(login_token "$base" admin "$password")
job_id=$(submit_noop "$base" "$access")

# ---- wrk scripts ---------------------------------------------------------------------------------
# Measured runs: a fixed pace per connection; counts 200s and everything else.
cat >"$work/measure.lua" <<LUA
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; others = 0; other_status = 0 end
function delay() return $PACE_MS end
function response(status, headers, body)
    if status == 200 then ok = ok + 1 else others = others + 1; other_status = status end
end
function done(summary, latency, requests)
    local o, n, s = 0, 0, 0
    for _, t in ipairs(threads) do
        o = o + t:get("ok"); n = n + t:get("others")
        if t:get("other_status") ~= 0 then s = t:get("other_status") end
    end
    local e = summary.errors
    io.write(string.format("MEASURED %d %d %d %d %.3f\n", o, n, s,
        e.connect + e.read + e.write + e.timeout, latency:percentile(99) / 1000))
end
LUA
# The flood: a fresh unknown username and a fresh /64 of 2001:db8:4242::/48 for every login.
cat >"$work/flood.lua" <<LUA
function delay() return $FLOOD_PACE_MS end
LUA
cat >>"$work/flood.lua" <<'LUA'
local threads = {}
local counter = 0
function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end
function init(args)
    math.randomseed(os.time() * 1000 + id)
    unauthorized = 0; throttled = 0; busy = 0; others = 0; other_status = 0
end
function request()
    counter = counter + 1
    local name = string.format("ghost-%d-%d-%d", id, counter, math.random(1, 1000000000))
    local address = string.format("2001:db8:4242:%x::1", math.random(0, 65535))
    local body = '{"username":"' .. name .. '","password":"not the password 123"}'
    return wrk.format("POST", "/api/v1/auth/login",
        {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}, body)
end
function response(status, headers, body)
    if status == 401 then unauthorized = unauthorized + 1
    elseif status == 429 then throttled = throttled + 1
    elseif status == 503 then busy = busy + 1
    else others = others + 1; other_status = status end
end
function done(summary, latency, requests)
    local u, t, b, o, s = 0, 0, 0, 0, 0
    for _, th in ipairs(threads) do
        u = u + th:get("unauthorized"); t = t + th:get("throttled"); b = b + th:get("busy")
        o = o + th:get("others")
        if th:get("other_status") ~= 0 then s = th:get("other_status") end
    end
    io.write(string.format("FLOOD %d %d %d %d %d %.3f\n", u, t, b, o, s, summary.duration / 1e6))
end
LUA

# measure NAME PATH [AUTHORIZATION]: prints the p99 in ms; fails the run on any answer but 200.
measure() {
    local name=$1 path=$2 out ok others status errors p99
    local args=(-t1 -c"$MEASURE_CONNECTIONS" -d"${DURATION}s" --timeout 30s --latency -s "$work/measure.lua")
    [ $# -gt 2 ] && args+=(-H "Authorization: $3")
    log "$name: wrk -t1 -c$MEASURE_CONNECTIONS -d${DURATION}s (one request per ${PACE_MS} ms each) GET $path"
    out=$(wrk "${args[@]}" "$base$path")
    printf '%s\n' "$out" | sed "s/^/  $name| /" >&2
    read -r ok others status errors p99 < <(printf '%s\n' "$out" | awk '$1 == "MEASURED" { print $2, $3, $4, $5, $6 }')
    [ -n "${ok:-}" ] || die "$name: no figures from wrk's script"
    [ "$others" = 0 ] || die "$name: $others answer(s) were not 200 (last: $status); the run does not count"
    [ "$errors" = 0 ] || die "$name: $errors socket error(s) (timeouts included); the run does not count"
    [ "$ok" -gt 0 ] || die "$name: no answer at all"
    echo "$p99"
}

health_idle=$(measure "healthz unloaded" /healthz)
job_idle=$(measure "job unloaded" "/api/v1/jobs/$job_id" "Bearer $access")

flood_seconds=$((2 * DURATION + 6))
log "flood: wrk -t1 -c$FLOOD_CONNECTIONS -d${flood_seconds}s (one login per ${FLOOD_PACE_MS} ms each) POST /api/v1/auth/login (unknown names, many /64s)"
wrk -t1 -c"$FLOOD_CONNECTIONS" -d"${flood_seconds}s" --timeout 30s -s "$work/flood.lua" "$base/api/v1/auth/login" \
    >"$work/flood.out" 2>&1 &
flood_pid=$!
sleep 3
health_flood=$(measure "healthz during the flood" /healthz)
job_flood=$(measure "job during the flood" "/api/v1/jobs/$job_id" "Bearer $access")
wait "$flood_pid" || die "the flood's wrk failed: $(cat "$work/flood.out")"
flood_pid=""
sed 's/^/  flood| /' "$work/flood.out" >&2
read -r unauthorized throttled busy others status seconds < <(awk '$1 == "FLOOD" { print $2, $3, $4, $5, $6, $7 }' "$work/flood.out")
[ -n "${unauthorized:-}" ] || die "no figures from the flood's script"
[ "$others" = 0 ] || die "the flood got $others unexpected answer(s) (last: $status); the run does not count"
kill -0 "$pid" 2>/dev/null || die "rampart died during the flood"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
machine=${MACHINE:-"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/ with .*//'), $(nproc) cores"}
logins=$(awk -v n="$((unauthorized + throttled + busy))" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
hashed=$(awk -v n="$unauthorized" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')
echo "GET /healthz           p99 unloaded ${health_idle} ms, during the flood ${health_flood} ms: $(ratio "$health_flood" "$health_idle")x"
echo "GET /api/v1/jobs/{id}  p99 unloaded ${job_idle} ms, during the flood ${job_flood} ms: $(ratio "$job_flood" "$job_idle")x"
echo "flood: $logins logins/s; answers 401 (hashed) $unauthorized ($hashed/s), 429 $throttled, 503 $busy in ${seconds} s"
echo "| $(date -u +%Y-%m-%d) | ${machine} | ${health_idle} / ${health_flood} ms ($(ratio "$health_flood" "$health_idle")x) | ${job_idle} / ${job_flood} ms ($(ratio "$job_flood" "$job_idle")x) | $logins/s: $unauthorized × 401, $throttled × 429, $busy × 503 |"
