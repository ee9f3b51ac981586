/* The signer process: opens the keys the configuration names and answers
 * the network process over the protocol of common/kw_signer.h, with a
 * signature-rate limit and an audit log per key.  See README.md. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_signer.h"
#include "agent/conf/config.h"
#include "agent/identity/identity.h"
#include "agent/identity/renew.h"
#include "agent/keys/keyref.h"
#include "agent/keys/posture_tpm.h"
#include "agent/signer/signer.h"

/* network processes: up to 16 (workers), each with one socket, plus
 * the ends of restarted ones not yet seen closed */
#define KW_SGN_MAX_CLIENTS	40
#define KW_SGN_MAX_ENTS		1024
#define KW_SGN_MAX_SLOTS	1024
#define KW_SGN_FAMILY_DEPTH	256	/* rekeys followed from a known key */
#define KW_SGN_SUMMARY_S	60

/* A reference the configuration allows, with the options to open it. */
struct kw_sgn_ent {
	char *ref;
	int cert;		/* a pkcs11: certificate URI, not a key */
	int family;		/* its rekey successors are allowed too */
	char *id_path;		/* the identity state it came from, or NULL */
	char *tcti, *module, *auth_file;
	int allow_exportable;
	char *ak;		/* posture: the AK of its tunnel or identity */
};

/* An open key. */
struct kw_sgn_slot {
	uint32_t handle;
	char *ref;
	struct kw_key *key;
	char desc[256];
	/* rate limit: a token bucket of one second's worth */
	double tokens;
	struct timespec last;
	int over;
	uint64_t refused, refused_ep;
	/* audit summary */
	time_t since;
	uint64_t by_purpose[KW_PURPOSE_MAX + 1];
};

struct kw_sgn_srv {
	const char *config;
	struct kw_sgn_ent *ents[KW_SGN_MAX_ENTS];
	size_t nents;
	struct kw_sgn_slot *slots[KW_SGN_MAX_SLOTS];
	size_t nslots;
	uint32_t next_handle;
	unsigned rate;
	int clients[KW_SGN_MAX_CLIENTS];
	int ctl;
	char why[KW_SGN_MAX_WHY + 1];	/* a failed request's first error */
};

static void
kw_sgn_ent_free(struct kw_sgn_ent *e)
{
	if (e == NULL)
		return;
	free(e->ref);
	free(e->id_path);
	free(e->tcti);
	free(e->module);
	free(e->auth_file);
	free(e->ak);
	free(e);
}

static int
kw_sdup(const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return KW_ERR_NOMEM;
	return KW_OK;
}

