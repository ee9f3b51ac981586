#!/bin/bash
# keyward's TLS verification as strict as OpenSSL's (issue 9, items 7-11),
# against real peers: openssl s_server/s_client, gnutls-serv/gnutls-cli and
# a plain wolfSSL peer (tests/tls/wolf_peer), keys in swtpm.
#   7  server names: certificates for "*", "*.com", "*.example",
#      "svc.*.example", "f*.example" are refused, as is CN=127.0.0.1 without
#      SANs for an IP target and an IP SAN for another address -- all while
#      the server's certificate is checked, before the TPM signs anything;
#      "*.svc.example" and IP SAN 127.0.0.1 still pass;
#   8  signature algorithms: SHA-1 and SHA-224 are neither offered
#      (ClientHello, CertificateRequest) nor accepted, from a server or a
#      client that signs with them anyway (tests/tls/sigalg_peer.py);
#   9  groups: a TLS 1.2 server tunnel picks only X25519, P-256 or P-384
#      whatever the client lists first, and a client refuses a server that
#      picks another (secp256k1);
#   10 TLS 1.2: renegotiation_info sent, no TLS 1.3 suites with --tls1.2;
#   11 refusals name their cause: no client certificate (TLS 1.2), wrong
#      extended key usage, renegotiation (both sides), tls-min 1.3.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm openssl gnutls-serv gnutls-cli ss timeout python3
python3 -c 'import cryptography' 2>/dev/null ||
	kw_skip "python3-cryptography not installed (scripts/install-deps)"
WOLF_PEER=$KW_BUILDDIR/tests/tls/wolf_peer
[ -x "$WOLF_PEER" ] || kw_fail "$WOLF_PEER is not built (make check builds it)"

kw_start_swtpm tpm
kw_make_ca ca
cd "$KW_T" || exit 1

wait_listen() { kw_wait_listen "$1" 10; }
wait_for() { kw_wait_for -F "$1" "$2" 10; }	# FILE TEXT (fixed string)

# cert NAME SAN-LINE [CN] [EKU]: an EC server certificate from the test CA
# (SAN-LINE "" for none).
cert() {
	local name=$1 san=$2 cn=${3:-$1} eku=${4:-serverAuth}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null ||
		kw_fail "openssl req $name"
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
		"$eku" "${san:+subjectAltName=$san}" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca/ca.pem -CAkey ca/ca.key \
		-CAcreateserial -days 7 -out "$name.pem" -extfile "$name.ext" \
		2>"$name.err" || kw_fail "openssl x509 $name: $(cat "$name.err")"
}

# Our TPM identity (client and server use), and the software peers'.
"$KEYWARD" keygen --key "tpm:$KW_T/me.tpmkey" --alg ec-p256 >me.pub \
	2>me.err || kw_fail "keygen: $(cat me.err)"
"$KEYWARD" csr --key "tpm:$KW_T/me.tpmkey" --subject "CN=laptop" \
	--out me.csr 2>me.err || kw_fail "csr: $(cat me.err)"
kw_sign_csr me.csr me.pem 7 "subjectAltName=DNS:localhost,IP:127.0.0.1"
ME=(--key "tpm:$KW_T/me.tpmkey" --cert me.pem --ca ca/ca.pem)
cert srv "DNS:localhost,IP:127.0.0.1"
cert alice "DNS:alice.example" alice clientAuth
cert serveronly "DNS:alice.example" alice serverAuth

# s_server NAME CERT [options...]: on a free port (PORT, SPID), stdin the
# fifo NAME.in held open on fd 7, output NAME.out.
s_server() {
	local name=$1 c=$2
	shift 2
	PORT=$(kw_free_port)
	rm -f "$name.in"
	mkfifo "$name.in"
	openssl s_server -accept "127.0.0.1:$PORT" -cert "$c.pem" -key "$c.key" \
		-CAfile ca/ca.pem -Verify 1 "$@" <"$name.in" >"$name.out" 2>&1 &
	SPID=$!
	kw_track "$SPID"
	exec 7<>"$name.in"
	wait_listen "$PORT"
}

