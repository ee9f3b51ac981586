#!/bin/bash
# A PIN a token refused is never sent again: not by the next run (three
# `keyward csr`, three daemon starts as Restart=on-failure makes them), not
# by a running process or tunnel that finds its card again (new
# connections), also when the card reports the wrong PIN as
# CKR_GENERAL_ERROR (OpenSC's CAC driver); a changed PIN is tried.  And a card that logged
# keyward out (another program's failed login; every signature then fails
# with CKR_FUNCTION_FAILED) gets one new login with the PIN that worked.
# SoftHSM2 through the counting shim (tests/pkcs11/p11_shim.c).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

PROBE=$KW_BUILDDIR/tests/pkcs11/p11_probe
SHIM=$KW_BUILDDIR/tests/pkcs11/libkwshim.so
[ -x "$PROBE" ] && [ -f "$SHIM" ] || kw_fail "build the test helpers first (make check)"
kw_start_softhsm kwpin
MOD=$KW_SOFTHSM_MODULE
cd "$KW_T" || exit 1
for p in bad:999999 bad2:888888 cur:123456; do
	printf '%s\n' "${p#*:}" >"${p%%:*}pin"
	chmod 600 "${p%%:*}pin"
done
KEY="pkcs11:token=kwpin;object=k"
export KW_SHIM_MODULE=$MOD KW_SHIM_LOG=$KW_T/logins
logins() { if [ -f logins ]; then wc -l <logins; else echo 0; fi; }
run() { kw_run "$@"; }		# TAG WANT-EXIT keyward-args...: TAG.out, TAG.err
expect() { kw_expect "$@"; }	# TAG TEXT: TAG.err holds TEXT (fixed string)

"$KEYWARD" keygen --module "$MOD" --alg ec-p256 --key "$KEY?pin-source=file:$KW_T/pin" \
	>/dev/null 2>keygen.err || kw_fail "keygen: $(cat keygen.err)"

echo "== restarts: the same wrong PIN, three runs"
: >logins
for i in 1 2 3; do
	run "wrong-$i" 3 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/badpin" --subject CN=x
done
[ "$(logins)" = 1 ] || kw_fail "three runs with a wrong PIN: $(logins) C_Login calls, want 1"
expect wrong-1 "wrong PIN for token 'kwpin'"
expect wrong-3 "refused this PIN before"
expect wrong-3 "delete $KEYWARD_STATE_DIR/failed-p11-"
grep -rq 999999 "$KEYWARD_STATE_DIR" && kw_fail "the state dir holds the PIN"
[ "$(stat -c %a "$KEYWARD_STATE_DIR/secret-memory.key")" = 600 ] ||
	kw_fail "the HMAC key is not 0600"
echo "ok a wrong PIN: sent once over three runs; the record holds no PIN"

echo "== CKR_GENERAL_ERROR for a wrong PIN (CAC)"
: >logins
for i in 1 2 3; do
	KW_SHIM_LOGIN_RV=general run "general-$i" 3 csr --module "$SHIM" \
		--key "$KEY?pin-source=file:$KW_T/bad2pin" --subject CN=x
done
[ "$(logins)" = 1 ] || kw_fail "CKR_GENERAL_ERROR: $(logins) C_Login calls over three runs, want 1"
expect general-1 "treats it as one"
expect general-2 "refused this PIN before"
echo "ok a PIN refused with CKR_GENERAL_ERROR: sent once"

echo "== daemon restarts (Restart=on-failure) with a wrong PIN"
printf '333333\n' >bad3pin && chmod 600 bad3pin
kw_make_ca ca
cat >keyward.conf <<EOF
[global]
control-socket = $KW_T/control
module = $SHIM

[tunnel card]
mode = client
listen = 127.0.0.1:$(kw_free_port)
target = 127.0.0.1:9
key = $KEY?pin-source=file:$KW_T/bad3pin
ca = $KW_T/ca/ca.pem
EOF
: >logins
for i in 1 2 3; do
	rc=0
	timeout 20 "$KEYWARD" run --config keyward.conf >"daemon-$i.err" 2>&1 || rc=$?
	[ "$rc" = 3 ] || kw_fail "daemon start $i with a wrong PIN: exit $rc, want 3: $(cat "daemon-$i.err")"
done
[ "$(logins)" = 1 ] || kw_fail "three daemon starts: $(logins) C_Login calls, want 1"
expect daemon-3 "refused this PIN before"
echo "ok three daemon starts with a wrong PIN: sent once"

echo "== the PIN source changes"
: >logins
run good 0 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/pin" --subject CN=x
[ "$(logins)" = 1 ] || kw_fail "the right PIN: $(logins) C_Login calls"
run still-bad 3 csr --module "$SHIM" --key "$KEY?pin-source=file:$KW_T/badpin" --subject CN=x
[ "$(logins)" = 1 ] || kw_fail "a refused PIN was sent after a good login"
echo "ok a new PIN is tried, a refused one stays refused"

