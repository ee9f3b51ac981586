#!/bin/bash
# The verifier of TPM evidence (issue 12, attest/) against real TPM output:
# swtpm provisioned with EK certificates from a local CA, evidence made by
# tpm2-tools (tpm2_createek, tpm2_createak, tpm2_certify, tpm2_quote) and
# wrapped in keyward's CBOR message by tests/attest/attest_tool.
#   - the AK is bound to the EK by credential activation: keyward's
#     MakeCredential (RSA 2048 and ECC P-256 EKs; P-384 and RSA 3072 with
#     SHA-384 and AES-256) recovered by the real
#     tpm2_activatecredential, the binding recorded in a 0600 store;
#   - keyward verify-attestation accepts real certify + quote evidence and
#     names the TPM (vendor, model, firmware from the EK certificate); AKs
#     of each scheme (ECDSA P-256, RSASSA, RSAPSS, ECDSA P-384/SHA-384);
#   - the EK chain may come with the intermediate the device sent (only the
#     root trusted), never with a leaf posing as one;
#   - it refuses, each with its own reason: a tampered quote and a tampered
#     certify, a wrong nonce, a quote bound to another TLS session, PCRs the
#     policy does not allow, an AK never bound (empty store), an AK from
#     another TPM (its activation fails in the real TPMs), an EK from an
#     untrusted CA, the certify of a key other than the certificate's, a
#     SoftHSM key presented as TPM-held (its key, and a forged pubArea
#     carrying it), a duplicable key, stale evidence, garbage.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm tpm2_createek tpm2_createak tpm2_certify tpm2_quote \
	tpm2_activatecredential tpm2_startauthsession tpm2_policysecret \
	tpm2_nvread tpm2_readpublic tpm2_pcrextend tpm2_createprimary tpm2_create \
	tpm2_load tpm2_flushcontext openssl python3 xxd
TOOL=$KW_BUILDDIR/tests/attest/attest_tool
[ -x "$TOOL" ] || kw_fail "build the test helpers first (make check)"
cd "$KW_T" || exit 1

flush() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
hex() { xxd -p -c 1000 "$1"; }
# flip BYTE-OFFSET FILE: a copy with one bit changed (FILE.bad)
flip() {
	python3 -c 'import sys; b = bytearray(open(sys.argv[2], "rb").read())
b[int(sys.argv[1])] ^= 1; open(sys.argv[2] + ".bad", "wb").write(b)' "$1" "$2"
}
# verify TAG WANT-EXIT [ARGS...] EVIDENCE
verify() {
	local tag=$1 want=$2
	shift 2
	kw_run "$tag" "$want" verify-attestation --ek-ca "$KW_T/ek-ca.pem" "$@"
}
# refused TAG REASON ARGS...: refused naming REASON
refused() {
	local tag=$1 reason=$2
	shift 2
	verify "$tag" 1 "$@"
	kw_expect "$tag" "($reason)"
}
# activate TCTI EKCTX AKCTX CRED OUT: tpm2_activatecredential under the EK's
# policy (PolicySecret of the endorsement hierarchy)
activate() {
	TPM2TOOLS_TCTI=$1 tpm2_startauthsession --policy-session -S s.ctx &&
	TPM2TOOLS_TCTI=$1 tpm2_policysecret -S s.ctx -c e >/dev/null &&
	TPM2TOOLS_TCTI=$1 tpm2_activatecredential -c "$3" -C "$2" -i "$4" \
		-o "$5" -P session:s.ctx >/dev/null 2>"$5.err"
	local rc=$?
	TPM2TOOLS_TCTI=$1 tpm2_flushcontext s.ctx >/dev/null 2>&1
	TPM2TOOLS_TCTI=$1 flush
	return $rc
}

echo "== a second TPM from another maker's CA (for the AK and EK refusals)"
kw_start_swtpm_ek other
TCTI2=$KW_TCTI
EKCA2=$KW_EK_CA
tpm2_createek -c ek2.ctx -G rsa -u ek2.pub >/dev/null &&
tpm2_createak -C ek2.ctx -c ak2.ctx -G ecc -g sha256 -s ecdsa -u ak2.pub \
	-n ak2.name -r ak2.priv >/dev/null || kw_fail "tpm2_createak on the second TPM"
flush

