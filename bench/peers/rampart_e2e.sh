# shellcheck shell=bash
# Sourced by the job peers (bench/peers/bullmq.sh, celery.sh): rampart_e2e sets rampart_rate to Rampart's
# end-to-end jobs/s for TOTAL no-op jobs in batches of BATCH, CLIENTS at a time, at default settings
# (bench/jobs.sh e2e, one round), unless RAMPART_E2E already holds a figure from the same run (make bench
# measures Rampart once for both peers).
rampart_e2e() {
    if [ -n "${RAMPART_E2E:-}" ]; then
        rampart_rate=$RAMPART_E2E
        log "rampart: $rampart_rate jobs/s end to end (measured earlier in this run)"
        return 0
    fi
    local out
    out=$(ROUNDS=1 TOTAL_JOBS="$TOTAL" BATCH="$BATCH" BATCH_CLIENTS="$CLIENTS" bash bench/jobs.sh e2e) ||
        die "bench/jobs.sh e2e failed"
    rampart_rate=$(printf '%s\n' "$out" | awk '$1 == "e2e:" { print $2 }')
    [ -n "$rampart_rate" ] || die "no e2e figure from bench/jobs.sh: $out"
}
