#!/bin/bash
# keyward run with `workers = 2` (issue 13): two network processes, both
# children of the supervisor, neither mapping the PKCS#11 module, share
# one signer and the tunnels' listeners; connections are spread over both
# and `keyward status` counts every one of them; a SIGKILLed worker is
# restarted while the other keeps serving; a renewed (rekeyed) identity
# reaches the second worker through its file watching; SIGHUP reloads
# both; workers > 1 without the signer is refused in one line.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/daemon/lib.sh"

kw_need swtpm openssl curl nginx ss python3
cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm
kw_tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
daemon_card kwworkers card
kw_make_cert alice "/CN=alice" "DNS:alice.example.com"
kw_start_nginx

# an enrolled identity as `keyward enroll est` leaves it (its EST server
# is never reached: renewal is not due for days)
na=$(date -d "$(openssl x509 -in laptop.pem -noout -enddate | cut -d= -f2)" +%s)
state() {
	cat >laptop.state.new <<EOF
{"version": 1, "server": "https://127.0.0.1:9/.well-known/est",
 "ca": "$KW_T/ca/ca.pem", "key": "tpm:$KW_T/$1", "cert": "$KW_T/laptop.pem",
 "tcti": "$KW_TCTI", "renew_at": 66, "alarm_at": 90, "grace": 3600,
 "rekey": true, "store_on_token": false,
 "not_before": $((na - 7 * 86400)), "not_after": $na, "failures": 0,
 "last_failure": 0}
EOF
	chmod 600 laptop.state.new
	mv laptop.state.new laptop.state
}
state laptop.tpmkey

W1=$(kw_free_port)
W2=$(kw_free_port)
W3=$(kw_free_port)
W4=$(kw_free_port)
write_conf() {
	{ daemon_global "watch-interval = 1" "workers = 2" "$1"
	cat <<CONF

[identity laptop]
state = $KW_T/laptop.state

[tunnel id]
mode = client
listen = 127.0.0.1:$W2
target = 127.0.0.1:$NGX_TLS_NR
servername = localhost
identity = laptop
ca = $KW_T/ca/ca.pem
resume = no
CONF
	daemon_nginx_tunnel card "$W1" "$KEY" "$KW_T/card.pem"
	cat <<CONF

[tunnel srv]
mode = server
listen = 127.0.0.1:$W4
target = 127.0.0.1:$NGX_PLAIN
key = $KEY
cert = $KW_T/card.pem
ca = $KW_T/ca/ca.pem
allow-cn = ${SRV_ALLOW:-alice}
CONF
	[ -z "${2:-}" ] || daemon_nginx_tunnel extra "$W3" "$KEY" "$KW_T/card.pem"
	} >keyward.conf
}

get() { curl -s --max-time 10 "http://127.0.0.1:$1/"; }
# N requests through PORT, each answered by nginx with the client's CN
# (CN); the number answered is in OK
burst() {
	local i
	OK=0
	for i in $(seq "$2"); do
		get "$1" | grep -q "hello.*CN *= *$3\b" && OK=$((OK + 1))
	done
}
status() { "$KEYWARD" status --json --socket control; }
# the supervisor's children: SIGNER, and NETS (the network processes)
children() {
	SIGNER=$(ps -o pid=,args= --ppid "$KPID" | awk '/__signer/ { print $1 }')
	NETS=$(ps -o pid=,args= --ppid "$KPID" | awk '!/__signer/ { print $1 }' | sort -n | tr '\n' ' ')
	[ -n "$SIGNER" ] && [ "$(echo "$NETS" | wc -w)" = 2 ]
}
# worker W's pid, running flag, connections accepted, from status
worker() {
	status | python3 -c '
import json, sys
w = json.load(sys.stdin)["workers"][int(sys.argv[1])]
print(w["pid"], int(w["running"]), w["connections_total"])' "$1"
}

echo "== workers = 2 without the signer is refused"
write_conf ""
"$KEYWARD" run --config keyward.conf --no-sandbox >nosb.out 2>&1 &&
	kw_fail "--no-sandbox with workers = 2 started: $(cat nosb.out)"
grep -q "workers = 2 needs the signer process, which --no-sandbox turns off: drop --no-sandbox or set workers = 1" nosb.out ||
	kw_fail "--no-sandbox: $(cat nosb.out)"
write_conf "sandbox = no"
"$KEYWARD" run --check --config keyward.conf >check.out 2>&1 &&
	kw_fail "--check passed workers = 2 with sandbox = no: $(cat check.out)"
grep -q "keyward.conf:[0-9]*: workers = 2 needs the signer process, which sandbox = no turns off" check.out ||
	kw_fail "--check: $(cat check.out)"
write_conf "" && sed -i 's/^workers = 2$/workers = 17/' keyward.conf
"$KEYWARD" run --check --config keyward.conf >check.out 2>&1 &&
	kw_fail "--check passed workers = 17"
