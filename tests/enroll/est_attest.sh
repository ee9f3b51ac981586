#!/bin/bash
# keyward enroll est --attest (issue 12, at enrollment): the CSR carries
# TPM2_Certify evidence of the key by the AK in the id-aa-evidence attribute
# of draft-ietf-lamps-csr-attestation, and a CA that issues only to
# TPM-held keys (the EST test server's --attest-policy hook, which walks the
# CSR's DER itself and runs keyward verify-attestation) issues to it.
# Refused, nothing stored, the server's reason in one line: no --attest;
# an AK not yet bound to the EK (binding store, credential activation) --
# then bound and issued; evidence from a TPM whose EK chains to another CA.
# Refused locally: --attest with a SoftHSM key, --attest without --ak.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e

kw_need xxd
TOOL="$KW_BUILDDIR/tests/attest/attest_tool"
[ -x "$TOOL" ] || kw_fail "$TOOL not built"

# A second TPM, provisioned by its own local CA: its EK is not trusted.
kw_start_swtpm_ek other
OTHER_TCTI=$KW_TCTI
kw_start_swtpm_ek tpm

est_setup_pki
STORE=$KW_T/bindings
est_start --attest-policy "$KW_EK_CA" --attest-binding-store "$STORE" \
	--keyward "$KEYWARD"

nothing_stored() {
	local f
	for f in "$@"; do
		[ ! -e "$f" ] || kw_fail "$f was written after a refusal"
	done
}
# The refusal is one error line (info lines aside).
one_line() {
	[ "$(grep -c -e 'error: ' -e '^keyward enroll est: ' "$KW_T/$1.err")" = 1 ] ||
		kw_fail "$1: the refusal is not one line: $(cat "$KW_T/$1.err")"
}
BASE=(enroll est --server "$EST_URL" --ca "$KW_T/ca/ca.pem"
	--user alice --password-file "$KW_T/est.pw" --grace 0)

# the AK and two device keys in the TPM
AK=$KW_T/ak.pem
run_kw akinit attest init --tcti "$KW_TCTI" --ak "tpm:$AK"
expect_rc 0 "attest init" akinit
run_kw ek attest ek --tcti "$KW_TCTI" --out-dir "$KW_T/ek"
expect_rc 0 "attest ek" ek
for k in k1 k2; do
	"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/$k.pem" \
		>"$KW_T/$k.pub" || kw_fail "keygen $k"
done

# 1. Without --attest: the CA refuses, nothing is stored.
run_kw plain "${BASE[@]}" --tcti "$KW_TCTI" --key "tpm:$KW_T/k1.pem" \
	--subject CN=plain --out "$KW_T/plain.pem"
[ "$RC" != 0 ] || kw_fail "issued without attestation evidence"
grep -q "carries no id-aa-evidence attribute" "$KW_T/plain.err" ||
	kw_fail "the refusal does not give the server's reason: $(cat "$KW_T/plain.err")"
one_line plain
nothing_stored "$KW_T/plain.pem" "$KW_T/plain.pem.state"

# 2. With --attest, but the AK is not yet bound to the EK: refused.
run_kw unbound "${BASE[@]}" --tcti "$KW_TCTI" --key "tpm:$KW_T/k1.pem" \
	--attest --ak "tpm:$AK" --subject CN=unbound --out "$KW_T/unbound.pem"
[ "$RC" != 0 ] || kw_fail "issued to an AK not bound to its EK"
grep -q "ak_unbound" "$KW_T/unbound.err" ||
	kw_fail "unbound AK: not the verifier's reason: $(cat "$KW_T/unbound.err")"
one_line unbound
nothing_stored "$KW_T/unbound.pem" "$KW_T/unbound.pem.state"

# Bind the AK to the EK (the CA's one-time credential activation).
EK=$KW_T/ek/ek-0x01c00002.der
sed -n 's/^name: //p' "$KW_T/akinit.out" | xxd -r -p >"$KW_T/ak.name"
[ -s "$KW_T/ak.name" ] || kw_fail "attest init printed no AK name"
"$TOOL" challenge "$EK" "$KW_T/ak.name" "$KW_T/cred" "$KW_T/secret" >/dev/null ||
	kw_fail "attest_tool challenge"
