#!/bin/bash
# keyward tunnel against real peers, keys in swtpm:
#   client tunnel -> nginx (ssl_verify_client on); curl through it; the
#     reconnect is resumed (no new TPM signature);
#   client tunnel -> openssl s_server -Verify;
#   curl --cert -> server tunnel -> nginx (plain); keyward client ->
#     keyward server (each with its own swtpm);
#   stunnel client -> keyward server; keyward client -> stunnel server;
# and the refusals, each refused and logged: no client certificate,
# another CA, expired, revoked by CRL, not in the allow-list, wrong server
# name, TLS 1.1 offered; a target that is down (listener stays up);
# half-close and backpressure (8 MiB each way through client + server
# tunnels); the idle timeout; OCSP stapling (good, revoked, none with
# request and require).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/tunnel/lib.sh"
kw_need stunnel4

cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_ca other
kw_make_server_cert server 7
ca_db
kw_start_swtpm tpm2
TCTI2=$KW_TCTI
tpm_identity tserver "CN=tunnel-server" "DNS:localhost,IP:127.0.0.1"
kw_start_swtpm tpm1
TCTI1=$KW_TCTI
tpm_identity laptop "CN=laptop,OU=IT" \
	"URI:spiffe://example.org/laptop,DNS:laptop.example.com"
soft_client alice "/CN=alice" "URI:spiffe://example.org/alice"
soft_client mallory "/CN=mallory/OU=Sales" "URI:spiffe://example.org/mallory"
soft_client bob "/CN=bob" "DNS:bob.example.com"
soft_client carol "/CN=carol/OU=Sales/OU=IT" "DNS:carol.example.com"
soft_client stranger "/CN=alice" "URI:spiffe://example.org/alice" 7 other
soft_client revoked "/CN=alice" "URI:spiffe://example.org/alice"
openssl ca -batch -config ca/ca.cnf -extensions ext -in alice.csr \
	-startdate 20200101000000Z -enddate 20200201000000Z \
	-out expired.pem >ca/expired.log 2>&1 ||
	kw_fail "openssl ca (expired): $(cat ca/expired.log)"
cp alice.key expired.key
openssl ca -config ca/ca.cnf -revoke revoked.pem >ca/crl.log 2>&1 &&
openssl ca -config ca/ca.cnf -gencrl -out ca/ca.crl >>ca/crl.log 2>&1 ||
	kw_fail "openssl ca -gencrl: $(cat ca/crl.log)"
start_nginx

KEY1=(--key "tpm:$KW_T/laptop.tpmkey" --cert laptop.pem --tcti "$TCTI1")
KEY2=(--key "tpm:$KW_T/tserver.tpmkey" --cert tserver.pem --tcti "$TCTI2")
# client_tunnel TAG TARGET-PORT [options...]: a keyward client tunnel with
# the laptop's key on a free port (CPORT), once it listens.
client_tunnel() {
	local tag=$1 target=$2
	shift 2
	CPORT=$(kw_free_port)
	start_keyward "$tag" tunnel client --listen "127.0.0.1:$CPORT" \
		--target "127.0.0.1:$target" "${KEY1[@]}" "$@"
	wait_listen "$CPORT"
}

echo "== client tunnel -> nginx (ssl_verify_client on)"
client_tunnel client1 "$NGX_TLS" --servername localhost --ca ca/ca.pem \
	--status-socket "$KW_T/c1.ctl"
C1=$CPORT
CPID1=$KPID
for i in 1 2 3; do
	out=$(curl -sS --max-time 10 "http://127.0.0.1:$C1/") ||
		kw_fail "curl through the client tunnel: $(cat client1.log)"
	echo "$out" | grep -q "hello CN=laptop,OU=IT" ||
		kw_fail "nginx did not see the TPM client certificate: $out"
done
full=$(status_get c1.ctl client handshakes.full)
resumed=$(status_get c1.ctl client handshakes.resumed)
sigs=$(status_get c1.ctl client signatures.count)
[ "$full" = 1 ] && [ "$resumed" = 2 ] ||
	kw_fail "want 1 full + 2 resumed handshakes, got $full + $resumed"
[ "$sigs" = 1 ] || kw_fail "want 1 TPM signature (resumed cost none), got $sigs"
"$KEYWARD" status --socket c1.ctl | grep -qE "handshakes   full 1, resumed 2, on threads [01]; hardware signatures 1" ||
	kw_fail "keyward status text: $("$KEYWARD" status --socket c1.ctl)"
echo "ok curl through the client tunnel: 1 full + 2 resumed handshakes, 1 TPM signature"

