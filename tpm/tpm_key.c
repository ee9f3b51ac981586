/* The TPM 2.0 key backend (tpm2-tss ESAPI).
 *
 * A key is a TSS2 PRIVATE KEY PEM file (its private part wrapped by the
 * TPM's storage root key, useless elsewhere) or a persistent handle
 * 0x81XXXXXX.  A struct tpm_key keeps one ESYS context for its whole life.
 *
 * TPM object slots: a TPM without a resource manager (swtpm, /dev/tpm0)
 * has 3, shared by every process.  The parent (SRK) is flushed as soon as
 * the key is loaded.  Then, behind a resource manager (tpm2-abrmd,
 * /dev/tpmrm0: it virtualizes handles, which is how we tell) the key stays
 * loaded: the manager swaps it out for others.  Without one, the key's
 * context is saved (TPM2_ContextSave) and the key flushed: each use is
 * ContextLoad, the command, FlushContext, so the process holds no slot
 * between uses (~0.15 ms more per signature on swtpm), and a handle another
 * process flushed and reused is never signed with.  A TPM out of slots
 * (0x902: other programs hold them) is waited for, a little; a context the
 * TPM no longer takes is replaced by loading the key file again. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm_int.h"
#include "tpm_key.h"

/* A PSS salt verdict per enum kw_hash: 0 not yet probed. */
#define TPM_PSS_UNKNOWN	0
#define TPM_PSS_OK	1
#define TPM_PSS_BAD	2

struct tpm_key {
	pthread_mutex_t lock;
	char *spec;			/* as given: path or 0x81XXXXXX */
	char *obj;			/* "key file PATH" / "handle 0x81..." */
	char *tcti;			/* NULL: tctildr default */
	int persistent;
	TPM2_HANDLE handle;		/* persistent handle */
	struct tpm_keyblob blob;	/* key file contents */
	TPM2B_PUBLIC pub;
	enum kw_key_alg alg;
	TPM2B_AUTH auth;		/* wiped on close */
	TSS2_TCTI_CONTEXT *tcti_ctx;
	ESYS_CONTEXT *esys;
	ESYS_TR key;			/* ESYS_TR_NONE: not loaded */
	int key_transient;		/* key must be flushed */
	TPMS_CONTEXT *saved;		/* no resource manager: the key's
					 * context between uses (Esys_Free) */
	ESYS_TR sess;			/* salted HMAC session, or NONE */
	int pss[4];
	unsigned usage;			/* generate: KW_USAGE_* */
	int down;			/* lost the TPM, said so once: until
					 * it is back, "cannot reach" quietly */
	struct tpm_ek_cache ekc;	/* this connection's TPM's EK certs */
};

static const struct kw_key_ops tpm_key_ops;

void
tpm_ek_cache_clear(struct tpm_ek_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n && i < TPM_EK_CACHE_MAX; i++)
		free(c->c[i].der);
	memset(c, 0, sizeof(*c));
}

static struct tpm_rcctx
tpm_rcctx(const struct tpm_key *k, const char *what)
{
	struct tpm_rcctx c;

	c.what = what;
	c.obj = k->obj;
	c.tcti = k->tcti;
	c.is_file = !k->persistent;
	c.is_owner = 0;
	return c;
}

static int
tpm_rc(const struct tpm_key *k, TSS2_RC rc, const char *what)
{
	struct tpm_rcctx c = tpm_rcctx(k, what);

	if (k->down && tpm_rc_map(rc) == KW_ERR_TOKEN_ABSENT) {
		kw_debug("tpm: %s: the TPM is still out of reach (0x%x)", what,
		    (unsigned)rc);
		return KW_ERR_TOKEN_ABSENT;
	}
	return tpm_rc_err(rc, &c);
}

/* Waiting for a TPM whose slots other programs hold (0x902): at most
 * TPM_BUSY_TRIES waits, each twice as long as the one before up to
 * TPM_BUSY_MAX_MS (about 10 s in all: another process may hold its slots
 * for a while on a loaded machine). */
#define TPM_BUSY_TRIES	58
#define TPM_BUSY_MAX_MS	200

/* 1 (after sleeping a while) if rc says the TPM is out of object or session
 * memory and attempt `tries` may be followed by another. */
static int
tpm_busy_wait(TSS2_RC rc, int tries)
{
	struct timespec ts;
	long ms;

	if (!tpm_rc_is_busy(rc) || tries >= TPM_BUSY_TRIES)
		return 0;
	ms = tries < 8 ? 1L << tries : TPM_BUSY_MAX_MS;
	if (ms > TPM_BUSY_MAX_MS)
		ms = TPM_BUSY_MAX_MS;
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	nanosleep(&ts, NULL);
	return 1;
}

/* "0x81XXXXXX" in the owner's persistent range, nothing else. */
static int
tpm_parse_handle(const char *spec, TPM2_HANDLE *h)
{
	unsigned long v;
	char *end;
	size_t i;

	*h = 0;
	if (strncmp(spec, "0x81", 4) != 0 || strlen(spec) != 10)
		return 0;
	for (i = 2; i < 10; i++)
		if (!((spec[i] >= '0' && spec[i] <= '9') ||
		    (spec[i] >= 'a' && spec[i] <= 'f') ||
		    (spec[i] >= 'A' && spec[i] <= 'F')))
			return 0;
	errno = 0;
	v = strtoul(spec, &end, 16);
	if (errno != 0 || *end != '\0')
		return 0;
	*h = (TPM2_HANDLE)v;
	return 1;
}

/* A spec that looks like a handle must be one keyward may use. */
static int
tpm_check_spec(const struct tpm_key *k)
{
	if (!k->persistent && strncmp(k->spec, "0x", 2) == 0) {
		kw_err("%s is not a persistent handle keyward can use: use "
		    "0x81000000-0x817fffff (owner hierarchy), or a file name",
		    k->spec);
		return KW_ERR_ARG;
	}
	if (k->persistent && k->handle > 0x817fffffu) {
		kw_err("%s is in the platform's persistent range: use "
		    "0x81000000-0x817fffff", k->spec);
		return KW_ERR_ARG;
	}
	return KW_OK;
}

static int
tpm_key_new_state(const char *spec, const struct tpm_opts *opts,
    struct tpm_key **out)
{
	struct tpm_key *k;
	const char *tcti = NULL, *env;
	size_t alen;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->key = ESYS_TR_NONE;
	k->sess = ESYS_TR_NONE;
	/* Like tpm2-tools: --tcti, $TPM2TOOLS_TCTI, $TCTI, the default. */
	if (opts != NULL && opts->tcti != NULL && *opts->tcti != '\0')
		tcti = opts->tcti;
	else if ((env = getenv("TPM2TOOLS_TCTI")) != NULL && *env != '\0')
		tcti = env;
	else if ((env = getenv("TCTI")) != NULL && *env != '\0')
		tcti = env;
	if (tcti != NULL && (k->tcti = strdup(tcti)) == NULL)
		goto out;
	if ((k->spec = strdup(spec)) == NULL)
		goto out;
	k->persistent = tpm_parse_handle(spec, &k->handle);
	if (asprintf(&k->obj, k->persistent ? "persistent key %s" :
	    "key file %s", spec) < 0) {
		k->obj = NULL;
		goto out;
	}
	if (opts != NULL && opts->auth != NULL) {
		alen = strlen(opts->auth);
		if (alen > sizeof(k->auth.buffer)) {
			kw_err("the auth value for %s is longer than %zu bytes",
			    k->obj, sizeof(k->auth.buffer));
			r = KW_ERR_ARG;
			goto out;
		}
		memcpy(k->auth.buffer, opts->auth, alen);
		k->auth.size = (UINT16)alen;
	}
	if (opts != NULL)
		k->usage = opts->usage;
	*out = k;
	k = NULL;
	r = KW_OK;
out:
	if (k != NULL) {
		free(k->tcti);
		free(k->spec);
		free(k->obj);
		pthread_mutex_destroy(&k->lock);
		kw_freezero(k, sizeof(*k));
	}
	return r;
}

