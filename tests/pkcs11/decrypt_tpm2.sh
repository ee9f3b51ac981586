#!/bin/bash
# Decryption for SCEP (issue 11) with the TPM reached through PKCS#11:
# tpm2-pkcs11 over swtpm.  keygen --usage sign,decrypt; two secrets
# encrypted by openssl come back; a ciphertext with bad padding and a
# truncated one are refused and the key keeps working afterwards
# (tpm2-pkcs11 leaves a failed C_Decrypt's operation active, which would
# fail every later signature and decryption in that session with
# CKR_OPERATION_ACTIVE); the key still signs (csr).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need swtpm openssl
[ -x "$KW_BUILDDIR/tests/tpm/decrypt_probe" ] ||
	kw_fail "build the test helpers first (make check)"
cd "$KW_T" || exit 1
kw_start_tpm2_pkcs11 tpmtok
TMOD=$KW_TPM2_PKCS11_MODULE
KEY="pkcs11:token=tpmtok;object=sd?pin-source=file:$KW_T/pin"

kw_run keygen 0 keygen --module "$TMOD" --alg rsa2048 --usage sign,decrypt --key "$KEY"
cp keygen.out sd.pub
kw_tpm_flush
kw_decrypt_inputs sd.pub
kw_decrypt_probe "$KEY" "$TMOD" "tpm2-pkcs11"
kw_tpm_flush
echo "ok tpm2-pkcs11: decrypted, bad padding and a short ciphertext refused, the session still works"
kw_run csr 0 csr --module "$TMOD" --key "$KEY" --subject CN=scep-tpm --out sd.csr
kw_tpm_flush
kw_csr_matches sd.csr sd.pub
echo "ok csr verifies"
echo "PASS"
