#!/bin/bash
# keyward enroll est against the EST test server with a TPM key (swtpm):
# trust bootstrap by fingerprint (right and wrong), HTTP Basic, 202 then
# success, resume of a pending request with the same CSR, chunked answers,
# every bad answer refused with nothing stored, a bootstrap client
# certificate, re-enrollment over mTLS with rekeying, and SIGKILL at each
# step of a renewal leaving exactly one usable identity.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e

kw_need tpm2_flushcontext
kw_start_swtpm
est_setup_pki
est_start

K="$KW_T/k.pem"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$K" >"$KW_T/k.pub" ||
	kw_fail "keygen failed"
BASE=(enroll est --tcti "$KW_TCTI" --server "$EST_URL"
	--subject "CN=laptop-1,O=Example Corp" --san dns:laptop-1.example.com)
BASIC=(--user alice --password-file "$KW_T/est.pw")

nothing_stored() {
	local f
	for f in "$@"; do
		[ ! -e "$f" ] || kw_fail "$f was written after a refused answer"
	done
}

# 1. No trust anchor and no TTY: refused with a hint, nothing contacted.
run_kw notrust "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/c.pem" </dev/null
expect_rc 2 "no trust option" notrust
grep -q -- '--ca-fingerprint' "$KW_T/notrust.err" ||
	kw_fail "the refusal does not say how to get the fingerprint: $(cat "$KW_T/notrust.err")"
nothing_stored "$KW_T/c.pem" "$KW_T/c.pem.state"
[ "$(est_count cacerts '*')" = 0 ] || kw_fail "contacted the server without trust"

# 2. --show-ca prints the fingerprint the operators would publish.
run_kw showca enroll est --show-ca --server "$EST_URL"
expect_rc 0 "--show-ca" showca
grep -qi "$(echo "$EST_CA_FP" | tr -d : | tr A-F a-f)" "$KW_T/showca.out" ||
	kw_fail "--show-ca does not show the CA fingerprint: $(cat "$KW_T/showca.out")"

# 3. Wrong fingerprint: refused before any credential is sent.
run_kw wrongfp "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/c.pem" \
	--ca-fingerprint "$WRONG_FP"
expect_rc 4 "wrong fingerprint" wrongfp
grep -q 'does not match the pinned fingerprint' "$KW_T/wrongfp.err" ||
	kw_fail "wrong fingerprint message: $(cat "$KW_T/wrongfp.err")"
nothing_stored "$KW_T/c.pem" "$KW_T/c.pem.state" "$KW_T/c.pem.ca.pem"
[ "$(est_count simpleenroll '*')" = 0 ] || kw_fail "enrolled with an unpinned CA"

# 4. Right fingerprint + Basic: enrolled, stored, state written.
run_kw first "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/c.pem" \
	--chain-out "$KW_T/chain.pem" --ca-fingerprint "$EST_CA_FP" --grace 0
expect_rc 0 "enroll with the pinned CA" first
[ "$(cert_pub "$KW_T/c.pem")" = "$(pem_pub "$KW_T/k.pub")" ] ||
	kw_fail "the stored certificate is not for the TPM key"
openssl verify -CAfile "$KW_T/ca/ca.pem" "$KW_T/c.pem" >/dev/null ||
	kw_fail "stored certificate does not verify"
cmp -s <(openssl x509 -in "$KW_T/c.pem.ca.pem" -outform DER) \
	<(openssl x509 -in "$KW_T/ca/ca.pem" -outform DER) ||
	kw_fail "the pinned CA was not kept"