/* Drop the ESYS context; flush the key if it is transient.  Errors are
 * ignored: the connection may already be gone. */
static void
tpm_disconnect(struct tpm_key *k)
{
	if (k->esys != NULL && k->key != ESYS_TR_NONE) {
		if (k->key_transient)
			Esys_FlushContext(k->esys, k->key);
		else
			Esys_TR_Close(k->esys, &k->key);
	}
	k->key = ESYS_TR_NONE;
	k->key_transient = 0;
	Esys_Free(k->saved);
	k->saved = NULL;
	if (k->esys != NULL && k->sess != ESYS_TR_NONE)
		Esys_FlushContext(k->esys, k->sess);
	k->sess = ESYS_TR_NONE;
	if (k->esys != NULL)
		Esys_Finalize(&k->esys);
	k->esys = NULL;
	tpm_tcti_count_free(&k->tcti_ctx);
	tpm_ek_cache_clear(&k->ekc);
}

static int
tpm_connect(struct tpm_key *k)
{
	TSS2_TCTI_CONTEXT *inner = NULL;
	TSS2_RC rc;
	int r;

	/* tpm2-tss prints its own warnings to stderr; keyward reports every
	 * failure itself, once.  Left alone when the user set TSS2_LOG or
	 * asked for debug output. */
	if (kw_log_get_level() < KW_LOG_DEBUG)
		setenv("TSS2_LOG", "all+NONE", 0);
	if ((rc = Tss2_TctiLdr_Initialize(k->tcti, &inner)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "opening the TCTI");
		/* The loader cannot tell "no such TCTI" from "not there":
		 * either way the TPM cannot be reached. */
		if (r != KW_ERR_CONFIG && r != KW_ERR_NOMEM)
			r = KW_ERR_TOKEN_ABSENT;
		goto out;
	}
	/* counted: the TPM commands a posture check costs */
	if ((r = tpm_tcti_count_wrap(inner, &k->tcti_ctx)) != KW_OK) {
		Tss2_TctiLdr_Finalize(&inner);
		goto out;
	}
	if ((rc = Esys_Initialize(&k->esys, k->tcti_ctx, NULL)) !=
	    TSS2_RC_SUCCESS) {
		k->esys = NULL;
		r = tpm_rc(k, rc, "starting an ESAPI context");
		goto out;
	}
	kw_debug("tpm: connected to %s", k->tcti ? k->tcti :
	    "the default TCTI");
	r = KW_OK;
out:
	if (r != KW_OK)
		tpm_disconnect(k);
	return r;
}

/* Is anything at this persistent handle?  Asks GetCapability, which (unlike
 * ReadPublic) does not fail for absent handles. */
static int
tpm_handle_present(struct tpm_key *k, TPM2_HANDLE h, int *present)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = 0;
	TSS2_RC rc;
	int r;

	*present = 0;
	if ((rc = Esys_GetCapability(k->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_HANDLES, h, 1, &more, &cap)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "listing persistent handles");
		goto out;
	}
	*present = cap->data.handles.count > 0 &&
	    cap->data.handles.handle[0] == h;
	r = KW_OK;
out:
	Esys_Free(cap);
	return r;
}

static int
tpm_read_public(struct tpm_key *k, ESYS_TR tr, TPM2B_PUBLIC *pub,
    const char *what)
{
	TPM2B_PUBLIC *p = NULL;
	TSS2_RC rc;
	int r;

	if ((rc = Esys_ReadPublic(k->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &p, NULL, NULL)) != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, what);
		goto out;
	}
	*pub = *p;
	r = KW_OK;
out:
	Esys_Free(p);
	return r;
}

/* The storage root key for a key whose parent is `parent`.  *transient is
 * set when the caller must flush *srk.  With try_persistent, a key at
 * 0x81000001 made from the standard template stands in for the template
 * SRK (saves the CreatePrimary on every open). */
static int
tpm_srk(struct tpm_key *k, uint32_t parent, int try_persistent,
    ESYS_TR *srk, int *transient)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl, pub;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPM2_HANDLE h;
	TSS2_RC rc;
	char what[64];
	int present, tries, r;

	*srk = ESYS_TR_NONE;
	*transient = 0;
	h = parent == TPM_SRK_TEMPLATE_PARENT ? TPM_SRK_PERSISTENT : parent;
	if (parent != TPM_SRK_TEMPLATE_PARENT || try_persistent) {
		if ((r = tpm_handle_present(k, h, &present)) != KW_OK)
			goto out;
		if (!present && parent != TPM_SRK_TEMPLATE_PARENT) {
			kw_err("the parent key 0x%08x of %s is not in this "
			    "TPM: the key was made on another TPM or its "
			    "parent was removed; generate a new key", h,
			    k->obj);
			r = KW_ERR_WRONG_TPM;
			goto out;
		}
		if (present) {
			snprintf(what, sizeof(what),
			    "opening the parent key 0x%08x", h);
			if ((rc = Esys_TR_FromTPMPublic(k->esys, h,
			    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			    srk)) != TSS2_RC_SUCCESS) {
				*srk = ESYS_TR_NONE;
				r = tpm_rc(k, rc, what);
				goto out;
			}
			if (parent != TPM_SRK_TEMPLATE_PARENT) {
				kw_debug("tpm: parent is the persistent key "
				    "0x%08x", h);
				r = KW_OK;
				goto out;
			}
			if ((r = tpm_read_public(k, *srk, &pub, what)) !=
			    KW_OK)
				goto out;
			if (tpm_pub_is_srk_template(&pub.publicArea)) {
				kw_debug("tpm: using the persistent SRK at "
				    "0x%08x", h);
				r = KW_OK;
				goto out;
			}
			kw_debug("tpm: 0x%08x is not a standard SRK; "
			    "creating one", h);
			Esys_TR_Close(k->esys, srk);
			*srk = ESYS_TR_NONE;
		}
	}
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	tpm_pub_srk_template(&tmpl);
	tries = 0;
	do
		rc = Esys_CreatePrimary(k->esys, ESYS_TR_RH_OWNER,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
		    &outside, &pcrs, srk, NULL, NULL, NULL, NULL);
	while (tpm_busy_wait(rc, tries++));
	if (rc != TSS2_RC_SUCCESS) {
		struct tpm_rcctx c = tpm_rcctx(k, "creating the storage "
		    "root key (ECC P-256 template, owner hierarchy)");

		*srk = ESYS_TR_NONE;
		c.obj = "the owner hierarchy";
		c.is_owner = 1;
		r = tpm_rc_err(rc, &c);
		goto out;
	}
	*transient = 1;
	kw_debug("tpm: created the SRK from the TCG ECC P-256 template "
	    "under the owner hierarchy");
	r = KW_OK;
out:
	if (r != KW_OK && *srk != ESYS_TR_NONE)
		Esys_TR_Close(k->esys, srk);
	return r;
}

static void
tpm_srk_release(struct tpm_key *k, ESYS_TR *srk, int transient)
{
	if (*srk == ESYS_TR_NONE)
		return;
	if (transient)
		Esys_FlushContext(k->esys, *srk);
	else
		Esys_TR_Close(k->esys, srk);
	*srk = ESYS_TR_NONE;
}

static int
tpm_set_auth(struct tpm_key *k)
{
	TSS2_RC rc;

	if ((rc = Esys_TR_SetAuth(k->esys, k->key, &k->auth)) !=
	    TSS2_RC_SUCCESS)
		return tpm_rc(k, rc, "setting the key's auth value");
	return KW_OK;
}

