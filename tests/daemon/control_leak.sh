#!/bin/bash
# Control-socket clients still connected at shutdown are released (issue
# 9, item 25): idle and half-sent clients are connected when SIGTERM
# arrives; the leak checker (LeakSanitizer in the sanitizer build,
# valgrind otherwise) must find none of their buffers lost.
. "$KW_SRCDIR/tests/lib/fixtures.sh"
. "$KW_SRCDIR/tests/daemon/lib.sh"
set -e
kw_need python3
if ldd "$KEYWARD" | grep -q libtsan; then
	kw_skip "a ThreadSanitizer build: no leak checker, and valgrind cannot run it"
elif ldd "$KEYWARD" | grep -q libasan; then
	RUNNER=""
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
elif command -v valgrind >/dev/null; then
	RUNNER="valgrind --leak-check=full --log-file=$KW_T/vg.log"
else
	kw_skip "neither a sanitizer build nor valgrind"
fi
daemon_identity
daemon_conf "$KW_T/keyward.conf"
# shellcheck disable=SC2086
$RUNNER "$KEYWARD" run --config "$KW_T/keyward.conf" 2>"$KW_T/run.err" &
RUN=$!
kw_track $RUN
n=0
until [ -S "$KW_T/control" ] && grep -q 'running' "$KW_T/run.err"; do
	sleep 0.2; n=$((n + 1))
	[ $n -lt 150 ] || kw_fail "keyward run did not start: $(cat "$KW_T/run.err")"
done
# three clients that never finish their request, one that does
python3 - "$KW_T/control" "$RUN" <<'PY' || kw_fail "clients: see above"
import os, signal, socket, sys, time
socks = []
for req in (b"", b"sta", b"status-but-not-yet"):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(req)
    socks.append(s)
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"status\n")
s.settimeout(20)
assert s.recv(10), "no status answer"
time.sleep(0.5)
os.kill(int(sys.argv[2]), signal.SIGTERM)
time.sleep(0.2)
PY
rc=0
wait "$RUN" || rc=$?
[ $rc = 0 ] || kw_fail "keyward run exited $rc: $(tail -5 "$KW_T/run.err")"
if [ -n "$RUNNER" ]; then
	grep -A12 'definitely lost' "$KW_T/vg.log" | grep -q 'ctl_\|bufferevent' &&
		kw_fail "control clients leaked: $(grep -B2 -A12 'definitely lost' "$KW_T/vg.log" | head -40)"
	grep -q 'ERROR SUMMARY' "$KW_T/vg.log" || kw_fail "valgrind did not finish"
else
	grep -A12 'LeakSanitizer\|Direct leak' "$KW_T/run.err" | grep -q 'ctl_\|bufferevent' &&
		kw_fail "control clients leaked: $(grep -A15 'Direct leak' "$KW_T/run.err" | head -40)"
fi
echo "PASS: no control-socket client leaks at shutdown"
