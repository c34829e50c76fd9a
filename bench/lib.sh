# Shared by the bench scripts (sourced, not run).

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