/* For a key with an auth value, every use of it goes through an HMAC
 * session salted with the SRK: the auth value never crosses the bus (only
 * HMACs keyed with it and the salt do), the first command parameter is
 * encrypted (the new key's auth value in TPM2_Create), and each use is
 * bound to the key's name.  Keys without an auth value have nothing to
 * protect this way and use a password session: ESAPI's HMAC computations
 * cost ~3 ms of CPU per signature here (1300/s become 230/s).
 * salt: an SRK at hand, or ESYS_TR_NONE to get one. */
static ESYS_TR
tpm_auth_session(const struct tpm_key *k)
{
	return k->sess != ESYS_TR_NONE ? k->sess : ESYS_TR_PASSWORD;
}

static int
tpm_session_start(struct tpm_key *k, ESYS_TR salt)
{
	TPMT_SYM_DEF sym;
	ESYS_TR srk = ESYS_TR_NONE;
	TSS2_RC rc;
	int transient = 0, tries = 0, r;

	if (k->sess != ESYS_TR_NONE || k->auth.size == 0)
		return KW_OK;
	if (salt == ESYS_TR_NONE) {
		if ((r = tpm_srk(k, TPM_SRK_TEMPLATE_PARENT, 1, &srk,
		    &transient)) != KW_OK)
			goto out;
		salt = srk;
	}
	memset(&sym, 0, sizeof(sym));
	sym.algorithm = TPM2_ALG_AES;
	sym.keyBits.aes = 128;
	sym.mode.aes = TPM2_ALG_CFB;
	do
		rc = Esys_StartAuthSession(k->esys, salt, ESYS_TR_NONE,
		    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
		    TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &k->sess);
	while (tpm_busy_wait(rc, tries++));
	if (rc != TSS2_RC_SUCCESS) {
		k->sess = ESYS_TR_NONE;
		r = tpm_rc(k, rc, "starting a salted session");
		goto out;
	}
	if ((rc = Esys_TRSess_SetAttributes(k->esys, k->sess,
	    TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT, 0xff)) !=
	    TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "setting up the session");
		goto out;
	}
	r = KW_OK;
out:
	if (r != KW_OK && k->sess != ESYS_TR_NONE) {
		Esys_FlushContext(k->esys, k->sess);
		k->sess = ESYS_TR_NONE;
	}
	tpm_srk_release(k, &srk, transient);
	return r;
}

/* Esys_Load, waiting a while for a slot when the TPM is out of them. */
static TSS2_RC
tpm_esys_load(struct tpm_key *k, ESYS_TR parent, const TPM2B_PRIVATE *priv,
    const TPM2B_PUBLIC *pub)
{
	TSS2_RC rc;
	int tries = 0;

	do
		rc = Esys_Load(k->esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE,
		    ESYS_TR_NONE, priv, pub, &k->key);
	while (tpm_busy_wait(rc, tries++));
	if (rc != TSS2_RC_SUCCESS)
		k->key = ESYS_TR_NONE;
	return rc;
}

/* The key was just loaded (transient).  A resource manager hands out
 * virtual handles (tpm2-abrmd 0x80ffXXXX, the kernel's /dev/tpmrm0
 * 0x80ffffXX; a TPM itself numbers its slots from 0x80000000): then the
 * key stays loaded.  Without one, keep its saved context and free the
 * slot (see the top of the file). */
static int
tpm_park(struct tpm_key *k)
{
	TPM2_HANDLE h = 0;
	TSS2_RC rc;

	if (!k->key_transient || k->key == ESYS_TR_NONE)
		return KW_OK;
	if (Esys_TR_GetTpmHandle(k->esys, k->key, &h) == TSS2_RC_SUCCESS &&
	    (h & 0x00ff0000u) == 0x00ff0000u) {
		kw_debug("tpm: %s is at virtual handle 0x%08x (a resource "
		    "manager): keeping it loaded", k->obj, h);
		return KW_OK;
	}
	Esys_Free(k->saved);
	k->saved = NULL;
	if ((rc = Esys_ContextSave(k->esys, k->key, &k->saved)) !=
	    TSS2_RC_SUCCESS) {
		k->saved = NULL;
		return tpm_rc(k, rc, "saving the key's context");
	}
	Esys_FlushContext(k->esys, k->key);
	k->key = ESYS_TR_NONE;
	kw_debug("tpm: no resource manager (handle 0x%08x): %s is loaded "
	    "from its saved context for each use", h, k->obj);
	return KW_OK;
}

/* Load the parked key for one command (tpm_repark after it). */
static TSS2_RC
tpm_unpark(struct tpm_key *k)
{
	TSS2_RC rc;
	int tries = 0;

	if (k->saved == NULL || k->key != ESYS_TR_NONE)
		return TSS2_RC_SUCCESS;
	do
		rc = Esys_ContextLoad(k->esys, k->saved, &k->key);
	while (tpm_busy_wait(rc, tries++));
	if (rc != TSS2_RC_SUCCESS) {
		k->key = ESYS_TR_NONE;
		return rc;
	}
	if ((rc = Esys_TR_SetAuth(k->esys, k->key, &k->auth)) !=
	    TSS2_RC_SUCCESS) {
		Esys_FlushContext(k->esys, k->key);
		k->key = ESYS_TR_NONE;
	}
	return rc;
}

static void
tpm_repark(struct tpm_key *k)
{
	if (k->saved != NULL && k->key != ESYS_TR_NONE && k->esys != NULL) {
		Esys_FlushContext(k->esys, k->key);
		k->key = ESYS_TR_NONE;
	}
}

/* Load the key into the TPM (file) or open its handle (persistent). */
static int
tpm_load(struct tpm_key *k)
{
	ESYS_TR srk = ESYS_TR_NONE;
	TPM2B_PUBLIC pub;
	TSS2_RC rc;
	int transient = 0, tried_persistent, r;

	if (k->persistent) {
		if ((rc = Esys_TR_FromTPMPublic(k->esys, k->handle,
		    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &k->key)) !=
		    TSS2_RC_SUCCESS) {
			k->key = ESYS_TR_NONE;
			r = tpm_rc(k, rc, "opening the key");
			goto out;
		}
		if ((r = tpm_read_public(k, k->key, &pub,
		    "reading the key")) != KW_OK)
			goto out;
		/* After a reconnect the handle must still hold the key we
		 * opened: never sign with whatever was put there since. */
		if (k->pub.publicArea.type != 0 &&
		    memcmp(&pub.publicArea, &k->pub.publicArea,
		    sizeof(pub.publicArea)) != 0) {
			kw_err("%s was replaced by another key since it was "
			    "opened; not signing with it", k->obj);
			r = KW_ERR_KEY_MISMATCH;
			goto out;
		}
		if (k->pub.publicArea.type == 0)
			k->pub = pub;	/* first load; never changes after */
		r = tpm_set_auth(k);
		goto out;
	}
	tried_persistent = k->blob.parent == TPM_SRK_TEMPLATE_PARENT;
	if ((r = tpm_srk(k, k->blob.parent, 1, &srk, &transient)) != KW_OK)
		goto out;
	rc = tpm_esys_load(k, srk, &k->blob.priv, &k->blob.pub);
	if (rc != TSS2_RC_SUCCESS && tried_persistent && !transient &&
	    tpm_rc_map(rc) == KW_ERR_WRONG_TPM) {
		/* 0x81000001 looked like the standard SRK but is not the
		 * one this key was made under: use the template. */
		kw_debug("tpm: the persistent SRK did not take the key; "
		    "creating the template SRK");
		tpm_srk_release(k, &srk, transient);
		if ((r = tpm_srk(k, k->blob.parent, 0, &srk, &transient)) !=
		    KW_OK)
			goto out;
		rc = tpm_esys_load(k, srk, &k->blob.priv, &k->blob.pub);
	}
	if (rc != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "loading the key");
		goto out;
	}
	k->key_transient = 1;
	/* The parent goes first: it is not needed once the key is in. */
	if ((r = tpm_set_auth(k)) != KW_OK ||
	    (r = tpm_session_start(k, srk)) != KW_OK)	/* salted by it */
		goto out;
	tpm_srk_release(k, &srk, transient);
	r = tpm_park(k);
