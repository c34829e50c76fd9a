# shellcheck shell=bash
# Shared by the bench scripts (sourced, not run, from the repository root). Each script sets `work` (its
# temporary directory) before calling what needs it.

log() { echo "bench: $*" >&2; }
die() {
    echo "bench: error: $*" >&2
    exit 1
}

# stop_pid PID [SIGNAL]: stops one process we started, by its own PID: SIGNAL (TERM by default), up to
# 15 s to exit, then KILL; reaps it. Nothing to do for an empty PID or one already gone.
stop_pid() {
    local target=$1 signal=${2:-TERM}
    [ -n "$target" ] || return 0
    kill -"$signal" "$target" 2>/dev/null || return 0
    for _ in $(seq 150); do
        kill -0 "$target" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$target" 2>/dev/null || true
    wait "$target" 2>/dev/null || true
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a 127.0.0.1 port nothing listens on (a race remains: callers check their server
# came up on it).
free_port() {
    local candidate
    for _ in $(seq 20); do
        candidate=$((20000 + RANDOM % 40000))
        port_in_use "$candidate" || {
            echo "$candidate"
            return 0
        }
    done
    die "no free port found"
}

# wait_port_file FILE PID NAME [LOG]: waits up to STARTUP_SECONDS (60: on a loaded machine the first
# password hash alone can take seconds) for FILE (a --port-file) while PID lives; prints the port.
wait_port_file() {
    local file=$1 target=$2 name=$3 errors=${4:-/dev/null}
    for _ in $(seq $((${STARTUP_SECONDS:-60} * 10))); do
        [ -s "$file" ] && break
        kill -0 "$target" 2>/dev/null || {
            cat "$errors" >&2
            die "$name exited during start-up"
        }
        sleep 0.1
    done
    [ -s "$file" ] || {
        cat "$errors" >&2
        die "$name wrote no port file in ${STARTUP_SECONDS:-60} s"
    }
    tr -d '[:space:]' <"$file"
}

# start_rampart DIR [VAR=value ...] [-- rampart options before `serve`]: starts $RAMPART_BIN serve in a
# clean environment (env -i: no RAMPART_* from the caller's shell) with its data in DIR/data, development
# mode, warnings only, access log off (RAMPART_ACCESS_LOG overrides), plus the given variables. Sets
# started_pid, started_port and started_base (http://127.0.0.1:PORT). Logs are DIR/stdout.log, DIR/stderr.log.
start_rampart() {
    local dir=$1 vars=() opts=()
    shift
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then
            shift
            opts=("$@")
            break
        fi
        vars+=("$1")
        shift
    done
    mkdir -p "$dir/data"
    rm -f "$dir/port"
    env -i PATH="$PATH" HOME="${HOME:-$dir}" RAMPART_ENV=development RAMPART_DATA_DIR="$dir/data" \
        RAMPART_LOG_LEVEL=warn RAMPART_ACCESS_LOG="${RAMPART_ACCESS_LOG:-false}" "${vars[@]}" \
        "$RAMPART_BIN" "${opts[@]}" serve --listen 127.0.0.1:0 --port-file "$dir/port" \
        >"$dir/stdout.log" 2>"$dir/stderr.log" &
    started_pid=$!
    started_port=$(wait_port_file "$dir/port" "$started_pid" "rampart in $dir" "$dir/stderr.log")
    started_base="http://127.0.0.1:$started_port"
    log "rampart (pid $started_pid) on $started_base"
}

# postgres_bin: the newest Debian PostgreSQL's bin directory (/usr/lib/postgresql/N/bin), or nothing.
postgres_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -z "$dir" ] || [ ! -x "$dir/initdb" ] || echo "$dir"
}

