#!/bin/bash
# A renewal that waits on the CA never freezes the daemon (issue 9, item 1):
# while the daemon's renewal is stuck on a stalling EST server, and then
# while it waits on a 202 "pending approval", SIGHUP reloads at once (the
# control socket and a tunnel answer within a second) and SIGTERM stops the
# daemon (and `enroll est --watch`) within a couple of seconds; the old
# identity stays intact.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwc
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwc;object=laptop?pin-source=file:$KW_T/pin"

est_setup_pki
est_start --minutes 10
S="$KW_T/c.pem.state"
"$KEYWARD" keygen --module "$MOD" --key "$URI" >/dev/null || kw_fail keygen
run_kw enroll enroll est --module "$MOD" --server "$EST_URL" --subject CN=laptop \
	--user alice --password-file "$KW_T/est.pw" --ca "$KW_T/ca/ca.pem" \
	--key "$URI" --out "$KW_T/c.pem"
expect_rc 0 "enroll" enroll

# the CA turns hostile: the state names it from now on
HPORT=$(kw_free_port)
echo stall >"$KW_T/hostile.mode"
openssl crl2pkcs7 -nocrl -certfile "$KW_T/ca/ca.pem" -outform DER \
	-out "$KW_T/cacerts.p7" || kw_fail "openssl crl2pkcs7"
python3 "$KW_SRCDIR/tests/enroll/hostile_est.py" --port "$HPORT" \
	--cert "$KW_T/est.pem" --key "$KW_T/est.key" --cacerts "$KW_T/cacerts.p7" \
	--mode-file "$KW_T/hostile.mode" --log "$KW_T/hostile.log" \
	--lifetime 90 >"$KW_T/hostile.out" 2>&1 &
kw_track $!
kw_wait_port "$HPORT" 10 || kw_fail "hostile EST server did not start"
python3 - "$S" "https://localhost:$HPORT" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
st["server"] = sys.argv[2]
json.dump(st, open(sys.argv[1], "w"))
PY
cp "$S" "$KW_T/state.before"
cp "$KW_T/c.pem" "$KW_T/cert.before"

est_start_echo
est_daemon_conf "module = $MOD" "$S" "renew-at = 1%
wait = 120"

# now_ms; within_1s START: fail unless less than 1 s passed since START
now_ms() { date +%s%3N; }
# a frozen daemon answers after the renewal's deadline, not in a second;
# a ThreadSanitizer build runs the tunnel's TLS 5-15 times slower
limit=1000
if ldd "$KEYWARD" | grep -q libtsan; then limit=4000; fi
tunnel_echo() {
	python3 - "$LISTEN" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.settimeout(3)
s.sendall(b"ping\n")
assert s.recv(100) == b"ping\n"
PY
}
# the time a tunnel connection takes before any SIGHUP (a handshake signed
# by the token: slow under sanitizers), the anchor for the one after
tunnel_anchor() {
	local t0 t1
	t0=$(now_ms)
	timeout 5 bash -c "$(declare -f tunnel_echo); LISTEN=$LISTEN tunnel_echo" ||
		kw_fail "the tunnel does not answer: $(tail -5 "$KW_T/run.err")"
	t1=$(now_ms)
	ANCHOR=$((t1 - t0))
}
# the control socket answers within 1 s of a SIGHUP, a tunnel within 1 s
# more than it took before
check_hup() {
	local what=$1 t0 t1 t2
	kill -HUP "$RUN"
	sleep 0.2
	t0=$(now_ms)
	timeout 5 "$KEYWARD" status --socket "$KW_T/control" >"$KW_T/status.out" 2>&1 ||
		kw_fail "$what: keyward status failed after SIGHUP: $(cat "$KW_T/status.out")"
	t1=$(now_ms)
	timeout 5 bash -c "$(declare -f tunnel_echo); LISTEN=$LISTEN tunnel_echo" ||
		kw_fail "$what: the tunnel did not answer after SIGHUP"
	t2=$(now_ms)
	echo "$what: after SIGHUP, status answered in $((t1 - t0)) ms, the tunnel in $((t2 - t1)) ms (before: $ANCHOR ms)"
	[ $((t1 - t0)) -lt "$limit" ] && [ $((t2 - t1)) -lt $((ANCHOR + limit)) ] ||
		kw_fail "$what: the daemon froze after SIGHUP"
}
wait_log() {
	local n=0 c
	until c=$(grep -c "$1" "$2" 2>/dev/null); [ "${c:-0}" -ge "$3" ]; do
		sleep 0.1; n=$((n + 1))
		[ $n -lt 150 ] || kw_fail "no '$1' in $2 within 15 s: $(tail -5 "$KW_T/run.err")"
	done
}

