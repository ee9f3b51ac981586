#!/bin/bash
# keyward attest against a swtpm manufactured with EK certificates from a
# local CA (issue 12), every result cross-checked with tpm2-tools and
# openssl: the AK (EC and RSA, file and persistent handle, 0600, never
# overwritten), the EK certificates (as tpm2_nvread reads them, chaining to
# the local CA) and the EK (its key is the certificate's), quotes
# (tpm2_checkquote), certify (tpm2_print, the key's name), credential
# activation (tpm2_makecredential; RSA and ECC EKs, persistent or created
# from the profile's templates; wrong AK refused), and no transient object
# left behind, also next to another process's object and a running tunnel;
# end to end: the verifier (keyward verify-attestation) accepts evidence
# made from these outputs, and the AK bound by a credential keyward activates.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm swtpm_setup tpm2_checkquote tpm2_makecredential tpm2_print \
	tpm2_nvread tpm2_getcap tpm2_pcrextend tpm2_pcrread tpm2_readpublic \
	tpm2_flushcontext tpm2_createprimary tpm2_evictcontrol openssl xxd
SER="$KW_BUILDDIR/tests/tpm/pcrs_serialize"
[ -x "$SER" ] || kw_fail "$SER not built"

kw_start_swtpm_ek tpm

# No transient object or session left in the TPM (swtpm: no resource
# manager, so whatever keyward forgot stays).  want: how many objects
# another process holds.
no_leftovers() {
	local want=${2:-0} n
	n=$(tpm2_getcap handles-transient | grep -c '0x80' || true)
	[ "$n" = "$want" ] || kw_fail "$1: $n transient objects left, want $want"
	n=$(tpm2_getcap handles-loaded-session | grep -c '0x' || true)
	[ "$n" = 0 ] || kw_fail "$1: $n sessions left in the TPM"
}
hex() { xxd -p -c 1000 "$1"; }
mode_of() { stat -c %a "$1"; }
# nameAlg sha256 || SHA-256(TPMT_PUBLIC)
name_of() { printf '000b%s' "$(openssl dgst -sha256 -binary "$1" | xxd -p -c 100)"; }

# ---- help and the TPM's identity line
kw_run help 0 attest --help
grep -q 'attest init --ak tpm:PATH' "$KW_T/help.out" || kw_fail "attest --help"
kw_run info 0 attest info
grep -q "^tpm: IBM (0x49424d00) 'SW   TPM' firmware [0-9]" "$KW_T/info.out" ||
	kw_fail "attest info: no vendor line: $(cat "$KW_T/info.out")"
grep -q '^ek certificate: 0x01c00002 L-1 RSA 2048' "$KW_T/info.out" &&
	grep -q '^ek certificate: 0x01c00016 H-3 ECC NIST P-384' "$KW_T/info.out" ||
	kw_fail "attest info: EK certificates: $(cat "$KW_T/info.out")"
no_leftovers info

