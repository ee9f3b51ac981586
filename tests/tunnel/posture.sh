#!/bin/bash
# Posture at the tunnel (issue 12), end to end on swtpm: a server tunnel
# with require-posture (a policy file: ek-ca, secure-boot = required) and
# a client tunnel whose key and AK are in a swtpm provisioned with an EK
# certificate from a local CA, its PCRs extended with a generated UEFI
# event log (tests/tpm/make_eventlog.py):
#   the relay works after the exchange, which costs the client TPM
#   commands once, one credential activation included; a second
#   connection within recheck costs none (the server answers "ok" from its
#   verdict cache); with recheck 0 fresh evidence again costs 10 or more
#   commands fewer than the first (the EK certificates are kept);
#   nginx (mTLS, no posture ALPN) behind a client tunnel with an AK:
#   unaffected;
#   refused, each logged with its claim and counted by reason in the
#   metrics: a client tunnel without AK ("no posture"), a log that does not
#   replay to the quoted PCRs, evidence replayed from another TLS session
#   (by the client tunnel, and by a hostile client that replays captured
#   evidence), a malformed answer, a Secure Boot off log (played into the
#   TPM: it matches its PCRs) vs secure-boot = required; `keyward status`
#   shows each client's last posture; keyward run: a client tunnel of an
#   [identity] with `ak` answers posture (the signer process makes the
#   evidence with the AK its configuration names), a client silent after the
#   handshake is closed at handshake-timeout and counted as "timeout".
#
# keyward-test's tap (KEYWARD_TEST_POSTURE=tap, posture_test_ops.c) saves
# the real evidence a client sent and replays it in another session; every
# other step is the real TPM and verifier.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/tunnel/lib.sh"

KEYWARD=$KW_BUILDDIR/agent/keyward-test
[ -x "$KEYWARD" ] || kw_fail "no $KEYWARD (make check builds it)"
kw_need tpm2_pcrextend
export KEYWARD_TEST_POSTURE=tap
MK="$KW_SRCDIR/tests/tpm/make_eventlog.py"

# play EXTENDS: a log's sha256 extensions ("PCR HEX" lines) into the TPM
# of $TPM2TOOLS_TCTI, in log order.
play() {
	local pcr hex args=()
	while read -r pcr hex; do
		args+=("$pcr:sha256=$hex")
	done <"$1"
	tpm2_pcrextend "${args[@]}" || kw_fail "tpm2_pcrextend failed"
}

cd "$KW_T" || exit 1
kw_make_ca ca
kw_make_server_cert server 7
kw_start_swtpm tpm2
TCTI2=$KW_TCTI
tpm_identity gw "CN=gateway" "DNS:localhost,IP:127.0.0.1"
kw_start_swtpm_ek tpm1
TCTI1=$KW_TCTI
TPM1PID=$KW_SWTPM_PID
tpm_identity laptop "CN=laptop" "DNS:laptop.example.com"
"$KEYWARD" attest init --ak "tpm:$KW_T/ak.tpmkey" --tcti "$TCTI1" \
	>ak.out 2>&1 || kw_fail "attest init: $(cat ak.out)"
python3 "$MK" good.log --app shimx64.efi --app grubx64.efi \
	--extends good.ext >/dev/null || kw_fail "make_eventlog.py failed"
python3 "$MK" evil.log --app shimx64.efi --app evil.efi >/dev/null
python3 "$MK" sboff.log --app shimx64.efi --app grubx64.efi --secure-boot 0 \
	--extends sboff.ext >/dev/null
play good.ext
start_nginx

printf 'ek-ca = %s\nsecure-boot = required\nrecheck = 600\n' "$KW_EK_CA" >policy.conf
printf 'ek-ca = %s\nsecure-boot = required\nrecheck = 0\n' "$KW_EK_CA" >policy0.conf
printf 'ek-ca = %s\nsecure-boot = ignore\nrecheck = 0\n' "$KW_EK_CA" >policyi.conf

GW=(--key "tpm:$KW_T/gw.tpmkey" --cert gw.pem --tcti "$TCTI2" --ca ca/ca.pem
	--allow-cn laptop --allow-cn alice)
LAPTOP=(--key "tpm:$KW_T/laptop.tpmkey" --cert laptop.pem --tcti "$TCTI1"
	--ca ca/ca.pem --servername localhost)
AK=(--ak "tpm:$KW_T/ak.tpmkey" --event-log good.log)

# metric PORT NAME-AND-LABELS: one value from a /metrics page.
metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$1/metrics" |
		awk -v m="$2" '$1 == m { print $2 }'
}

