#!/bin/bash
# The crash-test hook (KEYWARD_TEST_KILL_AT: the process SIGKILLs itself)
# is only in the check-only agent/keyward-test, never in the keyward that
# is installed (issue 9, item 27).
. "$KW_SRCDIR/tests/lib/fixtures.sh"
HOOKS=${KEYWARD_HOOKS:-$KW_BUILDDIR/agent/keyward-test}
[ -x "$HOOKS" ] || kw_fail "no test build $HOOKS"
grep -q KEYWARD_TEST_KILL_AT "$HOOKS" || kw_fail "the test build has no crash hook"
! grep -q KEYWARD_TEST_KILL_AT "$KEYWARD" ||
	kw_fail "the product binary $KEYWARD contains the test hook KEYWARD_TEST_KILL_AT"
echo "PASS: test hooks only in the test build"
