#!/usr/bin/env bash
# What tracing costs, in one run: the same work on a Rampart with tracing off and on (every span sampled,
# exported over OTLP/HTTP to a local collector), alternating, medians.
#   read - wrk against the authenticated GET /api/v1/jobs/{id} (a JWT access token), as bench/peers/nginx.sh;
#   e2e  - bench/jobs.sh e2e: 100,000 noop jobs submitted in batches and run in-process.
# The collector is nginx answering 200 to POST /v1/traces (it reads and drops the body): the cost measured
# is Rampart's (spans, encoding, sending), not a collector's. After each traced run the server's
# rampart_trace_spans_* counters say how many spans it exported and dropped: a run that dropped spans did
# less than the work asked, and is reported with its drop share.
# Last lines on stdout: TRACING read <off req/s> <on req/s> <on/off> and TRACING e2e <off> <on> <on/off>;
# before them TRACING read-cpu <off> <on> <on/off>: the server's CPU microseconds per request (user + system,
# from /proc, medians), steadier than a rate on a machine the load generator shares.
#
# Usage: bench/tracing.sh [read] [e2e]     (default: both)
# Knobs: DURATION=10, ROUNDS=3, THREADS=2, CONNECTIONS=50, RAMPART_BIN=build/rampart, TOTAL_JOBS (e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-50}
RAMPART_BIN=${RAMPART_BIN:-build/rampart}
export RAMPART_BIN
command -v wrk >/dev/null 2>&1 || die "install wrk (make deps)"
command -v jq >/dev/null 2>&1 || die "install jq (make deps)"
[ -x "$RAMPART_BIN" ] || die "$RAMPART_BIN not found; run make build"
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(read e2e)

