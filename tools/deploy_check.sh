#!/usr/bin/env bash
# make deploy-check: the deployment files in deploy/ are checked as an operator would use them, offline
# (no running systemd, no root needed):
# - deploy/systemd/rampart.service: `systemd-analyze verify` (any warning fails, so a misspelt directive
#   that systemd would silently ignore is caught) and `systemd-analyze security --offline=true`, whose
#   exposure score must not exceed MAX_EXPOSURE (0.0 best, 10.0 worst). verify needs the Exec lines'
#   binary to exist, so it runs on a copy whose ExecStart and ExecStartPre name the built binary.
# - deploy/nginx/rampart.conf: `nginx -t`, with a throw-away self-signed certificate in place of the
#   Let's Encrypt paths and Unix sockets in place of the ports. (tests/integration/reverse_proxy_test.cpp also runs it and attacks through it.)
# Usage: tools/deploy_check.sh RAMPART_BINARY [MAX_EXPOSURE] [NGINX]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
max_exposure=${2:-1.5}
nginx=${3:-/usr/sbin/nginx}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "deploy-check: FAILED: $*" >&2; exit 1; }

unit=deploy/systemd/rampart.service
sed -E "s#^(ExecStart|ExecStartPre)=/usr/local/bin/rampart #\1=$binary #" "$unit" > "$tmp/rampart.service"
grep -q "^ExecStart=$binary " "$tmp/rampart.service" || fail "$unit: no 'ExecStart=/usr/local/bin/rampart ' line"
verify=$(systemd-analyze verify "$tmp/rampart.service" 2>&1) || { echo "$verify"; fail "systemd-analyze verify $unit"; }
[ -z "$verify" ] || { echo "$verify"; fail "systemd-analyze verify $unit warned"; }
echo "deploy-check: systemd-analyze verify $unit: ok"

report=$(systemd-analyze security --offline=true "$tmp/rampart.service" 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for rampart\.service: \([0-9.]*\).*/\1/p' <<<"$report")
[ -n "$score" ] || { echo "$report"; fail "no exposure level in systemd-analyze security's report"; }
echo "deploy-check: systemd-analyze security $unit: exposure $score (at most $max_exposure allowed)"
if ! awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'; then
    grep '✗' <<<"$report" || true
    fail "$unit: exposure $score is above $max_exposure"
fi

site=deploy/nginx/rampart.conf
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=api.example.com \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
# nginx -t binds the listening sockets: Unix sockets in the temporary directory stand in for ports 80 and
# 443 (no privilege needed, nothing to collide with), and the IPv6 lines go.
sed -e "s#/etc/letsencrypt/live/api.example.com/fullchain.pem#$tmp/cert.pem#" \
    -e "s#/etc/letsencrypt/live/api.example.com/privkey.pem#$tmp/key.pem#" \
    -e "s#^    listen 80;#    listen unix:$tmp/http.sock;#" -e "s#^    listen 443 ssl http2;#    listen unix:$tmp/https.sock ssl http2;#" \
    -e "/^    listen \[::\]:\(80\|443 ssl http2\);/d" "$site" > "$tmp/rampart.conf"
[ "$(grep -c '^    listen unix:' "$tmp/rampart.conf")" = 2 ] && ! grep -q '^ *listen [^u]' "$tmp/rampart.conf" \
    || fail "$site: expected the listen lines 80, [::]:80, 443 ssl http2 and [::]:443 ssl http2"
cat > "$tmp/nginx.conf" <<CONF
pid $tmp/nginx.pid;
error_log $tmp/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $tmp/client_body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/rampart.conf;
}
CONF
"$nginx" -t -q -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" || fail "nginx -t $site"
echo "deploy-check: nginx -t $site: ok"