echo "== the device's TPM: EK certificates, EK, AK, a device key"
kw_start_swtpm_ek tpm
cp "$KW_EK_CA" ek-ca.pem
cat "$KW_EK_CA" "$EKCA2" >both-ca.pem
tpm2_nvread 0x01c00002 -o ek.der 2>/dev/null || kw_fail "no RSA EK certificate in NV"
tpm2_nvread 0x01c00016 -o ekecc.der 2>/dev/null || kw_fail "no ECC EK certificate in NV"
tpm2_createek -c ek.ctx -G rsa -u ek.pub >/dev/null &&
tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub \
	-n ak.name -r ak.priv >/dev/null || kw_fail "tpm2_createak"
flush
tail -c +3 ak.pub >ak.tpmt		# TPM2B_PUBLIC -> TPMT_PUBLIC
[ "$("$TOOL" name ak.tpmt)" = "$(hex ak.name)" ] ||
	kw_fail "AK name: keyward $("$TOOL" name ak.tpmt), TPM $(hex ak.name)"
tpm2_createprimary -C o -G ecc -c prim.ctx >/dev/null && flush &&
tpm2_create -C prim.ctx -G ecc -u key.pub -r key.priv >/dev/null && flush &&
tpm2_create -C prim.ctx -G ecc -u dup.pub -r dup.priv \
	-a 'sign|userwithauth|sensitivedataorigin' >/dev/null ||
	kw_fail "tpm2_create"
flush
tpm2_load -C prim.ctx -u key.pub -r key.priv -c key.ctx >/dev/null &&
	flush && tpm2_readpublic -c key.ctx -f pem -o key.pem >/dev/null &&
	flush || kw_fail "tpm2_load"
tpm2_load -C prim.ctx -u dup.pub -r dup.priv -c dup.ctx >/dev/null && flush ||
	kw_fail "tpm2_load (duplicable key)"
tail -c +3 key.pub >key.tpmt
tail -c +3 dup.pub >dup.tpmt
# PCRs 0-7 as firmware would leave them (not all zero)
tpm2_pcrextend "0:sha256=$(printf 'keyward test firmware' | sha256sum | cut -c1-64)" &&
tpm2_pcrextend "7:sha256=$(printf 'keyward test secure boot' | sha256sum | cut -c1-64)" ||
	kw_fail "tpm2_pcrextend"

echo "== evidence: certify and quote (tpm2_certify's qualifying data is 00ff55aa)"
NONCE=00ff55aa
tpm2_certify -c key.ctx -C ak.ctx -g sha256 -o c.attest -s c.sig >/dev/null &&
	flush || kw_fail "tpm2_certify"
tpm2_certify -c dup.ctx -C ak.ctx -g sha256 -o d.attest -s d.sig >/dev/null &&
	flush || kw_fail "tpm2_certify (duplicable key)"
tpm2_quote -c ak.ctx -l sha256:0,1,2,3,4,5,6,7 -q $NONCE -m q.msg -s q.sig \
	-o q.pcrs -F values -g sha256 >/dev/null && flush || kw_fail "tpm2_quote"
PCR0=$(head -c 32 q.pcrs | xxd -p -c 64)
"$TOOL" evidence ev.cbor --ek ek.der --ak-pub ak.tpmt \
	--certify c.attest c.sig key.tpmt --quote q.msg q.sig q.pcrs \
	--os kernel=6.1.0 --os os=debian-12 || kw_fail "attest_tool evidence"

echo "== the AK is not bound to the EK yet: refused"
refused unbound ak_unbound --binding-store store --nonce $NONCE ev.cbor
[ ! -e store ] || kw_fail "a refused verification wrote the binding store"

echo "== credential activation binds AK to EK (keyward's MakeCredential, the real TPM)"
"$TOOL" challenge ek.der ak.name cred.bin secret.bin || kw_fail "challenge"
activate "$KW_TCTI" ek.ctx ak.ctx cred.bin answer.bin ||
	kw_fail "tpm2_activatecredential refused keyward's credential: $(cat answer.bin.err)"
cmp -s answer.bin secret.bin || kw_fail "activated secret differs from the challenge's"
head -c 32 /dev/urandom >wrong.bin
"$TOOL" answer store ek.der ak.name secret.bin wrong.bin >wrong.out &&
	kw_fail "a wrong activation answer was accepted"
grep -q "credential activation answer is wrong" wrong.out ||
	kw_fail "wrong answer: $(cat wrong.out)"
[ ! -e store ] || kw_fail "a wrong answer wrote the binding store"
"$TOOL" answer store ek.der ak.name secret.bin answer.bin || kw_fail "answer"
[ "$(stat -c %a store)" = 600 ] || kw_fail "binding store mode $(stat -c %a store)"
echo "== credential activation, ECC EK (ECDH + KDFe) with its own AK"
tpm2_createek -c eke.ctx -G ecc -u eke.pem -f pem >/dev/null &&
tpm2_createak -C eke.ctx -c ake.ctx -G rsa -g sha256 -s rsassa -u ake.pub \
	-n ake.name -r ake.priv >/dev/null || kw_fail "ECC EK and its AK"