grep -q "'workers' must be a whole number 1 to 16" check.out ||
	kw_fail "--check workers = 17: $(cat check.out)"
write_conf ""
"$KEYWARD" run --check --config keyward.conf >check.out 2>&1 ||
	kw_fail "--check workers = 2: $(cat check.out)"
echo "ok refused with --no-sandbox and sandbox = no, checked by --check"

echo "== two network processes, one signer, no module in either"
kw_start_keyward run run --config keyward.conf
for i in $(seq 150); do
	[ "$(grep -c 'running: 3 tunnels' run.log)" = 2 ] && break
	sleep 0.1
done
[ "$(grep -c 'running: 3 tunnels' run.log)" = 2 ] ||
	kw_fail "not two network processes running: $(cat run.log)"
grep -q "worker 1: running: 3 tunnels" run.log ||
	kw_fail "worker 1 does not say it is worker 1: $(cat run.log)"
children || kw_fail "children of the supervisor: $(ps --ppid "$KPID" -o pid=,args=)"
set -- $NETS
NET0=$1 NET1=$2
[ "$NET0" != "$NET1" ] || kw_fail "one pid twice"
grep -q libsofthsm2 "/proc/$SIGNER/maps" ||
	kw_fail "the signer has no SoftHSM module mapped (the check below proves nothing)"
for p in $NETS; do
	! grep -q 'libsofthsm2\|libtpm2_pkcs11\|libtss2-tcti-' "/proc/$p/maps" ||
		kw_fail "network process $p maps a PKCS#11 module or a TCTI"
	grep -q '^Seccomp:[[:space:]]*2' "/proc/$p/status" ||
		kw_fail "network process $p is not under seccomp"
done
[ "$(ss -Hltnp "sport = :$W1" | grep -o 'pid=[0-9]*' | sort -u | wc -l)" = 2 ] ||
	kw_fail "not both listening on $W1: $(ss -Hltnp "sport = :$W1")"
echo "ok signer $SIGNER, network processes $NET0 and $NET1, both listening"

echo "== connections are spread over both and all counted"
burst "$W1" 40 card
[ "$OK" = 40 ] || kw_fail "$OK of 40 requests answered: $(tail run.log)"
for i in $(seq 50); do
	[ "$(kw_status_get control card connections.total)" = 40 ] && break
	sleep 0.2
done
[ "$(kw_status_get control card connections.total)" = 40 ] ||
	kw_fail "status counts $(kw_status_get control card connections.total) connections, not 40"
read -r p0 r0 c0 <<<"$(worker 0)"
read -r p1 r1 c1 <<<"$(worker 1)"
[ "$p0" = "$NET0" ] && [ "$p1" = "$NET1" ] && [ "$r0$r1" = 11 ] ||
	kw_fail "workers in status: $p0 $r0, $p1 $r1 (want $NET0, $NET1)"
[ "$c0" -gt 0 ] && [ "$c1" -gt 0 ] && [ $((c0 + c1)) = 40 ] ||
	kw_fail "per-worker connections: $c0 + $c1 (want both > 0, 40 in all)"
"$KEYWARD" status --socket control >status.out
grep -q "worker 1: pid $NET1, 0 connections open, $c1 accepted" status.out ||
	kw_fail "keyward status: $(cat status.out)"
echo "ok 40 connections: $c0 by worker 0, $c1 by worker 1"

echo "== a client resumes its TLS session at either worker"
# one ticket, offered 12 times: the kernel hands the connections to both
# workers, and each opens a ticket the other sealed
tls() {
	printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client \
		-connect "127.0.0.1:$W4" -CAfile ca/ca.pem -cert alice.pem \
		-key alice.key -ign_eof "$@" 2>&1
}
tls -sess_out alice.sess >tls.0
grep -q "plain hello" tls.0 && [ -s alice.sess ] || kw_fail "server tunnel: $(cat tls.0)"
reused=0
for i in $(seq 12); do
	tls -sess_in alice.sess >"tls.$i"
	grep -q "plain hello" "tls.$i" || kw_fail "resumption $i failed: $(cat "tls.$i"); $(tail -3 run.log)"
	grep -q "^Reused, TLSv1.3" "tls.$i" && reused=$((reused + 1))
done
[ "$reused" = 12 ] || kw_fail "$reused of 12 connections resumed"
echo "ok 12 of 12 resumed"

echo "== a killed worker is restarted; the other serves meanwhile"
kill -STOP "$KPID"	# hold the restart while we look
kill -9 "$NET1"
sleep 0.3
burst "$W1" 10 card
kill -CONT "$KPID"
[ "$OK" = 10 ] || kw_fail "$OK of 10 requests answered while worker 1 was down"
kw_wait_for run.log "network process 1 was killed by signal 9 .*; restarting it" ||
	kw_fail "no log line for worker 1: $(cat run.log)"
for i in $(seq 100); do
	children && [ "$NETS" != "$NET0 $NET1 " ] && break
	sleep 0.1