out:
	tpm_srk_release(k, &srk, transient);
	return r;
}

/* Reconnect and reload after the connection dropped. */
static int
tpm_reconnect(struct tpm_key *k)
{
	int r;

	tpm_disconnect(k);
	if ((r = tpm_connect(k)) != KW_OK)
		return r;
	if ((r = tpm_load(k)) != KW_OK)
		tpm_disconnect(k);
	return r;
}

/* Refuse keys keyward cannot use for signing. */
static int
tpm_check_pub(struct tpm_key *k)
{
	const TPMT_PUBLIC *p = &k->pub.publicArea;

	if ((k->alg = tpm_pub_alg(p)) == KW_ALG_NONE) {
		kw_err("%s is not an ECC P-256/P-384 or RSA-2048/3072 key; "
		    "keyward cannot use it", k->obj);
		return KW_ERR_UNSUPPORTED;
	}
	if (!(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
	    (p->objectAttributes & TPMA_OBJECT_RESTRICTED)) {
		kw_err("%s is not an unrestricted signing key; keyward "
		    "cannot sign with it", k->obj);
		return KW_ERR_UNSUPPORTED;
	}
	return KW_OK;
}

static size_t
tpm_field_size(enum kw_key_alg alg)
{
	return alg == KW_ALG_EC_P384 ? 48 : 32;
}

static TPMI_ALG_HASH
tpm_hash_alg(enum kw_hash h)
{
	switch (h) {
	case KW_HASH_SHA256:
		return TPM2_ALG_SHA256;
	case KW_HASH_SHA384:
		return TPM2_ALG_SHA384;
	case KW_HASH_SHA512:
		return TPM2_ALG_SHA512;
	default:
		return TPM2_ALG_NULL;
	}
}

/* One command on the loaded key: a signature or an RSA decryption. */
struct tpm_cmd {
	const char *what;			/* "signing", "decrypting" */
	/* Esys_Sign */
	const TPMT_SIG_SCHEME *scheme;
	const TPM2B_DIGEST *digest;
	TPMT_SIGNATURE **sig;
	/* Esys_RSA_Decrypt (when cipher is set) */
	const TPM2B_PUBLIC_KEY_RSA *cipher;
	TPM2B_PUBLIC_KEY_RSA **plain;
};

static TSS2_RC
tpm_cmd_once(struct tpm_key *k, const struct tpm_cmd *c)
{
	TPMT_TK_HASHCHECK check;
	TPMT_RSA_DECRYPT dec;
	TPM2B_DATA label;
	TSS2_RC rc;

	if (c->cipher != NULL) {
		memset(&dec, 0, sizeof(dec));
		dec.scheme = TPM2_ALG_RSAES;
		memset(&label, 0, sizeof(label));
		rc = Esys_RSA_Decrypt(k->esys, k->key, tpm_auth_session(k),
		    ESYS_TR_NONE, ESYS_TR_NONE, c->cipher, &dec, &label,
		    c->plain);
		if (rc != TSS2_RC_SUCCESS)
			*c->plain = NULL;
		return rc;
	}
	memset(&check, 0, sizeof(check));
	check.tag = TPM2_ST_HASHCHECK;
	check.hierarchy = TPM2_RH_NULL;
	rc = Esys_Sign(k->esys, k->key, tpm_auth_session(k), ESYS_TR_NONE,
	    ESYS_TR_NONE, c->digest, c->scheme, &check, c->sig);
	if (rc != TSS2_RC_SUCCESS)
		*c->sig = NULL;
	return rc;
}

/* Run a command on the loaded key; reconnects once if the connection
 * dropped.  Auth failures and lockout are never retried.  A ciphertext
 * the TPM refuses to decrypt: KW_ERR_CRYPTO. */
static int
tpm_run(struct tpm_key *k, const struct tpm_cmd *c)
{
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int attempt, lost, r;

	for (attempt = 0; attempt < 2; attempt++) {
		if (k->esys == NULL) {
			if ((r = tpm_reconnect(k)) != KW_OK)
				return r;
			if (k->down)	/* the key layer says it signs again */
				kw_debug("tpm: the TPM at %s is back: %s "
				    "loaded again", k->tcti ? k->tcti :
				    "the default TCTI", k->obj);
			k->down = 0;
		}
		if ((r = tpm_session_start(k, ESYS_TR_NONE)) != KW_OK)
			return r;
		lost = 0;
		if ((rc = tpm_unpark(k)) == TSS2_RC_SUCCESS) {
			rc = tpm_cmd_once(k, c);
			if (rc == TSS2_RC_SUCCESS) {
				tpm_repark(k);
				return KW_OK;
			}
			lost = tpm_rc_is_key_lost(rc);
			if (!lost)
				tpm_repark(k);
		} else {
			/* Gone, or the TPM no longer takes the saved context
			 * (it was reset or cleared): load the key file
			 * again.  Out of slots for 3 s: give up. */
			lost = !tpm_rc_is_busy(rc);
			kw_debug("tpm: the saved context of %s did not load "
			    "(0x%x)", k->obj, (unsigned)rc);
		}
		if (!lost) {
			/* A refused command may leave the session's nonces
			 * out of step: the next call starts a new one. */
			if (k->sess != ESYS_TR_NONE)
				Esys_FlushContext(k->esys, k->sess);
			k->sess = ESYS_TR_NONE;
			break;
		}
		/* Next time (this call's retry, or the next call) starts
		 * with a fresh connection and reloads the key.  The old
		 * handle is not flushed: the TPM lost it, and the number may
		 * by now name someone else's object. */
		k->key = ESYS_TR_NONE;
		k->key_transient = 0;
		k->sess = ESYS_TR_NONE;
		tpm_disconnect(k);
		if (attempt == 0 && !k->down)
			kw_warn("tpm: lost the TPM at %s (or it restarted) "
			    "while %s with %s [%s, 0x%x]; reconnecting, and "
			    "retrying at each use until it is back",
			    k->tcti ? k->tcti : "the default TCTI", c->what,
			    k->obj, Tss2_RC_Decode(rc), (unsigned)rc);
		k->down = 1;
	}
	if (c->cipher != NULL && tpm_rc_is_undecryptable(rc)) {
		kw_err("tpm: %s could not decrypt the message (0x%x): it is "
		    "not encrypted to this key, or it is damaged", k->obj,
		    (unsigned)rc);
		return KW_ERR_CRYPTO;
	}
	return tpm_rc(k, rc, c->what);
}

/* One Esys_Sign on the loaded key (see tpm_run). */
static int
tpm_sign_raw(struct tpm_key *k, const TPMT_SIG_SCHEME *scheme,
    const TPM2B_DIGEST *digest, TPMT_SIGNATURE **sig)
{
	struct tpm_cmd c;

	*sig = NULL;
	memset(&c, 0, sizeof(c));
	c.what = "signing";
	c.scheme = scheme;
	c.digest = digest;
	c.sig = sig;
	return tpm_run(k, &c);
}

/* Big-endian value left-padded into out[0..n). */
static int
tpm_put_padded(uint8_t *out, size_t n, const uint8_t *in, size_t in_len)
{
	while (in_len > n && in_len > 0 && in[0] == 0) {
		in++;
		in_len--;
	}
	if (in_len > n)
		return KW_ERR_TPM;
	memset(out, 0, n - in_len);
	memcpy(out + n - in_len, in, in_len);
	return KW_OK;
}

static int
tpm_sign_locked(struct tpm_key *k, enum kw_sig_scheme scheme,
    enum kw_hash hash, const uint8_t *digest, size_t digest_len,
    uint8_t *out, size_t *out_len)
{
	TPMT_SIGNATURE *sig = NULL;
	TPMT_SIG_SCHEME sch;
	TPM2B_DIGEST d;
	size_t fs, n;
	int r;

	memset(&sch, 0, sizeof(sch));
	memset(&d, 0, sizeof(d));
	if (scheme == KW_SIG_ECDSA) {
		if (kw_alg_is_rsa(k->alg) || digest_len == 0) {
			r = KW_ERR_UNSUPPORTED;
			goto out;
		}
		/* ECDSA uses the leftmost field-size bytes of the digest;
		 * a shorter one is the same integer left-padded.  Sign that,
		 * named by the hash of the field's size. */
		fs = tpm_field_size(k->alg);
		if (digest_len >= fs)
			memcpy(d.buffer, digest, fs);
		else
			memcpy(d.buffer + fs - digest_len, digest, digest_len);
		d.size = (UINT16)fs;
		sch.scheme = TPM2_ALG_ECDSA;
		sch.details.ecdsa.hashAlg = fs == 48 ? TPM2_ALG_SHA384 :
		    TPM2_ALG_SHA256;
		if (*out_len < 2 * fs) {
			r = KW_ERR_SPACE;
			goto out;
		}
	} else {
		if (!kw_alg_is_rsa(k->alg) ||
		    (scheme != KW_SIG_RSA_PKCS1 && scheme != KW_SIG_RSA_PSS)) {
			r = KW_ERR_UNSUPPORTED;
			goto out;
		}
		if (tpm_hash_alg(hash) == TPM2_ALG_NULL ||
		    digest_len != kw_hash_len(hash)) {
			r = KW_ERR_ARG;
			goto out;
		}
		memcpy(d.buffer, digest, digest_len);
		d.size = (UINT16)digest_len;
		sch.scheme = scheme == KW_SIG_RSA_PSS ? TPM2_ALG_RSAPSS :
		    TPM2_ALG_RSASSA;
		sch.details.any.hashAlg = tpm_hash_alg(hash);
		if (*out_len < (size_t)kw_alg_bits(k->alg) / 8) {
			r = KW_ERR_SPACE;
			goto out;
		}
	}
	if ((r = tpm_sign_raw(k, &sch, &d, &sig)) != KW_OK)
		goto out;
	if (scheme == KW_SIG_ECDSA) {
		if ((r = tpm_put_padded(out, fs,
		    sig->signature.ecdsa.signatureR.buffer,
		    sig->signature.ecdsa.signatureR.size)) != KW_OK ||
		    (r = tpm_put_padded(out + fs, fs,
		    sig->signature.ecdsa.signatureS.buffer,
		    sig->signature.ecdsa.signatureS.size)) != KW_OK)
			goto out;
		*out_len = 2 * fs;
	} else {
		n = (size_t)kw_alg_bits(k->alg) / 8;
		if ((r = tpm_put_padded(out, n,
		    sig->signature.rsassa.sig.buffer,
		    sig->signature.rsassa.sig.size)) != KW_OK)
			goto out;
		*out_len = n;
	}
	r = KW_OK;
out:
	if (r == KW_ERR_TPM && sig != NULL)
		kw_err("signing with %s: the TPM returned a malformed "
		    "signature", k->obj);
	Esys_Free(sig);
	explicit_bzero(&d, sizeof(d));
	return r;
}

static int
tpm_op_sign(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct tpm_key *k = impl;
	int r;

	pthread_mutex_lock(&k->lock);
	r = tpm_sign_locked(k, scheme, hash, digest, digest_len, sig,
	    sig_len);
	pthread_mutex_unlock(&k->lock);
	if (r != KW_OK)
		*sig_len = 0;
	return r;
}

/* May this key decrypt?  Only an RSA key whose public area says decrypt
 * (keygen --usage sign,decrypt). */
static int
tpm_may_decrypt(const struct tpm_key *k)
{
	if (kw_alg_is_rsa(k->alg) &&
	    (k->pub.publicArea.objectAttributes & TPMA_OBJECT_DECRYPT))
		return KW_OK;
	kw_err("cannot decrypt with %s: it has no TPM decrypt attribute; %s",
	    k->obj, KW_KEY_SIGN_ONLY_HINT);
	return KW_ERR_UNSUPPORTED;
}

static int
tpm_op_decrypt(void *impl, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct tpm_key *k = impl;
	TPM2B_PUBLIC_KEY_RSA cipher, *plain = NULL;
	struct tpm_cmd c;
	int r;

	if ((r = tpm_may_decrypt(k)) != KW_OK || in == NULL)
		return r;
	if (in_len == 0 || in_len > sizeof(cipher.buffer))
		return KW_ERR_CRYPTO;
	memset(&cipher, 0, sizeof(cipher));
	memcpy(cipher.buffer, in, in_len);
	cipher.size = (UINT16)in_len;
	memset(&c, 0, sizeof(c));
	c.what = "decrypting";
	c.cipher = &cipher;
	c.plain = &plain;
	pthread_mutex_lock(&k->lock);
	r = tpm_run(k, &c);
	pthread_mutex_unlock(&k->lock);
	if (r != KW_OK)
		goto out;
	if (plain->size > *out_len) {
		r = KW_ERR_SPACE;
		goto out;
	}
	memcpy(out, plain->buffer, plain->size);
	*out_len = plain->size;
	r = KW_OK;
out:
	if (plain != NULL)
		explicit_bzero(plain, sizeof(*plain));
	Esys_Free(plain);
	if (r != KW_OK)
		*out_len = 0;
	return r;
}

static int
tpm_op_public_key(void *impl, uint8_t *der, size_t *len)
{
	struct tpm_key *k = impl;

	return tpm_pub_spki(&k->pub.publicArea, der, len);
}

static int
tpm_op_describe(void *impl, char *buf, size_t len)
{
	struct tpm_key *k = impl;
	int n;

	n = snprintf(buf, len, "tpm: %s, %s (tcti %s)", k->spec,
	    kw_alg_name(k->alg), k->tcti ? k->tcti : "default");
	return n < 0 || (size_t)n >= len ? KW_ERR_SPACE : KW_OK;
}

static void
tpm_key_free(struct tpm_key *k)
{
	if (k == NULL)
		return;
	tpm_disconnect(k);
	free(k->tcti);
	free(k->spec);
	free(k->obj);
	pthread_mutex_destroy(&k->lock);
	kw_freezero(k, sizeof(*k));	/* wipes the auth value too */
}

static void
tpm_op_close(void *impl)
{
	tpm_key_free(impl);
}

/* MGF1 (RFC 8017 B.2.1) with the TPM's hash: mask[0..len). */
static int
tpm_mgf1(struct tpm_key *k, TPMI_ALG_HASH alg, const uint8_t *seed,
    size_t seed_len, uint8_t *mask, size_t len)
{
	TPM2B_MAX_BUFFER in;
	TPM2B_DIGEST *h = NULL;
	uint32_t ctr;
	size_t off = 0, n;
	TSS2_RC rc;

	for (ctr = 0; off < len; ctr++) {
		memset(&in, 0, sizeof(in));
		memcpy(in.buffer, seed, seed_len);
		in.buffer[seed_len] = (uint8_t)(ctr >> 24);
		in.buffer[seed_len + 1] = (uint8_t)(ctr >> 16);
		in.buffer[seed_len + 2] = (uint8_t)(ctr >> 8);
		in.buffer[seed_len + 3] = (uint8_t)ctr;
		in.size = (UINT16)(seed_len + 4);
		if ((rc = Esys_Hash(k->esys, ESYS_TR_NONE, ESYS_TR_NONE,
		    ESYS_TR_NONE, &in, alg, ESYS_TR_RH_NULL, &h, NULL)) !=
		    TSS2_RC_SUCCESS)
			return tpm_rc(k, rc, "hashing (RSA-PSS probe)");
		n = len - off < h->size ? len - off : h->size;
		memcpy(mask + off, h->buffer, n);
		off += n;
		Esys_Free(h);
		h = NULL;
	}
	return KW_OK;
}

/* Make one RSA-PSS signature over a fixed digest and find its salt length:
 * the TPM recovers the encoded message with its own public-key operation
 * (a public-only copy loaded as a decryption key), and hashes MGF1. */
static int
tpm_pss_probe(struct tpm_key *k, enum kw_hash hash, size_t *salt_len)
{
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_PUBLIC_KEY_RSA *em = NULL, msg;
	TPM2B_PUBLIC ext;
	TPM2B_MAX_BUFFER m;
	TPM2B_DIGEST d, *hh = NULL;
	TPM2B_DATA label;
	TPMT_RSA_DECRYPT dec;
	TPMT_SIG_SCHEME sch;
	ESYS_TR pubh = ESYS_TR_NONE;
	TPMI_ALG_HASH alg = tpm_hash_alg(hash);
	uint8_t emb[512], mask[512];
	size_t hlen = kw_hash_len(hash), emlen, dblen, i;
	TSS2_RC rc;
	int r;

	*salt_len = 0;
	/* 2048 and 3072 bits: emLen = modulus length */
	emlen = (size_t)kw_alg_bits(k->alg) / 8;
	memset(&d, 0x5a, sizeof(d));
	d.size = (UINT16)hlen;
	memset(&sch, 0, sizeof(sch));
	sch.scheme = TPM2_ALG_RSAPSS;
	sch.details.rsapss.hashAlg = alg;
	if ((r = tpm_sign_raw(k, &sch, &d, &sig)) != KW_OK)
		goto out;
	ext = k->pub;
	ext.publicArea.objectAttributes = TPMA_OBJECT_DECRYPT |
	    TPMA_OBJECT_USERWITHAUTH;
	ext.publicArea.authPolicy.size = 0;
	ext.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
	ext.publicArea.parameters.rsaDetail.symmetric.algorithm =
	    TPM2_ALG_NULL;
	if ((rc = Esys_LoadExternal(k->esys, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, NULL, &ext, ESYS_TR_RH_NULL, &pubh)) !=
	    TSS2_RC_SUCCESS) {
		pubh = ESYS_TR_NONE;
		r = tpm_rc(k, rc, "loading the public key (RSA-PSS probe)");
		goto out;
	}
	memset(&msg, 0, sizeof(msg));
	msg.size = sig->signature.rsapss.sig.size;
	memcpy(msg.buffer, sig->signature.rsapss.sig.buffer, msg.size);
	memset(&dec, 0, sizeof(dec));
	dec.scheme = TPM2_ALG_NULL;
	memset(&label, 0, sizeof(label));
	if ((rc = Esys_RSA_Encrypt(k->esys, pubh, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, &msg, &dec, &label, &em)) != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "verifying (RSA-PSS probe)");
		goto out;
	}
	/* Any check failing below: the signature does not verify. */
	r = KW_ERR_CRYPTO;
	if (emlen > sizeof(emb) || emlen < 2 * hlen + 2 ||
	    tpm_put_padded(emb, emlen, em->buffer, em->size) != KW_OK ||
	    emb[emlen - 1] != 0xbc)
		goto out;
	dblen = emlen - hlen - 1;
	if ((r = tpm_mgf1(k, alg, emb + dblen, hlen, mask, dblen)) != KW_OK)
		goto out;
	r = KW_ERR_CRYPTO;
	for (i = 0; i < dblen; i++)
		emb[i] ^= mask[i];
	emb[0] &= 0x7f;		/* emBits = modBits - 1 */
	for (i = 0; i < dblen && emb[i] == 0; i++)
		;
	if (i == dblen || emb[i] != 0x01)
		goto out;
	*salt_len = dblen - i - 1;
	/* H = Hash(8 zero bytes || mHash || salt) */
	memset(&m, 0, sizeof(m));
	if (8 + hlen + *salt_len > sizeof(m.buffer))
		goto out;
	memcpy(m.buffer + 8, d.buffer, hlen);
	memcpy(m.buffer + 8 + hlen, emb + i + 1, *salt_len);
	m.size = (UINT16)(8 + hlen + *salt_len);
	if ((rc = Esys_Hash(k->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
	    &m, alg, ESYS_TR_RH_NULL, &hh, NULL)) != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "hashing (RSA-PSS probe)");
		goto out;
	}
	if (hh->size != hlen || memcmp(hh->buffer, emb + dblen, hlen) != 0)
		goto out;
	r = KW_OK;