# pg_run COMMAND...: COMMAND as the postgres user when we are root (initdb and postgres refuse root).
pg_run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# start_postgres DIR [SERVER OPTION...]: a durable PostgreSQL (fsync and synchronous_commit on: the
# defaults) from Debian's postgresql, its cluster initialised in DIR/data (trust for local connections,
# UTF8, locale C), on a free 127.0.0.1 port with its socket in DIR, max_connections 200 and
# shared_buffers 256MB, plus the given server options (e.g. -c name=value); with PG_STATS set, it preloads
# pg_stat_statements (tracking all statements; see pg_top_statements). As root, `work` and DIR
# are handed to the postgres user. Sets pg_pid (the postmaster: stop it with stop_pid "$pg_pid" INT)
# and pg_port; the log is DIR/postgres.log. Talk to it with pg_psql.
start_postgres() {
    local dir=$1 bin
    shift
    [ -z "${PG_STATS:-}" ] || set -- -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all "$@"
    bin=$(postgres_bin)
    [ -n "$bin" ] || die "install Debian's postgresql (make deps)"
    mkdir -p "$dir"
    [ "$(id -u)" != 0 ] || chown postgres "${work:?set work to a temporary directory first}" "$dir"
    pg_run "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pg_run "$bin/postgres" -D "$dir/data" -p "$pg_port" -k "$dir" -c listen_addresses=127.0.0.1 \
        -c max_connections=200 -c shared_buffers=256MB "$@" >"$dir/postgres.log" 2>&1 &
    pg_pid=$!
    for _ in $(seq 100); do
        pg_psql postgres -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    pg_psql postgres -c 'SELECT 1' >/dev/null || { cat "$dir/postgres.log" >&2; die "postgres did not start"; }
    # $! is runuser's PID when root, and runuser does not pass signals on: stop the postmaster itself.
    pg_pid=$(head -1 "$dir/data/postmaster.pid")
    log "postgres (pid $pg_pid) on 127.0.0.1:$pg_port, durable (fsync and synchronous_commit on)"
}

# pg_psql DATABASE [PSQL ARGUMENTS...]: psql (no psqlrc, quiet) as postgres on start_postgres's server.
pg_psql() {
    local database=$1
    shift
    psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d "$database" "$@"
}

# pg_top_statements DATABASE: the 12 statements that took DATABASE's server time (pg_stat_statements:
# PG_STATS set for start_postgres, and CREATE EXTENSION pg_stat_statements in DATABASE), with their
# calls, rows and shared blocks, on stderr.
pg_top_statements() {
    log "statements by total time in $1 (ms; calls; rows; shared blocks hit/read/dirtied):"
    pg_psql "$1" -c "SELECT round(total_exec_time) AS ms,
        calls, rows, shared_blks_hit AS hit, shared_blks_read AS read, shared_blks_dirtied AS dirtied,
        left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        ORDER BY total_exec_time DESC LIMIT 12" >&2
}

# start_redis DIR: a redis-server on a free 127.0.0.1 port, data in DIR, no persistence (no RDB, no AOF),
# a random password. Sets redis_pid, redis_port, redis_password; stop it with stop_pid "$redis_pid".
start_redis() {
    local dir=$1
    command -v redis-server >/dev/null 2>&1 || die "install Debian's redis-server (make deps)"
    mkdir -p "$dir"
    redis_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    for _ in $(seq 5); do
        redis_port=$(free_port)
        printf 'port %s\nbind 127.0.0.1\ndir %s\nsave ""\nappendonly no\nrequirepass %s\n' \
            "$redis_port" "$dir" "$redis_password" >"$dir/redis.conf"
        redis-server "$dir/redis.conf" >"$dir/redis.log" 2>&1 &
        redis_pid=$!
        for _ in $(seq 50); do
            kill -0 "$redis_pid" 2>/dev/null || break
            port_in_use "$redis_port" && {
                log "redis-server (pid $redis_pid) on 127.0.0.1:$redis_port"
                return 0
            }
            sleep 0.1
        done
        cat "$dir/redis.log" >&2
        stop_pid "$redis_pid"
        redis_pid=""
    done
    die "redis-server did not start"
}

