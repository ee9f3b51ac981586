#!/bin/bash
# Renewal inside the running daemon (`keyward run`) while a tunnel carries
# traffic: a 2-minute certificate from the EST test server is renewed with
# a new key in the same token, the established connection keeps flowing
# (no drop), and new connections present the new certificate.
#
# The key is in SoftHSM2: swtpm has no resource manager and only three
# transient object slots, and a daemon renewing a TPM key needs four at
# once (the tunnel's key, the same key for the re-enrollment's mutual TLS,
# the SRK and the new key); with /dev/tpmrm0 or tpm2-abrmd that is no
# limit.  TPM renewal is covered by est_enroll.sh and est_renew_watch.sh.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwd
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwd;object=laptop?pin-source=file:$KW_T/pin"

est_setup_pki
est_start --minutes 2		# lifetime 150 s (the server backdates 30 s)

S="$KW_T/c.pem.state"
"$KEYWARD" keygen --module "$MOD" --key "$URI" >/dev/null || kw_fail keygen
run_kw enroll enroll est --module "$MOD" --server "$EST_URL" --subject CN=laptop \
	--user alice --password-file "$KW_T/est.pw" --ca "$KW_T/ca/ca.pem" \
	--key "$URI" --out "$KW_T/c.pem" --renew-at 30% --grace 3
expect_rc 0 "enroll" enroll
first_spki=$(cert_pub "$KW_T/c.pem")

# the service behind the tunnel: mutual TLS, client certs from the CA
est_start_echo
est_daemon_conf "module = $MOD" "$S" "renew-at = 30%
grace = 3"
est_daemon_run

# a long-lived connection: one line every 0.2 s, each echoed, until the
# test creates $KW_T/stop (at most 120 s)
python3 - "$LISTEN" "$KW_T/stop" >"$KW_T/long.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
end = time.time() + 120
n = 0
buf = b""
while time.time() < end and not os.path.exists(sys.argv[2]):
    msg = b"line %d\n" % n
    s.sendall(msg)
    while not buf.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            print("connection dropped after %d lines" % n); sys.exit(1)
        buf += d
    if buf != msg:
        print("bad echo %r for %r" % (buf, msg)); sys.exit(1)
    buf = b""
    n += 1
    time.sleep(0.2)
print("ok %d lines" % n)
PY
LONG=$!
kw_track $LONG

# the renewal happens meanwhile (30 % of 150 s after not-before: ~15 s
# after issuance)
n=0
until grep -q 'object=laptop-2' "$S"; do
	sleep 0.5; n=$((n + 1))
	[ $n -lt 120 ] || kw_fail "no renewal within 60 s: $(tail -5 "$KW_T/run.err")"
done
sleep 2
new_spki=$(cert_pub "$KW_T/c.pem")
[ "$new_spki" != "$first_spki" ] || kw_fail "the certificate was not renewed with a new key"

# a new connection presents the new certificate once the daemon has
# switched the tunnel (the reload follows the state file; under load that
# can take a few seconds)
n=0
while :; do
	python3 - "$LISTEN" <<'PY' || kw_fail "a new connection after the renewal failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello\n")
assert s.recv(100) == b"hello\n"
PY
	tail -1 "$KW_T/echo.log" | grep -q "$new_spki" && break
	n=$((n + 1))
	[ $n -lt 20 ] ||
		kw_fail "new connections did not use the renewed certificate within 10 s: $(cat "$KW_T/echo.log")"
	sleep 0.5
done

# the old key leaves the token after its 3 s grace period, while the
# established connection (made with it) carries on
n=0
while pkcs11-tool --module "$MOD" --token-label kwd --list-objects --type privkey 2>/dev/null |
	grep -q 'label: *laptop$'; do
	sleep 0.5; n=$((n + 1))
	[ $n -lt 30 ] || kw_fail "the old key is still on the token after its grace period"
done
kill -0 $LONG 2>/dev/null || kw_fail "the long connection ended too early: $(cat "$KW_T/long.out")"
touch "$KW_T/stop"
wait $LONG || kw_fail "the established connection broke: $(cat "$KW_T/long.out")"
grep -q '^ok' "$KW_T/long.out" || kw_fail "long connection: $(cat "$KW_T/long.out")"
head -1 "$KW_T/echo.log" | grep -q "$first_spki" || kw_fail "first connection cert"
run_kw check enroll est --check --state "$S"
expect_rc 0 "identity after the daemon's renewal" check
# a clean stop (the renewal thread joined, nothing leaked under ASan)
kill -TERM $RUN
wait $RUN || kw_fail "keyward run did not stop cleanly: $(tail -5 "$KW_T/run.err")"
kw_no_sanitizer_reports "$KW_T/run.err"
echo "PASS: renewal in the daemon, tunnel traffic uninterrupted"