out:
	if (r == KW_ERR_CRYPTO)
		kw_err("tpm: the RSA-PSS signature %s made did not verify; "
		    "not using RSA-PSS", k->obj);
	if (pubh != ESYS_TR_NONE && k->esys != NULL)
		Esys_FlushContext(k->esys, pubh);
	Esys_Free(sig);
	Esys_Free(em);
	Esys_Free(hh);
	return r;
}

static int
tpm_op_supports(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash)
{
	struct tpm_key *k = impl;
	size_t salt = 0;
	int r;

	if (scheme == KW_SIG_ECDSA)
		return kw_alg_is_rsa(k->alg) ? KW_ERR_UNSUPPORTED : KW_OK;
	if (!kw_alg_is_rsa(k->alg) || tpm_hash_alg(hash) == TPM2_ALG_NULL)
		return KW_ERR_UNSUPPORTED;
	if (scheme == KW_SIG_RSA_PKCS1)
		return KW_OK;
	if (scheme != KW_SIG_RSA_PSS)
		return KW_ERR_UNSUPPORTED;
	pthread_mutex_lock(&k->lock);
	if (k->pss[hash] == TPM_PSS_UNKNOWN) {
		r = tpm_pss_probe(k, hash, &salt);
		if (r == KW_ERR_TOKEN_ABSENT || r == KW_ERR_NOMEM ||
		    r == KW_ERR_PIN_INCORRECT || r == KW_ERR_PIN_LOCKED)
			goto out;	/* passing trouble: ask again later */
		if (r != KW_OK) {
			/* The TPM's PSS salt length stays unknown: assume
			 * the TPM 2.0 default (the largest salt), which
			 * TLS 1.3 peers refuse. */
			kw_warn("tpm: cannot tell which RSA-PSS salt length "
			    "this TPM uses (%s); not using RSA-PSS with %s "
			    "(TLS 1.3 needs it; use an EC key, or TLS 1.2)",
			    kw_strerror(r), k->obj);
			k->pss[hash] = TPM_PSS_BAD;
		} else if (salt == kw_hash_len(hash)) {
			kw_debug("tpm: RSA-PSS with %s: the TPM uses a "
			    "%zu-byte salt (= digest length, as TLS 1.3 "
			    "requires)",
			    kw_hash_name(hash), salt);
			k->pss[hash] = TPM_PSS_OK;
		} else {
			kw_warn("tpm: this TPM makes RSA-PSS/%s signatures "
			    "with a %zu-byte salt but TLS 1.3 requires %zu "
			    "(the digest length): %s cannot be used for TLS "
			    "1.3; use an EC key, or TLS 1.2",
			    kw_hash_name(hash), salt, kw_hash_len(hash),
			    k->obj);
			k->pss[hash] = TPM_PSS_BAD;
		}
	}
	r = k->pss[hash] == TPM_PSS_OK ? KW_OK : KW_ERR_PSS_SALT;
out:
	pthread_mutex_unlock(&k->lock);
	return r;
}

