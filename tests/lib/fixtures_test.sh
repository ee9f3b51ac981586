#!/bin/bash
# The fixtures' clean-up, seen from outside a test that uses them: at exit
# it removes its own temp dir and nothing next to it, stops what it started
# (tracked or forgotten, children and grandchildren), and leaves alone a
# process that is not its own even if its PID was once tracked (PIDs are
# reused: pid_max is often 32768 and other runs are busy).
. "${KW_SRCDIR:-$(dirname "$0")/../..}/tests/lib/fixtures.sh"

mkdir "$KW_T/tmp"
# someone else's process: not the inner test's child, not marked by it
sleep 300 &
OTHER=$!
kw_track "$OTHER"

TMPDIR=$KW_T/tmp OUT=$KW_T OTHER=$OTHER KW_SRCDIR=$KW_SRCDIR bash -c '
: "${OUT:?}" "${OTHER:?}"
. "$KW_SRCDIR/tests/lib/fixtures.sh" || exit 3
[ -d "${KW_T:?}" ] || exit 3
echo "$KW_T" >"$OUT/inner.dir"
mkdir "$KW_T-other" "$KW_T.other"	# another run'"'"'s, by the name
sleep 301 &
kw_track $!
echo $! >"$OUT/tracked.pid"
sleep 302 &	# forgotten
echo $! >"$OUT/forgotten.pid"
( sleep 303 & echo $! >"$OUT/grandchild.pid" )
kw_track "$OTHER"	# a PID it once had, now another process
exit 1
' 2>"$KW_T/inner.err"
[ $? = 1 ] || kw_fail "the inner test did not exit 1: $(cat "$KW_T/inner.err")"

inner=$(cat "$KW_T/inner.dir")
[ ! -e "$inner" ] || kw_fail "its temp dir $inner is still there"
[ -d "$inner-other" ] && [ -d "$inner.other" ] ||
	kw_fail "it removed a directory that was not its own: $(ls "$KW_T/tmp")"
for p in tracked forgotten grandchild; do
	pid=$(cat "$KW_T/$p.pid")
	n=0
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 20 ]; do
		sleep 0.1; n=$((n + 1))
	done
	kill -0 "$pid" 2>/dev/null && kw_fail "the $p process $pid still runs"
done
grep -q "stopping what the test left running" "$KW_T/inner.err" ||
	kw_fail "the forgotten processes were not reported: $(cat "$KW_T/inner.err")"
kill -0 "$OTHER" 2>/dev/null || kw_fail "it stopped a process that was not its own"
echo "PASS: the fixtures clean up their own temp dir and processes, and nothing else"
