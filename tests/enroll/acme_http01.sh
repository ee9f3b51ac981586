#!/bin/bash
# keyward enroll acme with real validation: pebble requires External
# Account Binding and validates http-01 and tls-alpn-01 against keyward's
# own responders;
# both keys live in a SoftHSM2 token (the account key is created there).
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwacme
MOD=$KW_SOFTHSM_MODULE
P="?pin-source=file:$KW_T/pin"
kw_start_pebble eab PEBBLE_AUTHZREUSE=0
"$KEYWARD" keygen --module "$MOD" --key "pkcs11:token=kwacme;object=dev$P" \
	--alg rsa2048 >"$KW_T/dev.pub" || kw_fail "SoftHSM keygen failed"
acme() {
	local name=$1
	shift
	run_kw "$name" enroll acme --module "$MOD" --server "$KW_PEBBLE_DIR" \
		--ca "$KW_PEBBLE_CA" --key "pkcs11:token=kwacme;object=dev$P" \
		--account-key "pkcs11:token=kwacme;object=acct$P" \
		--san dns:localhost --issuer-ca "$KW_PEBBLE_ROOT" "$@"
}

# Without EAB the server's requirement is named before anything is sent.
acme noeab --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --out "$KW_T/c0.pem"
[ "$RC" = 4 ] || kw_fail "no EAB: exit $RC, expected 4"
grep -q 'External Account Binding' "$KW_T/noeab.err" ||
	kw_fail "EAB requirement not explained: $(cat "$KW_T/noeab.err")"

# A wrong MAC key: the CA's problem document, nothing stored.
openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n' >"$KW_T/wrong-hmac"
chmod 600 "$KW_T/wrong-hmac"
acme wrongmac --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --eab-kid kid-1 --eab-hmac-file "$KW_T/wrong-hmac" --out "$KW_T/c0.pem"
[ "$RC" = 4 ] || kw_fail "wrong EAB MAC: exit $RC, expected 4"
grep -q 'refused: ' "$KW_T/wrongmac.err" ||
	kw_fail "EAB refusal not reported: $(cat "$KW_T/wrongmac.err")"
[ ! -e "$KW_T/c0.pem" ] || kw_fail "a certificate was stored after a refusal"

# The right one: account created in the token, http-01 really validated.
acme ok --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --eab-kid kid-1 --eab-hmac-file "$KW_T/eab-hmac" \
	--out "$KW_T/c.pem" --chain-out "$KW_T/chain.pem"
expect_rc 0 "ACME with EAB and http-01" ok
[ "$(cert_pub "$KW_T/c.pem")" = "$(pem_pub "$KW_T/dev.pub")" ] ||
	kw_fail "the certificate is not for the SoftHSM key"
grep -q 'valid (http-01)' "$KW_T/ok.err" || kw_fail "http-01 not validated"
pkcs11-tool --module "$MOD" --token-label kwacme --login --pin "$(cat "$KW_T/pin")" \
	--list-objects --type privkey 2>/dev/null | grep -q 'label: *acct' || kw_fail "no account key in the token"
openssl verify -CAfile "$KW_PEBBLE_ROOT" -untrusted "$KW_T/chain.pem" \
	"$KW_T/c.pem" >/dev/null || kw_fail "the stored chain does not verify"

# Renewal from the state file: a new key in the token, a new order with
# the same account (no EAB needed again), the identity checked usable.
grep -q '"protocol": "acme"' "$KW_T/c.pem.state" || kw_fail "state does not say acme"
run_kw renew enroll acme --renew --force --state "$KW_T/c.pem.state"
expect_rc 0 "ACME renewal from the state file" renew
grep -q 'object=dev-2' "$KW_T/c.pem.state" || kw_fail "no rekey to dev-2"
[ "$(cert_pub "$KW_T/c.pem")" != "$(pem_pub "$KW_T/dev.pub")" ] ||
	kw_fail "the renewed certificate is still for the old key"
run_kw check enroll acme --check --state "$KW_T/c.pem.state"
expect_rc 0 "identity usable after the ACME renewal" check

# tls-alpn-01: keyward's TLS responder with the acmeIdentifier certificate
# signed by the SoftHSM key (pebble validates on its tlsPort).
acme alpn --tls-alpn-01 "127.0.0.1:$((KW_PEBBLE_HTTP_PORT + 1))" \
	--eab-kid kid-1 --eab-hmac-file "$KW_T/eab-hmac" --out "$KW_T/c2.pem"
expect_rc 0 "ACME with tls-alpn-01" alpn
grep -q 'valid (tls-alpn-01)' "$KW_T/alpn.err" || kw_fail "tls-alpn-01 not validated"
[ "$(cert_pub "$KW_T/c2.pem")" = "$(pem_pub "$KW_T/dev.pub")" ] ||
	kw_fail "the tls-alpn-01 certificate is not for the SoftHSM key"
grep -q 123456 "$KW_T"/*.err && kw_fail "the PIN leaked into the output"
echo "PASS: ACME with EAB, real http-01 and tls-alpn-01 validation, keys in SoftHSM2"
