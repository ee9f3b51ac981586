#!/bin/bash
# Decryption by a PKCS#11 key for SCEP (issue 11), against SoftHSM2:
#   keygen --alg rsa2048 --usage sign,decrypt makes a key pkcs11-tool shows
#   with decrypt and sign (public key: encrypt and verify), sensitive and
#   never extractable; a 32-byte secret encrypted to its public key by
#   openssl (PKCS#1 v1.5) comes back through kw_key_decrypt, twice, around a
#   ciphertext with bad padding and a truncated one (clean errors, counted);
#   the key still signs (keyward csr, openssl req -verify); a sign-only key
#   refuses with the keygen hint; and a card that logged keyward out (shim)
#   gets one new login on the decryption path too, with the PIN that worked.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
# sanitizer builds: leaks inside the foreign modules are not ours
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$KW_SRCDIR/tests/pkcs11/lsan.supp"

kw_need openssl
PROBE=$KW_BUILDDIR/tests/tpm/decrypt_probe
SHIM=$KW_BUILDDIR/tests/pkcs11/libkwshim.so
[ -x "$PROBE" ] && [ -f "$SHIM" ] || kw_fail "build the test helpers first (make check)"
kw_start_softhsm kwdec
MOD=$KW_SOFTHSM_MODULE
cd "$KW_T" || exit 1
PS="?pin-source=file:$KW_T/pin"
KEY="pkcs11:token=kwdec;object=sd"
# shellcheck disable=SC2016  # the backquotes are the message's own
HINT='this key was made for signing only; SCEP needs `keyward keygen --alg rsa2048 --usage sign,decrypt`'

# obj TYPE LABEL: pkcs11-tool's block for the object with that label
obj() {
	pkcs11-tool --module "$MOD" --token-label kwdec --login --pin 123456 \
		--list-objects --type "$1" 2>/dev/null |
		awk -v want="$2" '/Object;/ { if (hit) printf "%s", buf; buf = ""; hit = 0 }
			{ buf = buf $0 "\n" }
			$1 == "label:" && $2 == want && NF == 2 { hit = 1 }
			END { if (hit) printf "%s", buf }'
}

echo "== keygen --usage sign,decrypt"
kw_run keygen 0 keygen --module "$MOD" --alg rsa2048 --usage sign,decrypt --key "$KEY$PS"
cp keygen.out sd.pub
openssl pkey -pubin -in sd.pub -noout -text 2>/dev/null | grep -q "2048 bit" ||
	kw_fail "keygen printed no RSA-2048 public key: $(cat keygen.out)"
obj privkey sd >sd.obj
grep -q "Usage: *decrypt, sign$" sd.obj || kw_fail "private key usage: $(cat sd.obj)"
grep -q "Access: *sensitive, always sensitive, never extractable" sd.obj ||
	kw_fail "not sensitive/never extractable: $(cat sd.obj)"
obj pubkey sd >sd.pobj
grep -q "Usage: *encrypt, verify$" sd.pobj || kw_fail "public key usage: $(cat sd.pobj)"
echo "ok pkcs11-tool: $(grep Usage: sd.obj | tr -s ' ')"

echo "== decrypt what openssl encrypted to the key"
kw_decrypt_inputs sd.pub
kw_decrypt_probe "$KEY$PS" "$MOD" "the token"
grep -q "could not decrypt the message (CKR_" probe.err ||
	kw_fail "the bad padding's message names no CKR_ value: $(cat probe.err)"
echo "ok two secrets decrypted by the token; bad padding and a short ciphertext refused cleanly"

echo "== the sign,decrypt key still signs: keyward csr"
kw_run csr 0 csr --module "$MOD" --key "$KEY$PS" --subject CN=scep-client --out sd.csr
kw_csr_matches sd.csr sd.pub
echo "ok csr verifies"

echo "== a key made for signing only refuses, saying how to make one that decrypts"
kw_run keygen-so 0 keygen --module "$MOD" --alg rsa2048 --key "pkcs11:token=kwdec;object=so$PS"
cp keygen-so.out so.pub
obj privkey so | grep -q "Usage: *sign$" || kw_fail "sign-only key: $(obj privkey so)"
kw_encrypt so.pub secret1 ct-so
"$PROBE" "pkcs11:token=kwdec;object=so$PS" "$MOD" ct-so pt-so >so.out 2>so.err ||
	kw_fail "probe: $(cat so.err)"
kw_probe_line so can | grep -q "^can: err -3 " || kw_fail "sign-only can: $(cat so.out)"
kw_probe_line so ct-so | grep -q "^ct-so: err -3 " || kw_fail "sign-only decrypt: $(cat so.out)"
grep -qF -- "$HINT" so.err || kw_fail "no keygen hint: $(cat so.err)"
grep -q "CKA_DECRYPT is false" so.err || kw_fail "no reason: $(cat so.err)"
[ ! -e pt-so ] || kw_fail "a sign-only key wrote plaintext"
kw_run u-ec 2 keygen --module "$MOD" --alg ec-p256 --usage sign,decrypt \
	--key "pkcs11:token=kwdec;object=u1$PS"
kw_expect u-ec "ec-p256 keys cannot decrypt"
[ -z "$(obj privkey u1)" ] || kw_fail "a refused keygen made a key"
echo "ok sign-only and EC refused with the hint"

echo "== a card that logged keyward out: one new login, on the decryption path too"
export KW_SHIM_MODULE=$MOD KW_SHIM_LOG=$KW_T/logins KW_SHIM_LOGOUT=$KW_T/logout
: >logins
touch logout	# consumed by the first C_DecryptInit, after the key's login
"$PROBE" "$KEY$PS" "$SHIM" ct1 pt5 >shim.out 2>shim.err || kw_fail "probe: $(cat shim.err)"
[ "$(kw_probe_line shim ct1)" = "ct1: ok 32" ] && cmp -s secret1 pt5 ||
	kw_fail "decryption after the card logged keyward out: $(cat shim.out shim.err)"
[ ! -e logout ] || kw_fail "the probe never reached C_DecryptInit"
grep -q "logged keyward out .* refused the decryption" shim.err ||
	kw_fail "no 'logged out' warning: $(cat shim.err)"
[ "$(wc -l <logins)" = 2 ] || kw_fail "logged out: $(wc -l <logins) C_Login calls, want 2"
echo "ok re-login on the decryption path"
echo "PASS"
