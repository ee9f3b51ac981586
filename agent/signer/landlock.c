/* Landlock for `keyward run`'s network process (see landlock.h).
 *
 * seccomp (sandbox.c) cannot see paths, so on its own the network process
 * may still create, replace or remove any file its user may.  Landlock
 * closes that: writing, creating, removing, renaming and truncating are
 * allowed only beneath the directories the process really writes, found
 * from the config when it starts.  Reads stay allowed everywhere: a
 * reload reads the config and whatever CA, CRL, policy and certificate
 * files it names, wherever the user put them; restricting reads would
 * need the same list for reads and a restart for every new file.
 * Executing is handled and allowed nowhere (seccomp refuses execve first;
 * this is the second lock).  Connecting to a unix socket (journald,
 * sd_notify, a unix: target) is not a file-system right before Landlock
 * ABI 6's scopes, which keyward does not ask for.
 *
 * Best effort by ABI: each right the kernel's ABI does not know is left
 * out (REFER from ABI 2, TRUNCATE from ABI 3); a kernel without Landlock
 * gets one warning line.  The rules bind the calling thread and the
 * threads it creates afterwards: the daemon applies them before it
 * starts any thread.  They cannot be widened: a reload that needs a new
 * directory restarts the network process (daemon.c). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "agent/conf/config.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"
#include "agent/keys/keyref.h"
#include "agent/signer/landlock.h"

/* Debian 12's linux-libc-dev (6.1) stops at ABI 2. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION	(1U << 0)
#endif

#if defined(__SANITIZE_THREAD__)
#define KW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KW_TSAN 1
#endif
#endif
#ifndef KW_TSAN
#define KW_TSAN 0
#endif

/* What Landlock handles (denied unless a rule allows it). */
#define KW_LL_HANDLED (LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM | \
	LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
/* Beneath a state or certificate directory: files written, replaced
 * (temp + rename), removed, lock files, directories. */
#define KW_LL_FILES (LANDLOCK_ACCESS_FS_WRITE_FILE | \
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REFER | \
	LANDLOCK_ACCESS_FS_TRUNCATE)
/* Beneath a listening socket's directory: bind, and unlink a stale one. */
#define KW_LL_SOCK (LANDLOCK_ACCESS_FS_MAKE_SOCK | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE)

struct kw_ll_dir {
	char *path;		/* realpath() */
	uint64_t rights;	/* KW_LL_FILES and/or KW_LL_SOCK */
};

struct kw_landlock {
	struct kw_ll_dir *dirs;
	size_t n;
	int proc_task;		/* /proc/self/task, held open (see below) */
};

/* The rights of an ABI (landlock.h's table). */
static uint64_t
kw_ll_abi_mask(int abi)
{
	uint64_t m = KW_LL_HANDLED;

	if (abi < 2)
		m &= ~LANDLOCK_ACCESS_FS_REFER;
	if (abi < 3)
		m &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
	return m;
}

/* Add path (its parent directory when parent) with rights; a directory
 * that does not exist is left out (nothing can be written there). */