run_kw activate attest activate --tcti "$KW_TCTI" --ak "tpm:$AK" \
	--credential "$KW_T/cred" --out "$KW_T/answer"
expect_rc 0 "attest activate" activate
"$TOOL" answer "$STORE" "$EK" "$KW_T/ak.name" "$KW_T/secret" "$KW_T/answer" \
	>/dev/null || kw_fail "the verifier refused the activation answer"

# 3. --attest with the bound AK: issued, for this very key.
run_kw good "${BASE[@]}" --tcti "$KW_TCTI" --key "tpm:$KW_T/k1.pem" \
	--attest --ak "tpm:$AK" --subject CN=attested --out "$KW_T/good.pem"
expect_rc 0 "enroll --attest" good
[ "$(cert_pub "$KW_T/good.pem")" = "$(pem_pub "$KW_T/k1.pub")" ] ||
	kw_fail "the certificate is not for the attested key"
[ -s "$KW_T/good.pem.state" ] || kw_fail "no state file after enrollment"
grep -q '"attest": *"refused"' "$KW_T/est.log" || kw_fail "the hook logged no refusal"
# the TPM is left as found: no transient object
n=$(tpm2_getcap handles-transient | grep -c '0x80' || true)
[ "$n" = 0 ] || kw_fail "$n transient objects left in the TPM"

# 4. The same without --attest is still refused (the hook is not fooled
# by a key it has seen).
run_kw again "${BASE[@]}" --tcti "$KW_TCTI" --key "tpm:$KW_T/k2.pem" \
	--subject CN=again --out "$KW_T/again.pem"
[ "$RC" != 0 ] || kw_fail "k2 issued without evidence"
nothing_stored "$KW_T/again.pem"

# 5. A TPM whose EK certificate chains to a CA the policy does not trust.
run_kw oak attest init --tcti "$OTHER_TCTI" --ak "tpm:$KW_T/oak.pem"
expect_rc 0 "attest init on the other TPM" oak
"$KEYWARD" keygen --tcti "$OTHER_TCTI" --key "tpm:$KW_T/ok.pem" >/dev/null ||
	kw_fail "keygen on the other TPM"
run_kw untrusted "${BASE[@]}" --tcti "$OTHER_TCTI" --key "tpm:$KW_T/ok.pem" \
	--attest --ak "tpm:$KW_T/oak.pem" --subject CN=other --out "$KW_T/other.pem"
[ "$RC" != 0 ] || kw_fail "issued to a TPM with an untrusted EK"
grep -q "ek_untrusted" "$KW_T/untrusted.err" ||
	kw_fail "untrusted EK: not the verifier's reason: $(cat "$KW_T/untrusted.err")"
one_line untrusted
nothing_stored "$KW_T/other.pem" "$KW_T/other.pem.state"

# 6. Refused locally, nothing sent: --attest needs a TPM key and an AK.
before=$(est_count simpleenroll '*')
run_kw noak "${BASE[@]}" --tcti "$KW_TCTI" --key "tpm:$KW_T/k2.pem" \
	--attest --subject CN=noak --out "$KW_T/noak.pem"
expect_rc 2 "--attest without --ak" noak
grep -q -- "--ak tpm:PATH" "$KW_T/noak.err" || kw_fail "no hint: $(cat "$KW_T/noak.err")"
kw_start_softhsm kwtest
URI="pkcs11:token=kwtest;object=laptop?pin-source=file:$KW_T/pin"
"$KEYWARD" keygen --module "$KW_SOFTHSM_MODULE" --key "$URI" >/dev/null ||
	kw_fail "keygen in SoftHSM"
run_kw hsm "${BASE[@]}" --module "$KW_SOFTHSM_MODULE" --key "$URI" \
	--attest --ak "tpm:$AK" --subject CN=hsm --out "$KW_T/hsm.pem"
expect_rc 2 "--attest with a PKCS#11 key" hsm
grep -q "is not a TPM key" "$KW_T/hsm.err" || kw_fail "hsm: $(cat "$KW_T/hsm.err")"
one_line hsm
nothing_stored "$KW_T/hsm.pem" "$KW_T/noak.pem"
[ "$(est_count simpleenroll '*')" = "$before" ] ||
	kw_fail "a refused --attest still reached the server"
echo "PASS: EST enrollment with TPM key attestation in the CSR"