s_server_stop() {
	exec 7>&-
	kw_stop "$SPID"
}

# connect TAG [connect options...] HOSTPORT: keyward connect, stdin empty;
# exit code in RC, stderr in TAG.err.
connect() {
	local tag=$1
	shift
	RC=0
	timeout 20 "$KEYWARD" connect "${ME[@]}" "$@" </dev/null \
		>"$tag.out" 2>"$tag.err" || RC=$?
}

# refused TAG PATTERN: connect exited 4 with PATTERN in its one error line
# and the TPM made no signature (refused before our CertificateVerify).
refused() {
	local tag=$1 pattern=$2
	[ "$RC" = 4 ] || kw_fail "$tag: exit $RC, want 4: $(cat "$tag.err")"
	grep -q -- "$pattern" "$tag.err" ||
		kw_fail "$tag: no '$pattern' in: $(cat "$tag.err")"
	grep -q "signatures made by the TPM: 0\$" "$tag.err" ||
		kw_fail "$tag: the TPM signed before the refusal: $(cat "$tag.err")"
	echo "ok $tag: $(grep -- "$pattern" "$tag.err" | head -1)"
}

accepted() {
	local tag=$1
	[ "$RC" = 0 ] || kw_fail "$tag: exit $RC: $(cat "$tag.err")"
	echo "ok $tag: accepted"
}

echo "== 7: server names (RFC 6125 wildcards, IP SANs) during verification"
for spec in "star DNS:* localhost" "star-com DNS:*.com example.com" \
    "star-tld DNS:*.example foo.example" \
    "mid-star DNS:svc.*.example svc.a.example" \
    "partial DNS:f*.example foo.example"; do
	read -r name san sni <<<"$spec"
	cert "$name" "$san"
	for v in "" --tls1.2; do
		s_server "$name" "$name"
		connect "$name$v" --servername "$sni" $v "127.0.0.1:$PORT"
		refused "$name$v" "server name $sni does not match the certificate"
		s_server_stop
	done
done
cert cn-ip "" 127.0.0.1
cert ip-other "IP:127.0.0.2"
for name in cn-ip ip-other; do
	for v in "" --tls1.2; do
		s_server "$name" "$name"
		connect "$name$v" $v "127.0.0.1:$PORT"
		refused "$name$v" "server name 127.0.0.1 does not match the certificate .* (no IP address SAN equals it)"
		s_server_stop
	done
done
cert good-star "DNS:*.svc.example"
s_server good good-star
connect good-star --servername x.svc.example "127.0.0.1:$PORT"
accepted good-star
connect good-star-label --servername a.x.svc.example "127.0.0.1:$PORT"
refused good-star-label "server name a.x.svc.example does not match"
s_server_stop
s_server ip srv
connect ip-san "127.0.0.1:$PORT"
accepted ip-san
s_server_stop
# GnuTLS as the server: the same refusal for a bare "*".
GPORT=$(kw_free_port)
gnutls-serv --port "$GPORT" --x509certfile star.pem --x509keyfile star.key \
	--x509cafile ca/ca.pem --require-client-cert >gnutls-star.log 2>&1 &
GPID=$!
kw_track "$GPID"
wait_listen "$GPORT"
connect gnutls-star --servername localhost "127.0.0.1:$GPORT"
refused gnutls-star "server name localhost does not match the certificate"
kw_stop "$GPID"
# A plain wolfSSL server with the partial wildcard.
WPORT=$(kw_free_port)
"$WOLF_PEER" server "$WPORT" partial.pem partial.key ca/ca.pem >wolf-partial.out 2>&1 &
WPID=$!
kw_track "$WPID"
wait_listen "$WPORT"
connect wolf-partial --servername foo.example "127.0.0.1:$WPORT"
refused wolf-partial "server name foo.example does not match the certificate"
kw_stop "$WPID"

