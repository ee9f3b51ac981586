#!/bin/bash
# A reload applies handshake-threads to a server tunnel that keeps its
# name and address (issue 9, finding 24): the daemon's kw-handshake
# threads follow the number (0 -> 3 -> 1 -> 0), steps queued on the old
# threads finish on the new ones, clients are served throughout; a full
# max-connections drops its oldest silent peer for a client; the
# handshake-slot keys of keyward.conf(5) are read and checked.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/tunnel/lib.sh"

cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7   # for nginx
kw_start_swtpm tpm
tpm_identity tserver "CN=tunnel-server" "DNS:localhost,IP:127.0.0.1"
soft_client alice "/CN=alice" "URI:spiffe://example.org/alice"
start_nginx
FLOOD="python3 $KW_SRCDIR/tests/tunnel/flood.py"

S=$(kw_free_port)
write_conf() {
	cat >keyward.conf <<EOF2
[global]
control-socket = $KW_T/run/control
tcti = $KW_TCTI

[tunnel front]
mode = server
listen = 127.0.0.1:$S
target = 127.0.0.1:$NGX_PLAIN
key = tpm:$KW_T/tserver.tpmkey
cert = $KW_T/tserver.pem
ca = $KW_T/ca/ca.pem
allow-cn = alice
handshake-timeout = 3
$1
EOF2
}
threads() { cat /proc/"$(kw_net_pid "$DPID")"/task/*/comm | grep -c '^kw-handshake$'; }
client() {
	$FLOOD client "$S" 127.0.0.2 ca/ca.pem alice.pem alice.key >client.out ||
		kw_fail "$1: client not served: $(cat client.out); $(tail -3 daemon.log)"
}
reloads=0
reload() {
	local i=0
	write_conf "$1"
	kill -HUP "$DPID"
	reloads=$((reloads + 1))
	while [ "$(grep -c 'reloaded: 1 tunnels' daemon.log)" -lt $reloads ]; do
		sleep 0.1; i=$((i + 1))
		[ $i -ge 100 ] && kw_fail "no reload: $(tail -3 daemon.log)"
	done
}

write_conf "handshake-threads = 0"
start_keyward daemon run --config keyward.conf
DPID=$KPID
wait_for daemon.log "tunnel front: server" ||
	kw_fail "daemon did not start: $(cat daemon.log)"
wait_listen "$S"
client "start"
[ "$(threads)" = 0 ] || kw_fail "$(threads) handshake threads, want 0"
echo "ok started inline: no handshake threads"

for n in 3 1 0; do
	# whole ClientHellos from one address while the threads change
	$FLOOD hold "$S" 6 5 6 hello hello.ready 1 >hello.json &
	FPID=$!
	wait_for hello.ready . || kw_fail "hello flood did not start"
	reload "handshake-threads = $n"
	[ "$(threads)" = "$n" ] ||
		kw_fail "handshake-threads = $n: $(threads) threads"
	client "handshake-threads = $n"
	wait "$FPID"
	echo "ok reload to handshake-threads = $n: $(threads) threads, client served"
done
kill -0 "$DPID" || kw_fail "daemon died: $(tail -5 daemon.log)"

echo "== max-connections full of silent peers: the oldest makes room"
reload "max-connections = 1"
$FLOOD hold "$S" 1 0 1 idle idle.ready 2 >idle.json &
FPID=$!
kw_track "$FPID"
wait_for idle.ready . || kw_fail "idle peer did not start"
sleep 0.2
# from the idle peer's own address (its count must survive the drop)
$FLOOD client "$S" 127.0.0.1 ca/ca.pem alice.pem alice.key >client.out ||
	kw_fail "client at max-connections: $(cat client.out); $(tail -3 daemon.log)"
wait "$FPID"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["open"] == 0, d' \
	idle.json || kw_fail "the silent peer was not dropped: $(cat idle.json)"
grep -q "dropping the oldest that sent no ClientHello" daemon.log ||
	kw_fail "drop not logged"
echo "ok silent peer dropped for a client at max-connections = 1"

echo "== handshake slot keys"
write_conf "max-pending-per-source = 8
max-signing-per-source = 1
max-signing = 16"
"$KEYWARD" run --config keyward.conf --check >check.out 2>&1 ||
	kw_fail "--check: $(cat check.out)"
write_conf "max-signing-per-source = 0"
"$KEYWARD" run --config keyward.conf --check >check.out 2>&1 &&
	kw_fail "max-signing-per-source = 0 accepted"
grep -q "keyward.conf:14: 'max-signing-per-source' must be" check.out ||
	kw_fail "bad value not reported as FILE:LINE: $(cat check.out)"
echo "ok keys checked ($(head -1 check.out))"

kw_stop "$DPID"
if grep -l "Sanitizer\|runtime error" ./*.log >/dev/null 2>&1; then
	kw_fail "sanitizer report: $(grep -h -A5 "Sanitizer\|runtime error" ./*.log | head -20)"
fi
exit 0