flush
"$TOOL" challenge eke.pem ake.name crede.bin secrete.bin || kw_fail "ECC challenge"
activate "$KW_TCTI" eke.ctx ake.ctx crede.bin answere.bin ||
	kw_fail "tpm2_activatecredential (ECC EK): $(cat answere.bin.err)"
cmp -s answere.bin secrete.bin || kw_fail "ECC EK: activated secret differs"

echo "== credential activation with the high-range EK key types (SHA-384, AES-256)"
# primaries of the EK templates' kind (restricted decrypt, endorsement
# hierarchy), with a password instead of the EK policy
while read -r alg; do
	tpm2_createprimary -C e -G "$alg:aes256cfb" -g sha384 \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt' \
		-c "hek-$alg.ctx" >/dev/null &&
	tpm2_readpublic -c "hek-$alg.ctx" -f pem -o "hek-$alg.pem" >/dev/null && flush &&
	tpm2_create -C "hek-$alg.ctx" -G ecc:ecdsa-sha256:null \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' \
		-u "hak-$alg.pub" -r "hak-$alg.priv" >/dev/null && flush &&
	tpm2_load -C "hek-$alg.ctx" -u "hak-$alg.pub" -r "hak-$alg.priv" \
		-c "hak-$alg.ctx" -n "hak-$alg.name" >/dev/null && flush ||
		kw_fail "$alg: parent and AK"
	"$TOOL" challenge "hek-$alg.pem" "hak-$alg.name" "cred-$alg.bin" \
		"secret-$alg.bin" || kw_fail "$alg: challenge"
	tpm2_activatecredential -c "hak-$alg.ctx" -C "hek-$alg.ctx" \
		-i "cred-$alg.bin" -o "answer-$alg.bin" >/dev/null 2>"answer-$alg.err" ||
		kw_fail "$alg: tpm2_activatecredential: $(cat "answer-$alg.err")"
	flush
	cmp -s "answer-$alg.bin" "secret-$alg.bin" || kw_fail "$alg: activated secret differs"
done <<EOF
ecc384
rsa3072
EOF

echo "== accepted: real certify + quote, key = the CSR's / certificate's"
verify ok 0 --binding-store store --nonce $NONCE --key-spki key.pem \
	--pcrs 0-7 --pcr "0:$PCR0" --require-certify --require-quote \
	--max-age 300 ev.cbor
grep -qx "verified" ok.out && grep -q "^tpm: IBM (swtpm) (id:00001014) model swtpm" ok.out &&
	grep -qx "key-attested: yes" ok.out && grep -qx "posture: yes" ok.out &&
	grep -qx "ak-bound-to-ek: yes" ok.out &&
	grep -qx "ak-name: $(hex ak.name)" ok.out && grep -qx "pcr 0: $PCR0" ok.out &&
	grep -qx "os (unattested): kernel=6.1.0" ok.out ||
	kw_fail "claims: $(cat ok.out)"

echo "== AKs of every kind we take: RSASSA, RSAPSS, ECDSA P-384 with SHA-384"
while read -r alg sch hash; do
	tpm2_createak -C ek.ctx -c "ak-$sch.ctx" -G "$alg" -g "$hash" -s "$sch" \
		-u "ak-$sch.pub" -n "ak-$sch.name" -r "ak-$sch.priv" >/dev/null && flush &&
	tpm2_quote -c "ak-$sch.ctx" -l sha256:0,1,2,3,4,5,6,7 -q $NONCE -m "q-$sch.msg" \
		-s "q-$sch.sig" -o "q-$sch.pcrs" -F values -g "$hash" --scheme "$sch" \
		>/dev/null && flush || kw_fail "AK $alg $sch $hash"
	tail -c +3 "ak-$sch.pub" >"ak-$sch.tpmt"
	"$TOOL" evidence "ev-$sch.cbor" --ek ek.der --ak-pub "ak-$sch.tpmt" \
		--quote "q-$sch.msg" "q-$sch.sig" "q-$sch.pcrs"
	# the binding is shown above; here the signature schemes
	verify "ak-$sch" 0 --nonce $NONCE --pcrs 0-7 "ev-$sch.cbor"
	grep -qx "ak-name: $(hex "ak-$sch.name")" "ak-$sch.out" &&
	grep -qx "ak-bound-to-ek: not checked (no --binding-store)" "ak-$sch.out" ||
		kw_fail "AK $sch: $(cat "ak-$sch.out")"
	flip 50 "q-$sch.msg"
	"$TOOL" evidence "bad-$sch.cbor" --ek ek.der --ak-pub "ak-$sch.tpmt" \
		--quote "q-$sch.msg.bad" "q-$sch.sig" "q-$sch.pcrs"
	refused "bad-$sch" bad_signature --nonce $NONCE "bad-$sch.cbor"
