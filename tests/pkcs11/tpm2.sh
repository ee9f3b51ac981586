#!/bin/bash
# keyward with the TPM reached through PKCS#11: tpm2-pkcs11 over swtpm
# (TPM2_PKCS11_TCTI, store in a temp dir, token made with the module's own
# C_InitToken via pkcs11-tool).  keygen EC and RSA, CSR verified by openssl,
# mutual TLS with `openssl s_server -Verify 1`, data both ways.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need swtpm openssl ss
cd "$KW_T" || exit 1
kw_start_tpm2_pkcs11 tpmtok
TMOD=$KW_TPM2_PKCS11_MODULE
PS="?pin-source=file:$KW_T/pin"

kw_make_ca ca
kw_make_server_cert server 7
kw_start_s_server srv -cert server.pem -key server.key -CAfile ca/ca.pem
PORT=$KW_S_PORT

for alg in ec-p256 rsa2048; do
	KEY="pkcs11:token=tpmtok;object=tpm-$alg$PS"
	kw_tpm_flush
	"$KEYWARD" keygen --module "$TMOD" --alg "$alg" --key "$KEY" >"$alg.pub" 2>"$alg.err" ||
		kw_fail "keygen $alg in tpm2-pkcs11: $(cat "$alg.err")"
	kw_tpm_flush
	"$KEYWARD" keygen --module "$TMOD" --alg "$alg" --key "$KEY" >/dev/null 2>"$alg.err2" &&
		kw_fail "a second keygen $alg was not refused"
	grep -q "already has an object labelled" "$alg.err2" ||
		kw_fail "second keygen: $(cat "$alg.err2")"
	kw_tpm_flush
	"$KEYWARD" csr --module "$TMOD" --key "$KEY" --subject "CN=tpm-$alg" \
		--out "$alg.csr" 2>"$alg.err" || kw_fail "csr $alg: $(cat "$alg.err")"
	openssl req -in "$alg.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "openssl rejects the $alg CSR"
	openssl req -in "$alg.csr" -pubkey -noout | cmp -s - "$alg.pub" ||
		kw_fail "$alg: the CSR's key is not the token's"
	kw_sign_csr "$alg.csr" "$alg.crt" 7
	kw_tpm_flush
	kw_talk "$alg" srv --module "$TMOD" --key "$KEY" --cert "$alg.crt" \
		--ca ca/ca.pem --servername localhost "127.0.0.1:$PORT"
	if grep -q TLSv1.2 "$alg.cerr"; then
		# a token without CKM_RSA_PKCS_PSS: said clearly, not hidden
		grep -q "does not offer CKM_RSA_PKCS_PSS.*TLS 1.3 requires" "$alg.cerr" ||
			kw_fail "$alg: TLS 1.2 without an explanation: $(cat "$alg.cerr")"
	fi
	echo "ok $alg in the TPM through tpm2-pkcs11: keygen, CSR, mutual TLS ($(grep -o 'TLSv1\.[23]' "$alg.cerr" | head -1))"
done
echo "PASS: tpm2-pkcs11 over swtpm"