# 1 MiB both ways through the tunnel, checked byte for byte.
curl -sS --max-time 30 "http://127.0.0.1:$C1/big" -o big.down ||
	kw_fail "bulk download"
cmp -s big.down nginx/big || kw_fail "1 MiB download differs"
echo "ok 1 MiB download intact"

echo "== client tunnel -> openssl s_server -Verify"
kw_start_s_server www -www -cert server.pem -key server.key -CAfile ca/ca.pem
SP=$KW_S_PORT
C2=$(kw_free_port)
start_keyward client2 tunnel client --listen "unix:$KW_T/c2.sock" \
	--target "127.0.0.1:$SP" --servername localhost --ca ca/ca.pem \
	"${KEY1[@]}"
n=0; while [ ! -S c2.sock ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
curl -sS --max-time 10 --unix-socket c2.sock http://x/ >s_server.out ||
	kw_fail "curl via unix socket -> s_server: $(cat client2.log)"
grep -q "Client certificate" s_server.out && grep -qE "CN ?= ?laptop" s_server.out ||
	kw_fail "s_server did not report our client certificate"
echo "ok unix-socket client tunnel -> openssl s_server"
# swtpm has no resource manager: 3 transient objects in all, and each
# running keyward keeps its key loaded.  Stop tunnels once done.
kw_stop "$KPID"
kw_stop "$CPID1"

echo "== server tunnel (TPM key) -> nginx plain"
S1=$(kw_free_port)
start_keyward server1 tunnel server --listen "127.0.0.1:$S1" \
	--target "127.0.0.1:$NGX_PLAIN" --ca ca/ca.pem --crl ca/ca.crl \
	"${KEY2[@]}" --allow-san-uri spiffe://example.org/laptop \
	--allow-cn alice --status-socket "$KW_T/s1.ctl"
wait_listen "$S1"
CURL=(curl -sS --max-time 10 --cacert ca/ca.pem)
"${CURL[@]}" --cert alice.pem --key alice.key "https://localhost:$S1/" \
	| grep -q "plain hello" || kw_fail "curl --cert -> server tunnel: $(cat server1.log)"
echo "ok curl --cert/--key through the server tunnel (allow-cn alice)"

# keyward client -> keyward server, each with its own TPM.
client_tunnel client3 "$S1" --servername localhost --ca ca/ca.pem
C3=$CPORT
for i in 1 2; do
	curl -sS --max-time 10 "http://127.0.0.1:$C3/" | grep -q "plain hello" ||
		kw_fail "keyward client -> keyward server: $(cat client3.log server1.log)"
done
echo "ok keyward client -> keyward server (admitted by SPIFFE ID)"
kw_stop "$KPID"

# Half-close both ways and backpressure: 8 MiB up, FIN, then the answer
# (hash + 8 MiB) down after the target saw EOF.
HP=$(kw_free_port)
python3 "$KW_SRCDIR/tests/tunnel/halfclose.py" server "$HP" >hc-server.log 2>&1 &
kw_track $!
wait_listen "$HP"
S2=$(kw_free_port)
start_keyward server2 tunnel server --listen "127.0.0.1:$S2" \
	--target "127.0.0.1:$HP" --ca ca/ca.pem "${KEY2[@]}" --allow-cn laptop
S2PID=$KPID
wait_listen "$S2"
client_tunnel client8 "$S2" --servername localhost --ca ca/ca.pem
C8=$CPORT
out=$(python3 "$KW_SRCDIR/tests/tunnel/halfclose.py" client "$C8" 8388608) &&
	[ "$out" = ok ] || kw_fail "half-close: $out $(cat client8.log server2.log)"
echo "ok half-close and backpressure: 8 MiB up, FIN, hash + 8 MiB down"
kw_stop "$KPID"
kw_stop "$S2PID"

# refuse TAG PATTERN CURL-ARGS...: the handshake fails and server1.log
# gets PATTERN.
refuse() {
	local tag=$1 pattern=$2
	shift 2
	if "$@" >"$tag.out" 2>&1; then
		kw_fail "$tag: was admitted: $(cat "$tag.out")"
	fi
	wait_for server1.log "$pattern" ||
		kw_fail "$tag: server log lacks '$pattern': $(tail -5 server1.log)"
	echo "ok refused $tag: $(grep -E -- "$pattern" server1.log | tail -1)"
}
echo "== refusals by the server tunnel"
refuse no-cert "client .* sent no certificate" \
	"${CURL[@]}" "https://localhost:$S1/"
refuse other-ca "client certificate of .* is not trusted by CA file" \
	"${CURL[@]}" --cert stranger.pem --key stranger.key "https://localhost:$S1/"
refuse expired "client certificate of .* has expired" \
	"${CURL[@]}" --cert expired.pem --key expired.key "https://localhost:$S1/"
refuse revoked "client certificate of .* is revoked" \
	"${CURL[@]}" --cert revoked.pem --key revoked.key "https://localhost:$S1/"
refuse allow-list "CN=mallory, OU=Sales, URI:spiffe://example.org/mallory is not in the allow-list" \
	"${CURL[@]}" --cert mallory.pem --key mallory.key "https://localhost:$S1/"
# openssl 3 refuses TLS 1.1 at its default security level: lower it.
refuse tls1.1 "offers no TLS version|protocol_version|version" \
	openssl s_client -connect "127.0.0.1:$S1" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	-cert alice.pem -key alice.key -CAfile ca/ca.pem </dev/null
# allow-san-dns and allow-ou (any OU of the subject counts)
S3=$(kw_free_port)
start_keyward server3 tunnel server --listen "127.0.0.1:$S3" \
	--target "127.0.0.1:$NGX_PLAIN" --ca ca/ca.pem "${KEY2[@]}" \
	--allow-san-dns bob.example.com --allow-ou IT
wait_listen "$S3"
for who in bob carol; do
	"${CURL[@]}" --cert "$who.pem" --key "$who.key" "https://localhost:$S3/" |
		grep -q "plain hello" || kw_fail "$who not admitted: $(cat server3.log)"
done
"${CURL[@]}" --cert mallory.pem --key mallory.key "https://localhost:$S3/" \
	>/dev/null 2>&1 && kw_fail "mallory admitted by allow-ou IT"
wait_for server3.log "CN=mallory, OU=Sales, URI:spiffe://example.org/mallory is not in the allow-list" ||
	kw_fail "mallory's refusal not logged by server3"
kw_stop "$KPID"
echo "ok allow-san-dns admits bob, allow-ou IT admits carol (OU=Sales+IT), not mallory"
[ "$(status_get s1.ctl server connections.refused)" -ge 6 ] ||
	kw_fail "server tunnel counted $(status_get s1.ctl server connections.refused) refusals"
echo "ok refusals counted"

echo "== refusals by the client tunnel"
client_tunnel client4 "$NGX_TLS" --servername wrong.example --ca ca/ca.pem
C4=$CPORT
curl -sS --max-time 10 "http://127.0.0.1:$C4/" >/dev/null 2>&1 &&
	kw_fail "wrong server name: request went through"
wait_for client4.log "server name wrong.example does not match" ||
	kw_fail "wrong server name not logged: $(cat client4.log)"
echo "ok refused wrong server name"
kw_stop "$KPID"
client_tunnel client5 "$NGX_TLS" --servername localhost --ca other/ca.pem
C5=$CPORT
curl -sS --max-time 10 "http://127.0.0.1:$C5/" >/dev/null 2>&1 &&
	kw_fail "wrong CA: request went through"
wait_for client5.log "server certificate of .* is not trusted by CA file other/ca.pem" ||
	kw_fail "wrong CA not logged: $(cat client5.log)"
echo "ok refused a server certificate from another CA"
kw_stop "$KPID"

echo "== target down"
DOWN=$(kw_free_port)
client_tunnel client6 "$DOWN" --servername localhost --ca ca/ca.pem
C6=$CPORT
for i in 1 2; do
	curl -sS --max-time 10 "http://127.0.0.1:$C6/" >/dev/null 2>&1 &&
		kw_fail "target down: curl succeeded"
done
wait_for client6.log "cannot connect to 127.0.0.1:$DOWN: Connection refused" ||
	kw_fail "target down not logged: $(cat client6.log)"
kill -0 "$KPID" && ss -Hltn "sport = :$C6" | grep -q . ||
	kw_fail "the listener went away after the target refused"
echo "ok target down: local connection closed, reason logged, listener up"
kw_stop "$KPID"

echo "== idle timeout"
client_tunnel client9 "$NGX_TLS" --servername localhost --ca ca/ca.pem \
	--idle-timeout 1
C9=$CPORT
python3 - "$C9" <<'PY' || kw_fail "idle connection: $(cat client9.log)"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
assert s.recv(4096).startswith(b"HTTP/1.1 200")
t0 = time.monotonic()
assert s.recv(4096) == b""          # closed by keyward, not by nginx
assert 0.8 < time.monotonic() - t0 < 5, time.monotonic() - t0
PY
grep -q "idle for 1 s: closed" client9.log || kw_fail "idle close not logged"
echo "ok idle connection closed after 1 s"
kw_stop "$KPID"

echo "== OCSP stapling (client tunnels)"
# Responses from the test CA for the server certificate: good and revoked;
# nginx staples one (or none) from a file.
serial=$(openssl x509 -in server.pem -noout -serial | cut -d= -f2)
exp=$(date -u -d "+7 days" +%y%m%d%H%M%SZ)
ocsp_resp() {	# ocsp_resp V|R OUT
	if [ "$1" = R ]; then
		printf 'R\t%s\t%s\t%s\tunknown\t/CN=server\n' "$exp" \
			"$(date -u +%y%m%d%H%M%SZ)" "$serial" >ocsp.idx
	else
		printf 'V\t%s\t\t%s\tunknown\t/CN=server\n' "$exp" "$serial" >ocsp.idx
	fi
	openssl ocsp -issuer ca/ca.pem -cert server.pem -no_nonce \
		-reqout ocsp.req >ocsp.log 2>&1 &&
	openssl ocsp -index ocsp.idx -rsigner ca/ca.pem -rkey ca/ca.key \
		-CA ca/ca.pem -reqin ocsp.req -respout "$2" -ndays 1 >>ocsp.log 2>&1 ||
		kw_fail "openssl ocsp: $(cat ocsp.log)"
}
ocsp_resp V ocsp-good.der
ocsp_resp R ocsp-revoked.der
OG=$(kw_free_port); OR=$(kw_free_port); ON=$(kw_free_port)
stapled='location / { return 200 "stapled\n"; }'
kw_nginx ngo "$(kw_nginx_mtls "$OG" "$stapled ssl_stapling on; ssl_stapling_file $KW_T/ocsp-good.der;")
$(kw_nginx_mtls "$OR" "$stapled ssl_stapling on; ssl_stapling_file $KW_T/ocsp-revoked.der;")
$(kw_nginx_mtls "$ON" "$stapled")"
wait_listen "$OG"; wait_listen "$OR"; wait_listen "$ON"
# ocsp_try TAG TARGET MODE WANT(ok|refused) [PATTERN]
ocsp_try() {
	local tag=$1 target=$2 mode=$3 want=$4 pattern=${5:-} out
	client_tunnel "$tag" "$target" --servername localhost --ca ca/ca.pem \
		--ocsp-stapling "$mode"
	out=$(curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" 2>/dev/null)
	if [ "$want" = ok ]; then
		[ "$out" = stapled ] || kw_fail "$tag: $out $(cat "$tag.log")"
	else
		[ -z "$out" ] || kw_fail "$tag: was let through"
		wait_for "$tag.log" "$pattern" ||
			kw_fail "$tag: no '$pattern' in $(cat "$tag.log")"
	fi
	kw_stop "$KPID"
	echo "ok OCSP $tag"
}
ocsp_try ocsp-good "$OG" require ok
ocsp_try ocsp-none-request "$ON" request ok
ocsp_try ocsp-revoked "$OR" request refused \
	"server certificate of .* is revoked"
ocsp_try ocsp-none-require "$ON" require refused \
	"stapled no OCSP response .*ocsp-stapling = require"

echo "== stunnel as a peer"
ST1=$(kw_free_port)
kw_start_stunnel st-client "$ST1" "$S1" "client = yes" \
	"cert = $KW_T/alice.pem" "key = $KW_T/alice.key" \
	"CAfile = $KW_T/ca/ca.pem" "verifyChain = yes" "checkHost = localhost"
curl -sS --max-time 10 "http://127.0.0.1:$ST1/" | grep -q "plain hello" ||
	kw_fail "stunnel client -> keyward server: $(tail st-client.log)"
echo "ok stunnel client -> keyward server tunnel"
ST2=$(kw_free_port)
kw_start_stunnel st-server "$ST2" "$NGX_PLAIN" \
	"cert = $KW_T/server.pem" "key = $KW_T/server.key" \
	"CAfile = $KW_T/ca/ca.pem" "verifyChain = yes" "requireCert = yes"
client_tunnel client7 "$ST2" --servername localhost --ca ca/ca.pem
C7=$CPORT
curl -sS --max-time 10 "http://127.0.0.1:$C7/" | grep -q "plain hello" ||
	kw_fail "keyward client -> stunnel server: $(cat client7.log; tail st-server.log)"
echo "ok keyward client tunnel -> stunnel server"
# Under --enable-sanitizers every keyward above reported into its log.
kw_stop_keywards
kw_no_sanitizer_reports ./*.log
exit 0