done <<EOF
rsa rsassa sha256
rsa rsapss sha256
ecc384 ecdsa sha384
EOF

echo "== the intermediate CA sent by the device, only the root trusted"
ca=$KW_T/tpm-ca
openssl x509 -in "$ca/issuercert.pem" -outform DER -out inter.der
"$TOOL" evidence chain.cbor --ek ek.der --chain inter.der --ak-pub ak.tpmt \
	--quote q.msg q.sig q.pcrs
kw_run root-only 0 verify-attestation --ek-ca "$ca/swtpm-localca-rootca-cert.pem" \
	--binding-store store --nonce $NONCE chain.cbor
kw_run root-only-nochain 1 verify-attestation --ek-ca "$ca/swtpm-localca-rootca-cert.pem" \
	--binding-store store --nonce $NONCE ev.cbor
kw_expect root-only-nochain "(ek_untrusted)"
# a leaf posing as the intermediate (the EK certificate itself)
"$TOOL" evidence leaf.cbor --ek ek.der --chain ek.der --ak-pub ak.tpmt \
	--quote q.msg q.sig q.pcrs
refused leaf-as-ca ek_untrusted --binding-store store --nonce $NONCE leaf.cbor

openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null &&
	openssl pkey -in other.key -pubout -out other.pem || kw_fail "openssl key"
echo "== a key keyward made: certified, and the very key of its CSR"
kw_run keygen 0 keygen --tcti "$KW_TCTI" --key "tpm:$KW_T/dev.tss" --alg ec-p384
kw_run csr 0 csr --tcti "$KW_TCTI" --key "tpm:$KW_T/dev.tss" --subject CN=laptop \
	--out dev.csr
flush
tpm2_load -r dev.tss -c dev.ctx >/dev/null 2>load.err && flush ||
	kw_fail "tpm2_load of keyward's key: $(cat load.err)"
tpm2_readpublic -c dev.ctx -o dev.pub >/dev/null && flush || kw_fail "tpm2_readpublic"
tpm2_certify -c dev.ctx -C ak.ctx -g sha256 -o dev.attest -s dev.sig >/dev/null &&
	flush || kw_fail "tpm2_certify of keyward's key"
tail -c +3 dev.pub >dev.tpmt
"$TOOL" evidence dev.cbor --ek ek.der --ak-pub ak.tpmt --certify dev.attest dev.sig dev.tpmt
verify dev-csr 0 --binding-store store --nonce $NONCE --key-spki dev.csr \
	--require-certify dev.cbor
grep -qx "key-attested: yes" dev-csr.out || kw_fail "keyward's key: $(cat dev-csr.out)"
openssl req -new -key other.key -subj /CN=other -out other.csr 2>/dev/null ||
	kw_fail "openssl req"
refused dev-other-csr key_mismatch --binding-store store --nonce $NONCE \
	--key-spki other.csr dev.cbor

echo "== refused, each with its reason"
flip 40 q.msg
"$TOOL" evidence t1.cbor --ek ek.der --ak-pub ak.tpmt --quote q.msg.bad q.sig q.pcrs
refused tampered-quote bad_signature --binding-store store --nonce $NONCE t1.cbor
flip 60 c.attest
"$TOOL" evidence t2.cbor --ek ek.der --ak-pub ak.tpmt \
	--certify c.attest.bad c.sig key.tpmt
refused tampered-certify bad_signature --binding-store store --nonce $NONCE t2.cbor
refused wrong-nonce nonce --binding-store store --nonce 00ff55ab ev.cbor
refused pcr-value pcr_value --binding-store store --nonce $NONCE \
	--pcr "0:$(printf '%064d' 0)" ev.cbor
refused pcr-selection pcr_selection --binding-store store --nonce $NONCE \
	--pcrs 0-9 ev.cbor
refused ak-unbound ak_unbound --binding-store empty-store --nonce $NONCE ev.cbor
refused ek-untrusted ek_untrusted --ek-ca "$EKCA2" --binding-store store \
	--nonce $NONCE ev.cbor
refused other-key key_mismatch --binding-store store --nonce $NONCE \
	--key-spki other.pem ev.cbor
