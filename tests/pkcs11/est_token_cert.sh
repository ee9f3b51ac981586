#!/bin/bash
# EST with the certificate left on the token (issue 9): a smart-card
# identity as the bootstrap client certificate for /simpleenroll with no
# --bootstrap-cert (the card's certificate with the key's id), and a plain
# re-enrollment (/simplereenroll over mTLS) with no --cert or with
# --cert pkcs11:...;type=cert: nobody exports the certificate first.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"
set -e
kw_start_softhsm kwest
MOD=$KW_SOFTHSM_MODULE
PS="?pin-source=file:$KW_T/pin"
cd "$KW_T"
est_setup_pki
est_start

echo "== bootstrap with the card's certificate"
kw_softhsm_card kwest card /CN=alice-card boot
KEY="pkcs11:token=kwest;object=laptop$PS"
"$KEYWARD" keygen --module "$MOD" --key "$KEY" >k.pub || kw_fail "keygen"
est_auth cert
run_kw boot enroll est --module "$MOD" --key "$KEY" --server "$EST_URL" \
	--ca ca/ca.pem --subject CN=laptop --out c.pem \
	--bootstrap-key "pkcs11:token=kwest;id=%42%01$PS" --store-on-token
expect_rc 0 "bootstrap with the card's certificate on the token" boot
grep -q '"client_cert": "[^"]*alice-card' est.log ||
	kw_fail "the EST server did not see the card's certificate: $(cat est.log)"
[ "$(cert_pub c.pem)" = "$(pem_pub k.pub)" ] || kw_fail "certificate not for the key"
echo "ok bootstrap: the card's certificate read from the token"

echo "== re-enrollment with the certificate on the token"
run_kw renew1 enroll est --module "$MOD" --renew --key "$KEY" --server "$EST_URL" \
	--ca ca/ca.pem --subject CN=laptop --out r1.pem
expect_rc 0 "renew with no --cert (the key's certificate on the token)" renew1
run_kw renew2 enroll est --module "$MOD" --renew --key "$KEY" \
	--cert "pkcs11:token=kwest;object=laptop;type=cert" --server "$EST_URL" \
	--ca ca/ca.pem --subject CN=laptop --out r2.pem
expect_rc 0 "renew with --cert pkcs11:" renew2
[ "$(est_count simplereenroll 200)" = 2 ] || kw_fail "want 2 re-enrollments: $(cat est.log)"
[ "$(cert_pub r2.pem)" = "$(pem_pub k.pub)" ] || kw_fail "renewed certificate not for the key"
run_kw renew3 enroll est --module "$MOD" --renew --key "$KEY" --server "$EST_URL" \
	--ca ca/ca.pem --subject CN=laptop
expect_rc 2 "renew with the certificate on the token and no --out" renew3
echo "ok re-enrollment over mTLS with the certificate on the token"
echo "PASS: EST with certificates on the token"