static int
kw_str_eq0(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
kw_sgn_add(struct kw_sgn_srv *sv, const char *ref, int cert, int family,
    const char *id_path, const char *tcti, const char *module,
    const char *auth_file, int allow_exportable)
{
	struct kw_sgn_ent *e;
	size_t i;
	int r;

	if (ref == NULL || *ref == '\0')
		return KW_OK;
	for (i = 0; i < sv->nents; i++) {
		e = sv->ents[i];
		if (strcmp(e->ref, ref) == 0 && e->cert == cert &&
		    kw_str_eq0(e->tcti, tcti) && kw_str_eq0(e->module, module) &&
		    kw_str_eq0(e->auth_file, auth_file))
			return KW_OK;
	}
	if (sv->nents == KW_SGN_MAX_ENTS)
		return KW_ERR_BUSY;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return KW_ERR_NOMEM;
	e->cert = cert;
	e->family = family;
	e->allow_exportable = allow_exportable;
	if ((r = kw_sdup(ref, &e->ref)) != KW_OK ||
	    (r = kw_sdup(id_path, &e->id_path)) != KW_OK ||
	    (r = kw_sdup(tcti, &e->tcti)) != KW_OK ||
	    (r = kw_sdup(module, &e->module)) != KW_OK ||
	    (r = kw_sdup(auth_file, &e->auth_file)) != KW_OK) {
		kw_sgn_ent_free(e);
		return r;
	}
	sv->ents[sv->nents++] = e;
	return KW_OK;
}

static int
kw_sgn_id_known(const struct kw_sgn_srv *sv, const char *path)
{
	size_t i;

	for (i = 0; i < sv->nents; i++)
		if (sv->ents[i]->id_path != NULL &&
		    strcmp(sv->ents[i]->id_path, path) == 0)
			return 1;
	return 0;
}

/* An identity's keys, as its state file names them the first time the
 * signer reads it.  Later reads of a known identity change nothing: the
 * network process rewrites state files, so it must not be able to point
 * the signer at another module or key through them; its renewals stay
 * allowed because rekeyed names follow from the pinned ones. */
static int
kw_sgn_add_identity(struct kw_sgn_srv *sv, const char *path)
{
	struct kw_identity *id = NULL;
	size_t i;
	int r;

	if (path == NULL || kw_sgn_id_known(sv, path))
		return KW_OK;
	if ((r = kw_identity_read(path, &id)) != KW_OK) {
		kw_warn("signer: cannot read identity state %s: %s (its keys "
		    "stay unavailable)", path, kw_strerror(r));
		return KW_OK;
	}
	r = kw_sgn_add(sv, id->key_ref, 0, 1, path, id->tcti, id->module,
	    id->auth_file, id->allow_exportable);
	if (r == KW_OK && id->new_key_ref != NULL)
		r = kw_sgn_add(sv, id->new_key_ref, 0, 1, path, id->tcti,
		    id->module, id->auth_file, id->allow_exportable);
	for (i = 0; r == KW_OK && i < id->nold; i++)
		r = kw_sgn_add(sv, id->old[i].key_ref, 0, 1, path, id->tcti,
		    id->module, id->auth_file, id->allow_exportable);
	if (r == KW_OK && id->acme.account_key_ref != NULL)
		r = kw_sgn_add(sv, id->acme.account_key_ref, 0, 0, path,
		    id->tcti, id->module, id->auth_file, id->allow_exportable);
	if (r == KW_OK && id->key_ref != NULL &&
	    kw_keyref_cert_on_token(NULL, id->key_ref))
		r = kw_sgn_add(sv, id->key_ref, 1, 1, path, id->tcti,
		    id->module, id->auth_file, id->allow_exportable);
	kw_identity_free(id);
	return r;
}

/* The AK (posture) of the keys a tunnel (ref) or an identity (id_path)
 * names, as the configuration says now. */
static int
kw_sgn_set_ak(struct kw_sgn_srv *sv, const char *ref, const char *id_path,
    const char *ak)
{
	struct kw_sgn_ent *e;
	size_t i;
	char *d;

	for (i = 0; i < sv->nents; i++) {
		e = sv->ents[i];
		if (e->cert || !((ref != NULL && strcmp(e->ref, ref) == 0) ||
		    (id_path != NULL && e->id_path != NULL &&
		    strcmp(e->id_path, id_path) == 0)))
			continue;
		if (kw_sdup(ak, &d) != KW_OK)
			return KW_ERR_NOMEM;
		free(e->ak);
		e->ak = d;
	}
	return KW_OK;
}

/* (Re-)read the configuration: add what it names. */
static int
kw_sgn_load(struct kw_sgn_srv *sv)
{
	struct kw_config *conf = NULL;
	const struct kw_tunnel_conf *t;
	const char *tcti, *module, *auth;
	size_t i;
	int r;

	if ((r = kw_config_load(sv->config, &conf)) != KW_OK) {
		kw_err("signer: cannot read %s; keeping the keys it named "
		    "before", sv->config);
		return r;
	}
	sv->rate = conf->sign_rate;
	for (i = 0; r == KW_OK && i < conf->ntunnels; i++) {
		t = conf->tunnels[i];
		tcti = t->tcti ? t->tcti : conf->tcti;
		module = t->module ? t->module : conf->module;
		auth = t->auth_file ? t->auth_file : conf->auth_file;
		r = kw_sgn_add(sv, t->key, 0, 0, NULL, tcti, module, auth,
		    t->allow_exportable);
		if (r == KW_OK && t->key != NULL && t->ak != NULL)
			r = kw_sgn_set_ak(sv, t->key, NULL, t->ak);
		if (r == KW_OK && t->cert != NULL &&
		    strncmp(t->cert, "pkcs11:", 7) == 0)
			r = kw_sgn_add(sv, t->cert, 1, 0, NULL, tcti, module,
			    auth, t->allow_exportable);
		if (r == KW_OK && t->cert == NULL && t->key != NULL &&
		    kw_keyref_cert_on_token(NULL, t->key))
			r = kw_sgn_add(sv, t->key, 1, 0, NULL, tcti, module,
			    auth, t->allow_exportable);
	}
	for (i = 0; r == KW_OK && i < conf->nids; i++) {
		r = kw_sgn_add_identity(sv,
		    kw_identity_conf_state(conf->ids[i]));
		if (r == KW_OK && kw_identity_conf_state(conf->ids[i]) != NULL)
			r = kw_sgn_set_ak(sv, NULL,
			    kw_identity_conf_state(conf->ids[i]),
			    kw_identity_conf_ak(conf->ids[i]));
	}
	kw_config_free(conf);
	return r;
}

/* Is ref one of e's rekey successors? */
static int
kw_sgn_in_family(const struct kw_sgn_ent *e, const char *ref)
{
	char a[4096], b[4096];
	int i;

	if (!e->family || strlen(e->ref) >= sizeof(a))
		return 0;
	memcpy(a, e->ref, strlen(e->ref) + 1);
	for (i = 0; i < KW_SGN_FAMILY_DEPTH; i++) {
		if (kw_keyref_next_name(a, b, sizeof(b)) != KW_OK)
			return 0;
		if (strcmp(b, ref) == 0)
			return 1;
		memcpy(a, b, sizeof(a));
	}
	return 0;
}

static const struct kw_sgn_ent *
kw_sgn_find(const struct kw_sgn_srv *sv, const char *ref, int cert)
{
	size_t i;

	for (i = 0; i < sv->nents; i++)
		if (sv->ents[i]->cert == cert &&
		    strcmp(sv->ents[i]->ref, ref) == 0)
			return sv->ents[i];
	for (i = 0; i < sv->nents; i++)
		if (kw_sgn_in_family(sv->ents[i], ref))
			return sv->ents[i];
	return NULL;
}

/* The entry for ref; the configuration is read again once when it is not
 * known (a reload may have added a tunnel). */
static const struct kw_sgn_ent *
kw_sgn_lookup(struct kw_sgn_srv *sv, const char *ref, int cert,
    const char *op)
{
	const struct kw_sgn_ent *e;

	if ((e = kw_sgn_find(sv, ref, cert)) != NULL)
		return e;
	(void)kw_sgn_load(sv);
	if ((e = kw_sgn_find(sv, ref, cert)) != NULL)
		return e;
	kw_err("signer: refused to %s %s: %s %s is not named by %s", op,
	    kw_keyref_has_pin(ref) ? "(a key with a PIN in its reference)" :
	    ref, cert ? "certificate" : "key",
	    kw_keyref_has_pin(ref) ? "" : "reference", sv->config);
	return NULL;
}

static void
kw_sgn_opts(const struct kw_sgn_ent *e, struct kw_keyref_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tcti = e->tcti;
	o->module = e->module;
	o->auth_file = e->auth_file;
	o->allow_exportable = e->allow_exportable;
}

static struct kw_sgn_slot *
kw_sgn_slot_by_ref(struct kw_sgn_srv *sv, const char *ref)
{
	size_t i;

	for (i = 0; i < sv->nslots; i++)
		if (strcmp(sv->slots[i]->ref, ref) == 0)
			return sv->slots[i];
	return NULL;
}

static struct kw_sgn_slot *
kw_sgn_slot_by_handle(struct kw_sgn_srv *sv, uint32_t h)
{
	size_t i;

	for (i = 0; i < sv->nslots; i++)
		if (sv->slots[i]->handle == h)
			return sv->slots[i];
	return NULL;
}

static void
kw_sgn_slot_free(struct kw_sgn_slot *s)
{
	if (s == NULL)
		return;
	kw_key_close(s->key);
	free(s->ref);
	free(s);
}

static void
kw_sgn_slot_drop(struct kw_sgn_srv *sv, const char *ref)
{
	size_t i;

	for (i = 0; i < sv->nslots; i++)
		if (strcmp(sv->slots[i]->ref, ref) == 0) {
			kw_sgn_slot_free(sv->slots[i]);
			sv->slots[i] = sv->slots[--sv->nslots];
			return;
		}
}

static int
kw_sgn_slot_add(struct kw_sgn_srv *sv, const char *ref, struct kw_key *key,
    struct kw_sgn_slot **out)
{
	struct kw_sgn_slot *s;
	size_t i;

	*out = NULL;
	s = sv->nslots < KW_SGN_MAX_SLOTS ? calloc(1, sizeof(*s)) : NULL;
	if (s == NULL || (s->ref = strdup(ref)) == NULL) {
		free(s);
		kw_key_close(key);
		return KW_ERR_NOMEM;
	}
	s->key = key;
	s->handle = ++sv->next_handle;
	if (s->handle == 0)
		s->handle = ++sv->next_handle;
	if (kw_key_describe(key, s->desc, sizeof(s->desc)) != KW_OK)
		snprintf(s->desc, sizeof(s->desc), "%s key",
		    kw_key_backend(key));
	for (i = 0; s->desc[i] != '\0'; i++)
		if ((unsigned char)s->desc[i] < 0x20 || s->desc[i] == 0x7f)
			s->desc[i] = '?';
	s->tokens = sv->rate;
	clock_gettime(CLOCK_MONOTONIC, &s->last);
	s->since = time(NULL);
	sv->slots[sv->nslots++] = s;
	*out = s;
	return KW_OK;
}

/* OPEN/GENERATE's reply. */
static int
kw_sgn_key_reply(struct kw_sgn_slot *s, uint8_t *spki, size_t cap,
    struct kw_sgn_msg *rep)
{
	static const enum kw_sig_scheme schemes[] = { KW_SIG_ECDSA,
	    KW_SIG_RSA_PKCS1, KW_SIG_RSA_PSS };
	static const enum kw_hash hashes[] = { KW_HASH_SHA256,
	    KW_HASH_SHA384, KW_HASH_SHA512 };
	size_t i, j, n = cap;
	int r;

	if ((r = kw_key_public_der(s->key, spki, &n)) != KW_OK)
		return r;
	rep->handle = s->handle;
	rep->a = (uint32_t)kw_key_alg(s->key);
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			if (kw_alg_is_rsa(kw_key_alg(s->key)) ==
			    (schemes[i] != KW_SIG_ECDSA) &&
			    kw_key_supports(s->key, schemes[i], hashes[j]) ==
			    KW_OK)
				rep->b |= kw_sgn_scheme_bit(schemes[i],
				    hashes[j]);
	rep->c = KW_SGN_F_PRESENT;
	if (kw_alg_is_rsa(kw_key_alg(s->key)))
		rep->c |= KW_SGN_F_DECRYPT;
	rep->str = s->desc;
	rep->str_len = strlen(s->desc);
	if (rep->str_len > 512)
		rep->str_len = 512;
	rep->data = spki;
	rep->data_len = n;
	return KW_OK;
}

static double
kw_ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) +
	    (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

/* The rate limit: KW_OK or KW_ERR_BUSY (logged once per episode). */
static int
kw_sgn_policy(struct kw_sgn_srv *sv, struct kw_sgn_slot *s)
{
	struct timespec now;
	double cap = sv->rate;

	if (sv->rate == 0)
		return KW_OK;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s->tokens += kw_ts_diff(&now, &s->last) * cap;
	if (s->tokens > cap)
		s->tokens = cap;
	s->last = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		if (s->over) {
			kw_info("signer: key %s is back under sign-rate "
			    "%u/s (%llu signatures refused)", s->desc,
			    sv->rate, (unsigned long long)s->refused_ep);
			s->over = 0;
			s->refused_ep = 0;
		}
		return KW_OK;
	}
	s->refused++;
	s->refused_ep++;
	if (!s->over)
		kw_warn("signer: key %s asked for more than sign-rate %u "
		    "signatures/s: refusing signatures until the rate drops "
		    "(counted as refused)", s->desc, sv->rate);
	s->over = 1;
	return KW_ERR_BUSY;
}

