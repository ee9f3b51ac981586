/* Test hooks.  The installed keyward is built without KW_TEST_HOOKS and
 * has none: the crash points are empty functions.  `make check` builds
 * agent/keyward-test from the same objects plus this file compiled with
 * -DKW_TEST_HOOKS, for the crash tests (tests/enroll/est_enroll.sh). */
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"

#ifdef KW_TEST_HOOKS
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/keys/keyref.h"

void
kw_identity_crash_point(const char *name)
{
	const char *at = getenv("KEYWARD_TEST_KILL_AT");

	if (at != NULL && strcmp(at, name) == 0) {
		kw_warn("test hook: killing myself at '%s'", name);
		/* `keyward run`'s network process: the whole daemon dies (its
		 * supervisor too, the signer by PDEATHSIG), as the crash tests
		 * mean; a lone network process would just be restarted */
		if (kw_keyref_signer() != NULL)
			(void)kill(getppid(), SIGKILL);
		(void)kill(getpid(), SIGKILL);
	}
}

void
kw_test_sandbox_probe(void)
{
	const char *p = getenv("KEYWARD_TEST_EXEC_PROBE");
	char *const argv[] = { "true", NULL };
	int e;

	const char *ref = getenv("KEYWARD_TEST_OPEN_REF");
	const char *w = getenv("KEYWARD_TEST_WRITE_PROBE");
	struct kw_keyref_opts o;
	struct kw_key *k = NULL;
	char path[4096];
	size_t n;
	int r, fd;

	/* files a compromised network process might create (':' between
	 * paths); each one made is left for the test to see */
	while (w != NULL && *w != '\0') {
		n = strcspn(w, ":");
		snprintf(path, sizeof(path), "%.*s", (int)n, w);
		w += n + (w[n] == ':');
		if (path[0] == '\0')
			continue;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		e = errno;
		kw_warn("test hook: creating %s in the network process: %s",
		    path, fd >= 0 ? "done" : strerror(e));
		if (fd >= 0)
			close(fd);
	}

	/* what a compromised network process might ask of the signer */
	if (ref != NULL) {
		memset(&o, 0, sizeof(o));
		r = kw_keyref_open(ref, &o, &k);
		kw_warn("test hook: opening %s from the network process: %s",
		    ref, kw_strerror(r));
		kw_key_close(k);
	}
	if (p == NULL || strcmp(p, "1") != 0)
		return;
	execv("/bin/true", argv);
	e = errno;
	kw_warn("test hook: execve in the network process failed: %s",
	    strerror(e));
}
#else
void
kw_identity_crash_point(const char *name)
{
	(void)name;
}

void
kw_test_sandbox_probe(void)
{
}
#endif
