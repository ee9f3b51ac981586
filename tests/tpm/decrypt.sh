#!/bin/bash
# Decryption by a TPM key for SCEP (issue 11), against swtpm:
#   keygen --alg rsa2048 --usage sign,decrypt makes a key that tpm2-tools
#   shows with decrypt and sign (unrestricted) and tpm2-openssl still reads;
#   a 32-byte secret encrypted to its public key by openssl (PKCS#1 v1.5)
#   comes back through kw_key_decrypt, twice, around a ciphertext with bad
#   padding and a truncated one (clean errors, counted); the key still signs
#   (keyward csr, openssl req -verify); a sign-only key and an EC key refuse
#   with the keygen hint; bad --usage values are usage errors; a persistent
#   sign,decrypt key decrypts and can be removed.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_load tpm2_readpublic tpm2_flushcontext tpm2_getcap openssl
PROBE=$KW_BUILDDIR/tests/tpm/decrypt_probe
SIGN=$KW_BUILDDIR/tests/tpm/tpm_sign
[ -x "$PROBE" ] && [ -x "$SIGN" ] || kw_fail "build the test helpers first (make check)"
kw_start_swtpm tpm
cd "$KW_T" || exit 1
# shellcheck disable=SC2016  # the backquotes are the message's own
HINT='this key was made for signing only; SCEP needs `keyward keygen --alg rsa2048 --usage sign,decrypt`'

flush_all() {
	tpm2_flushcontext -t >/dev/null 2>&1
	tpm2_flushcontext -l >/dev/null 2>&1
	tpm2_flushcontext -s >/dev/null 2>&1
}

echo "== keygen --usage sign,decrypt"
kw_run keygen 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/sd.pem" --alg rsa2048 \
	--usage sign,decrypt
cp keygen.out sd.pub
openssl pkey -pubin -in sd.pub -noout -text 2>/dev/null | grep -q "2048 bit" ||
	kw_fail "keygen printed no RSA-2048 public key: $(cat keygen.out)"
head -1 sd.pem | grep -qx -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
	kw_fail "sd.pem is not a TSS2 PRIVATE KEY file"
tpm2_load -r sd.pem -c sd.ctx >/dev/null 2>load.err ||
	kw_fail "tpm2_load cannot load sd.pem: $(tail -1 load.err)"
