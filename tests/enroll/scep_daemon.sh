#!/bin/bash
# SCEP renewal inside the running daemon (`keyward run`, an [identity]
# section with protocol = scep): a 40-second certificate from the SCEP test
# server (tests/enroll/scep_hostile.py, well-behaved mode) is renewed at
# 50% of its lifetime with a RenewalReq signed by the current certificate,
# for a new SoftHSM key made sign+decrypt; the old certificate stays in
# force until the new one is verified and stored.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
kw_need python3 openssl pkcs11-tool
python3 -c 'from cryptography.hazmat.primitives.serialization import pkcs7; pkcs7.pkcs7_decrypt_der' \
	2>/dev/null || kw_skip "python3-cryptography without PKCS#7 decryption"
kw_start_softhsm kwscepd
MOD=$KW_SOFTHSM_MODULE
P="?pin-source=file:$KW_T/pin"
cd "$KW_T" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
	-subj "/CN=daemon SCEP CA" -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || kw_fail "openssl CA"
printf 'pw\n' >chal
chmod 600 chal
PORT=$(kw_free_port)
python3 "$KW_SRCDIR/tests/enroll/scep_hostile.py" --port "$PORT" --ca ca.pem \
	--ca-key ca.key --mode ok --seconds 40 2>srv.log &
kw_track $!
kw_wait_port "$PORT" 10 || kw_fail "SCEP test server did not start"

kw_run kg 0 keygen --module "$MOD" --alg rsa2048 --usage sign,decrypt \
	--key "pkcs11:token=kwscepd;object=dev$P"
kw_run enroll 0 enroll scep --module "$MOD" --server "http://127.0.0.1:$PORT/scep" \
	--ca ca.pem --key "pkcs11:token=kwscepd;object=dev$P" --subject CN=dev \
	--challenge-file chal --out dev.crt --renew-at 50%
cp dev.crt first.crt
cat >keyward.conf <<CONF
[global]
module = $MOD
control-socket = $KW_T/control

[identity dev]
state = $KW_T/dev.crt.state
protocol = scep
renew-at = 50%
grace = 5
CONF
"$KEYWARD" run --config keyward.conf 2>run.err &
kw_track $!
kw_wait_for -F run.err "renewed" 60 || kw_fail "the daemon did not renew: $(cat run.err)"
grep -q "messageType 17" srv.log || kw_fail "no RenewalReq (messageType 17): $(cat srv.log)"
cmp -s first.crt dev.crt && kw_fail "dev.crt was not replaced"
openssl verify -CAfile ca.pem dev.crt >/dev/null || kw_fail "the renewed certificate does not verify"
newref=$(sed -n 's/^  "key": *"\([^"]*\)".*/\1/p' dev.crt.state)
case $newref in *object=dev-2*) ;; *) kw_fail "the state names key $newref" ;; esac
pkcs11-tool --module "$MOD" --token-label kwscepd --login --pin 123456 --list-objects \
	--type privkey 2>/dev/null | grep -A8 "label: *dev-2" | grep -q "decrypt" ||
	kw_fail "the new key was not made sign+decrypt"
cmp -s <(openssl x509 -in dev.crt -noout -pubkey) <(openssl x509 -in first.crt -noout -pubkey) &&
	kw_fail "the renewed certificate is for the old key"
echo "ok the daemon renewed the SCEP identity with a new sign+decrypt key"
