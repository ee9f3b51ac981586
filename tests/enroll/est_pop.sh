#!/bin/bash
# Proof-of-possession linking (RFC 7030 3.5) against the EST test server,
# which checks the CSR's challengePassword against its own (OpenSSL's)
# view of the TLS session: tls-unique under TLS 1.2, tls-exporter (RFC
# 9266) under TLS 1.3.  A server whose /csrattrs asks for it gets it
# without any option (first enrollment, 202 retries, --resume, renewal
# over mTLS); --pop-linking sends it to a server that does not ask; a CSR
# is not linked when nobody asks.  Keys in SoftHSM2.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwtest
MOD=$KW_SOFTHSM_MODULE
est_setup_pki

uri() { echo "pkcs11:token=kwtest;object=$1?pin-source=file:$KW_T/pin"; }
for k in a b c d e; do
	"$KEYWARD" keygen --module "$MOD" --key "$(uri $k)" >"$KW_T/$k.pub" ||
		kw_fail "keygen $k in SoftHSM failed"
done
BASIC=(--user alice --password-file "$KW_T/est.pw")

# last_pop OP: "STATUS POP BINDING" of the last logged request to OP
last_pop() {
	python3 - "$KW_T/est.log" "$1" <<'PY'
import json, sys
ent = [json.loads(l) for l in open(sys.argv[1])]
ent = [e for e in ent if e["path"].endswith("/" + sys.argv[2])]
e = ent[-1] if ent else {}
print(e.get("status"), e.get("pop"), e.get("binding"))
PY
}

enroll() {	# enroll NAME KEY [args...]
	local name=$1 k=$2
	shift 2
	run_kw "$name" enroll est --module "$MOD" --key "$(uri "$k")" \
		--server "$EST_URL" --ca "$KW_T/ca/ca.pem" --subject "CN=pop-$k" \
		"${BASIC[@]}" --out "$KW_T/$k.pem" "$@"
}

# 1. TLS 1.2, the server asks (csrattrs) and requires the binding.
est_start --pop --tls-max 1.2
S12=$!
enroll tls12 a
expect_rc 0 "enroll with PoP linking over TLS 1.2" tls12
[ "$(last_pop simpleenroll)" = "200 ok tls-unique" ] ||
	kw_fail "TLS 1.2: the CSR is not linked by tls-unique: $(last_pop simpleenroll)"
[ "$(cert_pub "$KW_T/a.pem")" = "$(pem_pub "$KW_T/a.pub")" ] ||
	kw_fail "TLS 1.2: the certificate is not for the key"
grep -q 'proof-of-possession' "$KW_T/tls12.err" ||
	kw_fail "the user is not told the CSR is linked: $(cat "$KW_T/tls12.err")"
# renewal over mTLS (the current certificate), linked too
run_kw renew12 enroll est --renew --force --state "$KW_T/a.pem.state"
expect_rc 0 "renewal with PoP linking over TLS 1.2" renew12
[ "$(last_pop simplereenroll)" = "200 ok tls-unique" ] ||
	kw_fail "TLS 1.2 renewal not linked: $(last_pop simplereenroll)"
kw_stop "$S12"

# 2. TLS 1.3: tls-exporter.
est_start --pop
S13=$!
enroll tls13 b
expect_rc 0 "enroll with PoP linking over TLS 1.3" tls13
[ "$(last_pop simpleenroll)" = "200 ok tls-exporter" ] ||
	kw_fail "TLS 1.3: the CSR is not linked by tls-exporter: $(last_pop simpleenroll)"
run_kw renew13 enroll est --renew --force --state "$KW_T/b.pem.state"
expect_rc 0 "renewal with PoP linking over TLS 1.3" renew13
[ "$(last_pop simplereenroll)" = "200 ok tls-exporter" ] ||
	kw_fail "TLS 1.3 renewal not linked: $(last_pop simplereenroll)"

# 3. 202 then issued: each attempt is a new TLS session, so each CSR
#    carries that session's binding.
est_mode pending
enroll pend c --wait 20
expect_rc 0 "202 then success with PoP linking" pend
python3 - "$KW_T/est.log" <<'PY' || kw_fail "a retried request was not linked to its own session"
import json, sys
ent = [json.loads(l) for l in open(sys.argv[1]) if "simpleenroll" in l]
st = [(e["status"], e.get("pop")) for e in ent[-2:]]
sys.exit(0 if st == [(202, "ok"), (200, "ok")] else 1)
PY

# 4. Pending beyond --wait, then --resume: the CSR is made again on the
#    new session (the remembered one would carry a stale binding).
est_mode pending-forever
enroll pend2 d --wait 0
expect_rc 5 "pending with PoP linking" pend2
est_mode ok
enroll resume d --resume
expect_rc 0 "resume with PoP linking" resume
[ "$(last_pop simpleenroll)" = "200 ok tls-exporter" ] ||
	kw_fail "the resumed request was not linked: $(last_pop simpleenroll)"
[ "$(cert_pub "$KW_T/d.pem")" = "$(pem_pub "$KW_T/d.pub")" ] ||
	kw_fail "resume: the certificate is not for the key"

# 5. A server that does not ask: not linked, unless --pop-linking (which
#    the state remembers for renewals).
# 4b. The server's check is real: a CSR linked to no session is refused.
if command -v curl >/dev/null; then
	printf '[req]\nprompt=no\ndistinguished_name=dn\nattributes=a\n[dn]\nCN=x\n[a]\nchallengePassword=%s\n' \
		"$(head -c 32 /dev/urandom | base64)" >"$KW_T/stale.cnf"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout /dev/null -config "$KW_T/stale.cnf" -outform DER 2>/dev/null |
		base64 >"$KW_T/stale.b64"
	# the password in a header file, not on curl's command line
	printf 'Authorization: Basic %s\n' \
		"$(printf 'alice:%s' "$(head -1 "$KW_T/est.pw")" | base64 -w0)" \
		>"$KW_T/stale.hdr"
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$KW_T/ca/ca.pem" \
		-H @"$KW_T/stale.hdr" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$KW_T/stale.b64" "$EST_URL/.well-known/est/simpleenroll")
	[ "$code" = 400 ] && [ "$(last_pop simpleenroll)" = "400 mismatch tls-exporter" ] ||
		kw_fail "the test server took a CSR linked to another session ($code, $(last_pop simpleenroll))"
fi

kw_stop "$S13"
est_start
enroll plain e --out "$KW_T/e0.pem" --state "$KW_T/e0.state"
expect_rc 0 "enroll without PoP linking" plain
[ "$(last_pop simpleenroll)" = "200 absent tls-exporter" ] ||
	kw_fail "a CSR was linked though nobody asked: $(last_pop simpleenroll)"
enroll forced e --pop-linking
expect_rc 0 "enroll with --pop-linking" forced
[ "$(last_pop simpleenroll)" = "200 ok tls-exporter" ] ||
	kw_fail "--pop-linking did not link the CSR: $(last_pop simpleenroll)"
run_kw renewf enroll est --renew --force --state "$KW_T/e.pem.state"
expect_rc 0 "renewal of a --pop-linking identity" renewf
[ "$(last_pop simplereenroll)" = "200 ok tls-exporter" ] ||
	kw_fail "the renewal forgot --pop-linking: $(last_pop simplereenroll)"
echo "PASS: PoP linking with tls-unique (TLS 1.2) and tls-exporter (TLS 1.3)"
