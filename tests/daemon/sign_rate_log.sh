#!/bin/bash
# A key over its signer's sign-rate: the network process says so once
# when the refusals start and once when they stop (with how many were
# refused), not one line per refused handshake.  One SoftHSM2 key, one
# client tunnel, sign-rate = 2, bursts of handshakes well over it.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/daemon/lib.sh"

kw_need openssl curl nginx
cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7
daemon_card kwrate card
kw_start_nginx

W=$(kw_free_port)
{ cat <<CONF
[global]
control-socket = $KW_T/control
module = $MOD
log-level = info
sign-rate = 2
CONF
daemon_nginx_tunnel card "$W" "$KEY" "$KW_T/card.pem"; } >keyward.conf
get() { curl -s --max-time 10 "http://127.0.0.1:$W/"; }

kw_start_keyward rate run --config keyward.conf
kw_wait_for rate.log "running: 1 tunnels?" || kw_fail "did not start: $(cat rate.log)"

echo "== bursts over sign-rate: one line when the refusals start"
# three bursts of 15 handshakes, 0.3 s apart: a few go through (the
# signer's bucket holds 2), the rest are refused in one episode
pids=""
for b in 1 2 3; do
	for i in $(seq 15); do
		get >"burst.$b.$i" &
		pids="$pids $!"
	done
	sleep 0.3
done
for p in $pids; do wait "$p" || true; done
ok=$(cat burst.* | grep -c hello || true)
[ "$ok" -lt 45 ] || kw_fail "sign-rate 2/s let all 45 handshakes through"
refused=$("$KEYWARD" status --json --socket control |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["signer"]["refused"])')
[ "$refused" -ge 20 ] || kw_fail "only $refused signatures refused ($ok through): no flood"
# the network process's lines about it (the signer's own are "signer: ...")
net() { grep -v 'signer: ' rate.log | grep -cE "$1" || true; }
n=$(net 'could not sign|TLS handshake failed|refused by sign-rate')
[ "$n" -le 2 ] ||
	kw_fail "$n lines for $refused refused signatures: $(grep -v 'signer: ' rate.log | tail -20)"
[ "$(net 'signatures refused by sign-rate from now')" = 1 ] ||
	kw_fail "the start of the refusals was not said once: $(grep -v 'signer: ' rate.log | tail -20)"
echo "ok $ok of 45 through, $refused refused, $n lines"

echo "== under the rate again: one line with the count"
sleep 1.5
get | grep -q hello || kw_fail "no handshake under the rate: $(tail -5 rate.log)"
kw_wait_for rate.log "signs again: [0-9]+ signatures refused by sign-rate" ||
	kw_fail "the end of the refusals was not said: $(grep -v 'signer: ' rate.log | tail -20)"
said=$(grep -oE 'signs again: [0-9]+' rate.log | grep -oE '[0-9]+$')
[ "$said" -ge 20 ] || kw_fail "said $said refused, the signer counted $refused"
[ "$(net 'signs again: ')" = 1 ] || kw_fail "the end was said more than once"
kw_stop "$KPID"
echo "ok said once at the end: $said refused"
kw_no_sanitizer_reports rate.log
