#!/bin/bash
# The SoftHSM2 token directory moved away under a tunnel daemon with a
# SoftHSM key (handshakes in a loop), then put back: the daemon stays up,
# says once what failed and that it retries, and handshakes work again by
# themselves (the token found again, logged in with the PIN that worked).
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/tunnel/lib.sh"

cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7
kw_start_softhsm kwd
MOD=$KW_SOFTHSM_MODULE
URI="pkcs11:token=kwd;object=laptop?pin-source=file:$KW_T/pin"
"$KEYWARD" keygen --module "$MOD" --key "$URI" --alg ec-p256 >laptop.pub 2>keygen.err ||
	kw_fail "keygen: $(cat keygen.err)"
"$KEYWARD" csr --module "$MOD" --key "$URI" --subject CN=laptop --out laptop.csr 2>csr.err ||
	kw_fail "csr: $(cat csr.err)"
kw_sign_csr laptop.csr laptop.pem 7 "subjectAltName=DNS:laptop"
start_nginx
L=$(kw_free_port)
start_keyward tun tunnel client --listen "127.0.0.1:$L" \
	--target "127.0.0.1:$NGX_TLS_NR" --servername localhost \
	--key "$URI" --module "$MOD" --cert laptop.pem --ca ca/ca.pem --no-resume
TUN=$KPID
wait_listen "$L"
get() { curl -s -m 10 "http://127.0.0.1:$L/" 2>/dev/null | grep -q "CN=laptop"; }
get || kw_fail "no answer through the tunnel: $(cat tun.log)"

outage_loop_start
sleep 1
lines0=$(wc -l <tun.log)
mv "$KW_T/softhsm" "$KW_T/softhsm.away"
outage_wait_failure 6
kill -0 "$TUN" || kw_fail "the daemon died with the token: $(cat tun.log)"
[ "$bad1" -gt 0 ] || kw_fail "no handshake failed while the token was gone: $(tail -5 tun.log)"
mv "$KW_T/softhsm.away" "$KW_T/softhsm"
t0=$(date +%s)
outage_wait_recovery "the token's return"
echo "ok handshakes again $(( $(date +%s) - t0 )) s after the token came back"
touch stop
wait "$LOOP"
kill -0 "$TUN" || kw_fail "the daemon died: $(cat tun.log)"
tail -n +$((lines0 + 1)) tun.log >outage.log
read -r ok2 bad2 <loop.count
echo "--- the daemon's log during the outage ($bad2 failed handshakes):"
sort outage.log | uniq -c | sort -rn | head -8
# What failed, the module that cannot start without it, the retry
# promised; nothing per failed handshake; back, and signing again.
n=$(wc -l <outage.log)
[ "$n" -le 5 ] || kw_fail "$n lines for one outage ($bad2 failed handshakes): $(head -20 outage.log)"
grep -q "token 'kwd'.*not present.*again\|token 'kwd'.*went away.*again" outage.log ||
	kw_fail "the daemon did not say what failed and that it retries: $(cat outage.log)"
get || kw_fail "no handshake after the outage"
kw_stop "$TUN"
kw_no_sanitizer_reports tun.log
echo "PASS"