echo "== 8: signature algorithms SHA-256 and up"
bad_sigalgs='ecdsa_sha1\|rsa_pkcs1_sha1\|ecdsa_sha224\|rsa_pkcs1_sha224\|(0x0[23]0[1-3])'
for v in "" --tls1.2; do
	s_server hello srv -trace
	connect "hello$v" --servername localhost $v "127.0.0.1:$PORT"
	accepted "hello$v"
	sed -n '/ClientHello/,/^$/p' hello.out >"hello$v.ch"
	grep -q 'signature_algorithms' "hello$v.ch" ||
		kw_fail "no signature_algorithms in our ClientHello$v"
	grep -q "$bad_sigalgs" "hello$v.ch" &&
		kw_fail "our ClientHello$v offers SHA-1/SHA-224: $(grep "$bad_sigalgs" "hello$v.ch")"
	s_server_stop
done
echo "ok ClientHello offers no SHA-1/SHA-224 signature algorithm"
# A server that signs only with SHA-1 or SHA-224 (OpenSSL at security
# level 0; -client_sigalgs keeps its CertificateRequest at SHA-256) is
# refused before we sign.
cert rsa-srv "DNS:localhost" rsa-srv serverAuth
openssl req -new -newkey rsa:2048 -nodes -keyout rsa-srv.key -out rsa-srv.csr \
	-subj /CN=rsa-srv 2>/dev/null && openssl x509 -req -in rsa-srv.csr \
	-CA ca/ca.pem -CAkey ca/ca.key -CAcreateserial -days 7 -out rsa-srv.pem \
	-extfile rsa-srv.ext 2>/dev/null || kw_fail "openssl: RSA server certificate"
for spec in "srv ECDSA+SHA1" "rsa-srv RSA+SHA1" "rsa-srv RSA+SHA224"; do
	read -r c sa <<<"$spec"
	s_server "sig-$sa" "$c" -sigalgs "$sa" -client_sigalgs ECDSA+SHA256 \
		-cipher 'DEFAULT@SECLEVEL=0'
	connect "server-$sa" --servername localhost --tls1.2 "127.0.0.1:$PORT"
	refused "server-$sa" "found no common TLS version, suite or signature algorithm"
	s_server_stop
done
# A hostile server (tests/tls/sigalg_peer.py) that signs its
# ServerKeyExchange with SHA-1 or SHA-224 though we never offered them:
# refused before we sign; the same server with SHA-256 gets through.
SIGALG_PEER="$KW_SRCDIR/tests/tls/sigalg_peer.py"
for spec in "srv ecdsa_sha1" "srv ecdsa_sha224" "rsa-srv rsa_pkcs1_sha1" \
    "rsa-srv rsa_pkcs1_sha224" "srv ecdsa_sha256" "rsa-srv rsa_pkcs1_sha256"; do
	read -r c sa <<<"$spec"
	HPORT=$(kw_free_port)
	rm -f "hostile-$sa.out"
	python3 "$SIGALG_PEER" server "$HPORT" "$c.pem" "$c.key" "$sa" \
		>"hostile-$sa.out" 2>&1 &
	HPID=$!
	kw_track "$HPID"
	wait_for "hostile-$sa.out" listening ||
		kw_fail "sigalg_peer did not start: $(cat "hostile-$sa.out")"
	connect "hostile-$sa" --servername localhost --tls1.2 "127.0.0.1:$HPORT"
	wait "$HPID" 2>/dev/null
	case $sa in
	*_sha256)
		grep -q '^accepted' "hostile-$sa.out" ||
			kw_fail "hostile server $sa (control): $(cat "hostile-$sa.out") / $(cat "hostile-$sa.err")"
		echo "ok hostile server $sa: accepted (control)" ;;
	*)
		refused "hostile-$sa" "server 127.0.0.1:$HPORT signed the handshake with SHA-1 or SHA-224"
		grep -q '^refused' "hostile-$sa.out" ||
			kw_fail "hostile server $sa: $(cat "hostile-$sa.out")" ;;
	esac
done

# The server side: a tunnel server with the TPM key.
TARGET=$(kw_free_port)
rm -f target.in && mkfifo target.in
openssl s_server -accept "127.0.0.1:$TARGET" -cert srv.pem -key srv.key -quiet \
	-naccept 100 <target.in >target.out 2>&1 &
