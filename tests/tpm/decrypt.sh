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

# probe_line TAG PREFIX: the probe's line for PREFIX (TAG.out of probe)
line() { grep -F -- "$2:" "$1.out" | head -1; }

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
enc() {	# enc PUB IN OUT: PKCS#1 v1.5 encryption, as a SCEP CA makes it
	openssl pkeyutl -encrypt -pubin -inkey "$1" -pkeyopt rsa_padding_mode:pkcs1 \
		-in "$2" -out "$3" || kw_fail "openssl pkeyutl -encrypt"
}
head -c 32 /dev/urandom >secret1
head -c 32 /dev/urandom >secret2
enc sd.pub secret1 ct1
enc sd.pub secret2 ct2
# bad padding, deterministically: a full-size block whose PKCS#1 block type
# is 1 (signatures), encrypted raw
{ printf '\000\001'; head -c 254 /dev/zero | tr '\0' '\377'; } >block
openssl pkeyutl -encrypt -pubin -inkey sd.pub -pkeyopt rsa_padding_mode:none \
	-in block -out badpad || kw_fail "openssl raw encryption"
head -c 255 ct1 >short
"$PROBE" "tpm:$KW_T/sd.pem" - ct1 pt1 badpad pt3 short pt4 ct2 pt2 \
	>probe.out 2>probe.err || kw_fail "probe: $(cat probe.out probe.err)"
[ "$(line probe can)" = "can: ok" ] || kw_fail "can: $(cat probe.out probe.err)"
[ "$(line probe ct1)" = "ct1: ok 32" ] || kw_fail "ct1: $(cat probe.out probe.err)"
cmp -s secret1 pt1 || kw_fail "the TPM decrypted ct1 to something else"
[ "$(line probe ct2)" = "ct2: ok 32" ] || kw_fail "ct2: $(cat probe.out probe.err)"
cmp -s secret2 pt2 || kw_fail "the TPM decrypted ct2 to something else"
[ "$(stat -c %a pt1)" = 600 ] || kw_fail "plaintext file mode"
line probe badpad | grep -q "^badpad: err -27 " ||
	kw_fail "bad padding: $(cat probe.out)"
grep -q "could not decrypt the message" probe.err ||
	kw_fail "no message for the bad padding: $(cat probe.err)"
line probe short | grep -q "^short: err -27 " || kw_fail "short: $(cat probe.out)"
grep -q "the ciphertext is 255 bytes, an rsa2048 key decrypts exactly 256" probe.err ||
	kw_fail "no message for the short ciphertext: $(cat probe.err)"
[ ! -e pt3 ] && [ ! -e pt4 ] || kw_fail "a failed decryption wrote plaintext"
[ "$(line probe sign)" = "sign: ok" ] || kw_fail "sign after decrypt: $(cat probe.out)"
[ "$(line probe counts)" = "counts: decrypts=2 failures=2 signs=1" ] ||
	kw_fail "counters: $(line probe counts)"
echo "ok two secrets decrypted by the TPM; bad padding and a short ciphertext refused cleanly"

echo "== a key with an auth value (salted HMAC session) decrypts; a wrong one is refused"
printf 'scep-key-auth\n' >auth && chmod 600 auth
printf 'not-the-auth\n' >badauth && chmod 600 badauth
kw_run keygen-a 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/a.pem" --alg rsa2048 \
	--usage sign,decrypt --auth-file "$KW_T/auth"
cp keygen-a.out a.pub
enc a.pub secret1 ct-a
KW_PROBE_AUTH_FILE=$KW_T/auth "$PROBE" "tpm:$KW_T/a.pem" - ct-a pt-a >a.out 2>a.err ||
	kw_fail "probe: $(cat a.out a.err)"
[ "$(line a ct-a)" = "ct-a: ok 32" ] && cmp -s secret1 pt-a ||
	kw_fail "auth-value key decryption: $(cat a.out a.err)"
KW_PROBE_AUTH_FILE=$KW_T/badauth "$PROBE" "tpm:$KW_T/a.pem" - ct-a pt-b >b.out 2>b.err ||
	kw_fail "probe: $(cat b.out b.err)"
line b ct-a | grep -q "^ct-a: err -12 " || kw_fail "wrong auth value: $(cat b.out b.err)"
[ ! -e pt-b ] || kw_fail "a wrong auth value got plaintext"
echo "ok auth-value key"

echo "== the sign,decrypt key still signs: keyward csr"
kw_run csr 0 csr --tcti "$KW_TCTI" --key "tpm:$KW_T/sd.pem" --subject CN=scep-client \
	--out sd.csr
openssl req -in sd.csr -verify -noout 2>&1 | grep -q 'verify OK' ||
	kw_fail "openssl rejects the CSR of the sign,decrypt key"
cmp -s <(openssl req -in sd.csr -pubkey -noout | openssl pkey -pubin -outform der) \
	<(openssl pkey -pubin -in sd.pub -outform der) || kw_fail "the CSR is for another key"
echo "ok csr verifies"

echo "== keys made for signing only refuse, saying how to make one that decrypts"
kw_run keygen-so 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/so.pem" --alg rsa2048
cp keygen-so.out so.pub
enc so.pub secret1 ct-so
"$PROBE" "tpm:$KW_T/so.pem" - ct-so pt-so >so.out 2>so.err || kw_fail "probe: $(cat so.err)"
line so can | grep -q "^can: err -3 " || kw_fail "sign-only can: $(cat so.out)"
line so ct-so | grep -q "^ct-so: err -3 " || kw_fail "sign-only decrypt: $(cat so.out)"
grep -qF -- "$HINT" so.err || kw_fail "no keygen hint: $(cat so.err)"
grep -q "no TPM decrypt attribute" so.err || kw_fail "no reason: $(cat so.err)"
[ ! -e pt-so ] || kw_fail "a sign-only key wrote plaintext"
[ "$(line so counts)" = "counts: decrypts=0 failures=0 signs=1" ] ||
	kw_fail "sign-only counters: $(line so counts)"
kw_run keygen-ec 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/ec.pem"
"$PROBE" "tpm:$KW_T/ec.pem" - >ec.out 2>ec.err || kw_fail "probe: $(cat ec.err)"
line ec can | grep -q "^can: err -3 " || kw_fail "EC can: $(cat ec.out)"
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
enc p.pub secret1 ct-p
"$PROBE" "tpm:$H" - ct-p pt-p >p.out 2>p.err || kw_fail "probe: $(cat p.err)"
[ "$(line p ct-p)" = "ct-p: ok 32" ] && cmp -s secret1 pt-p ||
	kw_fail "persistent key decryption: $(cat p.out p.err)"
"$SIGN" delete "$H" 2>del.err || kw_fail "cannot remove the persistent key: $(cat del.err)"
tpm2_getcap handles-persistent | grep -qi "$H" && kw_fail "$H is still there"
echo "ok persistent key"
flush_all
n=$(tpm2_getcap handles-transient | grep -c 0x)
[ "$n" = 0 ] || kw_fail "$n transient objects left in the TPM"
echo "PASS"