work=$(mktemp -d /tmp/rampart-tracing-XXXXXX)
off_pid=""
on_pid=""
nginx_pid=""
cleanup() {
    stop_pid "$on_pid"
    stop_pid "$off_pid"
    stop_pid "$nginx_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_nginx "$work/collector" "location = /v1/traces { return 200; }"
collector="http://127.0.0.1:$nginx_port"
tracing_env=(OTEL_EXPORTER_OTLP_ENDPOINT="$collector" OTEL_TRACES_SAMPLER=always_on)

# cpu_ticks PID: the CPU time (user + system) PID has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
# cpu_per_request TICKS0 PID RESULTS_LINE: PID's CPU microseconds per request counted since TICKS0.
cpu_per_request() {
    awk -v t="$(($(cpu_ticks "$2") - $1))" -v hz="$ticks_per_second" -v n="$(echo "$3" | cut -d' ' -f3)" \
        'BEGIN { printf "%.1f", t * 1000000 / hz / n }'
}

# counter BASE NAME: a counter's value on BASE's /metrics (its series summed).
counter() {
    curl -fsS "$1/metrics" | awk -v name="$2" '$1 ~ "^"name"({|$)" { sum += $2 } END { printf "%d", sum }'
}

if [[ " ${modes[*]} " == *" read "* ]]; then
    password="bench Walrus 58 juggles quietly"
    printf '%s\n' "$password" >"$work/admin-password"
    common=(RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" RAMPART_RATE_LIMITS__USER=1000000000/hour)
    start_rampart "$work/off" "${common[@]}"
    off_pid=$started_pid
    off_base=$started_base
    start_rampart "$work/on" "${common[@]}" "${tracing_env[@]}"
    on_pid=$started_pid
    on_base=$started_base
    # One finished job on each: the answers stop changing, both serve the same kind of bytes.
    for side in off on; do
        base_var=${side}_base
        base=${!base_var}
        token=$(login_token "$base" admin "$password")
        job=$(submit_noop "$base" "$token")
        for _ in $(seq 100); do
            state=$(curl -fsS "$base/api/v1/jobs/$job" -H "Authorization: Bearer $token" | jq -r .state)
            [ "$state" = succeeded ] && break
            sleep 0.1
        done
        [ "$state" = succeeded ] || die "job $job is still $state"
        printf -v "${side}_token" '%s' "$token"
        printf -v "${side}_path" '%s' "/api/v1/jobs/$job"
    done
    log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    : >"$work/read-off.results"
    : >"$work/read-on.results"
    : >"$work/read-off.cpu"
    : >"$work/read-on.cpu"
    for round in $(seq "$ROUNDS"); do
        ticks0=$(cpu_ticks "$off_pid")
        result=$(wrk_counted "tracing off, round $round" 2xx "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
            --latency -H "Authorization: Bearer $off_token" "$off_base$off_path")
        echo "$result" >>"$work/read-off.results"
        cpu_per_request "$ticks0" "$off_pid" "$result" >>"$work/read-off.cpu"
        echo >>"$work/read-off.cpu"
        exported0=$(counter "$on_base" rampart_trace_spans_exported_total)
        dropped0=$(counter "$on_base" rampart_trace_spans_dropped_total)
        ticks0=$(cpu_ticks "$on_pid")
        result=$(wrk_counted "tracing on, round $round" 2xx "" -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
            --latency -H "Authorization: Bearer $on_token" "$on_base$on_path")
        echo "$result" >>"$work/read-on.results"
        sleep 2  # the last batches: their encoding and sending count in the traced server's CPU time
        cpu_per_request "$ticks0" "$on_pid" "$result" >>"$work/read-on.cpu"
        echo >>"$work/read-on.cpu"
        exported=$(($(counter "$on_base" rampart_trace_spans_exported_total) - exported0))
        dropped=$(($(counter "$on_base" rampart_trace_spans_dropped_total) - dropped0))
        log "tracing on, round $round: $exported spans exported, $dropped dropped"
        echo "$exported $dropped" >>"$work/read-spans.results"
    done
    log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    off=$(cut -d' ' -f1 "$work/read-off.results" | median)
    on=$(cut -d' ' -f1 "$work/read-on.results" | median)
    log "off req/s per round: $(cut -d' ' -f1 "$work/read-off.results" | tr '\n' ' ')"
    log "on req/s per round:  $(cut -d' ' -f1 "$work/read-on.results" | tr '\n' ' ')"
    log "spans exported/dropped per traced round: $(tr '\n' ';' <"$work/read-spans.results")"
    log "server CPU µs per request, off: $(tr '\n' ' ' <"$work/read-off.cpu")"
    log "server CPU µs per request, on:  $(tr '\n' ' ' <"$work/read-on.cpu")"
    off_cpu=$(median <"$work/read-off.cpu")
    on_cpu=$(median <"$work/read-on.cpu")
    echo "TRACING read-cpu $off_cpu $on_cpu $(awk -v a="$on_cpu" -v b="$off_cpu" 'BEGIN { printf "%.2f", a / b }')"
    echo "TRACING read $off $on $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }')"
    stop_pid "$on_pid"
    stop_pid "$off_pid"
    on_pid=""
    off_pid=""
fi

if [[ " ${modes[*]} " == *" e2e "* ]]; then
    : >"$work/e2e-off.results"
    : >"$work/e2e-on.results"
    for round in $(seq "$ROUNDS"); do
        ROUNDS=1 bench/jobs.sh e2e 2>>"$work/e2e.log" | awk '/^e2e:/ { print $2 }' >>"$work/e2e-off.results"
        ROUNDS=1 EXTRA_SERVER_ENV="${tracing_env[*]}" bench/jobs.sh e2e 2>>"$work/e2e.log" |
            awk '/^e2e:/ { print $2 }' >>"$work/e2e-on.results"
        log "e2e round $round: off $(tail -1 "$work/e2e-off.results") jobs/s, on $(tail -1 "$work/e2e-on.results") jobs/s"
    done
    off=$(median <"$work/e2e-off.results")
    on=$(median <"$work/e2e-on.results")
    echo "TRACING e2e $off $on $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }')"
fi
