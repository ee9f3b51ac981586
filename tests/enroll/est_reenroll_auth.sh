#!/bin/bash
# Re-enrollment at a server that accepts the current certificate on
# /simplereenroll but also wants HTTP Basic: keyward says what the server
# asked for; --renew takes --user/--password-file (the file must be
# private); --renew --cert needs no --subject (the certificate's is
# repeated, RFC 7030 4.2.2).  Keys in SoftHSM2.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwtest
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwtest;object=laptop?pin-source=file:$KW_T/pin"
est_setup_pki
est_start --reenroll-auth basic
"$KEYWARD" keygen --module "$MOD" --key "$URI" >"$KW_T/k.pub" ||
	kw_fail "keygen in SoftHSM failed"
BASIC=(--user alice --password-file "$KW_T/est.pw")
SUBJ='CN=Smith\, John,O=Example\+Co,OU=IT'

run_kw enroll enroll est --module "$MOD" --key "$URI" --server "$EST_URL" \
	--ca "$KW_T/ca/ca.pem" --subject "$SUBJ" "${BASIC[@]}" \
	--out "$KW_T/c.pem" --grace 0
expect_rc 0 "first enrollment" enroll
subj() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253; }
before=$(subj "$KW_T/c.pem")
RENEW=(enroll est --renew --module "$MOD" --key "$URI" --cert "$KW_T/c.pem"
	--server "$EST_URL" --ca "$KW_T/ca/ca.pem" --out "$KW_T/c2.pem")

# 1. No password given: the refusal says the server wants HTTP Basic (its
#    realm) and how to give it -- not that the certificate was refused.
run_kw noauth "${RENEW[@]}"
expect_rc 4 "re-enrollment without the Basic credentials" noauth
grep -q 'HTTP authentication' "$KW_T/noauth.err" &&
	grep -q 'Basic realm="est-renew"' "$KW_T/noauth.err" &&
	grep -q -- '--user' "$KW_T/noauth.err" ||
	kw_fail "the refusal does not say what the server asked for: $(cat "$KW_T/noauth.err")"
grep -q 'certificate was not accepted' "$KW_T/noauth.err" &&
	kw_fail "blames the certificate: $(cat "$KW_T/noauth.err")"
[ ! -e "$KW_T/c2.pem" ] || kw_fail "a certificate was stored after a refusal"

# 2. A password file others can read: refused before anything is sent.
cp "$KW_T/est.pw" "$KW_T/open.pw"
chmod 644 "$KW_T/open.pw"
n0=$(est_count simplereenroll '*')
run_kw openpw "${RENEW[@]}" --user alice --password-file "$KW_T/open.pw"
expect_rc 3 "world-readable password file" openpw
grep -q 'chmod 600' "$KW_T/openpw.err" ||
	kw_fail "no hint for the unsafe password file: $(cat "$KW_T/openpw.err")"
[ "$(est_count simplereenroll '*')" = "$n0" ] ||
	kw_fail "the server was contacted with an unsafe password file"

# 3. A wrong password: our credentials were refused.
printf 'wrong\n' >"$KW_T/wrong.pw"
chmod 600 "$KW_T/wrong.pw"
run_kw wrongpw "${RENEW[@]}" --user alice --password-file "$KW_T/wrong.pw"
expect_rc 4 "wrong password" wrongpw
grep -q 'refused our credentials' "$KW_T/wrongpw.err" ||
	kw_fail "wrong password: $(cat "$KW_T/wrongpw.err")"

# 4. --user/--password-file with --renew, no --subject: re-enrolled with
#    the certificate's subject, over mTLS plus Basic.
run_kw renew "${RENEW[@]}" "${BASIC[@]}"
expect_rc 0 "re-enrollment with certificate and Basic" renew
[ "$(subj "$KW_T/c2.pem")" = "$before" ] ||
	kw_fail "subject changed: '$(subj "$KW_T/c2.pem")' != '$before'"
[ "$(cert_pub "$KW_T/c2.pem")" = "$(pem_pub "$KW_T/k.pub")" ] ||
	kw_fail "the new certificate is not for the key"
python3 - "$KW_T/est.log" <<'PY' || kw_fail "the re-enrollment did not carry both the certificate and Basic"
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if "simplereenroll" in l][-1]
sys.exit(0 if e["status"] == 200 and e["auth"] == "basic" and
         "Smith" in (e["client_cert"] or "") else 1)
PY
grep -q 'correct horse' "$KW_T"/*.err "$KW_T/c.pem.state" &&
	kw_fail "the password leaked"

# 5. The same with --renew --state.
run_kw stnoauth enroll est --renew --force --state "$KW_T/c.pem.state"
expect_rc 4 "state renewal without Basic" stnoauth
grep -q -- '--user' "$KW_T/stnoauth.err" ||
	kw_fail "state renewal: no hint: $(cat "$KW_T/stnoauth.err")"
run_kw stauth enroll est --renew --force --state "$KW_T/c.pem.state" "${BASIC[@]}"
expect_rc 0 "state renewal with Basic" stauth
grep -q 'object=laptop-2' "$KW_T/c.pem.state" || kw_fail "no rekey in the state renewal"
echo "PASS: re-enrollment with certificate + HTTP Basic, subject from the certificate"