# ---- attest init: EC AK (default), 0600, never overwritten
AK=$KW_T/ak.pem
kw_run init 0 attest init --ak "tpm:$AK"
[ "$(mode_of "$AK")" = 600 ] || kw_fail "AK file mode $(mode_of "$AK")"
grep -q '^-----BEGIN TSS2 PRIVATE KEY-----' "$AK" || kw_fail "AK not a TSS2 key file"
AKNAME=$(sed -n 's/^name: //p' "$KW_T/init.out")
[ ${#AKNAME} = 68 ] || kw_fail "attest init printed no name: $(cat "$KW_T/init.out")"
grep -qF "tpm:$AK" "$KW_T/init.out" || kw_fail "attest init does not say where the AK is"
no_leftovers init
sum=$(sha256sum <"$AK")
kw_run init-again 3 attest init --ak "tpm:$AK"
kw_expect init-again "already exists; refusing to overwrite"
[ "$(sha256sum <"$AK")" = "$sum" ] || kw_fail "attest init overwrote the AK"
[ "$(wc -l <"$KW_T/init-again.err")" = 1 ] ||
	kw_fail "refusal is not one line: $(cat "$KW_T/init-again.err")"
no_leftovers init-again

# ---- the EK certificates: as tpm2_nvread reads them, chained to the CA
kw_run ek 0 attest ek --out-dir "$KW_T/ek" --verbose
# swtpm_setup made the EKs persistent too: used, not created again
kw_expect ek "the EK of NV 0x01c00002 is persistent at 0x81010001"
for nv in 0x01c00002 0x01c00016; do
	f=$KW_T/ek/ek-$nv.der
	[ -s "$f" ] || kw_fail "no $f"
	tpm2_nvread -C o -o "$KW_T/nv-$nv.der" "$nv" >/dev/null 2>&1 ||
		tpm2_nvread -C "$nv" -o "$KW_T/nv-$nv.der" "$nv" >/dev/null ||
		kw_fail "tpm2_nvread $nv"
	cmp -s "$f" "$KW_T/nv-$nv.der" || kw_fail "EK certificate $nv differs from tpm2_nvread's"
	openssl x509 -inform DER -in "$f" -out "$KW_T/ek-$nv.pem" ||
		kw_fail "EK certificate $nv is not X.509"
	openssl verify -CAfile "$KW_EK_CA_ROOT" -untrusted "$KW_EK_CA_INTERMEDIATE" \
		"$KW_T/ek-$nv.pem" >"$KW_T/verify.out" 2>&1 ||
		kw_fail "EK certificate $nv does not chain to the local CA: $(cat "$KW_T/verify.out")"
done
# The EK keyward creates is the key of the certificate, and the EK swtpm
# persisted at 0x81010001 (its name).
openssl x509 -in "$KW_T/ek-0x01c00002.pem" -pubkey -noout >"$KW_T/ekcert.pub"
tpm2_print -t TPMT_PUBLIC -f pem "$KW_T/ek/ek.tpmt" >"$KW_T/ek.tpmt.pem" ||
	kw_fail "tpm2_print cannot read ek.tpmt"
cmp -s "$KW_T/ekcert.pub" "$KW_T/ek.tpmt.pem" || kw_fail "RSA EK != its certificate's key"
tpm2_readpublic -c 0x81010001 >"$KW_T/ek-persist.txt"
[ "$(sed -n 's/^name: //p' "$KW_T/ek-persist.txt")" = "$(hex "$KW_T/ek/ek.name")" ] ||
	kw_fail "EK name differs from swtpm's persisted EK"
[ "$(name_of "$KW_T/ek/ek.tpmt")" = "$(hex "$KW_T/ek/ek.name")" ] ||
	kw_fail "ek.name is not the digest of ek.tpmt"
kw_run ek-ecc 0 attest ek --ek-index 0x01c00016 --out-dir "$KW_T/ek384"
openssl x509 -in "$KW_T/ek-0x01c00016.pem" -pubkey -noout >"$KW_T/ekcert384.pub"
tpm2_print -t TPMT_PUBLIC -f pem "$KW_T/ek384/ek.tpmt" >"$KW_T/ek384.pem"
cmp -s "$KW_T/ekcert384.pub" "$KW_T/ek384.pem" || kw_fail "P-384 EK != its certificate's key"
no_leftovers ek

# ---- quote: tpm2_checkquote accepts it, with the PCRs and the nonce
tpm2_pcrextend "7:sha256=$(printf 'secure boot' | openssl dgst -sha256 -r | cut -c1-64)" ||
	kw_fail "tpm2_pcrextend"
NONCE=$(openssl rand -hex 32)
kw_run quote 0 attest quote --ak "tpm:$AK" --nonce "$NONCE" --out-dir "$KW_T/q"
no_leftovers quote
[ "$(hex "$KW_T/q/ak.name")" = "$AKNAME" ] || kw_fail "ak.name != the name init printed"
[ "$(name_of "$KW_T/q/ak.tpmt")" = "$AKNAME" ] || kw_fail "AK name is not the digest of ak.tpmt"
tpm2_print -t TPMT_PUBLIC "$KW_T/q/ak.tpmt" >"$KW_T/ak.txt"
grep -q 'value: fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign$' \
	"$KW_T/ak.txt" || kw_fail "AK attributes: $(cat "$KW_T/ak.txt")"
grep -q 'value: ecc' "$KW_T/ak.txt" || kw_fail "default AK is not ECC"
tpm2_pcrread sha256:0,1,2,3,4,5,6,7 -o "$KW_T/pcrread.bin" >/dev/null
cmp -s "$KW_T/pcrread.bin" "$KW_T/q/quote.pcrs" || kw_fail "quote.pcrs != tpm2_pcrread"
"$SER" ff "$KW_T/q/quote.pcrs" "$KW_T/q.pcrs" || kw_fail "pcrs_serialize"
checkquote() {
	tpm2_checkquote -u "$1" -m "$2" -s "$3" -f "$4" -q "$5" -g sha256 \
		>"$KW_T/cq.out" 2>&1
}
checkquote "$KW_T/q/ak.pem" "$KW_T/q/quote.msg" "$KW_T/q/quote.sig" "$KW_T/q.pcrs" "$NONCE" ||
	kw_fail "tpm2_checkquote refused keyward's quote: $(cat "$KW_T/cq.out")"
checkquote "$KW_T/q/ak.pem" "$KW_T/q/quote.msg" "$KW_T/q/quote.sig" "$KW_T/q.pcrs" \
	"$(openssl rand -hex 32)" && kw_fail "tpm2_checkquote accepted a wrong nonce"
# one byte of the signer's name flipped (a fixed value written there
# would leave the message as it was whenever the byte already held it:
# the AK's name is random, so 1 run in 256)
python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[40] ^= 0xff
open(sys.argv[2], "wb").write(b)' "$KW_T/q/quote.msg" "$KW_T/tampered.msg"
cmp -s "$KW_T/q/quote.msg" "$KW_T/tampered.msg" && kw_fail "the tampered quote is the quote"
checkquote "$KW_T/q/ak.pem" "$KW_T/tampered.msg" "$KW_T/q/quote.sig" "$KW_T/q.pcrs" "$NONCE" &&
	kw_fail "tpm2_checkquote accepted a tampered quote"
# The PCR values must be the quoted ones: PCR 7 changed since.
tpm2_pcrextend "7:sha256=$(printf 'later' | openssl dgst -sha256 -r | cut -c1-64)"
tpm2_pcrread sha256:0,1,2,3,4,5,6,7 -o "$KW_T/pcrread2.bin" >/dev/null
"$SER" ff "$KW_T/pcrread2.bin" "$KW_T/q2.pcrs"
checkquote "$KW_T/q/ak.pem" "$KW_T/q/quote.msg" "$KW_T/q/quote.sig" "$KW_T/q2.pcrs" "$NONCE" &&
	kw_fail "tpm2_checkquote accepted PCR values the quote does not cover"
# More than 8 PCRs (two PCR_Read rounds) and a list
kw_run quote16 0 attest quote --ak "tpm:$AK" --pcrs 0-15,23 --out-dir "$KW_T/q16"
[ "$(stat -c %s "$KW_T/q16/quote.pcrs")" = $((17 * 32)) ] || kw_fail "17 PCRs not 544 bytes"
"$SER" 80ffff "$KW_T/q16/quote.pcrs" "$KW_T/q16.pcrs"
checkquote "$KW_T/q16/ak.pem" "$KW_T/q16/quote.msg" "$KW_T/q16/quote.sig" "$KW_T/q16.pcrs" "" ||
	kw_fail "tpm2_checkquote refused the 17-PCR quote: $(cat "$KW_T/cq.out")"
kw_run quote-noak 3 attest quote --ak "tpm:$KW_T/none.pem" --out-dir "$KW_T/qn"
kw_expect quote-noak "create it with \`keyward attest init --ak tpm:$KW_T/none.pem\`"
kw_run quote-badpcr 2 attest quote --ak "tpm:$AK" --pcrs 24 --out-dir "$KW_T/qx"
no_leftovers quote16

# ---- an RSA AK quotes too
kw_run init-rsa 0 attest init --ak "tpm:$KW_T/ak-rsa.pem" --alg rsa2048
[ "$(mode_of "$KW_T/ak-rsa.pem")" = 600 ] || kw_fail "RSA AK mode"
kw_run quote-rsa 0 attest quote --ak "tpm:$KW_T/ak-rsa.pem" --nonce 00ff --out-dir "$KW_T/qr"
tpm2_print -t TPMT_PUBLIC "$KW_T/qr/ak.tpmt" | grep -q 'value: rsassa' ||
	kw_fail "RSA AK scheme is not RSASSA"
"$SER" ff "$KW_T/qr/quote.pcrs" "$KW_T/qr.pcrs"
checkquote "$KW_T/qr/ak.pem" "$KW_T/qr/quote.msg" "$KW_T/qr/quote.sig" "$KW_T/qr.pcrs" 00ff ||
	kw_fail "tpm2_checkquote refused the RSA AK's quote: $(cat "$KW_T/cq.out")"
# RSA-PSS AK (tpm2_checkquote 5.4 checks RSA quotes as PKCS#1 v1.5 only:
# openssl checks this one, the salt as long as the digest)
kw_run init-pss 0 attest init --ak "tpm:$KW_T/ak-pss.pem" --alg rsa2048-pss
kw_run quote-pss 0 attest quote --ak "tpm:$KW_T/ak-pss.pem" --nonce 01 --out-dir "$KW_T/qs"
tpm2_print -t TPMT_PUBLIC "$KW_T/qs/ak.tpmt" | grep -q 'value: rsapss' ||
	kw_fail "PSS AK scheme is not RSA-PSS"
tail -c 256 "$KW_T/qs/quote.sig" >"$KW_T/qs.raw"
openssl dgst -sha256 -binary "$KW_T/qs/quote.msg" >"$KW_T/qs.dgst"
openssl pkeyutl -verify -pubin -inkey "$KW_T/qs/ak.pem" -in "$KW_T/qs.dgst" \
	-sigfile "$KW_T/qs.raw" -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
	-pkeyopt rsa_pss_saltlen:digest >/dev/null ||
	kw_fail "the PSS AK's quote does not verify"
kw_run init-p384 2 attest init --ak "tpm:$KW_T/ak-384.pem" --alg ec-p384
# --force replaces a file AK (a new key: another name)
kw_run init-force 0 attest init --ak "tpm:$KW_T/ak-rsa.pem" --force
[ "$(sed -n 's/^name: //p' "$KW_T/init-force.out")" != "$(hex "$KW_T/qr/ak.name")" ] ||
	kw_fail "--force did not make a new AK"
no_leftovers init-rsa

# ---- a persistent AK, never replaced
kw_run init-pers 0 attest init --ak tpm:0x81000010
kw_run init-pers-again 3 attest init --ak tpm:0x81000010 --force
kw_run quote-pers 0 attest quote --ak tpm:0x81000010 --out-dir "$KW_T/qp"
tpm2_readpublic -c 0x81000010 | grep -q '^name: '"$(hex "$KW_T/qp/ak.name")" ||
	kw_fail "persistent AK name"
tpm2_evictcontrol -C o -c 0x81000010 >/dev/null || kw_fail "evicting the persistent AK"
kw_run init-badhandle 2 attest init --ak tpm:0x8100zzzz
kw_expect init-badhandle "is not a persistent handle keyward can use"
no_leftovers init-pers

# ---- certify a device key
kw_run keygen 0 keygen --key "tpm:$KW_T/dev.pem"
CN=$(openssl rand -hex 16)
kw_run certify 0 attest certify --ak "tpm:$AK" --key "tpm:$KW_T/dev.pem" --nonce "$CN" \
	--out-dir "$KW_T/c"
no_leftovers certify
# tpm2-tools 5.4 prints the header of a certify attestation, then gives up
# on the attested part (type 0x8017)
tpm2_print -t TPMS_ATTEST "$KW_T/c/certify.msg" >"$KW_T/print.out" 2>/dev/null || true
grep -q '^magic: ff544347' "$KW_T/print.out" && grep -q '^type: 8017' "$KW_T/print.out" &&
	grep -q "^extraData: $CN" "$KW_T/print.out" ||
	kw_fail "tpm2_print: not a certify attestation with the nonce: $(cat "$KW_T/print.out")"
KEYNAME=$(name_of "$KW_T/c/key.tpmt")
[ "$(hex "$KW_T/c/key.name")" = "$KEYNAME" ] || kw_fail "key.name is not the digest of key.tpmt"
# TPMS_CERTIFY_INFO: name (TPM2B, 34 bytes) then qualifiedName
hex "$KW_T/c/certify.msg" | grep -q "0022${KEYNAME}0022" ||
	kw_fail "the certify attestation does not name the device key"
tpm2_print -t TPMT_PUBLIC -f pem "$KW_T/c/key.tpmt" >"$KW_T/key.tpmt.pem"
cmp -s "$KW_T/key.tpmt.pem" "$KW_T/keygen.out" || kw_fail "certified key != keygen's public key"
tpm2_checkquote -u "$KW_T/c/ak.pem" -m "$KW_T/c/certify.msg" -s "$KW_T/c/certify.sig" \
	-q "$CN" -g sha256 >"$KW_T/cq.out" 2>&1 ||
	kw_fail "the AK's signature over the certify attestation does not verify: $(cat "$KW_T/cq.out")"
kw_run certify-ak 1 attest certify --ak "tpm:$KW_T/dev.pem" --key "tpm:$AK" --out-dir "$KW_T/cx"
kw_expect certify-ak "is not an attestation key"
no_leftovers certify-ak

# ---- credential activation: tpm2_makecredential in software, keyward gets
# the secret back; RSA (low range, PolicySecret) and ECC P-384 (high range)
openssl rand 32 >"$KW_T/secret"
tpm2_makecredential -T none -u "$KW_T/ek/ek.pub" -s "$KW_T/secret" -n "$AKNAME" \
	-o "$KW_T/cred" >/dev/null 2>&1 || kw_fail "tpm2_makecredential"
kw_run activate 0 attest activate --ak "tpm:$AK" --credential "$KW_T/cred" --out "$KW_T/got"
cmp -s "$KW_T/secret" "$KW_T/got" || kw_fail "activated credential != the secret"
[ "$(mode_of "$KW_T/got")" = 600 ] || kw_fail "credential written $(mode_of "$KW_T/got")"
no_leftovers activate
tpm2_makecredential -T none -u "$KW_T/ek384/ek.pub" -s "$KW_T/secret" -n "$AKNAME" \
	-o "$KW_T/cred384" >/dev/null 2>&1 || kw_fail "tpm2_makecredential (ECC EK)"
kw_run activate384 0 attest activate --ak "tpm:$AK" --ek-index 0x01c00016 \
	--credential "$KW_T/cred384" --out "$KW_T/got384"
cmp -s "$KW_T/secret" "$KW_T/got384" || kw_fail "ECC EK: activated credential != the secret"
no_leftovers activate384
# made for another name (the RSA AK's): refused in one line, nothing written
tpm2_makecredential -T none -u "$KW_T/ek/ek.pub" -s "$KW_T/secret" \
	-n "$(sed -n 's/^name: //p' "$KW_T/init-force.out")" -o "$KW_T/cred-other" \
	>/dev/null 2>&1 || kw_fail "tpm2_makecredential (other name)"
kw_run activate-wrong 1 attest activate --ak "tpm:$AK" --credential "$KW_T/cred-other" \
	--out "$KW_T/got-wrong"
kw_expect activate-wrong "it was not made for this attestation key"
[ "$(wc -l <"$KW_T/activate-wrong.err")" = 1 ] ||
	kw_fail "wrong-AK refusal is not one line: $(cat "$KW_T/activate-wrong.err")"
[ ! -e "$KW_T/got-wrong" ] || kw_fail "a refused activation wrote a file"
no_leftovers activate-wrong

# ---- end to end with the verifier (attest/): evidence built from what
# keyward's TPM side wrote, the AK bound to the EK by a credential keyward
# activates, verified by keyward verify-attestation
TOOL="$KW_BUILDDIR/tests/attest/attest_tool"
[ -x "$TOOL" ] || kw_fail "$TOOL not built"
E=$KW_T/e2e
N2=$(openssl rand -hex 16)
kw_run e2e-certify 0 attest certify --ak "tpm:$AK" --key "tpm:$KW_T/dev.pem" \
	--nonce "$N2" --out-dir "$E"
kw_run e2e-quote 0 attest quote --ak "tpm:$AK" --nonce "$N2" --out-dir "$E"
"$TOOL" evidence "$E/ev.cbor" --ek "$KW_T/ek/ek-0x01c00002.der" --ak-pub "$E/ak.tpmt" \
	--certify "$E/certify.msg" "$E/certify.sig" "$E/key.tpmt" \
	--quote "$E/quote.msg" "$E/quote.sig" "$E/quote.pcrs" >/dev/null ||
	kw_fail "attest_tool evidence"
"$TOOL" challenge "$KW_T/ek/ek-0x01c00002.der" "$E/ak.name" "$E/cred" "$E/secret" \
	>/dev/null || kw_fail "attest_tool challenge"
kw_run e2e-activate 0 attest activate --ak "tpm:$AK" --credential "$E/cred" \
	--out "$E/answer"
"$TOOL" answer "$E/store" "$KW_T/ek/ek-0x01c00002.der" "$E/ak.name" "$E/secret" \
	"$E/answer" >/dev/null || kw_fail "the verifier refused keyward's activation answer"
kw_run e2e-verify 0 verify-attestation --ek-ca "$KW_EK_CA" --binding-store "$E/store" \
	--nonce "$N2" --key-spki "$KW_T/keygen.out" --pcrs 0-7 --require-certify \
	--require-quote "$E/ev.cbor"
kw_run e2e-nonce 1 verify-attestation --ek-ca "$KW_EK_CA" --binding-store "$E/store" \
	--nonce "$NONCE" "$E/ev.cbor"
no_leftovers e2e

# ---- without the persistent EKs keyward creates them from the profile's
# templates (L-1 RSA 2048, H-3 ECC P-384): the same keys (names), and
# activation works with them
tpm2_evictcontrol -C o -c 0x81010001 >/dev/null && tpm2_evictcontrol -C o -c 0x81010016 \
	>/dev/null || kw_fail "evicting swtpm's persistent EKs"
kw_run ek-created 0 attest ek --out-dir "$KW_T/ek2" --verbose
kw_expect ek-created "EK L-1 RSA 2048 created; it matches its certificate"
cmp -s "$KW_T/ek/ek.name" "$KW_T/ek2/ek.name" || kw_fail "created RSA EK != the persisted one"
kw_run ek384-created 0 attest ek --ek-index 0x01c00016 --out-dir "$KW_T/ek384b" --verbose
kw_expect ek384-created "EK H-3 ECC NIST P-384 created; it matches its certificate"
cmp -s "$KW_T/ek384/ek.name" "$KW_T/ek384b/ek.name" || kw_fail "created P-384 EK != the persisted one"
kw_run activate-created 0 attest activate --ak "tpm:$AK" --credential "$KW_T/cred" \
	--out "$KW_T/got-c"
cmp -s "$KW_T/secret" "$KW_T/got-c" || kw_fail "activation with a created RSA EK"
kw_run activate384-created 0 attest activate --ak "tpm:$AK" --ek-index 0x01c00016 \
	--credential "$KW_T/cred384" --out "$KW_T/got384-c"
cmp -s "$KW_T/secret" "$KW_T/got384-c" || kw_fail "activation with a created P-384 EK"
no_leftovers ek-created

# ---- next to another process's object (no resource manager): init, quote,
# certify and activate need at most two slots of swtpm's three, and leave the
# other's object alone
tpm2_createprimary -C o -c "$KW_T/other.ctx" >/dev/null || kw_fail "tpm2_createprimary"
no_leftovers other 1
kw_run init2 0 attest init --ak "tpm:$KW_T/ak2.pem"
kw_run quote2 0 attest quote --ak "tpm:$KW_T/ak2.pem" --out-dir "$KW_T/q2"
tpm2_makecredential -T none -u "$KW_T/ek/ek.pub" -s "$KW_T/secret" \
	-n "$(hex "$KW_T/q2/ak.name")" -o "$KW_T/cred2" >/dev/null 2>&1
kw_run activate2 0 attest activate --ak "tpm:$KW_T/ak2.pem" --credential "$KW_T/cred2" \
	--out "$KW_T/got2"
cmp -s "$KW_T/secret" "$KW_T/got2" || kw_fail "activation next to another object"
kw_run certify2 0 attest certify --ak "tpm:$KW_T/ak2.pem" --key "tpm:$KW_T/dev.pem" \
	--out-dir "$KW_T/c2"
no_leftovers other2 1
tpm2_flushcontext -t >/dev/null 2>&1

# ---- next to a running keyward client tunnel with a TPM key (which holds
# no slot between signatures): the attestation commands certify that very
# key, and the tunnel lives on
kw_make_ca
kw_tpm_identity laptop "CN=laptop" "DNS:laptop"
CPORT=$(kw_free_port)
kw_start_keyward tun tunnel client --listen "127.0.0.1:$CPORT" \
	--target 127.0.0.1:1 --servername localhost --key "tpm:$KW_T/laptop.tpmkey" \
	--cert "$KW_T/laptop.pem" --ca "$KW_T/ca/ca.pem" --tcti "$KW_TCTI"
TUNPID=$KPID
kw_wait_listen "$CPORT"
no_leftovers tunnel
kw_run tun-init 0 attest init --ak "tpm:$KW_T/ak3.pem"
kw_run tun-quote 0 attest quote --ak "tpm:$KW_T/ak3.pem" --out-dir "$KW_T/q3"
kw_run tun-certify 0 attest certify --ak "tpm:$KW_T/ak3.pem" \
	--key "tpm:$KW_T/laptop.tpmkey" --out-dir "$KW_T/c3"
openssl pkey -pubin -in "$KW_T/laptop.pub" -outform DER | cmp -s - \
	<(tpm2_print -t TPMT_PUBLIC -f pem "$KW_T/c3/key.tpmt" | openssl pkey -pubin -outform DER) ||
	kw_fail "certified key != the tunnel's key"
tpm2_makecredential -T none -u "$KW_T/ek/ek.pub" -s "$KW_T/secret" \
	-n "$(hex "$KW_T/q3/ak.name")" -o "$KW_T/cred3" >/dev/null 2>&1
kw_run tun-activate 0 attest activate --ak "tpm:$KW_T/ak3.pem" --credential "$KW_T/cred3" \
	--out "$KW_T/got3"
cmp -s "$KW_T/secret" "$KW_T/got3" || kw_fail "activation next to the tunnel"
no_leftovers tunnel2
kill -0 "$TUNPID" || kw_fail "the tunnel died: $(cat "$KW_T/tun.log")"
kw_stop "$TUNPID"

# ---- unreachable TPM: one line naming it
kw_run down 3 attest info --tcti swtpm:host=127.0.0.1,port=1
kw_expect down "cannot reach the TPM"
exit 0