flush_all
tpm2_readpublic -c sd.ctx >sd.rp 2>/dev/null || kw_fail "tpm2_readpublic"
flush_all
a=$(sed -n '/^attributes:/{n;s/^ *value: *//p;q}' sd.rp)
[ "$a" = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|decrypt|sign" ] ||
	kw_fail "sign,decrypt key attributes are '$a'"
echo "ok tpm2_readpublic: $a"
export TPM2OPENSSL_TCTI=$KW_TCTI
if openssl list -providers -provider tpm2 -provider default >/dev/null 2>&1; then
	openssl pkey -provider tpm2 -provider default -in sd.pem -pubout -out o.pub \
		2>o.err || kw_fail "tpm2-openssl cannot read sd.pem: $(cat o.err)"
	flush_all
	cmp -s <(openssl pkey -pubin -in sd.pub -outform der) \
		<(openssl pkey -pubin -in o.pub -outform der) ||
		kw_fail "tpm2-openssl sees another public key in sd.pem"
	echo "ok tpm2-openssl reads the sign,decrypt key file"
fi

echo "== decrypt what openssl encrypted to the key"
kw_decrypt_inputs sd.pub
kw_decrypt_probe "tpm:$KW_T/sd.pem" - "the TPM"
echo "ok two secrets decrypted by the TPM; bad padding and a short ciphertext refused cleanly"

echo "== a key with an auth value (salted HMAC session) decrypts; a wrong one is refused"
printf 'scep-key-auth\n' >auth && chmod 600 auth
printf 'not-the-auth\n' >badauth && chmod 600 badauth
kw_run keygen-a 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/a.pem" --alg rsa2048 \
	--usage sign,decrypt --auth-file "$KW_T/auth"
cp keygen-a.out a.pub
kw_encrypt a.pub secret1 ct-a
KW_PROBE_AUTH_FILE=$KW_T/auth "$PROBE" "tpm:$KW_T/a.pem" - ct-a pt-a >a.out 2>a.err ||
	kw_fail "probe: $(cat a.out a.err)"
[ "$(kw_probe_line a ct-a)" = "ct-a: ok 32" ] && cmp -s secret1 pt-a ||
	kw_fail "auth-value key decryption: $(cat a.out a.err)"
KW_PROBE_AUTH_FILE=$KW_T/badauth "$PROBE" "tpm:$KW_T/a.pem" - ct-a pt-b >b.out 2>b.err ||
	kw_fail "probe: $(cat b.out b.err)"
kw_probe_line b ct-a | grep -q "^ct-a: err -12 " || kw_fail "wrong auth value: $(cat b.out b.err)"
[ ! -e pt-b ] || kw_fail "a wrong auth value got plaintext"
echo "ok auth-value key"

echo "== the sign,decrypt key still signs: keyward csr"
kw_run csr 0 csr --tcti "$KW_TCTI" --key "tpm:$KW_T/sd.pem" --subject CN=scep-client \
	--out sd.csr
kw_csr_matches sd.csr sd.pub
echo "ok csr verifies"

echo "== keys made for signing only refuse, saying how to make one that decrypts"
kw_run keygen-so 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/so.pem" --alg rsa2048
cp keygen-so.out so.pub
kw_encrypt so.pub secret1 ct-so
"$PROBE" "tpm:$KW_T/so.pem" - ct-so pt-so >so.out 2>so.err || kw_fail "probe: $(cat so.err)"
kw_probe_line so can | grep -q "^can: err -3 " || kw_fail "sign-only can: $(cat so.out)"
kw_probe_line so ct-so | grep -q "^ct-so: err -3 " || kw_fail "sign-only decrypt: $(cat so.out)"
grep -qF -- "$HINT" so.err || kw_fail "no keygen hint: $(cat so.err)"
grep -q "no TPM decrypt attribute" so.err || kw_fail "no reason: $(cat so.err)"
[ ! -e pt-so ] || kw_fail "a sign-only key wrote plaintext"
[ "$(kw_probe_line so counts)" = "counts: decrypts=0 failures=0 signs=1" ] ||
	kw_fail "sign-only counters: $(kw_probe_line so counts)"
kw_run keygen-ec 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/ec.pem"
"$PROBE" "tpm:$KW_T/ec.pem" - >ec.out 2>ec.err || kw_fail "probe: $(cat ec.err)"
kw_probe_line ec can | grep -q "^can: err -3 " || kw_fail "EC can: $(cat ec.out)"
grep -qF -- "$HINT" ec.err || kw_fail "EC: no keygen hint: $(cat ec.err)"
echo "ok sign-only and EC keys refuse with the hint"

echo "== --usage refusals"
kw_run u-ec 2 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/u1.pem" --alg ec-p256 \
	--usage sign,decrypt
kw_expect u-ec "ec-p256 keys cannot decrypt"
kw_run u-dec 2 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/u2.pem" --alg rsa2048 \
	--usage decrypt
kw_expect u-dec "keyward keys always sign"
kw_run u-bad 2 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/u3.pem" --alg rsa2048 \
	--usage sign,encrypt
kw_run u-comma 2 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/u4.pem" --alg rsa2048 \
	--usage sign,
[ ! -e u1.pem ] && [ ! -e u2.pem ] && [ ! -e u3.pem ] && [ ! -e u4.pem ] ||
	kw_fail "a refused keygen left a key file"
kw_run help 0 keygen --help
grep -q -- "--usage USAGE" help.out || kw_fail "keygen --help has no --usage"
echo "ok decrypt without sign, EC with decrypt and unknown usages are refused"

echo "== a persistent sign,decrypt key decrypts and can be removed"
H=0x81000042
kw_run keygen-p 0 keygen --tcti "$KW_TCTI" --key "tpm:$H" --alg rsa2048 --usage sign,decrypt
cp keygen-p.out p.pub
kw_encrypt p.pub secret1 ct-p
"$PROBE" "tpm:$H" - ct-p pt-p >p.out 2>p.err || kw_fail "probe: $(cat p.err)"
[ "$(kw_probe_line p ct-p)" = "ct-p: ok 32" ] && cmp -s secret1 pt-p ||
	kw_fail "persistent key decryption: $(cat p.out p.err)"
"$SIGN" delete "$H" 2>del.err || kw_fail "cannot remove the persistent key: $(cat del.err)"
tpm2_getcap handles-persistent | grep -qi "$H" && kw_fail "$H is still there"
echo "ok persistent key"
flush_all
n=$(tpm2_getcap handles-transient | grep -c 0x)
[ "$n" = 0 ] || kw_fail "$n transient objects left in the TPM"
echo "PASS"
