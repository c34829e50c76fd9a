#!/usr/bin/env bash
# Runs the README's first steps (every ```sh block between "Log in and call the API" and "Before a
# production deployment") against the real binary, as a newcomer would paste them: log in, call
# /api/v1/me, submit the echo job, read its result back. Only the address and the printed password
# are substituted. Usage: readme_test.sh PATH/TO/rampart PATH/TO/README.md
set -euo pipefail
binary=$1
readme=$2
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

password='readme-test-Password-7f3a9c'
printf '%s' "$password" >"$work/admin-password"
RAMPART_DATA_DIR="$work/var" RAMPART_DATABASE_URL="sqlite://$work/var/rampart.db" \
    RAMPART_ADMIN_PASSWORD_FILE="$work/admin-password" \
    "$binary" serve --listen 127.0.0.1:0 --port-file "$work/port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/server.log"; echo "readme: FAILED: the server did not start"; exit 1; }
address="127.0.0.1:$(cat "$work/port")"

# The shell blocks of the first steps, in order: step-1.sh, step-2.sh, ... (each block sees the
# variables the blocks before it set, as in one terminal).
awk -v dir="$work" '/Log in and call the API/ {on = 1} /Before a production deployment/ {on = 0}
     on && /^```sh$/ {n++; block = 1; next} block && /^```$/ {block = 0; next}
     block {print > (dir "/step-" n ".sh")}' "$readme"
steps=$(ls "$work"/step-*.sh 2>/dev/null | sort -V)
[ -n "$steps" ] || { echo "readme: FAILED: no first steps found in $readme"; exit 1; }
sed -i "s#127.0.0.1:8080#$address#g; s#<the printed password>#$password#g" $steps
: >"$work/all.sh"
for step in $steps; do cat "$step" >>"$work/all.sh"; echo "echo" >>"$work/all.sh"; done
# What the steps set (the token, the job id), kept for asking again.
echo "declare -p TOKEN JOB >'$work/vars'" >>"$work/all.sh"
output=$(bash -euo pipefail "$work/all.sh" 2>&1) || { echo "$output"; echo "readme: FAILED: a step failed"; exit 1; }
grep -q '"username":"admin"' <<<"$output" || { echo "$output"; echo "readme: FAILED: /api/v1/me did not name the admin"; exit 1; }
# The last block reads the job back; "ask again" while it is still queued or running, as the README says.
last=$(echo "$steps" | tail -1)
for _ in $(seq 1 50); do
    grep -q '"state": "succeeded"' <<<"$output" && break
    sleep 0.2
    output=$(bash -euo pipefail -c "source '$work/vars'; source '$last'" 2>&1) || true
done
echo "$output"
grep -q '"state": "succeeded"' <<<"$output" || { echo "readme: FAILED: the job did not succeed"; exit 1; }
grep -q '"message": "hello"' <<<"$output" || { echo "readme: FAILED: the job's result is not the echo"; exit 1; }
echo "readme: the first steps work as written"
