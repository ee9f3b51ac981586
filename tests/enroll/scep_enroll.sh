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
printf 'Xq9-notit\n' >badchal
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

echo "== renewal: RenewalReq signed with the current certificate, new TPM key"
cp tpm.crt old.crt
n0=$(grep -c "method=PKIOperation" scep/scepserver.log)
kw_run renew 0 enroll scep --renew --force --state tpm.crt.state
newkey=$(sed -n 's/^  "key": *"tpm:\([^"]*\)".*/\1/p' tpm.crt.state)
[ -n "$newkey" ] && [ "$newkey" != "$KW_T/k.pem" ] && [ -f "$newkey" ] ||
	kw_fail "no new key in the state: $(cat tpm.crt.state)"
kw_run csr2 0 csr --tcti "$KW_TCTI" --key "tpm:$newkey" --subject CN=x --out new.csr
openssl req -in new.csr -pubkey -noout >new.pub
verify tpm.crt new.pub
cmp -s old.crt tpm.crt && kw_fail "the certificate was not replaced"
[ "$(grep -c "method=PKIOperation" scep/scepserver.log)" -gt "$n0" ] ||
	kw_fail "no PKIOperation reached the server"
# the new key decrypts too (the next renewal needs it): made sign,decrypt
kw_run check2 0 enroll scep --check --state tpm.crt.state
echo "ok renewed with a new key"

echo "== SoftHSM RSA sign,decrypt key, --ca FILE"
kw_start_softhsm kwscep
MOD=$KW_SOFTHSM_MODULE
PS="?pin-source=file:$KW_T/pin"
kw_run kgp 0 keygen --module "$MOD" --alg rsa2048 --usage sign,decrypt \
	--key "pkcs11:token=kwscep;object=scep$PS"
cp kgp.out p.pub
kw_run p11 0 enroll scep --server "$KW_SCEP_URL" --ca "$KW_SCEP_CA" --module "$MOD" \
	--key "pkcs11:token=kwscep;object=scep$PS" --subject "CN=scep-hsm" \
	--challenge-file chal --out hsm.crt
verify hsm.crt p.pub
kw_run checkp 0 enroll scep --check --state hsm.crt.state
echo "ok SoftHSM key enrolled over SCEP"

echo "== wrong challenge: FAILURE with its failInfo, nothing stored"
kw_run kgw 0 keygen --module "$MOD" --alg rsa2048 --usage sign,decrypt \
	--key "pkcs11:token=kwscep;object=w$PS"
kw_run wrong 4 enroll scep --server "$KW_SCEP_URL" --ca "$KW_SCEP_CA" --module "$MOD" \
	--key "pkcs11:token=kwscep;object=w$PS" --subject "CN=scep-wrong" \
	--challenge-file badchal --out wrong.crt
kw_expect wrong "FAILURE, failInfo bad"
[ ! -e wrong.crt ] && [ ! -e wrong.crt.state ] || kw_fail "something was stored"
! grep -q Xq9-notit wrong.err || kw_fail "the challenge was printed"
echo "ok $(grep -o 'failInfo [A-Za-z]*' wrong.err)"

echo "== sign-only key: refused before contact"
kw_run kgs 0 keygen --module "$MOD" --alg rsa2048 --key "pkcs11:token=kwscep;object=so$PS"
n0=$(grep -c "op=" scep/scepserver.log)
kw_run so 1 enroll scep --server "$KW_SCEP_URL" --ca "$KW_SCEP_CA" --module "$MOD" \
	--key "pkcs11:token=kwscep;object=so$PS" --subject "CN=scep-so" \
	--challenge-file chal --out so.crt
# shellcheck disable=SC2016  # the backquotes are the message's own
kw_expect so 'this key was made for signing only; SCEP needs `keyward keygen --alg rsa2048 --usage sign,decrypt`'
[ "$(grep -c "op=" scep/scepserver.log)" = "$n0" ] || kw_fail "the server was contacted"
[ ! -e so.crt ] && [ ! -e so.crt.state ] || kw_fail "something was stored"
echo "ok sign-only key refused before contact"

echo "== wrong --ca-fingerprint: refused, nothing stored"
bad=$(printf '%s' "$KW_SCEP_FP" | tr '0-9a-f' '1-9a-f0')
kw_run fp 4 enroll scep --server "$KW_SCEP_URL" --ca-fingerprint "$bad" --module "$MOD" \
	--key "pkcs11:token=kwscep;object=w$PS" --subject "CN=scep-fp" \
	--challenge-file chal --out fp.crt
kw_expect fp "pinned fingerprint"
[ ! -e fp.crt ] && [ ! -e fp.crt.state ] || kw_fail "something was stored"
echo "ok fingerprint mismatch refused"

echo "== another CA as --ca: refused"
kw_make_ca other
kw_run oca 4 enroll scep --server "$KW_SCEP_URL" --ca "$KW_T/other/ca.pem" --module "$MOD" \
	--key "pkcs11:token=kwscep;object=w$PS" --subject "CN=scep-oca" \
	--challenge-file chal --out oca.crt
kw_expect oca "do not chain to the CA"
[ ! -e oca.crt ] || kw_fail "something was stored"
echo "ok another CA refused"
