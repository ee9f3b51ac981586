#!/bin/bash
# keyward's server-name checks as strict as OpenSSL's (issue 9, item 7),
# against openssl s_server, gnutls-serv and a plain wolfSSL server
# (tests/tls/wolf_peer), keys in swtpm: certificates for "*", "*.com",
# "*.example", "svc.*.example", "f*.example" are refused, as is CN=127.0.0.1
# without SANs for an IP target and an IP SAN for another address -- all
# while the server's certificate is checked, before the TPM signs anything
# (TLS 1.3 and 1.2); "*.svc.example" and IP SAN 127.0.0.1 still pass.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
kw_need gnutls-serv
. "$KW_SRCDIR/tests/tls/lib.sh"

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

exit 0
