#!/bin/bash
# SIGKILL at every step of a renewal in the daemon, in a loop: `keyward
# run` (the test build, KEYWARD_TEST_KILL_AT) renews a TPM identity and
# kills itself after the intent, the new key, the enrollment, the written
# certificate, the switch, the copy.  After each kill: the TPM holds no
# object of the dead process (nothing to flush, no resource manager),
# `keyward enroll est --check` passes, the certificate and key in force
# are a pair (old or new, never mixed); the daemon started again recovers
# (no temporary file, no .next, no key file the state does not name) and
# serves the tunnel with that identity.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
kw_need tpm2_getcap
[ -x "$KEYWARD_HOOKS" ] || kw_fail "$KEYWARD_HOOKS not built (make check builds it)"
kw_start_swtpm
est_setup_pki
est_start --minutes 2		# lifetime 150 s (backdated 30 s)
D="$KW_T/id"
mkdir -p "$D"
S="$D/c.pem.state"
# renew at 10 %: every certificate this CA issues is due at once
est_tpm_enroll "$D" 2
est_start_echo
est_daemon_conf "tcti = $KW_TCTI" "$S" "renew-at = 10%
grace = 2"
state_key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["key"][4:])' "$S"; }
state_cert() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cert"])' "$S"; }
# the certificate in force and the key the state names are a pair
pair_ok() {
	local k c
	k=$(state_key)
	c=$(state_cert)
	[ -f "$k" ] && [ -f "$c" ] || return 1
	"$KEYWARD" csr --tcti "$KW_TCTI" --key "tpm:$k" --subject CN=x \
		--out "$KW_T/pair.csr" 2>/dev/null || return 1
	[ "$(openssl req -in "$KW_T/pair.csr" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
	  "$(openssl x509 -in "$c" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" ]
}
transients() { tpm2_getcap -T "$KW_TCTI" handles-transient | grep -c 0x80 || true; }

t0=$(date +%s)
kills=0
for round in 1 2; do
	for point in after-intent after-keygen after-enroll after-cert-write \
	    after-switch after-copy; do
		rc=0
		(KEYWARD_TEST_KILL_AT=$point "$KEYWARD_HOOKS" run \
			--config "$KW_T/keyward.conf" 2>"$KW_T/kill.err") \
			2>/dev/null || rc=$?
		[ "$rc" = 137 ] ||
			kw_fail "$point: not killed (exit $rc): $(tail -5 "$KW_T/kill.err")"
		kills=$((kills + 1))
		n=$(transients)
		[ "$n" = 0 ] || kw_fail "$point: the dead daemon left $n objects in the TPM"
		run_kw "check-$point" enroll est --check --state "$S"
		expect_rc 0 "identity after SIGKILL at $point" "check-$point"
		pair_ok || kw_fail "$point: certificate $(state_cert) and key $(state_key) are not a pair"
		# started again: recovers, serves, renews
		"$KEYWARD" run --config "$KW_T/keyward.conf" 2>"$KW_T/run.err" &
		RUN=$!
		kw_track $RUN
		kw_wait_port "$LISTEN" 15 || kw_fail "$point: keyward run did not listen: $(cat "$KW_T/run.err")"
		est_talk || kw_fail "$point: no connection after the restart: $(tail -5 "$KW_T/run.err")"
		n=0
		until grep -q 'renewed: key' "$KW_T/run.err"; do
			sleep 0.2; n=$((n + 1))
			[ $n -lt 100 ] || kw_fail "$point: no renewal after the restart: $(tail -5 "$KW_T/run.err")"
		done
		kill -TERM $RUN
		wait $RUN || kw_fail "$point: keyward run did not stop cleanly: $(tail -5 "$KW_T/run.err")"
		kw_no_sanitizer_reports "$KW_T/run.err" "$KW_T/kill.err"
		pair_ok || kw_fail "$point: after the restart, not a pair"
		# nothing half-done: no temporary file, no .next, no key file
		# the state does not name (in force, or old awaiting deletion)
		for f in "$D"/*; do
			case $f in
			*.tmp.*|*.next) kw_fail "$point: left behind: $f" ;;
			"$D"/k*.pem) grep -qF "tpm:$f\"" "$S" ||
				kw_fail "$point: orphaned key file $f" ;;
			esac
		done
	done
done
echo "ok $kills kills at 6 steps, each recovered, in $(( $(date +%s) - t0 )) s"
echo "PASS"