/* The audit log: handshakes at debug level one by one and at info level
 * as a summary per key and minute; CSR, JWS and SCEP signatures (rare,
 * and each one matters) at info level one by one. */
static void
kw_sgn_audit(struct kw_sgn_slot *s, unsigned purpose, const char *who)
{
	time_t now = time(NULL);
	uint64_t total = 0;
	unsigned i;

	s->by_purpose[purpose]++;
	if (purpose == KW_PURPOSE_HANDSHAKE || purpose == KW_PURPOSE_UNKNOWN)
		kw_debug("signer: %s signed (%s%s%s)", s->desc,
		    kw_sgn_purpose_name(purpose), *who ? ": " : "", who);
	else
		kw_info("signer: %s signed a %s%s%s", s->desc,
		    kw_sgn_purpose_name(purpose), *who ? " for " : "", who);
	if (now - s->since < KW_SGN_SUMMARY_S)
		return;
	for (i = 0; i <= KW_PURPOSE_MAX; i++)
		total += s->by_purpose[i];
	kw_info("signer: %s: %llu signatures in %llds (handshake %llu, CSR "
	    "%llu, JWS %llu, SCEP %llu, other %llu), %llu refused by "
	    "sign-rate", s->desc, (unsigned long long)total,
	    (long long)(now - s->since),
	    (unsigned long long)s->by_purpose[KW_PURPOSE_HANDSHAKE],
	    (unsigned long long)s->by_purpose[KW_PURPOSE_CSR],
	    (unsigned long long)s->by_purpose[KW_PURPOSE_JWS],
	    (unsigned long long)s->by_purpose[KW_PURPOSE_SCEP],
	    (unsigned long long)s->by_purpose[KW_PURPOSE_UNKNOWN],
	    (unsigned long long)s->refused);
	memset(s->by_purpose, 0, sizeof(s->by_purpose));
	s->refused = 0;
	s->since = now;
}

