#!/bin/bash
# keyward enroll scep against a hostile SCEP server (tests/enroll/
# scep_hostile.py, on 127.0.0.1): a certificate for another key (exit 3),
# garbage instead of a CertRep, FAILURE, a CertRep signed by another key or
# for another nonce, PENDING then SUCCESS (CertPoll polling), and PENDING
# forever within --wait, and GET when the caps lack POSTPKIOperation.
# Each refusal is one line and nothing is stored;
# the well-behaved modes store the certificate.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
kw_need python3 openssl
python3 -c 'from cryptography.hazmat.primitives.serialization import pkcs7; pkcs7.pkcs7_decrypt_der' \
	2>/dev/null || kw_skip "python3-cryptography without PKCS#7 decryption"
kw_start_softhsm kwscep
MOD=$KW_SOFTHSM_MODULE
P="?pin-source=file:$KW_T/pin"
cd "$KW_T" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
	-subj "/CN=hostile SCEP CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || kw_fail "openssl CA"
printf 'pw\n' >chal
chmod 600 chal
kw_run kg 0 keygen --module "$MOD" --alg rsa2048 --usage sign,decrypt \
	--key "pkcs11:token=kwscep;object=dev$P"
cp kg.out dev.pub

SRV=""
serve() {
	[ -z "$SRV" ] || kw_stop "$SRV"
	PORT=$(kw_free_port)
	python3 "$KW_SRCDIR/tests/enroll/scep_hostile.py" --port "$PORT" --ca ca.pem \
		--ca-key ca.key --mode "$1" 2>"srv-$1.log" &
	SRV=$!
	kw_track "$SRV"
	kw_wait_port "$PORT" 10 || kw_fail "hostile SCEP server did not start"
}
scep() {
	local name=$1 rc=$2
	shift 2
	kw_run "$name" "$rc" enroll scep --module "$MOD" --server "http://127.0.0.1:$PORT/scep" \
		--ca ca.pem --key "pkcs11:token=kwscep;object=dev$P" --subject CN=dev \
		--challenge-file chal --timeout 5 --out "$name.pem" "$@"
}
# refused MODE RC TEXT [ARGS]: one error line holding TEXT, nothing stored
refused() {
	local mode=$1 rc=$2 text=$3
	shift 3
	serve "$mode"
	scep "$mode" "$rc" "$@"
	kw_expect "$mode" "$text"
	[ "$(grep -c 'error:' "$mode.err")" = 1 ] ||
		kw_fail "$mode: not one error line: $(cat "$mode.err")"
	[ ! -e "$mode.pem" ] && [ ! -e "$mode.pem.state" ] ||
		kw_fail "$mode: something was stored"
	echo "ok $mode: $(grep 'error:' "$mode.err")"
}

refused otherkey 3 "different public key"
refused garbage 4 "not a pkiMessage"
refused failure 4 "failInfo badCertId"
refused badsig 4 "signature on the CA's answer does not verify"
refused wrongnonce 4 "not a CertRep for this request"
start=$(date +%s)
refused pending-forever 5 "still PENDING at the CA after 3 s" --wait 3
[ $(( $(date +%s) - start )) -lt 15 ] || kw_fail "--wait 3 did not bound the polling"
[ "$(grep -c 'messageType 20' srv-pending-forever.log)" -ge 1 ] ||
	kw_fail "no CertPoll sent: $(cat srv-pending-forever.log)"

serve pending
scep pending 0 --wait 30
grep -q "messageType 20" srv-pending.log || kw_fail "no CertPoll (messageType 20) was sent"
cmp -s <(openssl x509 -in pending.pem -noout -pubkey | openssl pkey -pubin -outform DER) \
	<(openssl pkey -pubin -in dev.pub -outform DER) || kw_fail "pending: wrong key"
openssl verify -CAfile ca.pem pending.pem >/dev/null || kw_fail "pending: does not verify"
echo "ok PENDING, CertPoll, SUCCESS"

serve get
scep get 0
grep -q "PKIOperation by GET" srv-get.log || kw_fail "get: no GET PKIOperation"
openssl verify -CAfile ca.pem get.pem >/dev/null || kw_fail "get: does not verify"
echo "ok PKIOperation by GET when the CA has no POSTPKIOperation"

serve ok
scep ok 0
openssl verify -CAfile ca.pem ok.pem >/dev/null || kw_fail "ok: does not verify"
grep -q "weak" ok.err && kw_fail "AES/SHA-256 answer warned as weak: $(cat ok.err)"
echo "ok well-behaved server"
