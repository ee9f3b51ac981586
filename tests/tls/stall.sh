#!/bin/bash
# kw_tls_connect's timeout bounds the whole handshake (issue 9, item 12): a
# server that answers the ClientHello with one byte every 0.5 s (each read
# succeeds, so a per-read socket timeout never fires) is given up after the
# timeout, measured with `keyward enroll est --timeout 2` (the EST client
# connects through kw_tls_connect).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

kw_need swtpm openssl python3 timeout
kw_start_swtpm tpm
kw_make_ca ca
cd "$KW_T" || exit 1
"$KEYWARD" keygen --key "tpm:$KW_T/k.tpmkey" --alg ec-p256 >k.pub 2>k.err ||
	kw_fail "keygen: $(cat k.err)"

PORT=$(kw_free_port)
python3 "$KW_SRCDIR/tests/tls/stall_server.py" "$PORT" 0.5 30 >stall.out 2>&1 &
SPID=$!
kw_track "$SPID"
n=0
while ! grep -q listening stall.out; do
	sleep 0.1; n=$((n + 1))
	[ $n -ge 100 ] && kw_fail "stall server did not start: $(cat stall.out)"
done	# (no probe connection: the server takes one client)

start=$(date +%s%N)
rc=0
timeout 40 "$KEYWARD" enroll est --server "https://127.0.0.1:$PORT" \
	--ca ca/ca.pem --key "tpm:$KW_T/k.tpmkey" --subject CN=stall \
	--out "$KW_T/stall.pem" --timeout 2 >enroll.out 2>enroll.err || rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 4 ] || kw_fail "enroll against a stalling server: exit $rc after $ms ms: $(cat enroll.err)"
# kw_tls_connect's own limit, or the EST client's deadline for the whole
# exchange (issue 9, item 4), which now bounds the same handshake
grep -Eq "TLS handshake with 127.0.0.1:$PORT timed out after 2000 ms|127.0.0.1:$PORT timed out: the exchange .* did not finish within 2 s" enroll.err ||
	kw_fail "no handshake timeout message after $ms ms: $(cat enroll.err)"
[ "$ms" -lt 4000 ] ||
	kw_fail "a 2 s timeout took $ms ms against a stalling server"
echo "ok stalled handshake given up after $ms ms (timeout 2000 ms)"
exit 0