/* Posture for the key of slot s, with the AK its tunnel or identity
 * names (never one the network process names): evidence (no event log:
 * the network process adds it) or a credential activation. */
static int
kw_sgn_posture(struct kw_sgn_srv *sv, struct kw_sgn_slot *s,
    const struct kw_sgn_msg *q, struct kw_sgn_msg *rep, uint8_t *dbuf,
    size_t dcap, uint8_t **heap)
{
	const struct kw_sgn_ent *e;
	const char *ak, *key;
	size_t n = 0;
	unsigned cmds = 0;
	int r;

	if ((e = kw_sgn_lookup(sv, s->ref, 0, "attest with")) == NULL)
		return KW_ERR_PERM;
	if ((ak = kw_posture_tpm_spec(e->ak)) == NULL) {
		kw_err("signer: %s has no `ak = tpm:PATH` in %s: it cannot "
		    "answer posture", s->ref, sv->config);
		return KW_ERR_PERM;
	}
	if ((key = kw_posture_tpm_spec(s->ref)) == NULL) {
		kw_err("signer: %s is not a TPM key: only a TPM-held key can "
		    "be attested", s->ref);
		return KW_ERR_UNSUPPORTED;
	}
	kw_log_hold(sv->why, sizeof(sv->why));
	if (q->op == KW_SGN_OP_POSTURE_EV) {
		r = kw_posture_tpm_evidence(s->key, ak, key, e->auth_file,
		    e->tcti, q->data, q->data_len, NULL, 0, heap, &n, &cmds);
		if (r == KW_OK && n > KW_SGN_MAX_DATA) {
			kw_err("signer: posture evidence of %zu bytes (at most "
			    "%d)", n, KW_SGN_MAX_DATA);
			r = KW_ERR_SPACE;
		}
	} else {
		n = dcap;
		r = kw_posture_tpm_activate(s->key, ak, q->data, q->a,
		    q->data + q->a, q->data_len - q->a, dbuf, &n, &cmds);
	}
	(void)kw_log_unhold();
	if (r != KW_OK)
		return r;
	kw_info("signer: %s: posture %s with AK %s (%u TPM commands)",
	    s->desc, q->op == KW_SGN_OP_POSTURE_EV ? "evidence" :
	    "credential activated", e->ak, cmds);
	rep->data = q->op == KW_SGN_OP_POSTURE_EV ? *heap : dbuf;
	rep->data_len = n;
	rep->a = cmds;
	return KW_OK;
}