static const struct kw_key_ops tpm_key_ops = {
	.name = "tpm",
	.public_key = tpm_op_public_key,
	.sign = tpm_op_sign,
	.describe = tpm_op_describe,
	.close = tpm_op_close,
	.supports = tpm_op_supports,
	.decrypt = tpm_op_decrypt,
};

/* Read and parse a key file into k->blob. */
static int
tpm_read_keyfile(struct tpm_key *k)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = kw_file_read(k->spec, TPM_KEYFILE_MAX, &buf, &len)) !=
	    KW_OK) {
		if (r == KW_ERR_NOT_FOUND)
			kw_err("key file %s does not exist: create it with "
			    "`keyward keygen --key tpm:%s`", k->spec, k->spec);
		else if (r == KW_ERR_PERM)
			kw_err("cannot read key file %s: permission denied",
			    k->spec);
		else if (r == KW_ERR_SPACE) {
			kw_err("%s is too large to be a TSS2 key file",
			    k->spec);
			r = KW_ERR_PARSE;
		} else
			kw_err("cannot read key file %s: %s", k->spec,
			    kw_strerror(r));
		goto out;
	}
	if ((r = tpm_keyfile_from_pem(buf, len, &k->blob)) != KW_OK) {
		if (r == KW_ERR_UNSUPPORTED)
			kw_err("key file %s uses TPM policies or a parent "
			    "keyward does not support", k->spec);
		else
			kw_err("%s is not a TSS2 PRIVATE KEY file (or it is "
			    "damaged)", k->spec);
		goto out;
	}
	r = KW_OK;
