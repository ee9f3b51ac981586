#!/bin/bash
# The certificate stays on the card, and status tells the card's state
# (issue 9), with an "employee card" provisioned with pkcs11-tool:
#   `tokens --export-cert` prints the card's certificate (PEM);
#   connect with --cert pkcs11:... and with no --cert (the certificate with
#   the key's id), and a daemon tunnel whose config names no cert: the
#   server sees the card's certificate;
#   `keyward status` says the token is absent while the card is out (from
#   the slot, with no signature tried) and shows no pin-value;
#   a pulled card is reported once per failed signature, not twice;
#   a certificate for another key exits 3 (key problem), not 1.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

PROBE=$KW_BUILDDIR/tests/pkcs11/p11_probe
SHIM=$KW_BUILDDIR/tests/pkcs11/libkwshim.so
[ -x "$PROBE" ] && [ -f "$SHIM" ] || kw_fail "build the test helpers first (make check)"
kw_need openssl ss python3
kw_start_softhsm kwcert
MOD=$KW_SOFTHSM_MODULE
cd "$KW_T" || exit 1
run() { kw_run "$@"; }		# TAG WANT-EXIT keyward-args...: TAG.out, TAG.err
expect() { kw_expect "$@"; }	# TAG TEXT: TAG.err holds TEXT (fixed string)
wait_for() { kw_wait_for -F "$1" "$2"; }	# FILE TEXT (fixed string)

kw_make_ca ca
kw_make_server_cert server 7
kw_softhsm_card kwcert employee /CN=alice
KEY="pkcs11:token=kwcert;id=%42%01?pin-source=file:$KW_T/pin"
CERT="pkcs11:token=kwcert;object=employee;type=cert"
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }

echo "== tokens --export-cert"
run export 0 tokens --module "$MOD" --export-cert "$CERT"
[ "$(fp export.out)" = "$(fp card.crt)" ] || kw_fail "exported certificate differs: $(cat export.out)"
run export-key 0 tokens --module "$MOD" --export-cert "pkcs11:token=kwcert;id=%42%01;type=private?pin-source=file:$KW_T/pin"
[ "$(fp export-key.out)" = "$(fp card.crt)" ] || kw_fail "certificate of the key differs"
run export-none 3 tokens --module "$MOD" --export-cert "pkcs11:token=kwcert;object=nosuch;type=cert"
expect export-none "has no certificate matching the URI"
echo "ok the card's certificate as PEM, by certificate or by key URI"

echo "== connect with the certificate on the card"
kw_start_s_server srv -cert server.pem -key server.key -CAfile ca/ca.pem
PORT=$KW_S_PORT
talk() {	# talk TAG [--cert X]: one line to s_server through connect
	local tag=$1
	shift
	printf 'hello %s\n' "$tag" | timeout 20 "$KEYWARD" connect --module "$MOD" --key "$KEY" \
		"$@" --ca ca/ca.pem --servername localhost "127.0.0.1:$PORT" \
		>"$tag.out" 2>"$tag.err" &
	wait_for srv.out "hello $tag" || kw_fail "$tag: s_server got nothing: $(cat "$tag.err")"
	echo "bye" >&7
	wait $! || kw_fail "$tag: connect failed: $(cat "$tag.err")"
}
talk uri --cert "$CERT"
talk default
[ "$(grep -c 'CN = alice' srv.out)" -ge 2 ] || kw_fail "s_server did not see the card certificate twice: $(cat srv.out)"
echo "ok connect with --cert pkcs11:... and with the key's certificate by default"

echo "== a certificate for another key"
kw_make_server_cert other 7
run mismatch 3 connect --module "$MOD" --key "$KEY" --cert other.pem --ca ca/ca.pem "127.0.0.1:$PORT"
expect mismatch "is not for"
echo "ok a certificate for another key: exit 3"

echo "== daemon: no cert in the config, status while the card is out"
export KW_SHIM_MODULE=$MOD KW_SHIM_ABSENT=$KW_T/pulled
LP=$(kw_free_port)
cat >keyward.conf <<EOF
[global]
control-socket = $KW_T/control
module = $SHIM

[tunnel card]
mode = client
listen = 127.0.0.1:$LP
target = 127.0.0.1:$PORT
servername = localhost
key = pkcs11:token=kwcert;id=%42%01?pin-value=123456
ca = $KW_T/ca/ca.pem
EOF
"$KEYWARD" run --config keyward.conf >daemon.log 2>&1 &
DPID=$!
kw_track $DPID
kw_wait_port "$LP" || kw_fail "the daemon did not start: $(cat daemon.log)"
python3 - "$LP" <<'EOF' || kw_fail "no data through the tunnel: $(cat daemon.log)"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello tunnel\n")
s.settimeout(10)
EOF
wait_for srv.out "hello tunnel" || kw_fail "s_server got nothing through the tunnel: $(cat daemon.log)"
status() { "$KEYWARD" status --json --socket "$KW_T/control" >status.json 2>status.err ||
	kw_fail "status: $(cat status.err)"; }
token() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tunnels"][0]["token"])' status.json; }
status
grep -q 123456 status.json && kw_fail "status --json shows the pin-value: $(cat status.json)"
grep -qF 'pin-value=<redacted>' status.json || kw_fail "status --json: no redacted key URI"
grep -q 123456 daemon.log && kw_fail "the daemon's log shows the pin-value"
[ "$(token)" = ok ] || kw_fail "card in: token '$(token)'"
touch pulled
status
token | grep -q "^absent" || kw_fail "card out: status says token '$(token)'"
"$KEYWARD" status --socket "$KW_T/control" | grep -q "token absent" ||
	kw_fail "status text while the card is out"
rm pulled
status
[ "$(token)" = ok ] || kw_fail "card back: token '$(token)'"
kw_stop "$DPID" 2>/dev/null || kill "$DPID"
echo "ok status: token absent while the card is out, ok when back; no pin-value"

echo "== a pulled card is reported once per signature"
mkfifo probe.in
"$PROBE" "$KEY" "$SHIM" <probe.in >probe.out 2>probe.err &
PPID_=$!
kw_track $PPID_
exec 9>probe.in
wait_for probe.out ready || kw_fail "probe did not start: $(cat probe.err)"
touch pulled
echo sign >&9
echo sign >&9
echo quit >&9
exec 9>&-
wait $PPID_ || kw_fail "probe failed"
rm -f pulled
[ "$(grep -c "^err -11" probe.out)" = 2 ] || kw_fail "probe: $(cat probe.out)"
[ "$(grep -c "is not present in any" probe.err)" = 2 ] ||
	kw_fail "'not present' not once per signature: $(cat probe.err)"
echo "ok 'not present' once per failed signature"
echo "PASS: certificates on the token, token state in status"