done
echo " $NETS" | grep -q " $NET0 " && ! echo " $NETS" | grep -q " $NET1 " ||
	kw_fail "after the kill: $NETS (was $NET0 $NET1)"
NET1=$(echo "$NETS" | tr ' ' '\n' | grep -vx "$NET0" | grep .)
for i in $(seq 100); do
	[ "$(ss -Hltnp "sport = :$W1" | grep -o 'pid=[0-9]*' | sort -u | wc -l)" = 2 ] && break
	sleep 0.1
done
burst "$W1" 30 card
[ "$OK" = 30 ] || kw_fail "$OK of 30 requests answered after the restart"
sleep 1.5
read -r p1 r1 c1 <<<"$(worker 1)"
[ "$p1" = "$NET1" ] && [ "$r1" = 1 ] && [ "$c1" -gt 0 ] ||
	kw_fail "restarted worker 1 in status: pid $p1 (want $NET1), running $r1, $c1 connections"
echo "ok 10 of 10 served by worker 0 alone, worker 1 back as $NET1"

echo "== a rekeyed identity reaches worker 1 through its file watching"
# what the primary's renewal leaves: the successor key, a certificate for
# it at the same path, the state naming the new key
"$KEYWARD" keygen --key "tpm:$KW_T/laptop.tpmkey.2" --alg ec-p256 \
	--tcti "$KW_TCTI" >/dev/null 2>keygen2.err || kw_fail "keygen: $(cat keygen2.err)"
"$KEYWARD" csr --key "tpm:$KW_T/laptop.tpmkey.2" --tcti "$KW_TCTI" \
	--subject "CN=renewed" --out renewed.csr 2>csr2.err || kw_fail "csr: $(cat csr2.err)"
kw_sign_csr renewed.csr laptop.next 7 "subjectAltName=DNS:laptop.example.com"
burst "$W2" 4 laptop
[ "$OK" = 4 ] || kw_fail "identity tunnel before the renewal: $OK of 4"
before=$(grep -c "worker 1: reloaded" run.log)
state laptop.tpmkey.2
mv laptop.next laptop.pem
for i in $(seq 100); do
	[ "$(grep -c "worker 1: reloaded" run.log)" -gt "$before" ] && break
	sleep 0.1
done
[ "$(grep -c "worker 1: reloaded" run.log)" -gt "$before" ] ||
	kw_fail "worker 1 did not reload: $(tail -20 run.log)"
# worker 0 (whose renewer did not make this renewal) keeps the old one
# until SIGHUP; of 20 connections worker 1 serves some with the new key
burst "$W2" 20 renewed
[ "$OK" -gt 0 ] || kw_fail "no connection with the renewed identity: $(tail -20 run.log)"
echo "ok worker 1 serves the renewed key and certificate ($OK of 20)"

echo "== SIGHUP reloads both"
write_conf "" extra
kill -HUP "$KPID"
for i in $(seq 100); do
	[ "$(ss -Hltnp "sport = :$W3" | grep -o 'pid=[0-9]*' | sort -u | wc -l)" = 2 ] && break
	sleep 0.1
done
[ "$(ss -Hltnp "sport = :$W3" | grep -o 'pid=[0-9]*' | sort -u | wc -l)" = 2 ] ||
	kw_fail "the new tunnel is not served by both: $(ss -Hltnp "sport = :$W3"); $(tail run.log)"
grep -q "worker 0: SIGHUP: reloading" run.log && grep -q "worker 1: SIGHUP: reloading" run.log ||
	kw_fail "SIGHUP not in both: $(grep SIGHUP run.log)"
burst "$W3" 10 card
[ "$OK" = 10 ] || kw_fail "new tunnel: $OK of 10"
burst "$W2" 10 renewed
[ "$OK" = 10 ] || kw_fail "identity tunnel after SIGHUP: $OK of 10 with the renewed key"
echo "ok new tunnel served by both, renewed identity in both"

echo "== a reload that drops a client voids its tickets in both workers"
tls -sess_in alice.sess >tls.before
grep -q "^Reused, TLSv1.3" tls.before ||
	kw_fail "the ticket no longer resumes after a reload that changed nothing for it: $(cat tls.before)"
SRV_ALLOW=bob write_conf "" extra
before=$(grep -c "reloaded: 4 tunnels" run.log)
kill -HUP "$KPID"
for i in $(seq 100); do
	[ "$(grep -c "reloaded: 4 tunnels" run.log)" -ge $((before + 2)) ] && break
	sleep 0.1
done
for i in $(seq 12); do
	tls -sess_in alice.sess >"tls.void.$i"
	! grep -q "plain hello" "tls.void.$i" ||
		kw_fail "alice resumed past the new allow-list: $(cat "tls.void.$i")"
done
echo "ok 12 of 12 refused"

kw_stop "$KPID"
kw_stop_keywards
kw_no_sanitizer_reports ./*.log
echo "PASS"