kw_track $!
exec 6<>target.in
wait_listen "$TARGET"
start_tunnel() {
	TPORT=$(kw_free_port)
	"$KEYWARD" tunnel server --listen "127.0.0.1:$TPORT" \
		--target "127.0.0.1:$TARGET" "${ME[@]}" "$@" \
		>>tunnel.log 2>&1 &
	TPID=$!
	kw_track "$TPID"
	wait_listen "$TPORT"
}
s_client() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" \
		-CAfile ca/ca.pem "$@" 2>&1
}
: >tunnel.log
start_tunnel --allow-san-dns alice.example
echo Q | s_client -tls1_2 -cert alice.pem -key alice.key -trace >cr.out
sed -n '/CertificateRequest/,/^$/p' cr.out >cr.txt
grep -q 'ecdsa_secp256r1_sha256' cr.txt ||
	kw_fail "no CertificateRequest from the tunnel: $(head -c 2000 cr.out)"
grep -q "$bad_sigalgs" cr.txt &&
	kw_fail "our CertificateRequest offers SHA-1/SHA-224: $(grep "$bad_sigalgs" cr.txt)"
echo "ok CertificateRequest offers no SHA-1/SHA-224 signature algorithm"
# A client that signs only with SHA-1 finds no algorithm it may use in our
# CertificateRequest and sends no certificate: refused.
: >tunnel.log
echo Q | s_client -tls1_2 -cert alice.pem -key alice.key \
	-cipher 'DEFAULT@SECLEVEL=0' -client_sigalgs ECDSA+SHA1 >cv1.out
wait_for tunnel.log "sent no certificate" ||
	kw_fail "a client signing with SHA-1 was not refused: $(cat tunnel.log; tail -5 cv1.out)"
echo "ok a client that signs only with SHA-1: refused"

# A hostile client that signs its CertificateVerify with SHA-1 or SHA-224.
for sa in ecdsa_sha1 ecdsa_sha224 ecdsa_sha256; do
	: >tunnel.log
	out=$(timeout 20 python3 "$SIGALG_PEER" client "$TPORT" alice.pem \
		alice.key "$sa" 2>&1)
	case $sa in
	*_sha256)
		[ "${out#accepted}" != "$out" ] ||
			kw_fail "hostile client $sa (control): $out $(cat tunnel.log)"
		echo "ok hostile client $sa: accepted (control)" ;;
	*)
		[ "${out#refused}" != "$out" ] ||
			kw_fail "hostile client $sa: $out"
		wait_for tunnel.log "signed the handshake with SHA-1 or SHA-224" ||
			kw_fail "hostile client $sa: $(cat tunnel.log)"
		echo "ok hostile client $sa: $out" ;;
	esac
done

echo "== 9: groups X25519, P-256, P-384 only"
for g in secp256k1 brainpoolP256r1 P-521 X448; do
	out=$(echo Q | s_client -tls1_2 -groups "$g:P-256" -cert alice.pem \
		-key alice.key)
	tmp=$(echo "$out" | grep 'Server Temp Key' | head -1)
	[ "$tmp" = "Server Temp Key: ECDH, prime256v1, 256 bits" ] ||
		kw_fail "TLS 1.2 client listing $g first got '$tmp': $(echo "$out" | tail -5)"
	echo "ok TLS 1.2, $g offered first: P-256 chosen"
done

# And a TLS 1.2 server that picks a group we never offered (secp256k1):
# refused at its ServerKeyExchange, before we sign.
HPORT=$(kw_free_port)
rm -f hostile-k1.out
python3 "$SIGALG_PEER" server "$HPORT" srv.pem srv.key ecdsa_sha256 secp256k1 \
	>hostile-k1.out 2>&1 &
HPID=$!
kw_track "$HPID"
wait_for hostile-k1.out listening ||
	kw_fail "sigalg_peer did not start: $(cat hostile-k1.out)"
