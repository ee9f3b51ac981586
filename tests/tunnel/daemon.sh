#!/bin/bash
# keyward run: a config with two tunnels (key in swtpm) in front of nginx;
# status over the control socket (0600), Prometheus metrics, sd_notify
# READY/RELOADING/STOPPING; config errors as FILE:LINE; SIGHUP under load
# (connections opened before it keep working, new ones work too); a
# reload that fails keeps the running state; a renewed certificate file is
# picked up by itself; 1000 concurrent connections through one tunnel.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/tunnel/lib.sh"

cd "$KW_T" || exit 1
ulimit -n 8192 2>/dev/null || true
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm
tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
start_nginx
LOAD="python3 $KW_SRCDIR/tests/tunnel/load.py"

echo "== config errors are FILE:LINE"
cat >bad.conf <<EOF
[global]
log-level = info

[tunnel web]
mode = client
listen = 127.0.0.1:80800
colour = blue
EOF
rc=0
"$KEYWARD" run --config bad.conf >bad.out 2>&1 || rc=$?
[ "$rc" = 2 ] || kw_fail "bad config: exit $rc, want 2"
grep -q "bad.conf:6: bad address '127.0.0.1:80800'" bad.out &&
grep -q "bad.conf:7: unknown key 'colour' in \[tunnel web\]" bad.out &&
grep -q "bad.conf:4: tunnel 'web': missing 'target'" bad.out ||
	kw_fail "config errors: $(cat bad.out)"
echo "ok $(wc -l <bad.out) errors, each FILE:LINE"

W1=$(kw_free_port)
W2=$(kw_free_port)
W3=$(kw_free_port)
# An enrolled identity as `keyward enroll est` leaves it (its EST server is
# never reached: renewal is not due for days).
na=$(date -d "$(openssl x509 -in laptop.pem -noout -enddate | cut -d= -f2)" +%s)
cat >laptop.state <<EOF
{"version": 1, "server": "https://127.0.0.1:9/.well-known/est",
 "ca": "$KW_T/ca/ca.pem", "key": "tpm:$KW_T/laptop.tpmkey",
 "cert": "$KW_T/laptop.pem", "tcti": "$KW_TCTI", "renew_at": 66,
 "alarm_at": 90, "grace": 3600, "rekey": false, "store_on_token": false,
 "not_before": $((na - 7 * 86400)), "not_after": $na, "failures": 0,
 "last_failure": 0}
EOF
chmod 600 laptop.state
MP=$(kw_free_port)
write_conf() {
	cat >keyward.conf <<EOF
# keyward test daemon
[global]
control-socket = $KW_T/run/control
metrics = 127.0.0.1:$MP
tcti = $KW_TCTI
watch-interval = 1
$1

[tunnel web]
mode = client
listen = 127.0.0.1:$W1
target = 127.0.0.1:$NGX_TLS
servername = localhost
key = tpm:$KW_T/laptop.tpmkey
cert = $KW_T/laptop.pem
ca = $KW_T/ca/ca.pem
idle-timeout = 120
handshake-threads = 2

[tunnel web2]
mode = client
listen = 127.0.0.1:$W2
target = localhost:$NGX_TLS
key = tpm:$KW_T/laptop.tpmkey
cert = $KW_T/laptop.pem
ca = $KW_T/ca/ca.pem
tls-min = 1.3

[identity laptop]
state = $KW_T/laptop.state

[tunnel web3]
mode = client
listen = 127.0.0.1:$W3
target = 127.0.0.1:$NGX_TLS
servername = localhost
identity = laptop
ca = $KW_T/ca/ca.pem
EOF
}
write_conf ""
"$KEYWARD" run --config keyward.conf --check >check.out 2>&1 ||
	kw_fail "--check: $(cat check.out)"

