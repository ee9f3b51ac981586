#!/bin/bash
# Renewal in a running process (the renewal runner the daemon uses, here
# driven by `keyward enroll est --watch`): 2-minute certificates from the
# EST test server, renewed with a new TPM key each time when due, old keys
# deleted after their grace period; a failing CA is retried; an external
# SIGKILL in the middle of a renewal leaves exactly one usable identity.
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
kw_need tpm2_flushcontext
kw_start_swtpm
est_setup_pki
est_start --minutes 2		# lifetime 150 s (the server backdates 30 s)

K="$KW_T/k.pem"
S="$KW_T/c.pem.state"
"$KEYWARD" keygen --tcti "$KW_TCTI" --key "tpm:$K" >/dev/null || kw_fail keygen
# renew at 25 % of 150 s: 7.5 s after each issuance
run_kw enroll enroll est --tcti "$KW_TCTI" --server "$EST_URL" --subject CN=w \
	--user alice --password-file "$KW_T/est.pw" --ca "$KW_T/ca/ca.pem" \
	--key "tpm:$K" --out "$KW_T/c.pem" --renew-at 25% --grace 5
expect_rc 0 "enroll" enroll

key_in_state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"])' "$S"; }
wait_for() {	# wait_for SECONDS 'SHELL CONDITION' (evaluated each time)
	local t=$1 n=0
	while ! eval "$2"; do
		sleep 0.5
		n=$((n + 1))
		[ $n -ge $((t * 2)) ] && return 1
	done
	return 0
}
renewals() { grep -c 'renewed: key' "$KW_T/watch.err" 2>/dev/null || true; }

"$KEYWARD" enroll est --watch --state "$S" 2>"$KW_T/watch.err" &
W=$!
kw_track $W

# Two renewals in a row, each with a new key; the first key deleted once
# its 5 s grace period is over.
wait_for 40 '[ "$(renewals)" -ge 2 ]' ||
	kw_fail "no two renewals within 40 s: $(cat "$KW_T/watch.err")"
case $(key_in_state) in
"tpm:$KW_T/k.2.pem"|"tpm:$KW_T/k.3.pem"|"tpm:$KW_T/k.4.pem") ;;
*) kw_fail "state names $(key_in_state)" ;;
esac
wait_for 20 '[ ! -e "$K" ]' || kw_fail "the first key outlived its grace period"
run_kw check1 enroll est --check --state "$S"
expect_rc 0 "identity during --watch" check1

# A failing CA: attempts continue with backoff, the identity stays usable.
est_mode error
n0=$(est_count simplereenroll 500)
wait_for 30 '[ "$(est_count simplereenroll 500)" -ge $((n0 + 2)) ]' ||
	kw_fail "no retries against a failing CA: $(tail -5 "$KW_T/watch.err")"
grep -q 'renewal failed' "$KW_T/watch.err" || kw_fail "failure not logged"
run_kw check2 enroll est --check --state "$S"
expect_rc 0 "identity while the CA fails" check2

# SIGKILL while a renewal is in flight (the CA is slow): one identity.
est_mode slow
before=$(key_in_state)
n0=$(grep -c 'identity cli: renewing' "$KW_T/watch.err" || true)
wait_for 40 '[ "$(grep -c "identity cli: renewing" "$KW_T/watch.err")" -gt "$n0" ]' ||
	kw_fail "no renewal attempt: $(tail -5 "$KW_T/watch.err")"
sleep 1
# meanwhile the command line must neither renew nor "recover" the live
# renewal's new key (no --check here: swtpm has no resource manager and
# only three object slots, which the renewal in flight is using)
run_kw concurrent enroll est --renew --force --state "$S"
[ "$RC" != 0 ] && grep -q 'another keyward is renewing' "$KW_T/concurrent.err" ||
	kw_fail "a second renewal ran concurrently: $(cat "$KW_T/concurrent.err")"
grep -q '"phase": "intent"' "$S" || kw_fail "the live renewal's intent was undone"
kill -9 $W
wait $W 2>/dev/null || true
# what /dev/tpmrm0 does for a dead client
tpm2_flushcontext -t >/dev/null 2>&1 || true
tpm2_flushcontext -s >/dev/null 2>&1 || true
run_kw check3 enroll est --check --state "$S"
expect_rc 0 "identity after SIGKILL mid-renewal" check3
[ "$(key_in_state)" = "$before" ] || kw_fail "the key changed although the renewal was killed"
n=$(ls "$KW_T"/k*.pem | wc -l)
[ "$n" = 1 ] || kw_fail "$n key files after recovery: $(ls "$KW_T"/k*.pem)"

# And it carries on: the next run renews with a fresh key.
est_mode ok
"$KEYWARD" enroll est --watch --state "$S" 2>"$KW_T/watch2.err" &
W=$!
kw_track $W
wait_for 40 'grep -q "renewed: key" "$KW_T/watch2.err"' ||
	kw_fail "no renewal after restart: $(cat "$KW_T/watch2.err")"
kill -TERM $W
wait $W || kw_fail "--watch did not stop cleanly on SIGTERM"
run_kw check4 enroll est --check --state "$S"
expect_rc 0 "identity after restart" check4
echo "PASS: renewal runner with 2-minute certificates"
