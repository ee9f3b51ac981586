/* PKCS#11 modules: dlopen, C_GetFunctionList, C_Initialize, and the
 * process-wide registry that makes each module have exactly one owner.
 *
 * Why a mutable global: a PKCS#11 module is itself process-wide state.  It
 * may be C_Initialize'd only once per process (a second C_Initialize returns
 * CKR_CRYPTOKI_ALREADY_INITIALIZED, and the first C_Finalize would pull the
 * rug from under every other user).  So every key, listing and generation
 * in the process must share one loaded instance per module file; this small
 * registry (guarded by a mutex) is that single owner, and p11_shutdown()
 * finalizes and unloads everything it holds at the end of the process.  It
 * is the one exception to the house's "no mutable globals" rule. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "p11_internal.h"

struct p11_module {
	char *path;			/* realpath() of the module file */
	void *dl;
	CK_FUNCTION_LIST *f;
	int finalize;			/* we initialized it: we finalize it */
	int down;			/* a refresh could not initialize it
					 * again (said once): every use tries
					 * again, at most once a second */
	/* Users hold `use` for reading around their calls; a refresh
	 * (C_Finalize + C_Initialize, see p11_module_refresh) holds it for
	 * writing.  gen counts refreshes: handles from an older generation
	 * are dead and must never be passed to the module again. */
	pthread_rwlock_t use;
	unsigned long gen;
	struct timespec last_refresh;
	struct p11_module *next;
};

static pthread_mutex_t p11_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *p11_registry;

/* OpenSC's module, the default for smart cards (Debian multiarch paths). */
static const char *const p11_default_modules[] = {
	"/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/arm-linux-gnueabihf/opensc-pkcs11.so",
	"/usr/lib/i386-linux-gnu/opensc-pkcs11.so",
	"/usr/lib/opensc-pkcs11.so",
	"/usr/lib64/opensc-pkcs11.so",
};

/* Directories searched for module-name=NAME (NAME.so or libNAME.so). */
static const char *const p11_module_dirs[] = {
	"/usr/lib/x86_64-linux-gnu/pkcs11",
	"/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib/softhsm",
	"/usr/lib/pkcs11",
	"/usr/lib",
	"/usr/lib64",
};

CK_FUNCTION_LIST *
p11_module_fn(const struct p11_module *m)
{
	return m->f;
}

const char *
p11_module_path(const struct p11_module *m)
{
	return m->path;
}

void
p11_module_enter(struct p11_module *m)
{
	pthread_rwlock_rdlock(&m->use);
}

void
p11_module_leave(struct p11_module *m)
{
	pthread_rwlock_unlock(&m->use);
}

int
p11_module_down(struct p11_module *m)
{
	return m->down;
}

unsigned long
p11_module_gen(struct p11_module *m)
{
	return __atomic_load_n(&m->gen, __ATOMIC_ACQUIRE);
}

static int
p11_module_init(struct p11_module *m)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* someone else in this process (not keyward) owns it */
		kw_debug("PKCS#11 module %s was already initialized", m->path);
		m->finalize = 0;
		return KW_OK;
	}
	if (rv != CKR_OK && m->finalize) {
		/* a restart (p11_module_refresh): it worked before */
		kw_debug("PKCS#11 module %s failed to initialize again (%s)",
		    m->path, p11_rv_name(rv));
		return KW_ERR_TOKEN_ABSENT;
	}
	if (rv != CKR_OK) {
		kw_err("PKCS#11 module %s failed to initialize (%s): check "
		    "its configuration (e.g. SOFTHSM2_CONF, "
		    "TPM2_PKCS11_STORE)", m->path, p11_rv_name(rv));
		return p11_rv_err(rv, "C_Initialize");
	}
	m->finalize = 1;
	return KW_OK;
}

int
p11_module_refresh(struct p11_module *m)
{
	struct timespec now;
	int r;

	if (!m->finalize)
		return KW_ERR_UNSUPPORTED;	/* not ours to restart */
	pthread_rwlock_wrlock(&m->use);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - m->last_refresh.tv_sec < 1 && m->gen > 0) {
		/* just done: no storm of restarts */
		r = m->down ? KW_ERR_TOKEN_ABSENT : KW_OK;
		goto out;
	}
	m->last_refresh = now;
	kw_debug("re-initializing PKCS#11 module %s to look for tokens that "
	    "came back", m->path);
	(void)m->f->C_Finalize(NULL);
	__atomic_add_fetch(&m->gen, 1, __ATOMIC_RELEASE);
	/* A module that cannot start again now (SoftHSM2 without its token
	 * directory) may later: it stays ours to restart, and is down
	 * until then. */
	if ((r = p11_module_init(m)) != KW_OK) {
		if (!m->down)
			kw_warn("PKCS#11 module %s cannot start again (its "
			    "tokens gone?): its keys are unusable until it "
			    "can; retrying at each use", m->path);
		m->down = 1;
		r = KW_ERR_TOKEN_ABSENT;
	} else if (m->down) {
		m->down = 0;
		kw_debug("PKCS#11 module %s started again", m->path);
	}