/* One request; the reply's buffers are buf/dbuf. */
static void
kw_sgn_handle(struct kw_sgn_srv *sv, const struct kw_sgn_msg *q,
    struct kw_sgn_msg *rep, uint8_t *dbuf, size_t dcap, uint8_t **heap)
{
	const struct kw_sgn_ent *e;
	struct kw_sgn_slot *s = NULL;
	struct kw_keyref_opts o;
	struct kw_key *key = NULL;
	char ref[KW_SGN_MAX_STR + 1], who[257];
	size_t n = dcap;
	int r = KW_OK;

	memset(rep, 0, sizeof(*rep));
	rep->op = q->op | KW_SGN_REPLY;
	sv->why[0] = '\0';
	memcpy(ref, q->str == NULL ? "" : q->str, q->str_len);
	ref[q->str_len] = '\0';
	if (q->handle != 0 && (s = kw_sgn_slot_by_handle(sv, q->handle)) ==
	    NULL) {
		r = KW_ERR_NOT_FOUND;
		goto out;
	}
	switch (q->op) {
	case KW_SGN_OP_LIST:
		if (q->a >= sv->nents) {
			r = KW_ERR_NOT_FOUND;
			break;
		}
		e = sv->ents[q->a];
		rep->str = kw_keyref_has_pin(e->ref) ?
		    "(a reference with a PIN)" : e->ref;
		rep->str_len = strlen(rep->str);
		if (rep->str_len > KW_SGN_MAX_STR)
			rep->str_len = KW_SGN_MAX_STR;
		break;
	case KW_SGN_OP_OPEN:
		if ((s = kw_sgn_slot_by_ref(sv, ref)) == NULL) {
			if ((e = kw_sgn_lookup(sv, ref, 0, "open")) == NULL) {
				r = KW_ERR_PERM;
				break;
			}
			kw_sgn_opts(e, &o);
			kw_log_hold(sv->why, sizeof(sv->why));
			r = kw_keyref_open(ref, &o, &key);
			(void)kw_log_unhold();
			if (r != KW_OK ||
			    (r = kw_sgn_slot_add(sv, ref, key, &s)) != KW_OK)
				break;
			kw_info("signer: opened %s", s->desc);
		}
		r = kw_sgn_key_reply(s, dbuf, dcap, rep);
		break;
	case KW_SGN_OP_GENERATE:
		/* an allowed reference only (an identity's next key, an ACME
		 * account key); the backends refuse to overwrite a key */
		if ((e = kw_sgn_lookup(sv, ref, 0, "generate")) == NULL) {
			r = KW_ERR_PERM;
			break;
		}
		kw_sgn_opts(e, &o);
		o.usage = q->b;
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_keyref_generate(ref, (enum kw_key_alg)q->a, &o, &key);
		(void)kw_log_unhold();
		if (r != KW_OK ||
		    (r = kw_sgn_slot_add(sv, ref, key, &s)) != KW_OK)
			break;
		kw_info("signer: generated %s", s->desc);
		r = kw_sgn_key_reply(s, dbuf, dcap, rep);
		break;
	case KW_SGN_OP_EXISTS:
		if ((e = kw_sgn_lookup(sv, ref, 0, "look up")) == NULL) {
			r = KW_ERR_PERM;
			break;
		}
		kw_sgn_opts(e, &o);
		kw_log_hold(sv->why, sizeof(sv->why));
		rep->a = kw_sgn_slot_by_ref(sv, ref) != NULL ||
		    kw_keyref_exists(ref, &o) == 1;
		(void)kw_log_unhold();
		break;
	case KW_SGN_OP_DELETE:
		if ((e = kw_sgn_lookup(sv, ref, 0, "delete")) == NULL) {
			r = KW_ERR_PERM;
			break;
		}
		kw_sgn_opts(e, &o);
		kw_sgn_slot_drop(sv, ref);
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_keyref_delete(ref, &o);
		(void)kw_log_unhold();
		if (r == KW_OK)
			kw_info("signer: deleted key %s", ref);
		break;
	case KW_SGN_OP_STORE_CERT:
		if ((e = kw_sgn_lookup(sv, ref, 0, "store a certificate "
		    "for")) == NULL) {
			r = KW_ERR_PERM;
			break;
		}
		kw_sgn_opts(e, &o);
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_keyref_store_cert(ref, &o, q->data, q->data_len);
		(void)kw_log_unhold();
		break;
	case KW_SGN_OP_CERT_LOAD:
		if ((e = kw_sgn_lookup(sv, ref, 1, "read the certificate "
		    "of")) == NULL) {
			r = KW_ERR_PERM;
			break;
		}
		kw_sgn_opts(e, &o);
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_keyref_cert_load(strcmp(e->ref, ref) == 0 &&
		    kw_sgn_find(sv, ref, 0) == NULL ? ref : NULL, ref, &o,
		    heap, &n);
		(void)kw_log_unhold();
		if (r != KW_OK)
			break;
		if (n > KW_SGN_MAX_DATA) {
			kw_err("signer: the certificate of %s is larger than "
			    "%d bytes", ref, KW_SGN_MAX_DATA);
			r = KW_ERR_CERT;
			break;
		}
		rep->data = *heap;
		rep->data_len = n;
		break;
	case KW_SGN_OP_PUBKEY:
		if ((r = kw_key_public_der(s->key, dbuf, &n)) == KW_OK) {
			rep->data = dbuf;
			rep->data_len = n;
		}
		break;
	case KW_SGN_OP_DESCRIBE:
		rep->str = s->desc;
		rep->str_len = strlen(s->desc);
		break;
	case KW_SGN_OP_PRESENT:
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_key_present(s->key);
		(void)kw_log_unhold();
		break;
	case KW_SGN_OP_SIGN:
		if ((r = kw_sgn_policy(sv, s)) != KW_OK)
			break;
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_key_sign(s->key, (enum kw_sig_scheme)q->a,
		    (enum kw_hash)q->b, q->data, q->data_len, dbuf, &n);
		(void)kw_log_unhold();
		if (r != KW_OK)
			break;
		memcpy(who, q->str == NULL ? "" : q->str, q->str_len);
		who[q->str_len] = '\0';
		kw_sgn_audit(s, q->c, who);
		rep->data = dbuf;
		rep->data_len = n;
		break;
	case KW_SGN_OP_DECRYPT:
		kw_log_hold(sv->why, sizeof(sv->why));
		r = kw_key_decrypt(s->key, q->data, q->data_len, dbuf, &n);
		(void)kw_log_unhold();
		if (r != KW_OK)
			break;
		kw_info("signer: %s decrypted a message (SCEP)", s->desc);
		rep->data = dbuf;
		rep->data_len = n;
		break;
	case KW_SGN_OP_POSTURE_EV:
	case KW_SGN_OP_POSTURE_ACT:
		r = kw_sgn_posture(sv, s, q, rep, dbuf, dcap, heap);
		break;
	default:
		r = KW_ERR_PROTOCOL;
	}
out:
	if (r != KW_OK) {
		memset(rep, 0, sizeof(*rep));
		rep->op = q->op | KW_SGN_REPLY;
		rep->status = r;
		/* what the backend said, for the network process to log:
		 * there it counts like its own (one line per renewal) */
		for (n = 0; sv->why[n] != '\0'; n++)
			if ((unsigned char)sv->why[n] < 0x20 ||
			    sv->why[n] == 0x7f)
				sv->why[n] = '?';
		rep->str = sv->why;
		rep->str_len = n > KW_SGN_MAX_WHY ? KW_SGN_MAX_WHY : n;
	}
}