out:
	kw_freezero(buf, len);
	return r;
}

int
tpm_key_open(const char *spec, const struct tpm_opts *opts,
    struct kw_key **out)
{
	struct tpm_key *k = NULL;
	int r;

	*out = NULL;
	if (spec == NULL || *spec == '\0')
		return KW_ERR_ARG;
	if ((r = tpm_key_new_state(spec, opts, &k)) != KW_OK ||
	    (r = tpm_check_spec(k)) != KW_OK)
		goto out;
	if (!k->persistent) {
		if ((r = tpm_read_keyfile(k)) != KW_OK)
			goto out;
		if (!k->blob.empty_auth && k->auth.size == 0) {
			kw_err("%s needs an auth value: pass --auth-file "
			    "(not trying an empty one: failures count toward "
			    "the TPM's lockout)", k->obj);
			r = KW_ERR_PIN_REQUIRED;
			goto out;
		}
		k->pub = k->blob.pub;
		if ((r = tpm_check_pub(k)) != KW_OK)
			goto out;
	}
	if ((r = tpm_connect(k)) != KW_OK || (r = tpm_load(k)) != KW_OK ||
	    (r = tpm_check_pub(k)) != KW_OK)
		goto out;
	kw_debug("tpm: opened %s (%s)", k->obj, kw_alg_name(k->alg));
	r = kw_key_new(&tpm_key_ops, k, k->alg, out);
	k = NULL;	/* owned by *out, or closed by kw_key_new */
out:
	tpm_key_free(k);
	return r;
}