# The gateway: require-posture, recheck 600 s, handshakes on threads.
S=$(kw_free_port)
SM=$(kw_free_port)
start_keyward gw tunnel server --listen "127.0.0.1:$S" \
	--target "127.0.0.1:$NGX_PLAIN" "${GW[@]}" --require-posture policy.conf \
	--handshake-threads 2 --status-socket "$KW_T/gw.ctl" \
	--metrics "127.0.0.1:$SM"
GWPID=$KPID
wait_listen "$S"

# client_tunnel TAG TARGET-PORT [options...]: a client tunnel with the
# laptop's key on CPORT (metrics on CM), once it listens.
client_tunnel() {
	local tag=$1 target=$2
	shift 2
	CPORT=$(kw_free_port)
	CM=$(kw_free_port)
	start_keyward "$tag" tunnel client --listen "127.0.0.1:$CPORT" \
		--target "127.0.0.1:$target" "${LAPTOP[@]}" \
		--metrics "127.0.0.1:$CM" "$@"
	wait_listen "$CPORT"
}

echo "== client tunnel with AK -> gateway with require-posture"
client_tunnel c1 "$S" "${AK[@]}" --handshake-threads 1
curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" | grep -q "plain hello" ||
	kw_fail "relay after posture: $(cat c1.log gw.log)"
cmds1=$(metric "$CM" 'keyward_tunnel_posture_tpm_commands_total{tunnel="client"}')
ans1=$(metric "$CM" 'keyward_tunnel_posture_answers_total{tunnel="client"}')
[ "$ans1" = 1 ] && [ "${cmds1:-0}" -ge 1 ] ||
	kw_fail "first connection: answers $ans1, TPM commands $cmds1 (want 1, >= 1)"
[ "$(grep -c "posture: activated the gateway's credential" c1.log)" = 1 ] &&
	[ -s "$KEYWARD_STATE_DIR/posture-bindings" ] ||
	kw_fail "first connection: no credential activation: $(cat c1.log)"
echo "ok relay after posture ok: 1 answer, $cmds1 TPM commands, 1 activation"
curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" | grep -q "plain hello" ||
	kw_fail "second connection: $(cat c1.log gw.log)"
cmds2=$(metric "$CM" 'keyward_tunnel_posture_tpm_commands_total{tunnel="client"}')
[ "$cmds2" = "$cmds1" ] ||
	kw_fail "second connection within recheck cost $((cmds2 - cmds1)) TPM commands"
[ "$(status_get "$KW_T/gw.ctl" server handshakes.resumed)" = 1 ] &&
[ "$(status_get "$KW_T/gw.ctl" server posture.cached)" = 1 ] &&
[ "$(status_get "$KW_T/gw.ctl" server posture.ok)" = 1 ] ||
	kw_fail "gateway status: $("$KEYWARD" status --json --socket "$KW_T/gw.ctl")"
echo "ok second connection (resumed) within recheck: 0 TPM commands (verdict cached)"
kw_stop "$KPID"

echo "== client tunnel with AK -> nginx (no posture ALPN): unaffected"
client_tunnel c2 "$NGX_TLS" "${AK[@]}"
out=$(curl -sS --max-time 10 "http://127.0.0.1:$CPORT/") &&
	echo "$out" | grep -q "hello CN=laptop" ||
	kw_fail "client tunnel with AK -> nginx: $out $(cat c2.log)"
[ "$(metric "$CM" 'keyward_tunnel_posture_answers_total{tunnel="client"}')" = 0 ] ||
	kw_fail "a posture answer went to nginx"
echo "ok nginx behind a client tunnel with an AK: relayed, no posture asked"
kw_stop "$KPID"

echo "== refusals"
# refused TAG PATTERN: a curl through the client tunnel gets nothing and
# the gateway's log gets PATTERN.
refused() {
	local out
	if out=$(curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" 2>&1) &&
	    echo "$out" | grep -q "plain hello"; then
		kw_fail "$1: relayed: $out"
	fi
	wait_for "$2" "$3" ||
		kw_fail "$1: no '$3' in $2: $(tail -5 "$2")"
	echo "ok refused $1: $(grep -E -- "$3" "$2" | tail -1)"
}
client_tunnel c3 "$S"
refused no-ak gw.log "client CN=laptop.* offered no posture \(keyward-posture/1\)"
kw_stop "$KPID"

# recheck = 0: every connection shows its evidence (swtpm: 3 objects
# loaded at most, each keyward keeps its key: one gateway at a time)
kw_stop "$GWPID"
S0=$(kw_free_port)
SM0=$(kw_free_port)
start_keyward gw0 tunnel server --listen "127.0.0.1:$S0" \
	--target "127.0.0.1:$NGX_PLAIN" "${GW[@]}" --require-posture policy0.conf \
	--status-socket "$KW_T/gw0.ctl" --metrics "127.0.0.1:$SM0"
GW0PID=$KPID
wait_listen "$S0"

# a log that is not what the TPM measured (another boot application)
client_tunnel c4 "$S0" --ak "tpm:$KW_T/ak.tpmkey" --event-log evil.log
refused log-mismatch gw0.log "posture refused: event log does not match the quote at PCR 4 \(event-log\)"
grep -q "the server refused our posture: event log does not match" c4.log ||
	kw_fail "client log lacks the server's reason: $(cat c4.log)"
kw_stop "$KPID"

# evidence made for one TLS session, sent again in another
KEYWARD_TEST_POSTURE_SAVE=$KW_T/ev.bin client_tunnel c5 "$S0" "${AK[@]}"
curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" | grep -q "plain hello" ||
	kw_fail "recheck 0, good posture: $(cat c5.log gw0.log)"
[ -s ev.bin ] || kw_fail "no evidence saved"
# fresh evidence again: the EK certificates are not read from NV again
cmds1=$(metric "$CM" 'keyward_tunnel_posture_tpm_commands_total{tunnel="client"}')
curl -sS --max-time 10 "http://127.0.0.1:$CPORT/" | grep -q "plain hello" ||
	kw_fail "recheck 0, second connection: $(cat c5.log gw0.log)"
cmds2=$(metric "$CM" 'keyward_tunnel_posture_tpm_commands_total{tunnel="client"}')
[ "$(metric "$CM" 'keyward_tunnel_posture_answers_total{tunnel="client"}')" = 2 ] ||
	kw_fail "recheck 0: the second connection sent no fresh evidence"
[ $((cmds2 - cmds1)) -le $((cmds1 - 10)) ] ||
	kw_fail "recheck 0: fresh evidence cost $cmds1 TPM commands, again $((cmds2 - cmds1)): the EK certificates were read again"
echo "ok fresh evidence again: $((cmds2 - cmds1)) TPM commands after $cmds1 (EK certificates kept)"
kw_stop "$KPID"
KEYWARD_TEST_POSTURE_REPLAY=$KW_T/ev.bin client_tunnel c6 "$S0" "${AK[@]}"
refused replayed-quote gw0.log "posture refused: .*\(session\)"
kw_stop "$KPID"

# a hostile client (software key, posture ALPN) replays that evidence in
# its own session, then sends a malformed answer
soft_client alice "/CN=alice" "DNS:alice.example.com"
out=$(python3 "$KW_SRCDIR/tests/tunnel/posture_client.py" replay "$S0" \
	alice.pem alice.key ca/ca.pem ev.bin 2>&1)
case $out in
"verdict no: "*) echo "ok hostile client replaying captured evidence: $out" ;;
*) kw_fail "replayed evidence: $out $(tail -3 gw0.log)" ;;
esac
out=$(python3 "$KW_SRCDIR/tests/tunnel/posture_client.py" garbage "$S0" \
	alice.pem alice.key ca/ca.pem 2>&1)