static void
kw_sgn_close_client(struct kw_sgn_srv *sv, size_t i)
{
	close(sv->clients[i]);
	sv->clients[i] = -1;
}

/* Serve one frame from client i. */
static void
kw_sgn_serve_one(struct kw_sgn_srv *sv, size_t i)
{
	uint8_t in[KW_SGN_MAX_FRAME], out[KW_SGN_MAX_FRAME], dbuf[2048];
	uint8_t *heap = NULL;
	struct kw_sgn_msg q, rep;
	size_t n = 0, n_in = 0;
	int r;

	if ((r = kw_sgn_read_frame(sv->clients[i], in, sizeof(in), 10000,
	    &n_in)) != KW_OK) {
		if (r != KW_ERR_IO)
			kw_err("signer: bad frame from the network process "
			    "(%s); closing its connection", kw_strerror(r));
		else
			kw_debug("signer: the network process closed its "
			    "connection");
		kw_sgn_close_client(sv, i);
		return;
	}
	if (kw_sgn_decode(in, n_in, 0, &q) != KW_OK) {
		kw_err("signer: malformed request from the network process; "
		    "closing its connection");
		kw_sgn_close_client(sv, i);
		goto out;
	}
	kw_sgn_handle(sv, &q, &rep, dbuf, sizeof(dbuf), &heap);
	if ((r = kw_sgn_encode(&rep, out, sizeof(out), &n)) != KW_OK) {
		memset(&rep, 0, sizeof(rep));
		rep.op = q.op | KW_SGN_REPLY;
		rep.status = KW_ERR_PROTOCOL;
		(void)kw_sgn_encode(&rep, out, sizeof(out), &n);
	}
	if (kw_sgn_write_frame(sv->clients[i], out, n) != KW_OK)
		kw_sgn_close_client(sv, i);
out:
	free(heap);
	/* what was used (a decryption's plaintext passed through all three) */
	explicit_bzero(dbuf, sizeof(dbuf));
	explicit_bzero(out, n < sizeof(out) ? n : sizeof(out));
	explicit_bzero(in, n_in);
}