"$TOOL" evidence dup.cbor --ek ek.der --ak-pub ak.tpmt --certify d.attest d.sig dup.tpmt
refused duplicable key_attributes --binding-store store --nonce $NONCE dup.cbor
"$TOOL" evidence old.cbor --ek ek.der --ak-pub ak.tpmt \
	--quote q.msg q.sig q.pcrs --time $(( $(date +%s) - 3600 ))
refused too-old too_old --binding-store store --nonce $NONCE --max-age 600 old.cbor
refused missing missing --binding-store store --nonce $NONCE --require-certify old.cbor
head -c 700 ev.cbor >cut.cbor
refused truncated malformed --binding-store store --nonce $NONCE cut.cbor

echo "== a quote bound to one TLS session is refused for another"
EXP1=$(head -c 32 /dev/urandom | xxd -p -c 64)
EXP2=$(head -c 32 /dev/urandom | xxd -p -c 64)
QUAL=$(printf '%s%s' "$NONCE" "$EXP1" | xxd -r -p | sha256sum | cut -c1-64)
tpm2_quote -c ak.ctx -l sha256:0,1,2,3,4,5,6,7 -q "$QUAL" -m x.msg -s x.sig \
	-o x.pcrs -F values -g sha256 >/dev/null && flush || kw_fail "tpm2_quote (exporter)"
"$TOOL" evidence x.cbor --ek ek.der --ak-pub ak.tpmt --quote x.msg x.sig x.pcrs
verify session-ok 0 --binding-store store --nonce $NONCE --exporter "$EXP1" x.cbor
refused other-session nonce --binding-store store --nonce $NONCE --exporter "$EXP2" x.cbor

echo "== an AK from another TPM presented with this TPM's EK"
tail -c +3 ak2.pub >ak2.tpmt
TPM2TOOLS_TCTI=$TCTI2 tpm2_quote -c ak2.ctx -l sha256:0,1,2,3,4,5,6,7 -q $NONCE \
	-m q2.msg -s q2.sig -o q2.pcrs -F values -g sha256 >/dev/null &&
	TPM2TOOLS_TCTI=$TCTI2 flush || kw_fail "tpm2_quote on the second TPM"
"$TOOL" evidence foreign.cbor --ek ek.der --ak-pub ak2.tpmt --quote q2.msg q2.sig q2.pcrs
refused foreign-ak ak_unbound --ek-ca both-ca.pem --binding-store store \
	--nonce $NONCE foreign.cbor
# binding it needs an activation: a credential for this EK + that AK name
# cannot be activated by the other TPM (its EK is another) ...
"$TOOL" challenge ek.der ak2.name cred2.bin secret2.bin || kw_fail "challenge (foreign AK)"
activate "$TCTI2" ek2.ctx ak2.ctx cred2.bin answer2.bin &&
	kw_fail "the other TPM activated a credential made for this TPM's EK"
# ... and this TPM cannot load the other's AK to activate it
tpm2_load -C ek.ctx -u ak2.pub -r ak2.priv -c ak2here.ctx >/dev/null 2>&1 &&
	kw_fail "this TPM loaded the other TPM's AK"
flush
refused foreign-ak-still ak_unbound --ek-ca both-ca.pem --binding-store store \
	--nonce $NONCE foreign.cbor

echo "== a SoftHSM key presented as TPM-held"
kw_make_ca ca
kw_start_softhsm card
kw_softhsm_card card card-key "/CN=alice"
refused softhsm-key key_mismatch --binding-store store --nonce $NONCE \
	--key-spki card.crt ev.cbor
# a pubArea forged around the SoftHSM key: TPM attributes, the card's point
python3 -c 'import sys
pub = open(sys.argv[1], "rb").read()
spki = open(sys.argv[2], "rb").read()
pt = spki[-64:]
out = pub[:-68] + b"\x00\x20" + pt[:32] + b"\x00\x20" + pt[32:]
open(sys.argv[3], "wb").write(out)' key.tpmt card.pub.der forged.tpmt
"$TOOL" evidence forged.cbor --ek ek.der --ak-pub ak.tpmt --certify c.attest c.sig forged.tpmt
refused softhsm-forged name_mismatch --binding-store store --nonce $NONCE \
	--key-spki card.crt forged.cbor

echo "== usage"
kw_run noargs 2 verify-attestation
kw_run noca 2 verify-attestation ev.cbor
kw_run help 0 verify-attestation --help
grep -q "Exit status: 0 verified, 1 refused" help.out || kw_fail "help: $(cat help.out)"
echo "PASS"
