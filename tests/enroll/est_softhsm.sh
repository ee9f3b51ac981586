#!/bin/bash
# keyward enroll est with a SoftHSM2 key: enrolled, certificate stored on
# the token next to the key (--store-on-token), re-enrolled over mTLS with
# a new key in the same token (object label-2) and the old key deleted.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwtest
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwtest;object=laptop?pin-source=file:$KW_T/pin"

est_setup_pki
est_start
"$KEYWARD" keygen --module "$MOD" --key "$URI" >"$KW_T/k.pub" ||
	kw_fail "keygen in SoftHSM failed"

run_kw enroll enroll est --module "$MOD" --key "$URI" --server "$EST_URL" \
	--ca "$KW_T/ca/ca.pem" --subject "CN=hsm-laptop" \
	--user alice --password-file "$KW_T/est.pw" --out "$KW_T/c.pem" \
	--store-on-token --grace 0
expect_rc 0 "enroll with a SoftHSM key" enroll
[ "$(cert_pub "$KW_T/c.pem")" = "$(pem_pub "$KW_T/k.pub")" ] ||
	kw_fail "the certificate is not for the SoftHSM key"
# the certificate is on the token too
pkcs11-tool --module "$MOD" --token-label kwtest --list-objects --type cert 2>/dev/null |
	grep -q 'label: *laptop' || kw_fail "no certificate object on the token"
grep -q 123456 "$KW_T/c.pem.state" && kw_fail "the PIN leaked into the state file"

run_kw renew enroll est --renew --force --state "$KW_T/c.pem.state"
expect_rc 0 "re-enroll with a new SoftHSM key" renew
grep -q 'object=laptop-2' "$KW_T/c.pem.state" || kw_fail "no rekey to laptop-2"
pkcs11-tool --module "$MOD" --token-label kwtest --list-objects --type cert 2>/dev/null |
	grep -q 'label: *laptop-2' || kw_fail "the renewed certificate is not on the token"
run_kw check enroll est --check --state "$KW_T/c.pem.state"
expect_rc 0 "identity usable after renewal" check
pkcs11-tool --module "$MOD" --token-label kwtest --list-objects --type privkey 2>/dev/null |
	grep -q 'label: *laptop$' && kw_fail "old key still on the token after the grace period"
echo "PASS: EST enrollment and rekeying renewal with SoftHSM2"
