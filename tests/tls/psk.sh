#!/bin/bash
# No TLS 1.3 resumption without forward secrecy (issue 9, item 10): a
# client tunnel resuming with a GnuTLS server that prefers psk_ke (PSK
# without (EC)DHE) refuses that ServerHello with a clear line, and the next
# connection makes a full handshake; against the same server preferring
# psk_dhe_ke, resumption works.  wolfSSL 5.5.4 cannot leave psk_ke out of
# the ClientHello, so this is where keyward enforces it.  And a server
# tunnel refuses a wolfSSL client (tests/tls/wolf_peer) that resumes
# offering psk_ke only, before any data.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm openssl gnutls-serv python3 ss timeout
WOLF_PEER=$KW_BUILDDIR/tests/tls/wolf_peer
[ -x "$WOLF_PEER" ] || kw_fail "$WOLF_PEER is not built (make check builds it)"
kw_start_swtpm tpm
kw_make_ca ca
kw_make_server_cert server 7
kw_make_server_cert alice 7 "DNS:alice.example"
cd "$KW_T" || exit 1
"$KEYWARD" keygen --key "tpm:$KW_T/me.tpmkey" --alg ec-p256 >me.pub \
	2>me.err || kw_fail "keygen: $(cat me.err)"
"$KEYWARD" csr --key "tpm:$KW_T/me.tpmkey" --subject "CN=laptop" \
	--out me.csr 2>me.err || kw_fail "csr: $(cat me.err)"
kw_sign_csr me.csr me.pem 7

wait_listen() { kw_wait_listen "$1" 10; }

# One line through the tunnel on port $1: prints what came back.
ping_tunnel() {
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode() + b"\n")
s.settimeout(5)
try:
    print(s.recv(100).decode().strip())
except OSError:
    print("")
PY
}

# run TAG PRIORITY: gnutls-serv (echo) with PRIORITY and a client tunnel
# to it; three connections, results in R1 R2 R3, tunnel log TAG.log.
run() {
	local tag=$1 prio=$2 gport cport gpid tpid
	gport=$(kw_free_port)
	cport=$(kw_free_port)
	gnutls-serv --port "$gport" --x509certfile server.pem \
		--x509keyfile server.key --x509cafile ca/ca.pem \
		--require-client-cert --echo --priority "$prio" \
		>"gnutls-$tag.log" 2>&1 &
	gpid=$!
	kw_track "$gpid"
	wait_listen "$gport"
	"$KEYWARD" tunnel client --listen "127.0.0.1:$cport" \
		--target "127.0.0.1:$gport" --servername localhost \
		--key "tpm:$KW_T/me.tpmkey" --cert me.pem --ca ca/ca.pem \
		--verbose >"$tag.log" 2>&1 &
	tpid=$!
	kw_track "$tpid"
	wait_listen "$cport"
	R1=$(ping_tunnel "$cport" one)
	R2=$(ping_tunnel "$cport" two)
	R3=$(ping_tunnel "$cport" three)
	kw_stop "$tpid"
	kw_stop "$gpid"
}

echo "== a server that resumes with psk_dhe_ke: resumption works"
run dhe 'NORMAL'
[ "$R1 $R2 $R3" = "one two three" ] ||
	kw_fail "psk_dhe_ke server: got '$R1' '$R2' '$R3': $(cat dhe.log)"
[ "$(grep -c 'tunnel client: TLSv1.3 .* (resumed) with' dhe.log)" = 2 ] ||
	kw_fail "connections two and three were not resumed: $(cat dhe.log)"
echo "ok psk_dhe_ke: three connections, resumed"

echo "== a server that prefers psk_ke: refused at its ServerHello"
run ke 'NORMAL:-KX-ALL:+PSK:+ECDHE-PSK:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE'
[ "$R1" = one ] || kw_fail "first connection (full handshake): '$R1': $(cat ke.log)"
[ -z "$R2" ] || kw_fail "the psk_ke resumption carried data: '$R2': $(cat ke.log)"
grep -q "resumed the TLS 1.3 session without a key exchange (psk_ke: no forward secrecy)" ke.log ||
	kw_fail "no psk_ke refusal: $(cat ke.log)"
[ "$R3" = three ] || kw_fail "the connection after the refusal: '$R3': $(cat ke.log)"
echo "ok psk_ke: $(grep 'psk_ke' ke.log | head -1)"

echo "== a client that resumes offering psk_ke only: refused by a server tunnel"
TARGET=$(kw_free_port)
rm -f target.in && mkfifo target.in
openssl s_server -accept "127.0.0.1:$TARGET" -cert server.pem -key server.key \
	-quiet -naccept 10 <target.in >target.out 2>&1 &
kw_track $!
exec 6<>target.in
wait_listen "$TARGET"
SPORT=$(kw_free_port)
"$KEYWARD" tunnel server --listen "127.0.0.1:$SPORT" \
	--target "127.0.0.1:$TARGET" --key "tpm:$KW_T/me.tpmkey" --cert me.pem \
	--ca ca/ca.pem --allow-all >server.log 2>&1 &
kw_track $!
wait_listen "$SPORT"
timeout 20 "$WOLF_PEER" client "$SPORT" alice.pem alice.key ca/ca.pem - \
	PSK_KE >wolf.out 2>&1 || kw_fail "wolf_peer: $(cat wolf.out)"
grep -q "resumed handshake ok, resumed" wolf.out ||
	kw_fail "the wolfSSL client did not resume: $(cat wolf.out)"
grep -q "connection closed" wolf.out ||
	kw_fail "a psk_ke resumption was kept: $(cat wolf.out) $(cat server.log)"
grep -q "a client resumed TLS 1.3 without a key exchange (psk_ke" server.log ||
	kw_fail "no psk_ke refusal in the server log: $(cat server.log)"
echo "ok server: $(grep 'psk_ke' server.log | head -1)"
exit 0