[ "$(stat -c %a "$KW_T/c.pem")" = 644 ] || kw_fail "certificate mode"
[ "$(stat -c %a "$KW_T/c.pem.state")" = 600 ] || kw_fail "state file mode"
grep -q '"key": "tpm:' "$KW_T/c.pem.state" || kw_fail "state lacks the key"
grep -q 'correct horse' "$KW_T/c.pem.state" "$KW_T"/*.err &&
	kw_fail "the password leaked into the state or a log"
openssl x509 -in "$KW_T/c.pem" -noout -ext subjectAltName | grep -q laptop-1.example.com ||
	kw_fail "the SAN is missing from the certificate"
run_kw check0 enroll est --check --state "$KW_T/c.pem.state"
expect_rc 0 "--check after enroll" check0

# 5. Every bad answer is refused and nothing is stored.
for m in badp7 badb64 notp7 empty wrongkey wrongchain unauth forbidden error huge; do
	est_mode "$m"
	run_kw "bad-$m" "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" \
		--out "$KW_T/bad.pem" --chain-out "$KW_T/badchain.pem" \
		--ca "$KW_T/ca/ca.pem"
	[ "$RC" != 0 ] || kw_fail "mode $m: accepted"
	nothing_stored "$KW_T/bad.pem" "$KW_T/badchain.pem" "$KW_T/bad.pem.state"
	case $m in
	wrongkey) grep -q 'different public key' "$KW_T/bad-$m.err" ;;
	wrongchain) grep -q 'does not chain' "$KW_T/bad-$m.err" ;;
	unauth|forbidden) [ "$RC" = 4 ] && grep -q 'refused our credentials' "$KW_T/bad-$m.err" ;;
	error) [ "$RC" = 4 ] && grep -q '500' "$KW_T/bad-$m.err" ;;
	huge) grep -q 'too large' "$KW_T/bad-$m.err" ;;
	*) [ "$RC" = 4 ] && grep -qi 'pkcs#7\|base64' "$KW_T/bad-$m.err" ;;
	esac || kw_fail "mode $m: unclear error (exit $RC): $(cat "$KW_T/bad-$m.err")"
done
est_mode ok

# 6. 202 + Retry-After, then issued while keyward waits.
est_mode pending
run_kw pend "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/p.pem" \
	--ca "$KW_T/ca/ca.pem" --wait 20
expect_rc 0 "202 then success" pend
[ "$(est_count simpleenroll 202)" = 1 ] || kw_fail "no 202 was seen"
[ "$(cert_pub "$KW_T/p.pem")" = "$(pem_pub "$KW_T/k.pub")" ] || kw_fail "202 cert key"

# 7. Pending beyond --wait: exit 5 with a resume hint, then --resume sends
#    the very same CSR.
est_mode pending-forever
run_kw pend2 "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/q.pem" \
	--ca "$KW_T/ca/ca.pem" --wait 0
expect_rc 5 "pending without waiting" pend2
grep -q -- '--resume' "$KW_T/pend2.err" || kw_fail "no resume hint: $(cat "$KW_T/pend2.err")"
nothing_stored "$KW_T/q.pem"
grep -q '"pending"' "$KW_T/q.pem.state" || kw_fail "the pending request was not remembered"
est_mode ok
run_kw resume "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/q.pem" \
	--ca "$KW_T/ca/ca.pem" --resume
expect_rc 0 "resume" resume
python3 - "$KW_T/est.log" <<'PY' || kw_fail "the resumed request did not reuse the CSR"
import json, sys
ent = [json.loads(l) for l in open(sys.argv[1])]
p = [e["csr_sha"] for e in ent if e["status"] == 202]
ok = [e["csr_sha"] for e in ent if e["status"] == 200 and e.get("csr_sha")]
sys.exit(0 if p and p[-1] == ok[-1] else 1)
PY
grep -q '"pending"' "$KW_T/q.pem.state" && kw_fail "pending not cleared"

# 8. Chunked transfer encoding.
est_mode chunked
run_kw chunked "${BASE[@]}" "${BASIC[@]}" --key "tpm:$K" --out "$KW_T/ch.pem" \
	--ca "$KW_T/ca/ca.pem"
expect_rc 0 "chunked answer" chunked
est_mode ok

# 9. Bootstrap client certificate (any key reference) instead of Basic.
B="$KW_T/boot.pem"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$B" >/dev/null || kw_fail "keygen boot"
run_kw bootcert "${BASE[@]}" "${BASIC[@]}" --key "tpm:$B" --out "$KW_T/bootc.pem" \
	--ca "$KW_T/ca/ca.pem" --subject CN=factory-1
expect_rc 0 "bootstrap identity" bootcert
est_auth cert
K3="$KW_T/k3.pem"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$K3" >"$KW_T/k3.pub" || kw_fail "keygen 3"
run_kw nocred "${BASE[@]}" --key "tpm:$K3" --out "$KW_T/c3.pem" --ca "$KW_T/ca/ca.pem"
expect_rc 4 "no credential" nocred
nothing_stored "$KW_T/c3.pem"
run_kw withboot "${BASE[@]}" --key "tpm:$K3" --out "$KW_T/c3.pem" \
	--ca "$KW_T/ca/ca.pem" --bootstrap-cert "$KW_T/bootc.pem" --bootstrap-key "tpm:$B"
expect_rc 0 "enroll with a bootstrap certificate" withboot
[ "$(cert_pub "$KW_T/c3.pem")" = "$(pem_pub "$KW_T/k3.pub")" ] || kw_fail "bootstrap cert key"
grep -q '"client_cert": "[^"]*commonName=factory-1' "$KW_T/est.log" ||
	kw_fail "the bootstrap certificate was not presented"
est_auth basic

# 10. Re-enrollment over mTLS with a new key (rekey), old key deleted
#     after the grace period (0 here).
run_kw renew1 enroll est --renew --force --state "$KW_T/c.pem.state"
expect_rc 0 "re-enroll" renew1
[ "$(est_count simplereenroll 200)" = 1 ] || kw_fail "no /simplereenroll"
grep -q '"client_cert": "[^"]*commonName=laptop-1' "$KW_T/est.log" ||
	kw_fail "re-enrollment was not authenticated by the current certificate"
grep -q "\"key\": \"tpm:$KW_T/k.2.pem\"" "$KW_T/c.pem.state" || kw_fail "no rekey"
[ -e "$KW_T/k.2.pem" ] || kw_fail "new key file missing"
[ ! -e "$K" ] || kw_fail "old key not deleted after its grace period"
[ "$(cert_pub "$KW_T/c.pem")" != "$(pem_pub "$KW_T/k.pub")" ] || kw_fail "same key after rekey"
run_kw check1 enroll est --check --state "$KW_T/c.pem.state"
expect_rc 0 "--check after renewal" check1

# 10b. A renewal the CA answers badly: old identity kept, no orphaned key,
#      the failure counted for the backoff.
est_mode wrongkey
run_kw renewbad enroll est --renew --force --state "$KW_T/c.pem.state"
[ "$RC" != 0 ] || kw_fail "a renewal with a certificate for another key was accepted"
grep -q "\"key\": \"tpm:$KW_T/k.2.pem\"" "$KW_T/c.pem.state" || kw_fail "identity changed"
[ ! -e "$KW_T/k.3.pem" ] || kw_fail "orphaned key after a failed renewal"
grep -q '"failures": 1' "$KW_T/c.pem.state" || kw_fail "failure not counted"
run_kw checkbad enroll est --check --state "$KW_T/c.pem.state"
expect_rc 0 "identity after a failed renewal" checkbad

# 10c. A renewal the CA holds (202): the new key and the CSR are kept and
#      sent again.
est_mode pending-forever
run_kw renewpend enroll est --renew --force --state "$KW_T/c.pem.state" --wait 0
expect_rc 5 "renewal pending" renewpend
grep -q '"phase": "pending"' "$KW_T/c.pem.state" || kw_fail "pending renewal not remembered"
[ -e "$KW_T/k.3.pem" ] || kw_fail "the pending renewal's key was dropped"
est_mode ok
run_kw renewpend2 enroll est --renew --force --state "$KW_T/c.pem.state"
expect_rc 0 "pending renewal completed" renewpend2
grep -q "\"key\": \"tpm:$KW_T/k.3.pem\"" "$KW_T/c.pem.state" || kw_fail "no switch to k.3"
python3 - "$KW_T/est.log" <<'PY' || kw_fail "the pending renewal did not reuse its CSR"
import json, sys
ent = [json.loads(l) for l in open(sys.argv[1]) if "simplereenroll" in l]
p = [e["csr_sha"] for e in ent if e["status"] == 202]
ok = [e["csr_sha"] for e in ent if e["status"] == 200]
sys.exit(0 if p and p[-1] == ok[-1] else 1)
PY

# 11. SIGKILL at each step of a renewal: exactly one usable identity.
gen=3
for point in after-intent after-keygen after-enroll after-cert-write after-switch after-copy; do
	before=$(cert_pub "$KW_T/c.pem")
	set +e
	(KEYWARD_TEST_KILL_AT=$point "$KEYWARD_HOOKS" enroll est --renew --force \
		--state "$KW_T/c.pem.state" >/dev/null 2>"$KW_T/kill-$point.err") \
		2>/dev/null
	RC=$?
	set -e
	[ "$RC" = 137 ] || kw_fail "$point: not killed (exit $RC): $(cat "$KW_T/kill-$point.err")"
	# swtpm has no resource manager: flush what the killed process had
	# loaded, as /dev/tpmrm0 or tpm2-abrmd do when a client dies
	tpm2_flushcontext -t >/dev/null 2>&1 || true
	tpm2_flushcontext -s >/dev/null 2>&1 || true
	run_kw "check-$point" enroll est --check --state "$KW_T/c.pem.state"
	expect_rc 0 "identity after SIGKILL at $point" "check-$point"
	case $point in
	after-switch|after-copy)
		gen=$((gen + 1))
		[ "$(cert_pub "$KW_T/c.pem")" != "$before" ] ||
			kw_fail "$point: the new certificate is not in place"
		;;
	*)
		[ "$(cert_pub "$KW_T/c.pem")" = "$before" ] ||
			kw_fail "$point: the certificate changed"
		;;
	esac
	grep -q "\"key\": \"tpm:$KW_T/k.$gen.pem\"" "$KW_T/c.pem.state" ||
		kw_fail "$point: state names $(grep '"key"' "$KW_T/c.pem.state")"
	# no orphaned key: only the current generation exists
	n=$(ls "$KW_T"/k.[0-9]*.pem 2>/dev/null | wc -l)
	[ "$n" = 1 ] || kw_fail "$point: $n key files: $(ls "$KW_T"/k.*)"
	[ ! -e "$KW_T/c.pem.next" ] || kw_fail "$point: c.pem.next left behind"
done
# 12. --renew without a state file: same key, /simplereenroll over mTLS.
run_kw plain enroll est --renew --tcti "$KW_TCTI" --key "tpm:$K3" --cert "$KW_T/c3.pem" \
	--server "$EST_URL" --ca "$KW_T/ca/ca.pem" --subject CN=laptop-3 --out "$KW_T/c3b.pem"
expect_rc 0 "renew without state" plain
[ "$(cert_pub "$KW_T/c3b.pem")" = "$(pem_pub "$KW_T/k3.pub")" ] || kw_fail "plain renew key"

# 13. /csrattrs honoured: names the server asks for are added to the CSR,
#     what keyward cannot map is reported.
ATTRS=305b06092a864886f70d01090706082a8648ce3d040303302b06092a864886f70d01090e311e301c301a0603551d11041330118209612e6578616d706c6587040a00000106032a0304301206072a8648ce3d0201310706052b81040022
est_start --csrattrs "$ATTRS"
run_kw attrs enroll est --tcti "$KW_TCTI" --server "$EST_URL" "${BASIC[@]}" \
	--subject CN=laptop-4 --san dns:laptop-1.example.com --key "tpm:$K3" \
	--out "$KW_T/c4.pem" --ca "$KW_T/ca/ca.pem"
expect_rc 0 "enroll with csrattrs" attrs
openssl x509 -in "$KW_T/c4.pem" -noout -ext subjectAltName >"$KW_T/c4.san"
grep -q 'DNS:a.example' "$KW_T/c4.san" && grep -q 'IP Address:10.0.0.1' "$KW_T/c4.san" &&
	grep -q 'DNS:laptop-1.example.com' "$KW_T/c4.san" ||
	kw_fail "csrattrs names not in the certificate: $(cat "$KW_T/c4.san")"
grep -q 'challengePassword' "$KW_T/attrs.err" && grep -q '1.2.3.4' "$KW_T/attrs.err" ||
	kw_fail "unmapped csrattrs not reported: $(cat "$KW_T/attrs.err")"

# 14. A server that completes TLS and then never answers: bounded by
#     --timeout.
est_mode mute
t0=$(date +%s)
run_kw mute enroll est --tcti "$KW_TCTI" --server "$EST_URL" "${BASIC[@]}" \
	--subject CN=x --key "tpm:$K3" --out "$KW_T/s.pem" --ca "$KW_T/ca/ca.pem" \
	--timeout 2
[ "$RC" = 4 ] || kw_fail "mute server: exit $RC: $(cat "$KW_T/mute.err")"
grep -q 'timed out' "$KW_T/mute.err" || kw_fail "mute server: $(cat "$KW_T/mute.err")"
[ $(( $(date +%s) - t0 )) -le 8 ] || kw_fail "--timeout 2 was not honoured"
nothing_stored "$KW_T/s.pem"
est_mode ok

# 15. With a terminal: the fingerprint is shown and must be pasted back
#     (nothing is trusted by pressing Enter), and the Basic password is
#     asked for without echo.  script(1) provides the terminal.
if command -v script >/dev/null 2>&1; then
	TTYCMD="$KEYWARD enroll est --tcti $KW_TCTI --server $EST_URL --subject CN=tty --key tpm:$K3 --user alice"
	(sleep 1; echo) | script -qec "$TTYCMD --password-file $KW_T/est.pw --out $KW_T/t0.pem" /dev/null >"$KW_T/tty0.out" 2>&1 || true
	nothing_stored "$KW_T/t0.pem" "$KW_T/t0.pem.state"
	grep -q 'no CA fingerprint confirmed' "$KW_T/tty0.out" || kw_fail "tty abort: $(cat "$KW_T/tty0.out")"
	(sleep 1; echo "$EST_CA_FP") | script -qec "$TTYCMD --password-file $KW_T/est.pw --out $KW_T/t1.pem" /dev/null >"$KW_T/tty1.out" 2>&1
	[ -s "$KW_T/t1.pem" ] || kw_fail "tty fingerprint confirmation: $(cat "$KW_T/tty1.out")"
	grep -qi "$(echo "$EST_CA_FP" | tr -d : | tr A-F a-f)" "$KW_T/tty1.out" || kw_fail "fingerprint not shown"
	(sleep 1; echo "correct horse") | script -qec "$TTYCMD --ca $KW_T/ca/ca.pem --out $KW_T/t2.pem" /dev/null >"$KW_T/tty2.out" 2>&1
	[ -s "$KW_T/t2.pem" ] || kw_fail "password prompt: $(cat "$KW_T/tty2.out")"
	grep -q 'correct horse' "$KW_T/tty2.out" && kw_fail "the password was echoed"
fi

# Under --enable-sanitizers a refused answer must still be a clean refusal.
kw_no_sanitizer_reports "$KW_T"/*.err

echo "PASS: EST enrollment, bad answers, 202/resume, bootstrap cert, rekey, SIGKILL"
