#!/usr/bin/env bash
# `make bench`: Rampart and its peers on this machine in one run, then ONE table of Rampart's figure, the
# peer's and the ratio (the result; absolute figures depend on the machine and its load, shown with it).
#   nginx  - authenticated GET /api/v1/jobs/{id} against nginx serving the same bytes (bench/peers/nginx.sh);
#   bullmq - TOTAL no-op jobs end to end, Rampart at default settings (bench/jobs.sh e2e, measured once here
#            for both job peers) against BullMQ (bench/peers/bullmq.sh);
#   celery - the same jobs against Celery 5 (bench/peers/celery.sh).
# Each script's last line is `PEER <name> <metric> <rampart> <peer> <ratio>`; any rejected run stops this one.
# Knobs: PEERS="nginx bullmq celery", TOTAL=100000, and each script's own (DURATION, ROUNDS, CONCURRENCY...).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh

PEERS=${PEERS:-nginx bullmq celery}
export TOTAL=${TOTAL:-100000}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
results=""
for peer in $PEERS; do
    case "$peer" in
    nginx) ;;
    bullmq | celery)
        if [ -z "${RAMPART_E2E:-}" ]; then
            RAMPART_E2E=$(ROUNDS=1 TOTAL_JOBS="$TOTAL" bash bench/jobs.sh e2e | awk '$1 == "e2e:" { print $2 }')
            [ -n "$RAMPART_E2E" ] || die "no e2e figure from bench/jobs.sh"
            export RAMPART_E2E
        fi
        ;;
    *) die "unknown peer '$peer' (nginx, bullmq, celery)" ;;
    esac
    line=$(bash "bench/peers/$peer.sh" | grep '^PEER ') || die "bench/peers/$peer.sh failed"
    results+="$line"$'\n'
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "Rampart and its peers, $(date -u '+%Y-%m-%d %H:%M') UTC, $(machine_name), load before $load_before, after $load_after"
echo
echo "| what | Rampart | peer, same run | ratio Rampart/peer |"
echo "|---|---|---|---|"
printf '%s' "$results" | while read -r _ name metric rampart value ratio; do
    case "$metric" in
    get_job_req_per_s) what="authenticated GET /api/v1/jobs/{id}, req/s (peer: $name serving the same bytes)" ;;
    e2e_jobs_per_s) what="$TOTAL no-op jobs, submit to all done, jobs/s (peer: $name)" ;;
    *) what="$metric ($name)" ;;
    esac
    echo "| $what | $rampart | $value | $ratio |"
done