# wrk_counter_lua STATUS: prints a wrk Lua script (append it after any request set-up) that counts the
# answers with exactly STATUS (or, for STATUS 2xx, any status below 400) and every other one, and at
# the end prints one line
#   COUNT <STATUS answers> <other answers> <last other status> <socket errors> <seconds> <p99 ms>
# (socket errors: connect + read + write + timeout, from wrk's summary).
wrk_counter_lua() {
    if [ "$1" = 2xx ]; then
        # No response() callback: wrk then skips Lua per answer (which costs it CPU the server would
        # otherwise get on a 2-core machine). Its summary counts every answer of status > 399; a 3xx is
        # counted with the 2xx (no route measured here answers one).
        cat <<'LUA'
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("COUNT %d %d %d %d %.6f %.3f\n", summary.requests - e.status, e.status,
        e.status > 0 and 400 or 0, e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
        latency:percentile(99) / 1000))
end
LUA
        return
    fi
    cat <<LUA
local counter_threads = {}
function setup(thread) table.insert(counter_threads, thread) end
function init(args) counted = 0; others = 0; other_status = 0 end
function response(status, headers, body)
    if status == $1 then counted = counted + 1
    else others = others + 1; other_status = status end
end
function done(summary, latency, requests)
    local c, o, s = 0, 0, 0
    for _, t in ipairs(counter_threads) do
        c = c + t:get("counted"); o = o + t:get("others")
        if t:get("other_status") ~= 0 then s = t:get("other_status") end
    end
    local e = summary.errors
    io.write(string.format("COUNT %d %d %d %d %.6f %.3f\n", c, o, s, e.connect + e.read + e.write + e.timeout,
        summary.duration / 1e6, latency:percentile(99) / 1000))
end
LUA
}

# histogram_p99 FILES...: the p99 in ms of the merged histograms (from WRK_HISTOGRAM) in FILES.
histogram_p99() {
    cat "$@" | sort -n | awk '{ v[NR] = $1; c[NR] = $2; n += $2 }
        END { if (n == 0) { print "nan"; exit } want = n * 0.99; for (i = 1; i <= NR; i++) { s += c[i]; if (s >= want) { printf "%.2f\n", v[i] / 1000; exit } } }'
}

# wrk_counted NAME STATUS SETUP_LUA WRK_ARGS... URL: runs wrk with SETUP_LUA (a file, or "" for none)
# followed by wrk_counter_lua STATUS; shows wrk's output on stderr and prints "<STATUS answers per second>
# <p99 ms> <STATUS answers>". Rejects the run (exits) on any other status or any socket error: a 429 or
# a reset is fast and measures nothing. WRK_HISTOGRAM=FILE (optional): also writes there the run's
# latency histogram, one "<microseconds> <requests>" line per distinct latency, to merge runs.
wrk_counted() {
    local name=$1 status=$2 setup=$3 script out counted others last errors seconds p99
    shift 3
    script=$(mktemp "${work:?set work to a temporary directory first}/wrk-XXXXXX.lua")
    {
        [ -z "$setup" ] || cat "$setup"
        wrk_counter_lua "$status"
        [ -z "${WRK_HISTOGRAM:-}" ] || cat <<'LUA'
local counter_done = done
function done(summary, latency, requests)
    counter_done(summary, latency, requests)
    for i = 1, #latency do
        local value, count = latency(i)
        io.write(string.format("HISTOGRAM %d %d\n", value, count))
    end
end
LUA
    } >"$script"
    log "$name: wrk $(printf '%s ' "$@" | sed 's/Bearer [^ ]*/Bearer <redacted>/g')"
    out=$(wrk -s "$script" "$@") || die "$name: wrk failed: $out"
    [ -z "${WRK_HISTOGRAM:-}" ] || printf '%s\n' "$out" | awk '$1 == "HISTOGRAM" { print $2, $3 }' >"$WRK_HISTOGRAM"
    printf '%s\n' "$out" | grep -v '^HISTOGRAM ' | awk -v prefix="  $name| " '{ print prefix $0 }' >&2
    read -r counted others last errors seconds p99 < <(printf '%s\n' "$out" | awk '$1 == "COUNT" { print $2, $3, $4, $5, $6, $7 }')
    [ -n "${counted:-}" ] || die "$name: no figures from wrk's script"
    [ "$others" = 0 ] || die "$name: $others answer(s) were not $status (last: $last); the run is rejected"
    [ "$errors" = 0 ] || die "$name: $errors socket error(s); the run is rejected"
    [ "$counted" -gt 0 ] || die "$name: no $status answer at all"
    awk -v c="$counted" -v s="$seconds" -v p="$p99" 'BEGIN { printf "%.0f %.2f %d\n", c / s, p, c }'
}