echo "== a running process finds its card again, now with a wrong PIN (CAC)"
# (a) the card is pulled, its PIN source now holds a wrong PIN and the card
# says CKR_GENERAL_ERROR: one C_Login, however many signatures follow
: >logins
export KW_SHIM_ABSENT=$KW_T/pulled KW_SHIM_LOGIN_RV=general KW_SHIM_LOGOUT=$KW_T/logout
mkfifo probe.in
"$PROBE" "$KEY?pin-source=file:$KW_T/curpin" "$SHIM" <probe.in >probe.out 2>probe.err &
kw_track $!
PPID_=$!
exec 9>probe.in
n=0
while ! grep -q ready probe.out 2>/dev/null; do
	sleep 0.1; n=$((n + 1)); [ $n -ge 100 ] && kw_fail "probe did not start: $(cat probe.err)"
done
step() {	# step WANT-LINE-N TEXT
	echo sign >&9
	local n=0
	while [ "$(wc -l <probe.out)" -lt "$1" ]; do
		sleep 0.05; n=$((n + 1)); [ $n -ge 200 ] && kw_fail "probe hangs"
	done
	tail -1 probe.out | grep -q "^$2" ||
		kw_fail "probe: want '$2', got '$(tail -1 probe.out)': $(cat probe.err)"
}
step 2 ok
[ "$(logins)" = 1 ] || kw_fail "probe start: $(logins) C_Login calls"

# (b) another program's failed login logs the card out: signatures fail
# with CKR_FUNCTION_FAILED; keyward logs in once more with the same PIN
touch logout
step 3 ok
[ "$(logins)" = 2 ] || kw_fail "logged out: $(logins) C_Login calls, want 2"
grep -q "logged keyward out" probe.err || kw_fail "no 'logged out' warning: $(cat probe.err)"
step 4 ok
[ "$(logins)" = 2 ] || kw_fail "an extra C_Login after the new login"
# ... but never with a PIN it did not log in with
printf '444444\n' >curpin
touch logout
step 5 "err"
[ "$(logins)" = 2 ] || kw_fail "logged out: a changed PIN was sent mid-run"
grep -q "no longer holds the PIN keyward logged in with" probe.err ||
	kw_fail "no message for the changed PIN: $(cat probe.err)"
echo "ok logged out by the card: one new login with the PIN that worked, never another PIN"

printf '777777\n' >curpin
touch pulled
step 6 "err -11"
rm pulled
: >logins
for i in 7 8 9 10; do step $i err; done
[ "$(logins)" = 1 ] || kw_fail "card back, wrong PIN, CKR_GENERAL_ERROR: $(logins) C_Login calls over 4 signatures, want 1"
grep -q "refused this PIN before" probe.err || kw_fail "no 'refused before': $(cat probe.err)"
echo quit >&9
exec 9>&-
wait $PPID_ || kw_fail "probe failed"
echo "ok card back with a wrong PIN (CKR_GENERAL_ERROR): one C_Login over four signatures"
unset KW_SHIM_LOGOUT

echo "== a running tunnel: card back with a wrong PIN (CAC), new connections"
"$KEYWARD" csr --module "$MOD" --key "$KEY?pin-source=file:$KW_T/pin" --subject CN=k \
	>k.csr 2>csr.err || kw_fail "csr: $(cat csr.err)"
kw_sign_csr k.csr k.crt 7
kw_make_server_cert server 7
kw_start_s_server srv -cert server.pem -key server.key -CAfile ca/ca.pem
SP=$KW_S_PORT
cp pin tunpin
LP=$(kw_free_port)
cat >tunnel.conf <<EOF
[global]
control-socket = $KW_T/control2
module = $SHIM

[tunnel card]
mode = client
listen = 127.0.0.1:$LP
target = 127.0.0.1:$SP
servername = localhost
key = $KEY?pin-source=file:$KW_T/tunpin
cert = $KW_T/k.crt
ca = $KW_T/ca/ca.pem
resume = no
EOF
: >logins
"$KEYWARD" run --config tunnel.conf >tunnel.log 2>&1 &
kw_track $!
(kw_wait_listen "$LP" 10) || kw_fail "the tunnel did not start: $(cat tunnel.log)"
through() {	# one connection through the tunnel, until it ends
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
try:
    s.sendall(sys.argv[2].encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
except OSError:
    pass  # the tunnel closed it: the handshake failed' "$LP" "$1"
}
through "conn one"
n=0
while ! grep -q "conn one" srv.out; do
	sleep 0.1; n=$((n + 1)); [ $n -ge 100 ] && kw_fail "no data through the tunnel: $(cat tunnel.log)"
done
[ "$(logins)" = 1 ] || kw_fail "tunnel start: $(logins) C_Login calls"
printf '666666\n' >tunpin
touch pulled
through "conn pulled"
rm pulled
: >logins
for i in 1 2 3; do through "conn back $i"; done
grep -q "conn back" srv.out && kw_fail "data went through with a wrong PIN"
[ "$(logins)" = 1 ] ||
	kw_fail "card back with a wrong PIN: $(logins) C_Login calls over 3 connections, want 1: $(cat tunnel.log)"
echo "ok a running tunnel: the wrong PIN sent once over three new connections"
echo "PASS: refused PINs are never sent again"
