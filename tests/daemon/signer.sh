#!/bin/bash
# keyward run's signer (issue 13): two tunnels, one key in swtpm, one on a
# SoftHSM2 token, work through the signer process; the network process
# maps no PKCS#11 module, has no connection to the TPM and runs under
# seccomp (a test hook's execve there fails); the PIN file is read once (a
# restarted network process gets the open token back without it); a
# SIGKILLed signer makes handshakes fail cleanly, then comes back; the
# sign-rate limit refuses, logs once and counts.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/daemon/lib.sh"

kw_need swtpm openssl curl nginx ss
cd "$KW_T" || exit 1
HOOKS=${KW_BUILDDIR:-$(dirname "$KEYWARD")/..}/agent/keyward-test
[ -x "$HOOKS" ] || HOOKS=$(dirname "$KEYWARD")/keyward-test
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm
TPM_PORT=${KW_TCTI##*port=}
kw_tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
daemon_card kwsigner card
kw_start_nginx

W1=$(kw_free_port)
W2=$(kw_free_port)
write_conf() {
	{ daemon_global "$1"
	daemon_nginx_tunnel tpm "$W1" "tpm:$KW_T/laptop.tpmkey" "$KW_T/laptop.pem"
	daemon_nginx_tunnel card "$W2" "$KEY" "$KW_T/card.pem"; } >keyward.conf
}

get() { curl -s --max-time 10 "http://127.0.0.1:$1/"; }
works() {
	local i
	for i in $(seq 50); do
		get "$1" | grep -q "hello.*CN *= *$2" && return 0
		sleep 0.2
	done
	return 1
}
# the children of the supervisor: SIGNER (keyward __signer) and NET
children() {
	SIGNER=$(ps -o pid=,args= --ppid "$KPID" | awk '/__signer/ { print $1 }')
	NET=$(ps -o pid=,args= --ppid "$KPID" | awk '!/__signer/ { print $1 }')
	[ -n "$SIGNER" ] && [ -n "$NET" ]
}
wait_children() {
	local i
	for i in $(seq 100); do
		children && [ "$SIGNER" != "${1:-}" ] && [ "$NET" != "${2:-}" ] &&
			return 0
		sleep 0.1
	done
	kw_fail "keyward run has no signer and network processes: $(ps --ppid "$KPID" -o pid=,args=)"
}

echo "== tunnels work through the signer"
write_conf ""
EVIL="pkcs11:token=kwsigner;object=card?module-path=$KW_T/evil.so"
KEYWARD_TEST_EXEC_PROBE=1 KEYWARD_TEST_OPEN_REF=$EVIL KEYWARD=$HOOKS \
	kw_start_keyward run run --config keyward.conf
kw_wait_for run.log "running: 2 tunnels" || kw_fail "did not start: $(cat run.log)"
wait_children
works "$W1" laptop || kw_fail "TPM tunnel: $(get "$W1"; cat run.log)"
works "$W2" card || kw_fail "SoftHSM tunnel: $(get "$W2"; cat run.log)"
echo "ok both tunnels answer"

echo "== the network process holds no key"
grep -q libsofthsm2 "/proc/$SIGNER/maps" ||
	kw_fail "the signer has no SoftHSM module mapped (the check below proves nothing)"
! grep -q 'libsofthsm2\|libtpm2_pkcs11' "/proc/$NET/maps" ||
	kw_fail "the network process maps a PKCS#11 module"
! ss -Htnp dst "127.0.0.1:$TPM_PORT" | grep -q "pid=$NET," ||
	kw_fail "the network process is connected to the TPM"
! grep -q 'libtss2-tcti-' "/proc/$NET/maps" ||
	kw_fail "the network process loaded a TCTI"
! ls -l "/proc/$NET/fd" | grep -q '/dev/tpm' ||
	kw_fail "the network process has a TPM device open"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$NET/status" ||
	kw_fail "the network process is not under seccomp"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$SIGNER/status" ||
	kw_fail "the signer is not under seccomp"
grep -q "test hook: execve in the network process failed: Operation not permitted" run.log ||
	kw_fail "execve in the network process: $(grep 'test hook' run.log)"
echo "ok no module mapped, no TPM connection, seccomp (execve: EPERM)"

echo "== the signer opens only what its config names"
grep -qF "signer: refused to open $EVIL: key reference is not named by keyward.conf" run.log &&
grep -qF "test hook: opening $EVIL from the network process: permission denied" run.log ||
	kw_fail "a reference the config does not name: $(grep -i 'evil\|refused' run.log)"
echo "ok a reference with another module-path refused"

echo "== a killed network process comes back without the PIN"
mv pin pin.away
kill -9 "$NET"
OLDNET=$NET
wait_children "" "$OLDNET"
kw_wait_for run.log "network process was killed by signal 9" ||
	kw_fail "no log line for the network process: $(cat run.log)"
works "$W2" card || kw_fail "SoftHSM tunnel after the restart: $(get "$W2"; cat run.log)"
works "$W1" laptop || kw_fail "TPM tunnel after the restart: $(get "$W1"; cat run.log)"
mv pin.away pin
echo "ok restarted network process, tokens still open, PIN not read"

echo "== a killed signer: handshakes fail cleanly, then it is back"
OLDSIG=$SIGNER
kill -STOP "$KPID"	# hold the restart while we look
kill -9 "$SIGNER"
sleep 0.3
out=$(get "$W1") && [ -n "$out" ] && kw_fail "a handshake worked without the signer: $out"
kill -CONT "$KPID"
kw_wait_for run.log "the signer was killed by signal 9" ||
	kw_fail "no log line for the signer: $(cat run.log)"
grep -q "signer: the key process is gone" run.log ||
	kw_fail "the network process did not say the signer is gone: $(cat run.log)"
wait_children "$OLDSIG"
works "$W1" laptop || kw_fail "TPM tunnel after the signer came back: $(cat run.log)"
works "$W2" card || kw_fail "SoftHSM tunnel after the signer came back: $(cat run.log)"
[ "$(grep -c "the key process is gone" run.log)" = 1 ] ||
	kw_fail "the outage was logged more than once: $(grep "key process" run.log)"
"$KEYWARD" status --socket control >status.out || kw_fail "status failed"
grep -q "signer up, 0 signatures refused by sign-rate, 1 restarts" status.out ||
	kw_fail "status: $(cat status.out)"
kw_stop "$KPID"
echo "ok failed cleanly, one line each, and came back"

echo "== sign-rate: refused, logged once, counted"
write_conf "sign-rate = 1"
kw_start_keyward rate run --config keyward.conf
kw_wait_for rate.log "running: 2 tunnels" || kw_fail "did not start: $(cat rate.log)"
# 12 handshakes at once: one second's worth (1) goes through, the rest
# is refused in one episode
pids=""
for i in $(seq 12); do
	get "$W1" >"burst.$i" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
ok=$(cat burst.* | grep -c hello)
[ "$ok" -lt 12 ] && [ "$ok" -ge 1 ] || kw_fail "sign-rate 1/s let $ok of 12 handshakes through"
[ "$(grep -c "asked for more than sign-rate 1 " rate.log)" = 1 ] ||
	kw_fail "the refusal was not logged exactly once: $(cat rate.log)"
refused=$("$KEYWARD" status --json --socket control |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["signer"]["refused"])')
[ "$refused" -ge $((12 - ok)) ] || kw_fail "refused counted $refused, want >= $((12 - ok))"
kw_stop "$KPID"
echo "ok $ok of 12 through, $refused refused, one log line"
kw_no_sanitizer_reports run.log rate.log
