#!/bin/bash
# --timeout bounds a whole EST exchange (issue 9, item 4): connect, TLS,
# request and response together, so a server that answers "100 Continue"
# forever or trickles its answer a byte at a time (each read gets
# something, no read ever times out) cannot hold the client longer, also on
# the unauthenticated first contact (--show-ca, --ca-fingerprint).
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/enroll/lib.sh"
set -e
kw_start_softhsm kwt
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwt;object=laptop?pin-source=file:$KW_T/pin"
est_setup_pki
"$KEYWARD" keygen --module "$MOD" --key "$URI" >/dev/null || kw_fail keygen

HPORT=$(kw_free_port)
echo continue >"$KW_T/hostile.mode"
python3 "$KW_SRCDIR/tests/enroll/hostile_est.py" --port "$HPORT" \
	--cert "$KW_T/est.pem" --key "$KW_T/est.key" \
	--mode-file "$KW_T/hostile.mode" --log "$KW_T/hostile.log" \
	--conn-life 30 --lifetime 90 >"$KW_T/hostile.out" 2>&1 &
kw_track $!
kw_wait_port "$HPORT" 10 || kw_fail "hostile EST server did not start"
URL="https://localhost:$HPORT"

# bounded NAME WHY ARGS...: keyward with --timeout 2 must fail in under 4 s
# saying WHY (the test gives up on it after 15 s)
bounded() {
	local name=$1 why=$2 t0 t1 rc=0
	shift 2
	t0=$(date +%s%3N)
	timeout 15 "$KEYWARD" "$@" --timeout 2 >"$KW_T/$name.out" 2>"$KW_T/$name.err" || rc=$?
	t1=$(date +%s%3N)
	echo "$name: exit $rc after $((t1 - t0)) ms"
	[ $rc != 0 ] || kw_fail "$name: succeeded against a hostile server"
	[ $rc != 124 ] || kw_fail "$name: still hanging after 15 s (--timeout 2)"
	[ $((t1 - t0)) -lt 4000 ] || kw_fail "$name: took $((t1 - t0)) ms with --timeout 2"
	grep -qi "$why" "$KW_T/$name.err" ||
		kw_fail "$name: no '$why' message: $(cat "$KW_T/$name.err")"
}

# a 1xx every 0.4 s and a trickle run into the deadline; a flood of 1xx
# answers is cut short after a few
for mode in continue trickle continue-flood; do
	echo "$mode" >"$KW_T/hostile.mode"
	why="timed out"
	[ "$mode" != continue-flood ] || why="interim (1xx) answers"
	bounded "show-ca-$mode" "$why" enroll est --server "$URL" --show-ca
	bounded "fingerprint-$mode" "$why" enroll est --module "$MOD" --key "$URI" \
		--server "$URL" --ca-fingerprint "$EST_CA_FP" --subject CN=laptop \
		--out "$KW_T/fp-$mode.pem"
	bounded "verified-$mode" "$why" enroll est --module "$MOD" --key "$URI" \
		--server "$URL" --ca "$KW_T/ca/ca.pem" --subject CN=laptop \
		--user alice --password-file "$KW_T/est.pw" --out "$KW_T/v-$mode.pem"
done
[ ! -e "$KW_T/fp-continue.pem" ] && [ ! -e "$KW_T/v-trickle.pem" ] ||
	kw_fail "a certificate was stored"
echo "PASS: --timeout bounds each EST exchange"