# sd_notify: a datagram socket standing in for systemd.
python3 - "$KW_T/notify.sock" >notify.log 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
PY
kw_track $!
n=0; while [ ! -S notify.sock ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
NOTIFY_SOCKET=$KW_T/notify.sock WATCHDOG_USEC=1000000 \
	start_keyward daemon run --config keyward.conf
DPID=$KPID
wait_for notify.log "READY=1" || kw_fail "no READY=1: $(cat daemon.log)"
wait_listen "$W1"
wait_listen "$W2"
wait_listen "$W3"
[ "$(stat -c %a run/control)" = 600 ] || kw_fail "control socket is not 0600"
[ "$(stat -c %a run)" = 700 ] || kw_fail "control socket dir is not 0700"
wait_for notify.log "WATCHDOG=1" || kw_fail "no WATCHDOG=1 within WatchdogSec"
echo "ok daemon ready (sd_notify READY=1, WATCHDOG=1), control socket 0600"

curl -sS --max-time 10 "http://127.0.0.1:$W1/" | grep -q "hello CN=laptop" ||
	kw_fail "tunnel web: $(cat daemon.log)"
curl -sS --max-time 10 "http://127.0.0.1:$W2/" | grep -q "hello CN=laptop" ||
	kw_fail "tunnel web2 (target by name, TLS 1.3 only): $(cat daemon.log)"
curl -sS --max-time 10 "http://127.0.0.1:$W3/" | grep -q "hello CN=laptop" ||
	kw_fail "tunnel web3 (identity laptop): $(cat daemon.log)"
"$KEYWARD" status --json --socket run/control | python3 -c '
import json, sys
d = json.load(sys.stdin)
ids = [i for i in d["identities"] if i["name"] == "laptop"]
assert ids and ids[0]["key"].endswith("laptop.tpmkey"), d["identities"]
t = [t for t in d["tunnels"] if t["name"] == "web3"][0]
assert t["identity"] == "laptop" and t["certificate"].endswith("laptop.pem"), t
' || kw_fail "status: identity laptop / tunnel web3"
"$KEYWARD" status --socket run/control >status.txt ||
	kw_fail "keyward status: $(cat status.txt)"
grep -q "tunnel web (client, listening): 127.0.0.1:$W1 -> 127.0.0.1:$NGX_TLS" status.txt &&
grep -q "token ok" status.txt && grep -q "not after 20" status.txt ||
	kw_fail "status text: $(cat status.txt)"
curl -sS --max-time 5 "http://127.0.0.1:$MP/metrics" >metrics.txt ||
	kw_fail "metrics endpoint"
grep -q "^keyward_tunnel_handshakes_total{tunnel=\"web\",kind=\"full\"} 1$" metrics.txt &&
grep -q "^keyward_tunnel_signatures_total{tunnel=\"web2\"} 1$" metrics.txt &&
grep -q "^keyward_tunnel_sign_seconds_count{tunnel=\"web\"} 1$" metrics.txt &&
grep -q "^keyward_tunnel_certificate_not_after_seconds{tunnel=\"web\"} [1-9]" metrics.txt ||
	kw_fail "metrics: $(cat metrics.txt)"
echo "ok status and metrics"

echo "== SIGHUP under load"
rm -f go
$LOAD hold 127.0.0.1 "$W1" 20 "$KW_T/go" >hold.out 2>&1 &
HOLD=$!
kw_track "$HOLD"
wait_for hold.out "held 20" || kw_fail "load client: $(cat hold.out)"
write_conf "log-level = debug"
sed -i 's/^idle-timeout = 120/idle-timeout = 60/' keyward.conf
kill -HUP "$DPID"
wait_for daemon.log "reloaded: 3 tunnels" || kw_fail "no reload: $(tail daemon.log)"
wait_for notify.log "RELOADING=1" || kw_fail "no RELOADING=1"
for i in 1 2 3; do
	curl -sS --max-time 10 "http://127.0.0.1:$W1/" | grep -q "hello" ||
		kw_fail "new connection after the reload"
done
touch go
wait "$HOLD" || kw_fail "connections opened before SIGHUP: $(cat hold.out)"
[ "$(status_get run/control web reloads)" = 1 ] || kw_fail "reload not counted"
echo "ok 20 connections opened before SIGHUP kept working; new ones too"

# The control socket's "reload" takes the path a renewed identity takes
# (the renewal thread wakes the loop through the same pipe).
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"reload\n"); print(s.recv(100).decode())' run/control | grep -q requested ||
	kw_fail "control reload"
n=0; while [ "$(grep -c 'reloaded: 3 tunnels' daemon.log)" -lt 2 ]; do
	sleep 0.1; n=$((n + 1)); [ $n -ge 100 ] && kw_fail "no reload on wake-up"
done
curl -sS --max-time 10 "http://127.0.0.1:$W3/" | grep -q "hello" ||
	kw_fail "identity tunnel after the wake-up reload"
echo "ok reload through the renewal wake-up path"

echo "== a reload that fails keeps the running state"
cp keyward.conf good.conf
echo "bogus-key = 1" >>keyward.conf
kill -HUP "$DPID"
wait_for daemon.log "keyward.conf:[0-9]+: unknown key 'bogus-key'" ||
	kw_fail "bad reload not reported: $(tail daemon.log)"
wait_for daemon.log "reload failed .*running configuration stays" ||
	kw_fail "no 'reload failed' line"
curl -sS --max-time 10 "http://127.0.0.1:$W1/" | grep -q "hello" ||
	kw_fail "tunnel down after a failed reload"
cp good.conf keyward.conf
echo "ok failed reload logged, tunnels kept"

echo "== a renewed certificate is picked up"
old=$(status_get run/control web not_after_unix)
sleep 1
kw_sign_csr laptop.csr laptop.new 9 "subjectAltName=DNS:laptop.example.com"
mv laptop.new laptop.pem
n=0
while [ "$(status_get run/control web not_after_unix)" = "$old" ]; do
	sleep 0.2; n=$((n + 1))
	[ $n -ge 50 ] && kw_fail "new certificate not loaded: $(tail daemon.log)"
done
curl -sS --max-time 10 "http://127.0.0.1:$W1/" | grep -q "hello" ||
	kw_fail "after the certificate reload"
echo "ok new certificate in force without a restart"

echo "== 1000 concurrent connections through one tunnel"
before=$(status_get run/control web connections.total)
$LOAD conc 127.0.0.1 "$W1" 1000 >conc.out 2>&1 ||
	kw_fail "1000 concurrent: $(cat conc.out); $(grep -c closed daemon.log) closes logged"
after=$(status_get run/control web connections.total)
[ $((after - before)) -ge 1000 ] || kw_fail "only $((after - before)) connections counted"
[ "$(status_get run/control web connections.failed)" = 0 ] ||
	kw_fail "failed connections: $(grep closed daemon.log | tail -3)"
echo "ok $(cat conc.out) of 1000 concurrent; handshakes full $(status_get run/control web handshakes.full), resumed $(status_get run/control web handshakes.resumed)"

kill "$DPID"
n=0; while kill -0 "$DPID" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
kill -0 "$DPID" 2>/dev/null && kw_fail "daemon did not stop on SIGTERM"
wait_for notify.log "STOPPING=1" || kw_fail "no STOPPING=1"
[ -e run/control ] && kw_fail "control socket left behind"
echo "ok stopped cleanly (STOPPING=1)"
# Under --enable-sanitizers every keyward above reported into its log.
kw_stop_keywards
kw_no_sanitizer_reports ./*.log
exit 0