out:
	pthread_rwlock_unlock(&m->use);
	return r;
}

/* The module file to use, before realpath(). */
static int
p11_module_choose(const struct p11_uri *u, const struct p11_opts *opts,
    char *buf, size_t len)
{
	const char *name;
	size_t i;
	int k;

	if (u != NULL && u->module_path != NULL) {
		k = snprintf(buf, len, "%s", u->module_path);
		return k < 0 || (size_t)k >= len ? KW_ERR_SPACE : KW_OK;
	}
	if (u != NULL && u->module_name != NULL) {
		name = u->module_name;
		for (i = 0; i < sizeof(p11_module_dirs) /
		    sizeof(p11_module_dirs[0]); i++) {
			snprintf(buf, len, "%s/%s.so", p11_module_dirs[i], name);
			if (access(buf, R_OK) == 0)
				return KW_OK;
			snprintf(buf, len, "%s/lib%s.so", p11_module_dirs[i],
			    name);
			if (access(buf, R_OK) == 0)
				return KW_OK;
		}
		kw_err("PKCS#11 module-name=%s: no %s.so or lib%s.so in the "
		    "usual module directories; use module-path=/full/path.so",
		    name, name, name);
		return KW_ERR_NOT_FOUND;
	}
	if (opts != NULL && opts->module != NULL) {
		k = snprintf(buf, len, "%s", opts->module);
		return k < 0 || (size_t)k >= len ? KW_ERR_SPACE : KW_OK;
	}
	for (i = 0; i < sizeof(p11_default_modules) /
	    sizeof(p11_default_modules[0]); i++)
		if (access(p11_default_modules[i], R_OK) == 0) {
			snprintf(buf, len, "%s", p11_default_modules[i]);
			return KW_OK;
		}
	kw_err("no PKCS#11 module given and OpenSC's opensc-pkcs11.so is not "
	    "installed: pass --module PATH, add module-path= to the URI, or "
	    "install the Debian package opensc-pkcs11");
	return KW_ERR_NOT_FOUND;
}

static int
p11_module_load(const char *path, struct p11_module **out)
{
	CK_C_GetFunctionList getfl;
	struct p11_module *m = NULL;
	CK_RV rv;
	int r;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		kw_err("cannot load PKCS#11 module %s: %s", path, dlerror());
		r = KW_ERR_PKCS11;
		goto out;
	}
	/* POSIX allows this cast; C does not know function pointers. */
	*(void **)(&getfl) = dlsym(m->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		kw_err("%s is not a PKCS#11 module (no C_GetFunctionList)",
		    path);
		r = KW_ERR_PKCS11;
		goto out;
	}
	if ((rv = getfl(&m->f)) != CKR_OK || m->f == NULL) {
		r = p11_rv_err(rv, "C_GetFunctionList");
		kw_err("PKCS#11 module %s gave no function list", path);
		if (r == KW_OK)
			r = KW_ERR_PKCS11;
		goto out;
	}
	if ((r = p11_module_init(m)) != KW_OK)
		goto out;
	pthread_rwlock_init(&m->use, NULL);
	kw_debug("loaded PKCS#11 module %s", path);
	*out = m;
	m = NULL;
	r = KW_OK;
out:
	if (m != NULL) {
		if (m->dl != NULL)
			dlclose(m->dl);
		pthread_rwlock_destroy(&m->use);
		free(m->path);
		free(m);
	}
	return r;
}

int
p11_module_get(const struct p11_uri *u, const struct p11_opts *opts,
    struct p11_module **out)
{
	char want[PATH_MAX], *real = NULL;
	struct p11_module *m;
	int r, locked = 0;

	*out = NULL;
	if ((r = p11_module_choose(u, opts, want, sizeof(want))) != KW_OK)
		goto out;
	/* One module file, one owner: symlinks and relative paths must not
	 * make a second instance (realpath, as OpenSSH does). */
	if ((real = realpath(want, NULL)) == NULL) {
		kw_err("PKCS#11 module %s does not exist or is not readable",
		    want);
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	pthread_mutex_lock(&p11_registry_lock);
	locked = 1;
	for (m = p11_registry; m != NULL; m = m->next)
		if (strcmp(m->path, real) == 0)
			break;
	if (m == NULL) {
		if ((r = p11_module_load(real, &m)) != KW_OK)
			goto out;
		m->next = p11_registry;
		p11_registry = m;
	}
	*out = m;
	r = KW_OK;
out:
	if (locked)
		pthread_mutex_unlock(&p11_registry_lock);
	free(real);
	return r;
}

void
p11_shutdown(void)
{
	struct p11_module *m, *next;

	pthread_mutex_lock(&p11_registry_lock);
	for (m = p11_registry; m != NULL; m = next) {
		next = m->next;
		if (m->finalize)
			(void)m->f->C_Finalize(NULL);
		dlclose(m->dl);
		pthread_rwlock_destroy(&m->use);
		free(m->path);
		free(m);
	}
	p11_registry = NULL;
	pthread_mutex_unlock(&p11_registry_lock);
}
