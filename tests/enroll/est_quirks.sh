#!/bin/bash
# EST servers with quirks (issue 9, item 20), against tests/enroll/est_server.py:
# - base64 bodies (/cacerts, /csrattrs, the certificate) that end with NUL
#   bytes and white space are read, and /csrattrs is still honoured;
# - /csrattrs is advisory: an answer that is not base64, or base64 of
#   something that is not a csrattrs, is reported and enrollment goes on
#   without it.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e

kw_start_swtpm
est_setup_pki
K="$KW_T/k.pem"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$K" >"$KW_T/k.pub" ||
	kw_fail "keygen failed"

# enroll NAME: enroll the TPM key against the current server into NAME.pem
enroll() {
	run_kw "$1" enroll est --tcti "$KW_TCTI" --server "$EST_URL" \
		--user alice --password-file "$KW_T/est.pw" --subject "CN=$1" \
		--key "tpm:$K" --out "$KW_T/$1.pem" --ca "$KW_T/ca/ca.pem"
}
enrolled() {
	expect_rc 0 "$2" "$1"
	[ "$(cert_pub "$KW_T/$1.pem")" = "$(pem_pub "$KW_T/k.pub")" ] ||
		kw_fail "$2: the stored certificate is not for the TPM key"
}

# 1. Every base64 body ends with NUL, LF, space, NUL; /csrattrs asks for
#    dns:a.example, which must reach the certificate.
ATTRS=3027302506092a864886f70d01090e3118301630140603551d11040d300b8209612e6578616d706c65
est_start --b64-tail 000a2000 --csrattrs "$ATTRS"
enroll nul
enrolled nul "base64 bodies ending in NUL and white space"
openssl x509 -in "$KW_T/nul.pem" -noout -ext subjectAltName | grep -q 'DNS:a.example' ||
	kw_fail "csrattrs with a NUL tail not honoured: $(openssl x509 -in "$KW_T/nul.pem" -noout -ext subjectAltName)"

# 2. /csrattrs that is not base64: a warning, then enrollment without it.
est_start --csrattrs-body 'csrattrs? <html>no</html>'
enroll garbage
enrolled garbage "/csrattrs not base64"
grep -q 'csrattrs.*without' "$KW_T/garbage.err" ||
	kw_fail "unusable /csrattrs not reported: $(cat "$KW_T/garbage.err")"

# 3. /csrattrs in base64 but not a csrattrs (SEQUENCE { INTEGER 10 }).
est_start --csrattrs 300302010a
enroll notattrs
enrolled notattrs "/csrattrs not a csrattrs"
grep -q 'csrattrs.*without' "$KW_T/notattrs.err" ||
	kw_fail "malformed /csrattrs not reported: $(cat "$KW_T/notattrs.err")"

echo "PASS: NUL/white-space tails read, unusable /csrattrs skipped with a warning"
