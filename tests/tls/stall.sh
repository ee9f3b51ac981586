#!/bin/bash
# kw_tls_connect's timeout bounds the whole handshake (issue 9, item 12): a
# server that answers the ClientHello with one byte every 0.5 s (each read
# succeeds, so a per-read socket timeout never fires) is given up after the
# timeout.  Measured with `keyward connect`, whose timeout is 10 s; the
# server trickles for 30 s.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm openssl python3 timeout
kw_start_swtpm tpm
kw_make_ca ca
cd "$KW_T" || exit 1
"$KEYWARD" keygen --key "tpm:$KW_T/k.tpmkey" --alg ec-p256 >k.pub 2>k.err ||
	kw_fail "keygen: $(cat k.err)"
"$KEYWARD" csr --key "tpm:$KW_T/k.tpmkey" --subject "CN=stall" \
	--out k.csr 2>k.err || kw_fail "csr: $(cat k.err)"
kw_sign_csr k.csr k.pem 7

PORT=$(kw_free_port)
python3 "$KW_SRCDIR/tests/tls/stall_server.py" "$PORT" 0.5 30 >stall.out 2>&1 &
kw_track $!
n=0
while ! grep -q listening stall.out; do	# no probe: it takes one client
	sleep 0.1; n=$((n + 1))
	[ $n -ge 100 ] && kw_fail "stall server did not start: $(cat stall.out)"
done

start=$(date +%s%N)
rc=0
timeout 60 "$KEYWARD" connect --key "tpm:$KW_T/k.tpmkey" --cert k.pem \
	--ca ca/ca.pem --servername localhost "127.0.0.1:$PORT" </dev/null \
	>connect.out 2>connect.err || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 4 ] || kw_fail "connect to a stalling server: exit $rc after $ms ms: $(cat connect.err)"
grep -q "TLS handshake with 127.0.0.1:$PORT timed out after 10000 ms" connect.err ||
	kw_fail "no handshake timeout message after $ms ms: $(cat connect.err)"
[ "$ms" -lt 12500 ] ||
	kw_fail "a 10 s timeout took $ms ms against a stalling server"
echo "ok stalled handshake given up after $ms ms (timeout 10000 ms)"
exit 0
