#!/bin/bash
# keyward csr + connect against swtpm and openssl: for each algorithm a TPM
# key signs a CSR (verified by openssl, public key equal to the TPM's), a
# test CA signs it, and `keyward connect` talks mutual TLS 1.3 and 1.2 to
# `openssl s_server -Verify 1 -verify_return_error`, data both ways.  Then
# the refusals: wrong CA, wrong server name, expired server certificate, a
# server that trusts another CA for clients, nobody listening, a certificate
# for another key: each one clear line and exit code 4 (1 for the key).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm openssl ss timeout
ALGS=${KW_TLS_ALGS:-ec-p256 ec-p384 rsa2048 rsa3072}

kw_start_swtpm tpm
kw_make_ca ca
kw_make_ca other
kw_make_server_cert server 7
cd "$KW_T" || exit 1

wait_listen() { kw_wait_listen "$1" 10; }
wait_for() { kw_wait_for -F "$1" "$2" 10; }	# FILE TEXT (fixed string)
# start_server NAME [s_server options...]: fd 7, PORT, SPID (kw_start_s_server)
# shellcheck disable=SC2034  # SPID: for kw_stop by callers
start_server() { kw_start_s_server "$@"; PORT=$KW_S_PORT; SPID=$KW_S_PID; }
stop_server() { kw_stop_s_server; }

# Talk through keyward connect, one line each way, one TPM signature.
# talk TAG KEY CERT [connect options...]
talk() {
	local tag=$1 key=$2 cert=$3
	shift 3
	kw_talk "$tag" server --key "tpm:$key" --cert "$cert" --ca ca/ca.pem \
		"$@" "127.0.0.1:$PORT"
	grep -q "signatures made by the TPM: 1\$" "$tag.cerr" ||
		kw_fail "$tag: no 'signatures made by the TPM: 1' line: $(cat "$tag.cerr")"
}

echo "== keygen, csr, CA, connect: $ALGS"
start_server server -cert server.pem -key server.key -CAfile ca/ca.pem
for alg in $ALGS; do
	key=$KW_T/$alg.tpmkey
	"$KEYWARD" keygen --key "tpm:$key" --alg "$alg" >"$alg.pub" \
		2>"$alg.err" || kw_fail "keygen $alg: $(cat "$alg.err")"
	"$KEYWARD" csr --key "tpm:$key" \
		--subject "CN=laptop-$alg,O=Example\\, Inc,OU=IT,C=DE" \
		--san dns:laptop.example.com --san ip:192.0.2.7 \
		--san uri:spiffe://example.org/laptop --san email:it@example.com \
		--out "$alg.csr" 2>"$alg.err" ||
		kw_fail "csr $alg: $(cat "$alg.err")"
	[ "$(stat -c %a "$alg.csr")" = 644 ] || kw_fail "$alg.csr is not 0644"
	openssl req -in "$alg.csr" -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "openssl req -verify rejects the $alg CSR"
	openssl req -in "$alg.csr" -pubkey -noout | cmp -s - "$alg.pub" ||
		kw_fail "$alg: the CSR's public key is not the TPM key's"
	openssl req -in "$alg.csr" -noout -text >"$alg.txt"
	for want in "CN = laptop-$alg" 'O = "Example, Inc"' \
	    DNS:laptop.example.com "IP Address:192.0.2.7" \
	    URI:spiffe://example.org/laptop email:it@example.com; do
		grep -qF -- "$want" "$alg.txt" ||
			kw_fail "$alg CSR lacks '$want'"
	done
	# stdout is the default
	"$KEYWARD" csr --key "tpm:$key" --subject "CN=x" 2>/dev/null |
		openssl req -verify -noout 2>&1 | grep -q 'verify OK' ||
		kw_fail "csr to stdout ($alg) does not verify"
	kw_sign_csr "$alg.csr" "$alg.crt" 7 "subjectAltName=DNS:laptop.example.com"

	talk "$alg-tls13" "$key" "$alg.crt" --servername localhost
	grep -q "TLSv1.3" "$alg-tls13.cerr" || kw_fail "$alg: not TLS 1.3"
	talk "$alg-tls12" "$key" "$alg.crt" --servername localhost --tls1.2
	grep -q "TLSv1.2" "$alg-tls12.cerr" || kw_fail "$alg: not TLS 1.2"
	grep -qF "CN = laptop-$alg" server.out ||
		kw_fail "s_server did not see the $alg client certificate"
	echo "ok $alg: CSR verified, TLS 1.3 and 1.2 with the TPM key"
done

# The server name defaults to HOST, and an IP address is checked against
# the certificate's IP SANs (the server certificate has IP:127.0.0.1).
talk ip-san "$KW_T/ec-p256.tpmkey" ec-p256.crt
echo "ok server verified by IP SAN"

# expect_fail TAG EXIT PATTERN KEY CERT [connect options...] [HOSTPORT]
expect_fail() {
	local tag=$1 want=$2 pattern=$3 key=$4 cert=$5 rc=0
	shift 5
	timeout 20 "$KEYWARD" connect --key "tpm:$key" --cert "$cert" "$@" \
		</dev/null >"$tag.cout" 2>"$tag.cerr" || rc=$?
	[ "$rc" = "$want" ] ||
		kw_fail "$tag: exit $rc, want $want: $(cat "$tag.cerr")"
	grep -q -- "$pattern" "$tag.cerr" ||
		kw_fail "$tag: no '$pattern' in: $(cat "$tag.cerr")"
	echo "ok $tag: $(grep -- "$pattern" "$tag.cerr" | head -1)"
}

