/* Test hooks.  The installed keyward is built without KW_TEST_HOOKS and
 * has none: the crash points are empty functions.  `make check` builds
 * agent/keyward-test from the same objects plus this file compiled with
 * -DKW_TEST_HOOKS, for the crash tests (tests/enroll/est_enroll.sh). */
#include "agent/identity/identity.h"

#ifdef KW_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_log.h"

void
kw_identity_crash_point(const char *name)
{
	const char *at = getenv("KEYWARD_TEST_KILL_AT");

	if (at != NULL && strcmp(at, name) == 0) {
		kw_warn("test hook: killing myself at '%s'", name);
		(void)kill(getpid(), SIGKILL);
	}
}
#else
void
kw_identity_crash_point(const char *name)
{
	(void)name;
}
#endif