/* Create a key under the template SRK: *priv and *pub filled. */
static int
tpm_create(struct tpm_key *k, enum kw_key_alg alg, ESYS_TR srk,
    TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC tmpl;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TSS2_RC rc;
	int r, tries = 0;

	*priv = NULL;
	*pub = NULL;
	memset(&sens, 0, sizeof(sens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	if ((r = tpm_pub_key_template(alg, k->auth.size > 0, &tmpl)) != KW_OK)
		goto out;
	/* SCEP: the CA encrypts its answer to this key.  Still unrestricted
	 * and scheme NULL: TPM2_RSA_Decrypt names RSAES per call. */
	if (k->usage & KW_USAGE_DECRYPT)
		tmpl.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
	sens.sensitive.userAuth = k->auth;
	/* With an auth value, the session encrypts inSensitive: the value is
	 * not sent in the clear. */
	/* TPM2_Create needs a free object slot of its own while it works:
	 * wait for one like a load does. */
	do
		rc = Esys_Create(k->esys, srk, tpm_auth_session(k),
		    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs,
		    priv, pub, NULL, NULL, NULL);
	while (tpm_busy_wait(rc, tries++));
	if (rc != TSS2_RC_SUCCESS) {
		*priv = NULL;
		*pub = NULL;
		r = tpm_rc(k, rc, "creating the key");
		goto out;
	}
	r = KW_OK;
out:
	explicit_bzero(&sens, sizeof(sens));
	return r;
}

int
tpm_key_generate(const char *spec, enum kw_key_alg alg,
    const struct tpm_opts *opts, struct kw_key **out)
{
	struct tpm_key *k = NULL;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR srk = ESYS_TR_NONE, pers = ESYS_TR_NONE;
	TSS2_RC rc;
	char *pem = NULL;
	size_t pem_len = 0;
	int transient = 0, present, r;

	*out = NULL;
	if (spec == NULL || *spec == '\0' || kw_alg_bits(alg) <= 0)
		return KW_ERR_ARG;
	if ((r = tpm_key_new_state(spec, opts, &k)) != KW_OK)
		goto out;
	if ((r = tpm_check_spec(k)) != KW_OK)
		goto out;
	if (k->usage & ~(KW_USAGE_SIGN | KW_USAGE_DECRYPT)) {
		r = KW_ERR_ARG;
		goto out;
	}
	if ((k->usage & KW_USAGE_DECRYPT) && !kw_alg_is_rsa(alg)) {
		kw_err("%s: an %s key cannot decrypt; keys for SCEP are RSA "
		    "(--alg rsa2048)", k->obj, kw_alg_name(alg));
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if (k->auth.size > 32) {
		/* at most the size of the key's name hash (SHA-256) */
		kw_err("the auth value for %s is longer than 32 bytes",
		    k->obj);
		r = KW_ERR_ARG;
		goto out;
	}
	if (!k->persistent && access(spec, F_OK) == 0) {
		r = KW_ERR_EXISTS;	/* the caller says so */
		goto out;
	}
	if ((r = tpm_connect(k)) != KW_OK)
		goto out;
	if (k->persistent) {
		if ((r = tpm_handle_present(k, k->handle, &present)) != KW_OK)
			goto out;
		if (present) {
			r = KW_ERR_EXISTS;
			goto out;
		}
	}
	/* Always the template SRK: the file then loads wherever the
	 * template is used (tpm2-openssl, tpm2-tss-engine). */
	if ((r = tpm_srk(k, TPM_SRK_TEMPLATE_PARENT, 0, &srk, &transient)) !=
	    KW_OK || (r = tpm_session_start(k, srk)) != KW_OK ||
	    (r = tpm_create(k, alg, srk, &priv, &pub)) != KW_OK)
		goto out;
	k->blob.empty_auth = k->auth.size == 0;
	k->blob.parent = TPM_SRK_TEMPLATE_PARENT;
	k->blob.pub = *pub;
	k->blob.priv = *priv;
	k->pub = *pub;
	if ((rc = tpm_esys_load(k, srk, priv, pub)) != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "loading the new key");
		goto out;
	}
	k->key_transient = 1;
	tpm_srk_release(k, &srk, transient);
	if (k->persistent) {
		if ((rc = Esys_EvictControl(k->esys, ESYS_TR_RH_OWNER, k->key,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, k->handle,
		    &pers)) != TSS2_RC_SUCCESS) {
			struct tpm_rcctx c = tpm_rcctx(k,
			    "making the key persistent");

			c.is_owner = 1;
			r = tpm_rc_err(rc, &c);
			goto out;
		}
		Esys_FlushContext(k->esys, k->key);
		k->key = pers;
		k->key_transient = 0;
	} else {
		if ((r = tpm_keyfile_to_pem(&k->blob, &pem, &pem_len)) !=
		    KW_OK)
			goto out;
		if ((r = kw_file_write_atomic(spec, pem, pem_len, 0600, 1)) !=
		    KW_OK)
			goto out;
	}
	if ((r = tpm_set_auth(k)) != KW_OK ||
	    (r = tpm_check_pub(k)) != KW_OK || (r = tpm_park(k)) != KW_OK)
		goto out;
	kw_debug("tpm: created %s (%s%s)", k->obj, kw_alg_name(alg),
	    (k->usage & KW_USAGE_DECRYPT) ? ", sign and decrypt" : "");
	r = kw_key_new(&tpm_key_ops, k, k->alg, out);
	k = NULL;
out:
	if (k != NULL)
		tpm_srk_release(k, &srk, transient);
	tpm_key_free(k);
	Esys_Free(priv);
	Esys_Free(pub);
	kw_freezero(pem, pem_len);
	return r;
}

int
tpm_key_delete(const char *spec, const struct tpm_opts *opts)
{
	struct tpm_key *k = NULL;
	ESYS_TR none = ESYS_TR_NONE;
	TPMA_OBJECT a;
	TSS2_RC rc;
	int r;

	if (spec == NULL || *spec == '\0')
		return KW_ERR_ARG;
	if ((r = tpm_key_new_state(spec, opts, &k)) != KW_OK ||
	    (r = tpm_check_spec(k)) != KW_OK)
		goto out;
	if (!k->persistent) {
		/* Only ever remove what is a TSS2 key file. */
		if ((r = tpm_read_keyfile(k)) != KW_OK)
			goto out;
		if (unlink(spec) != 0) {
			kw_err("cannot remove key file %s: %s", spec,
			    strerror(errno));
			r = errno == EACCES ? KW_ERR_PERM : KW_ERR_IO;
			goto out;
		}
		r = KW_OK;
		goto out;
	}
	if ((r = tpm_connect(k)) != KW_OK)
		goto out;
	if ((rc = Esys_TR_FromTPMPublic(k->esys, k->handle, ESYS_TR_NONE,
	    ESYS_TR_NONE, ESYS_TR_NONE, &k->key)) != TSS2_RC_SUCCESS) {
		k->key = ESYS_TR_NONE;
		r = tpm_rc(k, rc, "removing the key");
		goto out;
	}
	if ((r = tpm_read_public(k, k->key, &k->pub, "reading the key")) !=
	    KW_OK)
		goto out;
	a = k->pub.publicArea.objectAttributes;
	/* keyward's keys: unrestricted, signing, perhaps decrypting too
	 * (SCEP); never a storage key (restricted decrypt) or an
	 * attestation key (restricted sign). */
	if (!(a & TPMA_OBJECT_SIGN_ENCRYPT) || (a & TPMA_OBJECT_RESTRICTED)) {
		kw_err("%s is not an unrestricted signing key (a storage or "
		    "attestation key?); refusing to remove it", k->obj);
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if ((rc = Esys_EvictControl(k->esys, ESYS_TR_RH_OWNER, k->key,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, k->handle,
	    &none)) != TSS2_RC_SUCCESS) {
		struct tpm_rcctx c = tpm_rcctx(k, "removing the key");

		c.is_owner = 1;
		r = tpm_rc_err(rc, &c);
		goto out;
	}
	k->key = ESYS_TR_NONE;	/* EvictControl closed it */
	r = KW_OK;
out:
	tpm_key_free(k);
	return r;
}

/* For tpm_attest.c: a bare connection, chosen and opened like a key's. */
int
tpm_conn_open(const char *tcti, struct tpm_conn *out)
{
	struct tpm_opts o;
	struct tpm_key *k = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&o, 0, sizeof(o));
	o.tcti = tcti;
	if ((r = tpm_key_new_state("-", &o, &k)) != KW_OK)
		goto out;
	free(k->obj);
	if ((k->obj = strdup("the TPM")) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = tpm_connect(k)) != KW_OK)
		goto out;
	out->tcti = k->tcti;
	out->tcti_ctx = k->tcti_ctx;
	out->esys = k->esys;
	k->tcti = NULL;
	k->tcti_ctx = NULL;
	k->esys = NULL;
out:
	tpm_key_free(k);
	return r;
}

void
tpm_conn_close(struct tpm_conn *c)
{
	if (c->esys != NULL)
		Esys_Finalize(&c->esys);
	tpm_tcti_count_free(&c->tcti_ctx);
	free(c->tcti);
	memset(c, 0, sizeof(*c));
}

/* For tpm_attest.c: load a key on someone else's connection. */
int
tpm_key_load_on(struct tpm_conn *c, const char *spec,
    const struct tpm_opts *opts, struct tpm_loaded *out)
{
	struct tpm_opts o;
	struct tpm_key *k = NULL;
	TSS2_RC rc;
	int r;

	memset(out, 0, sizeof(*out));
	out->tr = ESYS_TR_NONE;
	out->sess = ESYS_TR_PASSWORD;
	if (spec == NULL || *spec == '\0')
		return KW_ERR_ARG;
	memset(&o, 0, sizeof(o));
	if (opts != NULL)
		o = *opts;
	o.tcti = c->tcti;	/* for messages: the connection's */
	if ((r = tpm_key_new_state(spec, &o, &k)) != KW_OK ||
	    (r = tpm_check_spec(k)) != KW_OK)
		goto out;
	if (!k->persistent) {
		if ((r = tpm_read_keyfile(k)) != KW_OK)
			goto out;
		if (!k->blob.empty_auth && k->auth.size == 0) {
			kw_err("%s needs an auth value: pass --auth-file",
			    k->obj);
			r = KW_ERR_PIN_REQUIRED;
			goto out;
		}
		k->pub = k->blob.pub;
	}
	k->esys = c->esys;		/* borrowed */
	if ((r = tpm_load(k)) != KW_OK)
		goto out;
	/* Parked (no resource manager): in again for the caller's command. */
	if ((rc = tpm_unpark(k)) != TSS2_RC_SUCCESS) {
		r = tpm_rc(k, rc, "loading the key");
		goto out;
	}
	out->tr = k->key;
	out->transient = k->key_transient;
	if (k->sess != ESYS_TR_NONE)
		out->sess = k->sess;
	out->pub = k->pub;
	k->key = ESYS_TR_NONE;
	k->sess = ESYS_TR_NONE;
out:
	if (k != NULL && k->esys != NULL) {
		/* a failed load: release what it left */
		if (k->key != ESYS_TR_NONE) {
			if (k->key_transient)
				Esys_FlushContext(k->esys, k->key);
			else
				Esys_TR_Close(k->esys, &k->key);
		}
		if (k->sess != ESYS_TR_NONE)
			Esys_FlushContext(k->esys, k->sess);
		k->key = ESYS_TR_NONE;
		k->sess = ESYS_TR_NONE;
		k->esys = NULL;		/* not ours to finalize */
	}
	tpm_key_free(k);
	return r;
}

void
tpm_key_unload(struct tpm_conn *c, struct tpm_loaded *l)
{
	if (c->esys != NULL && l->tr != ESYS_TR_NONE) {
		if (l->transient)
			Esys_FlushContext(c->esys, l->tr);
		else
			Esys_TR_Close(c->esys, &l->tr);
	}
	if (c->esys != NULL && l->sess != ESYS_TR_PASSWORD &&
	    l->sess != ESYS_TR_NONE)
		Esys_FlushContext(c->esys, l->sess);
	l->tr = ESYS_TR_NONE;
	l->sess = ESYS_TR_PASSWORD;
	l->transient = 0;
}

int
tpm_key_with_conn(struct kw_key *key,
    int (*fn)(struct tpm_conn *c, void *arg), void *arg)
{
	struct tpm_key *k = kw_key_impl(key, &tpm_key_ops);
	struct tpm_conn c;
	int r;

	if (k == NULL)
		return KW_ERR_UNSUPPORTED;
	pthread_mutex_lock(&k->lock);
	if (k->esys == NULL && (r = tpm_connect(k)) != KW_OK)
		goto out;
	memset(&c, 0, sizeof(c));
	c.tcti = k->tcti;
	c.tcti_ctx = k->tcti_ctx;
	c.esys = k->esys;
	c.ekc = &k->ekc;
	r = fn(&c, arg);
out:
	pthread_mutex_unlock(&k->lock);
	return r;
}
