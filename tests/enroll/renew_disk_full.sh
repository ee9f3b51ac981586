#!/bin/bash
# The disk full while the daemon renews: the identity's directory (key
# file, certificate, state) on a small tmpfs, filled up.  Each attempt
# fails cleanly in one line that names ENOSPC and the file; the old key,
# certificate and state stay as they were and keep serving the tunnel;
# nothing half-written is left (no temporary file, no .next, no new key);
# once space is freed the renewal succeeds.  Root only (mount), in a
# private mount namespace (unshare -m) so the mount is nobody else's.
# shellcheck disable=SC2015  # "A && B || kw_fail": kw_fail exits
if [ -z "${KW_IN_MNTNS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		echo "SKIP: needs root and unshare (a private tmpfs)" >&2
		exit 77
	fi
	KW_IN_MNTNS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/enroll/lib.sh"
set -e
D="$KW_T/id"
mkdir -p "$D"
mount -t tmpfs -o size=1m,mode=0700 kwtest "$D" || kw_skip "cannot mount a tmpfs"
trap 'umount -l "$D" 2>/dev/null; kw_cleanup' EXIT

kw_start_swtpm
est_setup_pki
est_start --minutes 2		# lifetime 150 s (backdated 30 s)
S="$D/c.pem.state"
est_tpm_enroll "$D" 600
sums() { (cd "$D" && sha256sum c.pem k.pem c.pem.state); }
before=$(sums)
listing() { (cd "$D" && ls -A | grep -v '^filler$\|\.lock$' | sort | tr '\n' ' '); }
files0=$(listing)

# the disk full: what is left of the 1 MiB taken by one file
dd if=/dev/zero of="$D/filler" bs=4k 2>/dev/null || true
[ "$(df --output=avail "$D" | tail -1)" -eq 0 ] || kw_fail "the tmpfs is not full"

est_start_echo
est_daemon_conf "tcti = $KW_TCTI" "$S" "renew-at = 10%
grace = 600"
est_daemon_run

est_wait_until 15 '[ "$(est_failures)" -ge 2 ]' ||
	kw_fail "no two failed attempts on a full disk: $(cat "$KW_T/run.err")"
grep 'renewal failed' "$KW_T/run.err" | head -1
# one line per attempt, naming ENOSPC and the file
n=$(grep -c 'error:\|warning:' "$KW_T/run.err" || true)
[ "$n" = "$(est_failures)" ] || kw_fail "$n lines for $(est_failures) failed attempts: $(cat "$KW_T/run.err")"
grep -q "renewal failed (cannot write $D/[^ ]*: No space left on device" "$KW_T/run.err" ||
	kw_fail "the failure does not name ENOSPC and the file: $(cat "$KW_T/run.err")"
[ "$(sums)" = "$before" ] || kw_fail "the old key, certificate or state changed on a full disk"
[ "$(listing)" = "$files0" ] ||
	kw_fail "left behind on a full disk: $(listing) (was: $files0)"
est_talk || kw_fail "the old identity does not serve on a full disk"
tail -1 "$KW_T/echo.log" | grep -q "$(cert_pub "$D/c.pem")" || kw_fail "not the old certificate"

echo "== space freed"
rm -f "$D/filler"
est_wait_until 30 'grep -q "renewed: key" "$KW_T/run.err"' ||
	kw_fail "no renewal once space was freed: $(tail -5 "$KW_T/run.err")"
run_kw check enroll est --check --state "$S"
expect_rc 0 "identity after the renewal" check
est_wait_until 10 'est_talk && tail -1 "$KW_T/echo.log" | grep -q "$(cert_pub "$D/c.pem")"' ||
	kw_fail "new connections do not use the renewed identity"
ls "$D" | grep -q 'tmp\|\.next$' && kw_fail "temporary files left: $(ls "$D")"
kill -TERM $RUN
wait $RUN || kw_fail "keyward run did not stop cleanly: $(tail -5 "$KW_T/run.err")"
kw_no_sanitizer_reports "$KW_T/run.err"
echo "PASS"
