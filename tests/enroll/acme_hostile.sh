#!/bin/bash
# keyward enroll acme against a hostile ACME server (tests/enroll/
# acme_hostile.py): a certificate for another key, a chain from another
# CA, malformed JSON and PEM, an endless download, endless badNonce, a
# trickling server, and a problem document with control characters.  Each is refused in one line
# and nothing is stored; the well-behaved mode stores the certificate.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_need python3 openssl
kw_start_softhsm kwhostile
MOD=$KW_SOFTHSM_MODULE
P="?pin-source=file:$KW_T/pin"
kw_make_ca
kw_make_ca other
kw_make_server_cert acme
"$KEYWARD" keygen --module "$MOD" --key "pkcs11:token=kwhostile;object=dev$P" \
	>"$KW_T/dev.pub" || kw_fail "SoftHSM keygen failed"

SRV=""
serve() {
	[ -z "$SRV" ] || kw_stop "$SRV"
	PORT=$(kw_free_port)
	python3 "$KW_SRCDIR/tests/enroll/acme_hostile.py" --port "$PORT" \
		--cert "$KW_T/acme.pem" --key "$KW_T/acme.key" --ca "$KW_T/ca" \
		--other-ca "$KW_T/other" --mode "$1" 2>"$KW_T/srv-$1.log" &
	SRV=$!
	kw_track "$SRV"
	kw_wait_port "$PORT" 10 || kw_fail "hostile ACME server did not start"
}
acme() {
	local name=$1
	shift
	run_kw "$name" enroll acme --module "$MOD" --server "https://localhost:$PORT/dir" \
		--ca "$KW_T/ca/ca.pem" --key "pkcs11:token=kwhostile;object=dev$P" \
		--account-key "pkcs11:token=kwhostile;object=acct$P" \
		--san dns:laptop.example --timeout 5 --out "$KW_T/$name.pem" "$@"
}
refused() {
	local mode=$1 rc=$2 text=$3
	serve "$mode"
	acme "$mode"
	[ "$RC" = "$rc" ] || kw_fail "$mode: exit $RC, expected $rc: $(cat "$KW_T/$mode.err")"
	[ ! -e "$KW_T/$mode.pem" ] || kw_fail "$mode: a certificate was stored"
	grep -q "$text" "$KW_T/$mode.err" ||
		kw_fail "$mode: refusal not explained: $(cat "$KW_T/$mode.err")"
	[ "$(grep -c 'error' "$KW_T/$mode.err")" -le 2 ] ||
		kw_fail "$mode: too many error lines: $(cat "$KW_T/$mode.err")"
}

serve ok
acme ok --issuer-ca "$KW_T/ca/ca.pem"
expect_rc 0 "a well-behaved server" ok
[ "$(cert_pub "$KW_T/ok.pem")" = "$(pem_pub "$KW_T/dev.pub")" ] ||
	kw_fail "stored certificate is not for the key"

refused wrongkey 3 'nothing stored'
refused badjson 4 'malformed JSON'
refused badpem 1 'not a PEM list'
refused huge 4 'ACME'
refused badnonce 4 'refused 6 fresh nonces'
refused problem 4 'rejectedIdentifier: policy?\[31m forbids?this \[a.example caa: CAA forbids; b.example dns: NXDOMAIN\]'
# A server that trickles: --timeout bounds the whole exchange.
serve trickle
start=$(date +%s%N)
acme trickle --timeout 2
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$RC" = 4 ] || kw_fail "trickle: exit $RC, expected 4: $(cat "$KW_T/trickle.err")"
grep -q 'ACME server .* timed out' "$KW_T/trickle.err" ||
	kw_fail "trickle: no timeout message: $(cat "$KW_T/trickle.err")"
[ "$ms" -lt 5000 ] || kw_fail "trickle: a 2 s timeout took $ms ms"

# A chain from another CA: refused when the issuer is given.
serve wrongchain
acme wrongchain --issuer-ca "$KW_T/ca/ca.pem"
[ "$RC" != 0 ] || kw_fail "a chain from another CA was accepted"
[ ! -e "$KW_T/wrongchain.pem" ] || kw_fail "wrongchain: a certificate was stored"
grep -q 'nothing stored' "$KW_T/wrongchain.err" ||
	kw_fail "wrongchain: refusal not explained: $(cat "$KW_T/wrongchain.err")"
echo "PASS: hostile ACME answers refused, nothing stored"
