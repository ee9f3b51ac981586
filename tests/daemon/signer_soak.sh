#!/bin/bash
# The signer killed under load (issue 13): `keyward run` with a SoftHSM2
# tunnel and a TPM tunnel, four client loops making full handshakes
# through them, and the signer SIGKILLed four times, each time once the
# handshakes work again.  Each time: the supervisor and the network process
# stay up (same PIDs), handshakes fail cleanly while the signer is away and
# work again by themselves (the new signer reopens the tokens from its
# config and PIN file, the network process reopens its keys), the daemon
# says it once
# (not once per failed handshake), and the network process leaks no
# descriptor across the restarts.  `keyward status` counts the restarts.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/daemon/lib.sh"

kw_need swtpm openssl curl nginx
cd "$KW_T" || exit 1
KILLS=4
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm
kw_tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
daemon_card kwsoak card
kw_start_nginx

W1=$(kw_free_port)
W2=$(kw_free_port)
{ daemon_global
daemon_nginx_tunnel tpm "$W1" "tpm:$KW_T/laptop.tpmkey" "$KW_T/laptop.pem"
daemon_nginx_tunnel card "$W2" "$KEY" "$KW_T/card.pem"; } >keyward.conf
kw_start_keyward run run --config keyward.conf
kw_wait_for run.log "running: 2 tunnels" || kw_fail "did not start: $(cat run.log)"
SUP=$KPID
children() {
	SIGNER=$(ps -o pid=,args= --ppid "$SUP" | awk '/__signer/ { print $1 }')
	NET=$(ps -o pid=,args= --ppid "$SUP" | awk '!/__signer/ { print $1 }')
	[ -n "$SIGNER" ] && [ -n "$NET" ]
}
for i in $(seq 100); do children && break; sleep 0.1; done
children || kw_fail "no signer and network process under $SUP"
NET0=$NET
# one request: 0 when nginx answered with the client's name
get() { curl -s --max-time 10 "http://127.0.0.1:$1/" 2>/dev/null | grep -q "hello.*CN *= *$2"; }
for i in $(seq 50); do get "$W2" card && get "$W1" laptop && break; sleep 0.2; done
get "$W2" card && get "$W1" laptop || kw_fail "the tunnels do not answer: $(cat run.log)"
# idle descriptors of the network process (its listeners, sockets to the
# supervisor and the signer, the log): the same after the restarts
fds() { ls "/proc/$NET0/fd" | wc -l; }
FD0=$(fds)

# the load: loops L1..L4, each "OK BAD" in loop.L, replaced whole
loop() {
	local port=$1 cn=$2 name=$3 ok=0 bad=0
	while [ ! -e stop ]; do
		if get "$port" "$cn"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
		echo "$ok $bad" >"loop.$name.new" && mv "loop.$name.new" "loop.$name"
	done
}
LOOPS=""
for l in 1 2 3; do
	loop "$W2" card "c$l" &
	LOOPS="$LOOPS $!"
	kw_track $!
done
loop "$W1" laptop t1 &
LOOPS="$LOOPS $!"
kw_track $!
# (the whole files only, never a loop.NAME.new being written)
total() { cat loop.c1 loop.c2 loop.c3 loop.t1 2>/dev/null | awk -v f="$1" '{ s += $f } END { print s + 0 }'; }
total_ok() { total 1; }
total_bad() { total 2; }
sleep 2
[ "$(total_ok)" -gt 0 ] || kw_fail "no handshake under load: $(tail -5 run.log)"
lines0=$(wc -l <run.log)

for k in $(seq $KILLS); do
	children || kw_fail "kill $k: no signer: $(tail -5 run.log)"
	OLD=$SIGNER
	ok0=$(total_ok)
	kill -9 "$SIGNER"
	# a new signer, then handshakes on both tunnels again
	n=0
	until children && [ "$SIGNER" != "$OLD" ]; do
		sleep 0.1; n=$((n + 1))
		[ $n -lt 200 ] || kw_fail "kill $k: no new signer within 20 s: $(tail -5 run.log)"
	done
	n=0
	until [ "$(total_ok)" -ge $((ok0 + 20)) ] && get "$W1" laptop && get "$W2" card; do
		sleep 0.2; n=$((n + 1))
		[ $n -lt 100 ] || kw_fail "kill $k: no handshakes within 20 s of the new signer: $(tail -5 run.log)"
	done
	kill -0 "$SUP" || kw_fail "kill $k: the supervisor died: $(tail -5 run.log)"
	[ "$NET" = "$NET0" ] || kw_fail "kill $k: the network process was replaced ($NET0 -> $NET)"
	echo "ok kill $k: signer $OLD -> $SIGNER, handshakes again ($(total_ok) good, $(total_bad) failed so far)"
done
touch stop
for p in $LOOPS; do wait "$p"; done
echo "ok $(total_ok) handshakes, $(total_bad) failed, through $KILLS signer kills"

# what it said: per kill, the supervisor's line, the network process's
# "gone" and "connected" lines, and the tokens reopened; nothing per failed
# handshake
tail -n +$((lines0 + 1)) run.log >soak.log
echo "--- the daemon's log during the soak:"
sed 's/[0-9]\{2,\}/N/g' soak.log | sort | uniq -c | sort -rn | head -12
n=$(wc -l <soak.log)
[ "$(grep -c "the signer was killed by signal 9" soak.log)" = $KILLS ] ||
	kw_fail "not one supervisor line per kill: $(grep -c "killed by signal" soak.log)"
[ "$n" -le $((KILLS * 8)) ] ||
	kw_fail "$n log lines for $KILLS signer restarts ($(total_bad) failed handshakes): $(sort soak.log | uniq -c | sort -rn | head)"
FD1=$(fds)
[ "$FD1" -le "$FD0" ] || kw_fail "the network process holds $FD1 descriptors after $KILLS restarts, $FD0 before"
"$KEYWARD" status --json --socket control >status.json || kw_fail "status failed"
r=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["signer"]["restarts"])' <status.json) ||
	kw_fail "status has no signer restarts: $(cat status.json)"
[ "$r" = $KILLS ] || kw_fail "status counts $r signer restarts, want $KILLS"
echo "ok $n log lines, $FD0 -> $FD1 descriptors, status counts $r restarts"
kw_stop "$SUP"
kw_no_sanitizer_reports run.log
echo "PASS"