start_daemon() {
	"$KEYWARD" run --config "$KW_T/keyward.conf" 2>"$KW_T/run.err" &
	RUN=$!
	kw_track $RUN
	kw_wait_port "$LISTEN" 15 || kw_fail "keyward run did not listen: $(cat "$KW_T/run.err")"
}
# SIGTERM stops the daemon within 3 s
check_term() {
	local what=$1 t0 t1 rc=0
	t0=$(now_ms)
	kill -TERM "$RUN"
	timeout 10 tail -s 0.05 --pid="$RUN" -f /dev/null || true
	t1=$(now_ms)
	wait "$RUN" || rc=$?
	echo "$what: SIGTERM to exit: $((t1 - t0)) ms (exit $rc)"
	[ $((t1 - t0)) -lt 3000 ] || kw_fail "$what: SIGTERM took $((t1 - t0)) ms"
	[ $rc = 0 ] || kw_fail "$what: keyward run exited $rc: $(tail -5 "$KW_T/run.err")"
	if grep -q 'Sanitizer\|runtime error' "$KW_T/run.err"; then
		kw_fail "$what: sanitizer report: $(grep -A5 Sanitizer "$KW_T/run.err")"
	fi
}
intact() {
	cmp -s "$KW_T/c.pem" "$KW_T/cert.before" || kw_fail "$1: the certificate changed"
	python3 - "$S" "$KW_T/state.before" <<'PY' || kw_fail "$1: the identity changed"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("key", "cert", "server"):
    assert a.get(k) == b.get(k), (k, a.get(k), b.get(k))
PY
	run_kw check enroll est --check --state "$S"
	expect_rc 0 "$1: the old identity still works" check
}

# 1. a stalling CA: the renewal waits in the middle of an HTTP exchange
start_daemon
tunnel_anchor
wait_log 'stall GET' "$KW_T/hostile.log" 1
check_hup "stalled renewal"
# the new configuration's renewal stalls again; SIGTERM still ends it
wait_log 'stall GET' "$KW_T/hostile.log" 2
check_term "stalled renewal"
intact "stalled renewal"

# 2. `keyward enroll est --watch` (the same runner, without the daemon)
n0=$(grep -c 'stall GET' "$KW_T/hostile.log" || true)
"$KEYWARD" enroll est --watch --state "$S" --renew-at 1 2>"$KW_T/run.err" &
RUN=$!
kw_track $RUN
wait_log 'stall GET' "$KW_T/hostile.log" $((n0 + 1))
check_term "--watch, stalled renewal"
intact "--watch, stalled renewal"

# 3. a CA that holds the request (202, retry in 30 s; wait = 120)
echo pending >"$KW_T/hostile.mode"
start_daemon
tunnel_anchor
wait_log 'pending POST' "$KW_T/hostile.log" 1
sleep 0.3
check_hup "pending renewal"
wait_log 'pending POST' "$KW_T/hostile.log" 2
sleep 0.3
check_term "pending renewal"
intact "pending renewal"
echo "PASS: a renewal waiting on the CA never blocks reload or shutdown"