# perf_start NAME PID: `perf record $PERF_ARGS` (default -g) on PID into $PERF_DIR/NAME.data until
# perf_stop; does nothing unless PERF_DIR is set.
perf_pid=""
perf_start() {
    [ -n "${PERF_DIR:-}" ] || return 0
    command -v perf >/dev/null 2>&1 || die "install linux-perf for PERF_DIR"
    mkdir -p "$PERF_DIR"
    # shellcheck disable=SC2086
    perf record ${PERF_ARGS:--g} -o "$PERF_DIR/$1.data" -p "$2" >"$PERF_DIR/$1.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
}
perf_stop() {
    [ -n "$perf_pid" ] || return 0
    stop_pid "$perf_pid" INT
    perf_pid=""
}

# login_token BASE USERNAME PASSWORD: an access token from POST /api/v1/auth/login; exits on failure.
login_token() {
    local token
    token=$(curl -fsS --max-time 60 -X POST "$1/api/v1/auth/login" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg u "$2" --arg p "$3" '{username: $u, password: $p}')" | jq -r '.access_token // empty') || true
    [ -n "$token" ] || die "login as $2 failed"
    printf '%s\n' "$token"
}

# submit_noop BASE BEARER: submits one no-op job and prints its id; exits on failure.
submit_noop() {
    local id
    id=$(curl -fsS --max-time 60 -X POST "$1/api/v1/jobs" -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -d '{"task":"noop","args":{}}' | jq -r '.id // empty') || true
    [ -n "$id" ] || die "submitting a job failed"
    printf '%s\n' "$id"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

machine_name() {
    echo "${MACHINE:-"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -s ' '), $(nproc) cores"}"
}

# start_nginx DIR LOCATIONS: Debian's nginx ($NGINX, /usr/sbin/nginx) on a free 127.0.0.1 port, stock
# settings (worker_processes auto) except the access log (off, as Rampart's in the benchmarks) and the
# server block's LOCATIONS; files in DIR. Sets nginx_pid and nginx_port; stop it with stop_pid "$nginx_pid".
start_nginx() {
    local dir=$1 locations=$2 candidate
    local nginx=${NGINX:-/usr/sbin/nginx}
    [ -x "$nginx" ] || die "install Debian's nginx-light (make deps)"
    mkdir -p "$dir"
    nginx_port=""
    for _ in $(seq 10); do
        candidate=$(free_port)
        cat >"$dir/nginx.conf" <<NGINX
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$candidate;
        $locations
    }
}
NGINX
        "$nginx" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/stdout.log" 2>"$dir/stderr.log" &
        nginx_pid=$!
        for _ in $(seq 50); do
            kill -0 "$nginx_pid" 2>/dev/null || break
            port_in_use "$candidate" && {
                nginx_port=$candidate
                break
            }
            sleep 0.1
        done
        [ -n "$nginx_port" ] && break
        # Lost a race for the port (or failed for another reason): show why, then try another port.
        cat "$dir/stderr.log" "$dir/error.log" >&2 2>/dev/null || true
        stop_pid "$nginx_pid"
        nginx_pid=""
    done
    [ -n "$nginx_port" ] || die "nginx did not start"
    log "nginx (pid $nginx_pid) on port $nginx_port"
}

# wrk_rate_lua: prints a wrk Lua delay() for one connection that holds a fixed schedule (curl --rate waits
# a whole interval after each transfer, so it falls short of the rate): a request every interval_ms (set
# it in the script before this), late ones sent at once.
wrk_rate_lua() {
    cat <<'LUA'
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } rampart_timespec;
int clock_gettime(int clock, rampart_timespec *ts);
]]
local ts = ffi.new("rampart_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local next_at = nil
function delay()
    local t = now_ms()
    if next_at == nil then next_at = t end
    local wait = next_at - t
    next_at = next_at + interval_ms
    if wait < 0 then return 0 end
    return math.floor(wait)
end
LUA
}