connect hostile-k1 --servername localhost --tls1.2 "127.0.0.1:$HPORT"
wait "$HPID" 2>/dev/null
refused hostile-k1 "chose the key exchange group SECP256K1, which keyward did not offer"
grep -q '^refused' hostile-k1.out ||
	kw_fail "hostile server secp256k1: $(cat hostile-k1.out)"

echo "== 11: refusals name their cause (server tunnel)"
echo Q | s_client -tls1_2 >/dev/null
wait_for tunnel.log "sent no certificate" ||
	kw_fail "TLS 1.2 client without certificate: $(tail -3 tunnel.log)"
grep -q "(no names) is not in the allow-list" tunnel.log &&
	kw_fail "no certificate logged as an allow-list refusal"
echo "ok no client certificate (TLS 1.2): $(grep 'sent no certificate' tunnel.log | head -1)"
echo Q | s_client -tls1_2 -cert serveronly.pem -key serveronly.key >/dev/null
wait_for tunnel.log "extended key usage lacks clientAuth" ||
	kw_fail "serverAuth-only client certificate: $(tail -3 tunnel.log)"
echo "ok wrong EKU: $(grep 'extended key usage' tunnel.log | head -1)"
(sleep 1; echo R; sleep 1) | s_client -tls1_2 -cert alice.pem \
	-key alice.key >reneg.out
wait_for tunnel.log "tried to renegotiate" ||
	kw_fail "client renegotiation: $(tail -3 tunnel.log)"
echo "ok renegotiation (client): $(grep 'tried to renegotiate' tunnel.log | head -1)"
kw_stop "$TPID"
start_tunnel --allow-all --tls-min 1.3
# GnuTLS as the client, TLS 1.2 only
gnutls-cli --port "$TPORT" --x509cafile ca/ca.pem --x509certfile alice.pem \
	--x509keyfile alice.key --verify-hostname localhost \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' 127.0.0.1 </dev/null \
	>gnutls12.out 2>&1 && kw_fail "gnutls-cli TLS 1.2 got through tls-min 1.3"
wait_for tunnel.log "TLS 1.3 only: tls-min 1.3" ||
	kw_fail "TLS 1.2 client, tls-min 1.3: $(tail -3 tunnel.log)"
grep -q "TLS 1.2+" tunnel.log && kw_fail "tls-min 1.3 refusal says TLS 1.2+"
echo "ok tls-min 1.3: $(grep 'TLS 1.3 only' tunnel.log | head -1)"
kw_stop "$TPID"

echo "== 10: TLS 1.2 ClientHello"
s_server hello12 srv -trace
connect hello12 --servername localhost --tls1.2 "127.0.0.1:$PORT"
accepted hello12
sed -n '/ClientHello/,/^$/p' hello12.out >hello12.ch
grep -q 'renegotiate(65281)' hello12.ch ||
	kw_fail "no renegotiation_info in the TLS 1.2 ClientHello: $(cat hello12.ch)"
grep -q '{0x13, ' hello12.ch &&
	kw_fail "--tls1.2 lists TLS 1.3 suites: $(grep '{0x13, ' hello12.ch)"
echo "ok --tls1.2: renegotiation_info, no TLS 1.3 suite"
s_server_stop
# A server that asks to renegotiate ("r" on s_server's stdin).
s_server reneg srv -tls1_2
rm -f reneg.cin && mkfifo reneg.cin
"$KEYWARD" connect "${ME[@]}" --servername localhost "127.0.0.1:$PORT" \
	<reneg.cin >reneg.cout 2>reneg.cerr &
KPID=$!
exec 8>reneg.cin
wait_for reneg.cerr "connected to" || kw_fail "connect: $(cat reneg.cerr)"
echo r >&7
RC=0
wait "$KPID" || RC=$?
exec 8>&-
[ "$RC" = 4 ] && grep -q "server 127.0.0.1:$PORT tried to renegotiate" reneg.cerr ||
	kw_fail "server renegotiation: exit $RC: $(cat reneg.cerr)"
echo "ok renegotiation (server): $(grep 'renegotiate' reneg.cerr)"
s_server_stop
exit 0
