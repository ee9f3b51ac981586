#!/bin/bash
# swtpm killed (SIGKILL) while a tunnel daemon with a TPM key makes
# handshakes in a loop, then started again on the same state and port:
# the daemon stays up, says once that the TPM is gone and that it will
# retry, and handshakes work again by themselves (the TCTI and ESAPI
# context reconnected, the key loaded again), without restarting keyward.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/tunnel/lib.sh"

cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm
PORT=${KW_TCTI##*port=}
tpm_identity laptop "CN=laptop" "DNS:laptop"
start_nginx
L=$(kw_free_port)
# every connection a full handshake: no resumption on either side
start_keyward tun tunnel client --listen "127.0.0.1:$L" \
	--target "127.0.0.1:$NGX_TLS_NR" --servername localhost \
	--key "tpm:$KW_T/laptop.tpmkey" --cert laptop.pem --ca ca/ca.pem \
	--tcti "$KW_TCTI" --no-resume
TUN=$KPID
wait_listen "$L"

# one request through the tunnel: 0 when nginx answered with our name
get() { curl -s -m 10 "http://127.0.0.1:$L/" 2>/dev/null | grep -q "CN=laptop"; }
get || kw_fail "no answer through the tunnel: $(cat tun.log)"

outage_loop_start
sleep 1
lines0=$(wc -l <tun.log)
kill -KILL "$KW_SWTPM_PID"
wait "$KW_SWTPM_PID" 2>/dev/null
outage_wait_failure 4
kill -0 "$TUN" || kw_fail "the daemon died with the TPM: $(cat tun.log)"
[ "$bad1" -gt 0 ] || kw_fail "no handshake failed while the TPM was gone"
t0=$(date +%s)
kw_start_swtpm tpm "$PORT"
# handshakes work again by themselves
outage_wait_recovery "the TPM's return"
echo "ok handshakes again $(( $(date +%s) - t0 )) s after swtpm restarted"
touch stop
wait "$LOOP"
kill -0 "$TUN" || kw_fail "the daemon died: $(cat tun.log)"
# What it said about the outage: the TPM named once, the retry promised.
tail -n +$((lines0 + 1)) tun.log >outage.log
echo "--- the daemon's log during the outage:"
sort outage.log | uniq -c | sort -rn | head -8
# One line when the TPM went (what failed, that it retries), nothing per
# failed handshake, one line when the key signs again.
read -r ok2 bad2 <loop.count
n=$(wc -l <outage.log)
[ "$bad2" -ge 10 ] || kw_fail "only $bad2 handshakes failed during the outage: too short to tell"
[ "$n" -le 3 ] || kw_fail "$n lines for one outage ($bad2 failed handshakes): $(cat outage.log)"
grep -q "tpm: lost the TPM at $KW_TCTI .*retrying at each use" outage.log ||
	kw_fail "the daemon did not say what failed and that it retries: $(cat outage.log)"
grep -q "signs again ([0-9]* signatures failed" outage.log ||
	kw_fail "the daemon did not say that the key signs again: $(cat outage.log)"
get || kw_fail "no handshake after the outage"
kw_stop "$TUN"
kw_no_sanitizer_reports tun.log
echo "PASS"