/* A new client end from the supervisor.  0: ctl closed (it is gone). */
static int
kw_sgn_take_client(struct kw_sgn_srv *sv)
{
	size_t i;
	int fd, r;

	if ((r = kw_sgn_recv_fd(sv->ctl, 0, &fd)) != KW_OK)
		return r != KW_ERR_IO;
	for (i = 0; i < KW_SGN_MAX_CLIENTS; i++)
		if (sv->clients[i] < 0) {
			sv->clients[i] = fd;
			kw_debug("signer: a new network process connected");
			return 1;
		}
	close(fd);
	return 1;
}

static int
kw_sgn_tcp_tcti(const struct kw_sgn_srv *sv)
{
	size_t i;
	const char *t;

	/* tpm2-pkcs11 takes its TCTI from the environment */
	t = getenv("TPM2_PKCS11_TCTI");
	if (t != NULL && (strncmp(t, "swtpm", 5) == 0 ||
	    strncmp(t, "mssim", 5) == 0))
		return 1;
	for (i = 0; i < sv->nents; i++) {
		t = sv->ents[i]->tcti;
		if (t != NULL && (strncmp(t, "swtpm", 5) == 0 ||
		    strncmp(t, "mssim", 5) == 0))
			return 1;
	}
	return 0;
}

int
kw_signer_serve(const char *config_path, int client, int ctl, int sandbox)
{
	struct kw_sgn_srv *sv;
	struct pollfd pfd[KW_SGN_MAX_CLIENTS + 2];
	struct signalfd_siginfo si;
	sigset_t set;
	size_t i, np;
	int r, sfd = -1, run = 1;

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((sv = calloc(1, sizeof(*sv))) == NULL)
		return KW_ERR_NOMEM;
	sv->config = config_path;
	sv->ctl = ctl;
	for (i = 0; i < KW_SGN_MAX_CLIENTS; i++)
		sv->clients[i] = -1;
	sv->clients[0] = client;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
		r = KW_ERR_IO;
		goto out;
	}
	if ((r = kw_sgn_load(sv)) != KW_OK)
		goto out;
	if (sandbox && (r = kw_sandbox_signer(kw_sgn_tcp_tcti(sv))) != KW_OK)
		goto out;
	kw_debug("signer: serving %zu key references from %s", sv->nents,
	    config_path);
	while (run) {
		np = 0;
		pfd[np].fd = sfd;
		pfd[np++].events = POLLIN;
		pfd[np].fd = ctl;
		pfd[np++].events = POLLIN;
		for (i = 0; i < KW_SGN_MAX_CLIENTS; i++) {
			pfd[np].fd = sv->clients[i];
			pfd[np++].events = POLLIN;
		}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = KW_ERR_IO;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) > 0)
				run = 0;
			continue;
		}
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !kw_sgn_take_client(sv))
			run = 0;	/* the supervisor is gone */
		for (i = 0; i < KW_SGN_MAX_CLIENTS; i++)
			if (sv->clients[i] >= 0 && (pfd[i + 2].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				kw_sgn_serve_one(sv, i);
	}
	r = KW_OK;
out:
	for (i = 0; i < KW_SGN_MAX_CLIENTS; i++)
		if (sv->clients[i] >= 0)
			close(sv->clients[i]);
	for (i = 0; i < sv->nslots; i++)
		kw_sgn_slot_free(sv->slots[i]);
	for (i = 0; i < sv->nents; i++)
		kw_sgn_ent_free(sv->ents[i]);
	kw_keyref_shutdown();
	if (sfd >= 0)
		close(sfd);
	free(sv);
	return r;
}
