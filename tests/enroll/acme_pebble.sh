#!/bin/bash
# keyward enroll acme against pebble (the ACME test CA): hardware account
# key (TPM, then SoftHSM), hardware certificate key, real http-01
# validation against keyward's own responder, External Account Binding,
# and refusals that leave nothing stored.  pebble rejects 5% of good
# nonces by default, so badNonce retries are exercised on the way.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_need openssl

# 1. Validation always succeeds: TPM certificate key, TPM account key.
kw_start_swtpm
kw_start_pebble PEBBLE_VA_ALWAYS_VALID=1
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/dev.pem" \
	--alg ec-p256 >"$KW_T/dev.pub" || kw_fail "TPM keygen failed"
run_kw tpm enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --san dns:laptop-1.example.com \
	--issuer-ca "$KW_PEBBLE_ROOT" --out "$KW_T/c1.pem" \
	--chain-out "$KW_T/c1.chain.pem" --contact mailto:it@example.com
expect_rc 0 "ACME enrollment with TPM keys" tpm
[ "$(cert_pub "$KW_T/c1.pem")" = "$(pem_pub "$KW_T/dev.pub")" ] ||
	kw_fail "the ACME certificate is not for the TPM key"
openssl x509 -in "$KW_T/c1.pem" -noout -ext subjectAltName |
	grep -q 'DNS:laptop-1.example.com' || kw_fail "SAN missing in the certificate"
openssl verify -CAfile "$KW_PEBBLE_ROOT" -untrusted "$KW_T/c1.chain.pem" \
	"$KW_T/c1.pem" >/dev/null || kw_fail "the stored chain does not verify"
[ -f "$KW_T/acct.pem" ] || kw_fail "no TPM account key was created"
grep -q 'TSS2 PRIVATE KEY' "$KW_T/acct.pem" ||
	kw_fail "the account key is not a TPM key"

# The same account is found again (200, not 201) on a second order.
run_kw again enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --san dns:laptop-1.example.com \
	--out "$KW_T/c1b.pem" --verbose
expect_rc 0 "second order with the same account" again
grep -q 'existing' "$KW_T/again.err" || kw_fail "account was not found again"

# A chain that does not end at the given issuer: refused, nothing stored.
kw_make_ca other
run_kw wrongca enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --san dns:laptop-1.example.com \
	--issuer-ca "$KW_T/other/ca.pem" --out "$KW_T/c2.pem"
[ "$RC" != 0 ] || kw_fail "a chain to another CA was accepted"
[ ! -e "$KW_T/c2.pem" ] || kw_fail "a refused certificate was stored"
grep -q 'nothing stored' "$KW_T/wrongca.err" ||
	kw_fail "refusal not explained: $(cat "$KW_T/wrongca.err")"

# A server whose TLS certificate is not from --ca is not spoken to.
run_kw untrusted enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_T/other/ca.pem" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" --san dns:x.example --out "$KW_T/c4.pem"
[ "$RC" = 4 ] || kw_fail "an untrusted ACME server: exit $RC, expected 4"

# Key rollover: the account moves to a second TPM key; the old key no
# longer finds it, the new one does.
run_kw roll enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --account-key "tpm:$KW_T/acct.pem" \
	--rollover "tpm:$KW_T/acct2.pem"
expect_rc 0 "account key rollover" roll
acct_url=$(grep -o 'https://[^ ]*my-account/[^ ]*' "$KW_T/roll.out")
run_kw after enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct2.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" \
	--san dns:laptop-1.example.com --out "$KW_T/c5.pem"
expect_rc 0 "an order with the rolled-over key" after
grep -q "ACME account $acct_url (existing)" "$KW_T/after.err" ||
	kw_fail "the new key did not find the same account: $(cat "$KW_T/after.err")"
run_kw oldkey enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --account-key "tpm:$KW_T/acct.pem" \
	--rollover "tpm:$KW_T/acct3.pem"
grep -q "$acct_url" "$KW_T/oldkey.out" "$KW_T/oldkey.err" &&
	kw_fail "the old account key still reaches the account"
mv "$KW_T/acct2.pem" "$KW_T/acct.pem"

# Deactivation; then the account is refused with a problem document that
# is reported in one line with its type, and nothing is stored.
run_kw deact enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --account-key "tpm:$KW_T/acct.pem" --deactivate
expect_rc 0 "account deactivation" deact
run_kw gone enroll acme --tcti "$KW_TCTI" --server "$KW_PEBBLE_DIR" \
	--ca "$KW_PEBBLE_CA" --key "tpm:$KW_T/dev.pem" \
	--account-key "tpm:$KW_T/acct.pem" --http-01 "127.0.0.1:$KW_PEBBLE_HTTP_PORT" \
	--san dns:laptop-1.example.com --out "$KW_T/c3.pem"
[ "$RC" = 4 ] || kw_fail "a deactivated account: exit $RC, expected 4"
grep -q 'refused: unauthorized: ' "$KW_T/gone.err" ||
	kw_fail "problem type not named: $(cat "$KW_T/gone.err")"
[ "$(grep -c error "$KW_T/gone.err")" = 1 ] ||
	kw_fail "the refusal is not one line: $(cat "$KW_T/gone.err")"
[ ! -e "$KW_T/c3.pem" ] || kw_fail "a certificate was stored after a refusal"