static int
kw_ll_add(struct kw_landlock *ll, const char *path, int parent,
    uint64_t rights)
{
	char *copy = NULL, *real = NULL, *dir;
	struct kw_ll_dir *v;
	size_t i;
	int r = KW_OK;

	if (path == NULL || *path == '\0')
		return KW_OK;
	if ((copy = strdup(path)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	dir = parent ? dirname(copy) : copy;
	if ((real = realpath(dir, NULL)) == NULL) {
		kw_debug("sandbox: %s: %s; not writable for the network "
		    "process", dir, strerror(errno));
		goto out;
	}
	for (i = 0; i < ll->n; i++)
		if (strcmp(ll->dirs[i].path, real) == 0) {
			ll->dirs[i].rights |= rights;
			goto out;
		}
	if ((v = realloc(ll->dirs, (ll->n + 1) * sizeof(*v))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	ll->dirs = v;
	ll->dirs[ll->n].path = real;
	ll->dirs[ll->n].rights = rights;
	ll->n++;
	real = NULL;
out:
	free(real);
	free(copy);
	return r;
}

/* The files of one identity: its state file, certificate (and the
 * .next renewal writes beside it), the copy the user asked for, the
 * chain. */
static int
kw_ll_identity(struct kw_landlock *ll, const char *state)
{
	struct kw_identity *id = NULL;
	int r;

	if ((r = kw_ll_add(ll, state, 1, KW_LL_FILES)) != KW_OK)
		return r;
	/* unreadable: the identity fails to open right after, and says so */
	if (state == NULL || kw_identity_read(state, &id) != KW_OK)
		return KW_OK;
	if ((r = kw_ll_add(ll, id->cert_file, 1, KW_LL_FILES)) == KW_OK &&
	    (r = kw_ll_add(ll, id->cert_out, 1, KW_LL_FILES)) == KW_OK)
		r = kw_ll_add(ll, id->chain_file, 1, KW_LL_FILES);
	kw_identity_free(id);
	return r;
}

/* mkdir DIR (0700) if missing, as its user (kw_control_new, the posture
 * store) would right after: the rule needs it to exist. */
static void
kw_ll_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		kw_debug("sandbox: cannot make %s: %s", dir, strerror(errno));
}

int
kw_landlock_plan(const struct kw_config *conf, const char *control,
    struct kw_landlock **out)
{
	struct kw_landlock *ll;
	char dir[PATH_MAX], *slash;
	const char *tsan;
	size_t i, posture = 0;
	int r = KW_OK;

	*out = NULL;
	if ((ll = calloc(1, sizeof(*ll))) == NULL)
		return KW_ERR_NOMEM;
	ll->proc_task = -1;
	for (i = 0; r == KW_OK && i < conf->nids; i++)
		r = kw_ll_identity(ll, kw_identity_conf_state(conf->ids[i]));
	if (r == KW_OK && control != NULL &&
	    snprintf(dir, sizeof(dir), "%s", control) < (int)sizeof(dir) &&
	    (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		kw_ll_mkdir(dir);
		r = kw_ll_add(ll, dir, 0, KW_LL_SOCK);
	}
	for (i = 0; r == KW_OK && i < conf->ntunnels; i++) {
		if (conf->tunnels[i]->listen.is_unix)
			r = kw_ll_add(ll, conf->tunnels[i]->listen.path, 1,
			    KW_LL_SOCK);
		if (conf->tunnels[i]->require_posture != NULL)
			posture++;
	}
	if (r == KW_OK && posture > 0 &&
	    kw_keyref_state_dir(dir, sizeof(dir)) != NULL) {
		kw_ll_mkdir(dir);
		r = kw_ll_add(ll, dir, 0, KW_LL_FILES);
	}
	/* the check-only ThreadSanitizer build writes its reports there */
	if (KW_TSAN && r == KW_OK && (tsan = getenv("TSAN_OPTIONS")) != NULL &&
	    (tsan = strstr(tsan, "log_path=")) != NULL &&
	    snprintf(dir, sizeof(dir), "%.*s", (int)strcspn(tsan + 9, ":"),
	    tsan + 9) < (int)sizeof(dir))
		r = kw_ll_add(ll, dir, 1, KW_LL_FILES);
	if (r != KW_OK) {
		kw_landlock_free(ll);
		return r;
	}
	*out = ll;
	return KW_OK;
}

void
kw_landlock_free(struct kw_landlock *ll)
{
	size_t i;

	if (ll == NULL)
		return;
	for (i = 0; i < ll->n; i++)
		free(ll->dirs[i].path);
	free(ll->dirs);
	if (ll->proc_task >= 0)
		close(ll->proc_task);
	free(ll);
}

/* One rule: beneath fd, rights. */
static int
kw_ll_rule_fd(int ruleset, int fd, uint64_t rights)
{
	struct landlock_path_beneath_attr pb;

	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = rights;
	pb.parent_fd = fd;
	return syscall(SYS_landlock_add_rule, ruleset,
	    LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0 ? -1 : 0;
}

/* One rule: beneath path, rights. */
static int
kw_ll_rule(int ruleset, const char *path, uint64_t rights)
{
	int fd, r;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0)
		return -1;
	r = kw_ll_rule_fd(ruleset, fd, rights);
	close(fd);
	return r;
}

int
kw_landlock_apply(struct kw_landlock *ll, int *in_force)
{
	struct landlock_ruleset_attr ra;
	char *list = NULL;
	size_t len = 0, i, shown = 0;
	FILE *f = NULL;
	uint64_t mask;
	int abi, ruleset = -1, r = KW_ERR_PERM;

	*in_force = 0;
	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		kw_warn("sandbox: no Landlock here (%s): the network process "
		    "may write files anywhere its user may (seccomp still "
		    "applies)", errno == ENOSYS ? "not in this kernel" :
		    errno == EOPNOTSUPP ? "disabled at boot" : strerror(errno));
		return KW_OK;
	}
	mask = kw_ll_abi_mask(abi);
	memset(&ra, 0, sizeof(ra));
	ra.handled_access_fs = mask;
	if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &ra,
	    sizeof(ra), 0)) < 0)
		goto out;
	if ((f = open_memstream(&list, &len)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ll->n; i++) {
		if (kw_ll_rule(ruleset, ll->dirs[i].path,
		    ll->dirs[i].rights & mask) != 0) {
			kw_warn("sandbox: %s: %s; the network process will not "
			    "be able to write there", ll->dirs[i].path,
			    strerror(errno));
			continue;
		}
		fprintf(f, "%s%s%s", shown++ > 0 ? ", " : "", ll->dirs[i].path,
		    (ll->dirs[i].rights & KW_LL_FILES) == KW_LL_FILES ? "" :
		    " (sockets)");
	}
	/* what a library may open for writing without meaning a file */
	(void)kw_ll_rule(ruleset, "/dev/null", (LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_TRUNCATE) & mask);
	/* glibc's pthread_setname_np() on another thread (the handshake
	 * pool names its threads) writes /proc/self/task/TID/comm.  The
	 * rule binds the inode of this process's task directory; the
	 * directory is held open so that procfs keeps that inode. */
	if (ll->proc_task < 0)
		ll->proc_task = open("/proc/self/task", O_PATH | O_DIRECTORY |
		    O_CLOEXEC);
	if (ll->proc_task < 0 || kw_ll_rule_fd(ruleset, ll->proc_task,
	    LANDLOCK_ACCESS_FS_WRITE_FILE) != 0)
		kw_debug("sandbox: /proc/self/task: %s (the handshake threads "
		    "stay unnamed)", strerror(errno));
	if (fclose(f) != 0) {
		f = NULL;
		r = KW_ERR_NOMEM;
		goto out;
	}
	f = NULL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
		goto out;
	*in_force = 1;
	kw_info("sandbox: Landlock ABI %d: the network process writes only "
	    "beneath %s", abi, shown > 0 ? list : "nothing (no directory to write)");
	r = KW_OK;
out:
	if (r != KW_OK)
		kw_err("sandbox: cannot set up Landlock for the network process "
		    "(%s); run with --no-sandbox to go on without it",
		    strerror(errno));
	if (f != NULL)
		fclose(f);
	free(list);
	if (ruleset >= 0)
		close(ruleset);
	return r;
}

/* a == b or a is beneath b */
static int
kw_ll_beneath(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (strcmp(b, "/") == 0)
		return 1;
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

int
kw_landlock_covers(const struct kw_landlock *have,
    const struct kw_landlock *want, const char **missing)
{
	size_t i, j;

	*missing = NULL;
	for (i = 0; i < want->n; i++) {
		for (j = 0; j < have->n; j++)
			if ((have->dirs[j].rights & want->dirs[i].rights) ==
			    want->dirs[i].rights &&
			    kw_ll_beneath(want->dirs[i].path,
			    have->dirs[j].path))
				break;
		if (j == have->n) {
			*missing = want->dirs[i].path;
			return 0;
		}
	}
	return 1;
}
