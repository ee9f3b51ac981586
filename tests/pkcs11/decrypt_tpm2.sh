#!/bin/bash
# Decryption for SCEP (issue 11) with the TPM reached through PKCS#11:
# tpm2-pkcs11 over swtpm.  keygen --usage sign,decrypt; a secret encrypted
# by openssl comes back; a ciphertext with bad padding is refused and the
# key keeps working afterwards (tpm2-pkcs11 leaves a failed C_Decrypt's
# operation active, which would fail every later signature and decryption
# in that session with CKR_OPERATION_ACTIVE); the key still signs (csr).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need swtpm pkcs11-tool tpm2_flushcontext openssl
# shellcheck disable=SC2012  # fixed system paths, as tests/pkcs11/tpm2.sh
TMOD=$(ls /usr/lib/*/pkcs11/libtpm2_pkcs11.so /usr/lib/*/libtpm2_pkcs11.so.1 2>/dev/null | head -1)
[ -n "$TMOD" ] || kw_skip "libtpm2_pkcs11 not installed"
PROBE=$KW_BUILDDIR/tests/tpm/decrypt_probe
[ -x "$PROBE" ] || kw_fail "build the test helpers first (make check)"
cd "$KW_T" || exit 1
kw_start_swtpm tpm
export TPM2_PKCS11_TCTI=$KW_TCTI TPM2_PKCS11_STORE=$KW_T/store TPM2_PKCS11_LOG_LEVEL=0
mkdir -p store
# No resource manager on swtpm: clear what a tool may leave loaded.
flush() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
pkcs11-tool --module "$TMOD" --init-token --label tpmtok --so-pin 2222 >init.log 2>&1 ||
	kw_fail "cannot make a tpm2-pkcs11 token: $(cat init.log)"
flush
pkcs11-tool --module "$TMOD" --token-label tpmtok --login --login-type so \
	--so-pin 2222 --init-pin --pin 1111 >>init.log 2>&1 ||
	kw_fail "cannot set the user PIN: $(cat init.log)"
flush
printf '1111\n' >pin
chmod 600 pin
KEY="pkcs11:token=tpmtok;object=sd?pin-source=file:$KW_T/pin"
line() { grep -F -- "$2:" "$1.out" | head -1; }

kw_run keygen 0 keygen --module "$TMOD" --alg rsa2048 --usage sign,decrypt --key "$KEY"
cp keygen.out sd.pub
flush
head -c 32 /dev/urandom >secret
openssl pkeyutl -encrypt -pubin -inkey sd.pub -pkeyopt rsa_padding_mode:pkcs1 \
	-in secret -out ct || kw_fail "openssl pkeyutl -encrypt"
{ printf '\000\001'; head -c 254 /dev/zero | tr '\0' '\377'; } >block
openssl pkeyutl -encrypt -pubin -inkey sd.pub -pkeyopt rsa_padding_mode:none \
	-in block -out badpad || kw_fail "openssl raw encryption"
"$PROBE" "$KEY" "$TMOD" ct pt1 badpad pt2 ct pt3 >probe.out 2>probe.err ||
	kw_fail "probe: $(cat probe.out probe.err)"
flush
[ "$(line probe can)" = "can: ok" ] || kw_fail "can: $(cat probe.out probe.err)"
cmp -s secret pt1 && cmp -s secret pt3 ||
	kw_fail "tpm2-pkcs11 decryption: $(cat probe.out probe.err)"
line probe badpad | grep -q "^badpad: err -27 " || kw_fail "bad padding: $(cat probe.out)"
[ ! -e pt2 ] || kw_fail "a failed decryption wrote plaintext"
[ "$(line probe sign)" = "sign: ok" ] || kw_fail "sign after a failed decryption: $(cat probe.out probe.err)"
[ "$(line probe counts)" = "counts: decrypts=2 failures=1 signs=1" ] ||
	kw_fail "counters: $(line probe counts)"
echo "ok tpm2-pkcs11: decrypted, bad padding refused, the session still works"
kw_run csr 0 csr --module "$TMOD" --key "$KEY" --subject CN=scep-tpm --out sd.csr
flush
openssl req -in sd.csr -verify -noout 2>&1 | grep -q 'verify OK' ||
	kw_fail "openssl rejects the CSR"
echo "ok csr verifies"
echo "PASS"
