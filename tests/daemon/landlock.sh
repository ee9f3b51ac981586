#!/bin/bash
# keyward run's network process under Landlock (issue 13: "no new files
# outside its state directory"): a test hook in it (keyward-test) tries to
# create files once it is sandboxed; beneath the identity's directory it
# may, beside it it may not.  Renewal still writes the certificate, chain
# and state there (EST, every few seconds: 1-minute certificates renewed at
# 40 %), the tunnel follows; a reload that adds an identity in a new
# directory restarts the network process, whose rules then allow it; a
# reload that needs nothing new does not.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"

kw_need python3
cd "$KW_T" || exit 1
HOOKS=${KW_BUILDDIR:-$(dirname "$KEYWARD")/..}/agent/keyward-test
[ -x "$HOOKS" ] || HOOKS=$(dirname "$KEYWARD")/keyward-test
[ -x "$HOOKS" ] || kw_skip "no agent/keyward-test (the test-hook build)"

kw_start_softhsm kwll
MOD=$KW_SOFTHSM_MODULE
est_setup_pki
est_start --minutes 1		# 90 s (backdated 30 s): 40 % is 6 s after issuance
mkdir state state2 outside run
enroll() {	# enroll NAME DIR
	local uri="pkcs11:token=kwll;object=$1?pin-source=file:$KW_T/pin"
	"$KEYWARD" keygen --module "$MOD" --key "$uri" >/dev/null 2>"$1.err" ||
		kw_fail "keygen $1: $(cat "$1.err")"
	run_kw "$1" enroll est --module "$MOD" --server "$EST_URL" \
		--subject "CN=$1" --user alice --password-file "$KW_T/est.pw" \
		--ca "$KW_T/ca/ca.pem" --key "$uri" --out "$KW_T/$2/c.pem" \
		--chain-out "$KW_T/$2/chain.pem" --renew-at 40% --grace 3
	expect_rc 0 "enroll $1" "$1"
}
enroll laptop state
est_start_echo
LISTEN=$(kw_free_port)
conf() {	# conf [second identity lines]
	cat >keyward.conf <<CONF
[global]
module = $MOD
control-socket = $KW_T/run/control
log-level = info

[identity laptop]
state = $KW_T/state/c.pem.state
$1

[tunnel intranet]
mode = client
listen = 127.0.0.1:$LISTEN
target = 127.0.0.1:$ECHO
servername = localhost
identity = laptop
ca = $KW_T/ca/ca.pem
CONF
}
conf ""
KEYWARD_TEST_WRITE_PROBE=$KW_T/outside/probe:$KW_T/state/probe:$KW_T/state2/probe \
	KEYWARD=$HOOKS kw_start_keyward run run --config keyward.conf
kw_wait_for run.log "running: 1 tunnels" ||
	kw_fail "did not start: $(cat run.log)"
grep -q "sandbox: no Landlock here" run.log &&
	kw_skip "this kernel has no Landlock: $(grep Landlock run.log)"
NET=$(kw_net_pid "$KPID")

echo "== the network process creates files only beneath its directories"
grep -qF "sandbox: Landlock ABI" run.log ||
	kw_fail "no Landlock line at start: $(cat run.log)"
R=$(realpath "$KW_T")
grep "sandbox: Landlock ABI" run.log | grep -qF "beneath $R/state, $R/run (sockets)" ||
	kw_fail "writable: $(grep 'Landlock ABI' run.log)"
grep -qF "test hook: creating $KW_T/state/probe in the network process: done" run.log &&
	[ -e state/probe ] ||
	kw_fail "the test hook could not create a file beneath the state directory (it proves nothing): $(grep 'test hook' run.log)"
grep -qF "test hook: creating $KW_T/outside/probe in the network process: Permission denied" run.log ||
	kw_fail "creating a file outside: $(grep 'test hook' run.log)"
[ ! -e outside/probe ] || kw_fail "the network process created $KW_T/outside/probe"
grep -qF "test hook: creating $KW_T/state2/probe in the network process: Permission denied" run.log ||
	kw_fail "creating a file in a directory no identity uses yet: $(grep 'test hook' run.log)"
echo "ok outside/probe: Permission denied, state/probe: created"

echo "== every thread of the network process is under seccomp"
threads=$(ls "/proc/$NET/task" | wc -l)
[ "$threads" -ge 2 ] || kw_fail "only $threads thread (no renewal thread to look at)"
for st in /proc/"$NET"/task/*/status; do
	grep -q '^Seccomp:[[:space:]]*2' "$st" ||
		kw_fail "thread ${st%/status} of the network process is not under seccomp: $(grep '^Name\|^Seccomp' "$st")"
done
echo "ok $threads threads"

echo "== renewal writes certificate, chain and state beside them"
first=$(cert_pub state/c.pem)
est_wait_until 60 '[ "$(cert_pub state/c.pem)" != "$first" ]' ||
	kw_fail "no renewal within 60 s: $(grep -i 'renew\|denied\|cannot' run.log | tail -5)"
grep -q 'object=laptop-2' state/c.pem.state ||
	kw_fail "the state does not name the new key: $(cat state/c.pem.state)"
[ -s state/chain.pem ] || kw_fail "no chain written"
est_wait_until 20 est_talk || kw_fail "the tunnel after the renewal: $(tail -5 run.log)"
bad='Permission denied\|cannot replace\|cannot create\|cannot write\|cannot open'
! grep -v 'test hook' run.log | grep -q "$bad" ||
	kw_fail "a write was refused: $(grep -v 'test hook' run.log | grep "$bad")"
echo "ok renewed under Landlock, tunnel answers"

echo "== a reload that writes nowhere new keeps the process"
kill -HUP "$KPID"
kw_wait_for run.log "reloaded: 1 tunnels" || kw_fail "no reload: $(tail -5 run.log)"
[ "$(kw_net_pid "$KPID")" = "$NET" ] || kw_fail "the network process was restarted"
echo "ok same process"

echo "== a reload with an identity in a new directory restarts the network process"
enroll desktop state2
conf "
[identity desktop]
state = $KW_T/state2/c.pem.state"
kill -HUP "$KPID"
kw_wait_for -F run.log "writes beneath $R/state2, which this network process's Landlock rules do not allow: restarting" ||
	kw_fail "no restart line: $(tail -5 run.log)"
kw_wait_for run.log "starting the network process again with the new configuration" ||
	kw_fail "the supervisor did not restart it: $(tail -5 run.log)"
kw_wait_for -F run.log "test hook: creating $KW_T/state2/probe in the network process: done" ||
	kw_fail "the new network process may not write beneath state2: $(grep 'test hook\|Landlock' run.log)"
[ -e state2/probe ] || kw_fail "no state2/probe"
[ "$(grep -c "test hook: creating $KW_T/outside/probe in the network process: Permission denied" run.log)" = 2 ] ||
	kw_fail "the restarted process: $(grep 'test hook' run.log)"
[ ! -e outside/probe ] || kw_fail "the network process created $KW_T/outside/probe"
[ "$(kw_net_pid "$KPID")" != "$NET" ] || kw_fail "same network process"
kill -0 "$KPID" || kw_fail "keyward run is gone: $(tail -5 run.log)"
est_wait_until 20 est_talk || kw_fail "the tunnel after the restart: $(tail -5 run.log)"
first=$(cert_pub state2/c.pem)
est_wait_until 60 '[ "$(cert_pub state2/c.pem)" != "$first" ]' ||
	kw_fail "the new identity was not renewed: $(grep -i 'desktop' run.log | tail -5)"
echo "ok restarted once, the new identity renews"
kw_stop "$KPID"
echo "PASS"
