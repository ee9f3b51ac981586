#!/bin/bash
# The CA down, answering garbage, then slow while the daemon (`keyward
# run`) renews a TPM identity that a tunnel uses: every failed attempt is
# one line naming what failed and when the next one is, the old identity
# keeps serving handshakes throughout (also while a slow renewal is in
# flight), and the renewal succeeds once the CA answers.  The key is in
# swtpm, without a resource manager: the daemon's tunnel key, the
# re-enrollment's mutual TLS and the new key share its 3 object slots.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
kw_start_swtpm
est_setup_pki
est_start --minutes 2		# lifetime 150 s (backdated 30 s)
EST_PID=$!
PORT=$EST_PORT

S="$KW_T/c.pem.state"
# renew at 10 % of 150 s: due from the start (not-before is 30 s ago)
est_tpm_enroll "$KW_T" 600
first=$(cert_pub "$KW_T/c.pem")

# the CA down: stopped before the daemon starts
kw_stop "$EST_PID"
est_start_echo
est_daemon_conf "tcti = $KW_TCTI" "$S" "renew-at = 10%
grace = 600"
est_daemon_run

# the errors and warnings of attempt N (between its "renewing" line and
# the next one; the daemon's other news aside)
attempt_lines() {
	awk -v n="$1" '/renewing$/ { a++ } a == n && /error:|warning:/' "$KW_T/run.err"
}

echo "== CA down"
est_wait_until 15 '[ "$(est_failures)" -ge 1 ]' || kw_fail "no failed attempt: $(cat "$KW_T/run.err")"
est_talk || kw_fail "the old identity does not serve while the CA is down"
attempt_lines 1
[ "$(attempt_lines 1 | wc -l)" = 1 ] || kw_fail "not one line for one failed attempt"
attempt_lines 1 | grep -q "renewal failed (cannot connect to EST server localhost:$PORT); the current certificate stays in use; next attempt in about [0-9]* s" ||
	kw_fail "no 'next attempt' line"

echo "== CA answering garbage (a truncated PKCS#7)"
# the same server again on the same port (est_start picks a new one)
saved=$(declare -f kw_free_port)
kw_free_port() { echo "$PORT"; }
est_start --minutes 2
eval "$saved"
est_mode badp7
est_wait_until 20 '[ "$(est_failures)" -ge 2 ]' || kw_fail "no second failed attempt: $(tail -5 "$KW_T/run.err")"
est_talk || kw_fail "the old identity does not serve after garbage from the CA"
attempt_lines 2
[ "$(attempt_lines 2 | wc -l)" = 1 ] || kw_fail "not one line for one failed attempt"
[ "$(cert_pub "$KW_T/c.pem")" = "$first" ] || kw_fail "the certificate changed after a failed renewal"

echo "== CA slow (5 s), then fine: the old identity serves meanwhile"
est_mode slow
est_wait_until 30 '[ "$(grep -c "renewing$" "$KW_T/run.err")" -ge 3 ]' ||
	kw_fail "no third attempt: $(tail -5 "$KW_T/run.err")"
sleep 1
grep -q 'renewed: key' "$KW_T/run.err" && kw_fail "the slow CA was not slow"
for i in 1 2 3; do est_talk || kw_fail "no handshake while the renewal waits for the CA"; done
est_wait_until 20 'grep -q "renewed: key" "$KW_T/run.err"' ||
	kw_fail "no renewal once the CA answered: $(tail -5 "$KW_T/run.err")"
[ "$(cert_pub "$KW_T/c.pem")" != "$first" ] || kw_fail "renewed, but the certificate did not change"
est_wait_until 10 'est_talk && tail -1 "$KW_T/echo.log" | grep -q "$(cert_pub "$KW_T/c.pem")"' ||
	kw_fail "new connections do not use the renewed identity: $(tail -3 "$KW_T/echo.log")"
run_kw check enroll est --check --state "$S"
expect_rc 0 "identity after the renewal" check
kill -TERM $RUN
wait $RUN || kw_fail "keyward run did not stop cleanly: $(tail -5 "$KW_T/run.err")"
kw_no_sanitizer_reports "$KW_T/run.err"
echo "PASS"