K=$KW_T/ec-p256.tpmkey
echo "== refusals"
expect_fail wrong-ca 4 "server certificate of .* is not trusted by CA file other/ca.pem" \
	"$K" ec-p256.crt --ca other/ca.pem --servername localhost "127.0.0.1:$PORT"
expect_fail wrong-name 4 "server name wrong.example does not match" \
	"$K" ec-p256.crt --ca ca/ca.pem --servername wrong.example "127.0.0.1:$PORT"
expect_fail wrong-ip 4 "server name 127.0.0.2 does not match" \
	"$K" ec-p256.crt --ca ca/ca.pem --servername 127.0.0.2 "127.0.0.1:$PORT"
expect_fail cert-mismatch 3 "certificate server.pem is not for tpm" \
	"$K" server.pem --ca ca/ca.pem --servername localhost "127.0.0.1:$PORT"
stop_server
expect_fail nobody-listening 4 "cannot connect to 127.0.0.1:$PORT" \
	"$K" ec-p256.crt --ca ca/ca.pem "127.0.0.1:$PORT"

# An expired server certificate: openssl ca with explicit past dates.
kw_ca_db ca "subjectAltName = DNS:localhost,IP:127.0.0.1"
openssl ca -batch -config ca/ca.cnf -extensions ext -in server.csr \
	-startdate 20200101000000Z -enddate 20200201000000Z \
	-out expired.pem >ca/expired.log 2>&1 ||
	kw_fail "openssl ca could not make an expired certificate: $(cat ca/expired.log)"
start_server server -cert expired.pem -key server.key -CAfile ca/ca.pem
expect_fail expired 4 "server certificate of .* has expired" \
	"$K" ec-p256.crt --ca ca/ca.pem --servername localhost "127.0.0.1:$PORT"
stop_server

# CRLs: a CRL that does not list the server certificate passes; once it is
# revoked, connect refuses it; a CRL from a CA we do not trust is refused
# when loaded (hard-fail: a usage error, exit 2).
openssl ca -config ca/ca.cnf -gencrl -out ca/empty.crl >ca/crl.log 2>&1 ||
	kw_fail "openssl ca -gencrl: $(cat ca/crl.log)"
openssl ca -config ca/ca.cnf -revoke server.pem >>ca/crl.log 2>&1 &&
openssl ca -config ca/ca.cnf -gencrl -out ca/revoked.crl >>ca/crl.log 2>&1 ||
	kw_fail "openssl ca -revoke: $(cat ca/crl.log)"
kw_ca_db other
openssl ca -config other/ca.cnf -gencrl -out other/other.crl >>ca/crl.log 2>&1 ||
	kw_fail "openssl ca -gencrl (other): $(cat ca/crl.log)"
start_server server -cert server.pem -key server.key -CAfile ca/ca.pem
talk crl-ok "$K" ec-p256.crt --servername localhost --crl ca/empty.crl
expect_fail crl-revoked 4 "server certificate of .* is revoked" \
	"$K" ec-p256.crt --ca ca/ca.pem --servername localhost \
	--crl ca/revoked.crl "127.0.0.1:$PORT"
expect_fail crl-untrusted 2 "cannot load CRL file other/other.crl" \
	"$K" ec-p256.crt --ca ca/ca.pem --servername localhost \
	--crl other/other.crl "127.0.0.1:$PORT"
stop_server

# A server that wants client certificates from another CA (TLS 1.3: the
# refusal arrives after our Finished, on the first read; TLS 1.2: in the
# handshake).
start_server server -cert server.pem -key server.key -CAfile other/ca.pem \
	-chainCAfile ca/ca.pem
for v in "" --tls1.2; do
	expect_fail "client-cert-refused${v}" 4 \
		"server 127.0.0.1:$PORT refused our client certificate" \
		"$K" ec-p256.crt --ca ca/ca.pem --servername localhost $v \
		"127.0.0.1:$PORT"
done
stop_server

echo "== usage errors"
rc=0
"$KEYWARD" csr --key "tpm:$K" --subject "CN=x,FOO=y" >/dev/null 2>csr.err || rc=$?
[ "$rc" = 2 ] && grep -q "unknown attribute 'FOO'" csr.err ||
	kw_fail "bad subject: exit $rc: $(cat csr.err)"
rc=0
"$KEYWARD" csr --key "tpm:$K" --subject "CN=x" --san "dns:bad_name" >/dev/null 2>csr.err || rc=$?
[ "$rc" = 2 ] && grep -q "SAN 'dns:bad_name'" csr.err ||
	kw_fail "bad SAN: exit $rc: $(cat csr.err)"
rc=0
"$KEYWARD" connect --key "tpm:$K" --cert ec-p256.crt localhost:1 2>csr.err || rc=$?
[ "$rc" = 2 ] && grep -q -- "--ca is required" csr.err ||
	kw_fail "connect without --ca: exit $rc"
echo "ok usage errors"
exit 0