[ "$out" = "verdict no: the client sent a malformed posture message" ] &&
	wait_for gw0.log "CN=alice.*posture refused: .*\(protocol\)" ||
	kw_fail "malformed answer: $out $(tail -3 gw0.log)"
echo "ok malformed posture message refused ($out)"

# Secure Boot off: the TPM starts again (PCRs reset) and measures a boot
# with Secure Boot off; its log replays to its PCRs, the policy refuses it
kw_stop "$TPM1PID"
kw_start_swtpm_ek tpm1 "${TCTI1##*port=}"
play sboff.ext
client_tunnel c7 "$S0" --ak "tpm:$KW_T/ak.tpmkey" --event-log sboff.log
refused secure-boot-off gw0.log "posture refused: secure boot off \(secure-boot\)"
grep -q "the server refused our posture: secure boot off" c7.log ||
	kw_fail "client log lacks the server's reason: $(cat c7.log)"
kw_stop "$KPID"

# the metrics count by reason; status shows the last posture
[ "$(metric "$SM0" 'keyward_tunnel_posture_refused_total{tunnel="server",reason="secure-boot"}')" = 1 ] &&
[ "$(metric "$SM0" 'keyward_tunnel_posture_refused_total{tunnel="server",reason="session"}')" = 2 ] &&
[ "$(metric "$SM0" 'keyward_tunnel_posture_refused_total{tunnel="server",reason="protocol"}')" = 1 ] &&
[ "$(metric "$SM0" 'keyward_tunnel_posture_refused_total{tunnel="server",reason="event-log"}')" = 1 ] &&
[ "$(metric "$SM0" 'keyward_tunnel_posture_total{tunnel="server",verdict="ok"}')" = 2 ] ||
	kw_fail "metrics: $(curl -sS "http://127.0.0.1:$SM0/metrics" | grep posture)"
echo "ok metrics: refusals counted by reason (secure-boot 1, session 2, protocol 1, event-log 1), ok 2"
"$KEYWARD" status --socket "$KW_T/gw0.ctl" >status.txt ||
	kw_fail "keyward status: $(cat status.txt)"
grep -q "posture      policy policy0.conf: ok 2, cached 0" status.txt &&
	grep -qE "refused secure-boot: .*  CN=laptop" status.txt &&
	grep -qE "refused protocol: .*  CN=alice" status.txt ||
	kw_fail "status lacks the posture: $(cat status.txt)"
echo "ok keyward status shows the last posture:"
grep -A2 "posture " status.txt | sed 's/^/    /'
kw_stop "$GW0PID"

echo "== keyward run: ak in [identity], the exchange under handshake-timeout"
# The identity's client tunnel answers with the identity's AK; a client
# that selects posture and then says nothing is closed at the gateway's
# handshake-timeout and counted as "timeout".
na=$(date -d "$(openssl x509 -in laptop.pem -noout -enddate | cut -d= -f2)" +%s)
cat >laptop.state <<EOF
{"version": 1, "server": "https://127.0.0.1:9/.well-known/est",
 "ca": "$KW_T/ca/ca.pem", "key": "tpm:$KW_T/laptop.tpmkey",
 "cert": "$KW_T/laptop.pem", "tcti": "$TCTI1", "renew_at": 66,
 "alarm_at": 90, "grace": 3600, "rekey": false, "store_on_token": false,
 "not_before": $((na - 7 * 86400)), "not_after": $na, "failures": 0,
 "last_failure": 0}
EOF
chmod 600 laptop.state
D=$(kw_free_port); DC=$(kw_free_port); DM=$(kw_free_port)
cat >keyward.conf <<EOF
[global]
control-socket = $KW_T/d.ctl
metrics = 127.0.0.1:$DM

[identity laptop]
state = $KW_T/laptop.state
ak = tpm:$KW_T/ak.tpmkey
event-log = $KW_T/sboff.log

[tunnel gate]
mode = server
listen = 127.0.0.1:$D
target = 127.0.0.1:$NGX_PLAIN
key = tpm:$KW_T/gw.tpmkey
cert = $KW_T/gw.pem
tcti = $TCTI2
ca = $KW_T/ca/ca.pem
allow-cn = laptop
allow-cn = alice
require-posture = $KW_T/policyi.conf
handshake-timeout = 2

[tunnel laptop]
mode = client
listen = 127.0.0.1:$DC
target = 127.0.0.1:$D
servername = localhost
identity = laptop
ca = $KW_T/ca/ca.pem
EOF
start_keyward daemon run --config keyward.conf
wait_listen "$DC"
curl -sS --max-time 10 "http://127.0.0.1:$DC/" | grep -q "plain hello" ||
	kw_fail "identity's AK: $(cat daemon.log)"
[ "$(metric "$DM" 'keyward_tunnel_posture_total{tunnel="gate",verdict="ok"}')" = 1 ] &&
[ "$(metric "$DM" 'keyward_tunnel_posture_answers_total{tunnel="laptop"}')" = 1 ] ||
	kw_fail "identity's AK: $(curl -sS "http://127.0.0.1:$DM/metrics" | grep posture)"
# the network process holds no TPM: the signer made the evidence with the
# identity's AK, and activated its credential
grep -q "signer: .*posture evidence with AK tpm:$KW_T/ak.tpmkey" daemon.log ||
	kw_fail "evidence not made by the signer: $(cat daemon.log)"
echo "ok a client tunnel of an [identity] with ak answers posture (evidence by the signer process)"
t0=$(date +%s)
out=$(python3 "$KW_SRCDIR/tests/tunnel/posture_client.py" hang "$D" \
	alice.pem alice.key ca/ca.pem 2>&1)
t1=$(date +%s)
[ "$out" = closed ] && [ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 6 ] &&
	wait_for daemon.log "CN=alice.*posture refused: posture exchange not done within handshake-timeout \(timeout\)" ||
	kw_fail "silent client: '$out' after $((t1 - t0)) s: $(tail -3 daemon.log)"
[ "$(metric "$DM" 'keyward_tunnel_posture_refused_total{tunnel="gate",reason="timeout"}')" = 1 ] ||
	kw_fail "timeout not counted"
echo "ok a client silent after the handshake: closed in $((t1 - t0)) s (handshake-timeout 2), counted as timeout"
kw_stop_keywards
kw_no_sanitizer_reports ./*.log
echo "PASS"
