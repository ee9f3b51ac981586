/* The "signer" key backend: keys that live in the signer process (see
 * kw_signer.h and agent/signer/README.md).  One socket, one request at a
 * time under a lock; a key remembers its reference so that after the
 * signer restarted (a new socket arrives on ctl) it is opened again on
 * first use, without the callers noticing more than the failures while
 * the signer was away. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_signer.h"

#define KW_SGN_TIMEOUT_MS	60000
#define KW_SGN_KEYGEN_MS	600000	/* RSA-3072 on a slow TPM */

/* Waiting for a signature.  A process that sleeps in poll() and is woken
 * by the reply pays for the wake-up: on a VM ~35 us per round trip (a bare
 * socketpair round trip measured 48 us sleeping, 14 us polling), as much as
 * a SoftHSM signature takes.  So when a key's recent replies came within
 * KW_SGN_SPIN_US, the caller polls the socket without sleeping (yielding
 * the CPU between tries) for up to twice that time, then sleeps; a slower
 * key (a TPM: ~0.4 ms) is never waited for that way. */
#define KW_SGN_SPIN_US		150

struct kw_signer {
	pthread_mutex_t lock;
	int fd;			/* -1: the signer is away */
	int ctl;		/* new ends arrive here; -1: none */
	uint64_t gen;		/* bumped at each new end */
	int down_logged;
	atomic_uint_fast64_t refused;
	atomic_uint_fast64_t restarts;
};

struct kw_sgn_key {
	struct kw_signer *s;
	char *ref;
	uint32_t handle;
	uint64_t gen;
	enum kw_key_alg alg;
	uint32_t mask, flags;
	uint32_t reply_us;	/* recent sign round trips (average) */
	uint8_t spki[KW_MAX_PUBKEY_DER];
	size_t spki_len;
	char desc[513];
};

int
kw_signer_new(int fd, int ctl, struct kw_signer **out)
{
	struct kw_signer *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KW_ERR_NOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = fd;
	s->ctl = ctl;
	s->gen = 1;
	atomic_init(&s->refused, 0);
	atomic_init(&s->restarts, 0);
	*out = s;
	return KW_OK;
}

void
kw_signer_free(struct kw_signer *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->ctl >= 0)
		close(s->ctl);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A new end from the supervisor, if one is waiting (the last one wins). */
static void
kw_signer_take_new(struct kw_signer *s)
{
	int fd, r;

	if (s->ctl < 0)
		return;
	while ((r = kw_sgn_recv_fd(s->ctl, MSG_DONTWAIT, &fd)) != KW_ERR_IO) {
		if (r != KW_OK)
			continue;
		if (s->fd >= 0)
			close(s->fd);
		s->fd = fd;
		s->gen++;
		s->down_logged = 0;
		atomic_fetch_add(&s->restarts, 1);
		kw_info("signer: connected to the restarted key process");
	}
}

static void
kw_signer_lost(struct kw_signer *s, int r)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (!s->down_logged)
		kw_err("signer: the key process is gone (%s); key operations "
		    "fail until it is back", kw_strerror(r));
	s->down_logged = 1;
}

/* One exchange, s->lock held.  KW_ERR_TOKEN_ABSENT while the signer is
 * away; else the reply's status.  *rep points into buf.  reply_us, when
 * not NULL, is the running average of this kind of exchange's round trip:
 * short, and the reply is waited for without sleeping (KW_SGN_SPIN_US). */
static int
kw_signer_xchg(struct kw_signer *s, const struct kw_sgn_msg *req,
    uint8_t *buf, size_t cap, int timeout_ms, struct kw_sgn_msg *rep,
    uint32_t *reply_us)
{
	uint64_t t0 = 0, t;
	size_t n;
	int r;

	memset(rep, 0, sizeof(*rep));
	if (s->fd < 0)
		kw_signer_take_new(s);
	if (s->fd < 0)
		return KW_ERR_TOKEN_ABSENT;
	if ((r = kw_sgn_encode(req, buf, cap, &n)) != KW_OK)
		return r;
	if (reply_us != NULL)
		t0 = kw_now_usec();
	if ((r = kw_sgn_write_frame(s->fd, buf, n)) == KW_OK &&
	    reply_us != NULL && *reply_us > 0 && *reply_us <= KW_SGN_SPIN_US)
		(void)kw_sgn_spin_readable(s->fd, 2 * *reply_us);
	if (r != KW_OK ||
	    (r = kw_sgn_read_frame(s->fd, buf, cap, timeout_ms, &n)) != KW_OK ||
	    (r = kw_sgn_decode(buf, n, 1, rep)) != KW_OK ||
	    (rep->op != (req->op | KW_SGN_REPLY) ? (r = KW_ERR_PROTOCOL) : 0)) {
		explicit_bzero(buf, cap);
		kw_signer_lost(s, r);
		/* maybe it already came back: the caller's next call sees it */
		kw_signer_take_new(s);
		return KW_ERR_TOKEN_ABSENT;
	}
	if (reply_us != NULL) {
		t = kw_now_usec() - t0;
		if (t > 1000000)
			t = 1000000;
		*reply_us = *reply_us == 0 ? (uint32_t)t :
		    (uint32_t)((*reply_us * 7u + t) / 8u);
	}
	/* the backend's words, logged here as if it ran in this process */
	if (rep->status != KW_OK && rep->str_len > 0)
		kw_err("%.*s", (int)rep->str_len, rep->str);
	return rep->status;
}

static void
kw_sgn_key_fill(struct kw_sgn_key *k, const struct kw_sgn_msg *rep)
{
	k->handle = rep->handle;
	k->gen = k->s->gen;
	k->alg = (enum kw_key_alg)rep->a;
	k->mask = rep->b;
	k->flags = rep->c;
	memcpy(k->spki, rep->data, rep->data_len);
	k->spki_len = rep->data_len;
	memcpy(k->desc, rep->str, rep->str_len);
	k->desc[rep->str_len] = '\0';
}

/* An exchange about key k (lock held): reopened first after a restart. */
static int
kw_sgn_key_xchg(struct kw_sgn_key *k, struct kw_sgn_msg *req, uint8_t *buf,
    size_t cap, struct kw_sgn_msg *rep)
{
	struct kw_sgn_msg o;
	int r;

	if (k->s->fd < 0)
		kw_signer_take_new(k->s);
	if (k->gen != k->s->gen) {
		memset(&o, 0, sizeof(o));
		o.op = KW_SGN_OP_OPEN;
		o.str = k->ref;
		o.str_len = strlen(k->ref);
		if ((r = kw_signer_xchg(k->s, &o, buf, cap, KW_SGN_TIMEOUT_MS,
		    rep, NULL)) != KW_OK)
			return r;
		if ((enum kw_key_alg)rep->a != k->alg ||
		    rep->data_len != k->spki_len ||
		    memcmp(rep->data, k->spki, k->spki_len) != 0) {
			kw_err("signer: key %s changed while the key process "
			    "restarted; refusing to use it", k->ref);
			return KW_ERR_KEY_MISMATCH;
		}
		kw_sgn_key_fill(k, rep);
	}
	req->handle = k->handle;
	return kw_signer_xchg(k->s, req, buf, cap, KW_SGN_TIMEOUT_MS, rep,
	    req->op == KW_SGN_OP_SIGN ? &k->reply_us : NULL);
}

static int
kw_sgn_public_key(void *impl, uint8_t *der, size_t *len)
{
	struct kw_sgn_key *k = impl;

	if (*len < k->spki_len)
		return KW_ERR_SPACE;
	memcpy(der, k->spki, k->spki_len);
	*len = k->spki_len;
	return KW_OK;
}

static int
kw_sgn_sign(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct kw_sgn_key *k = impl;
	uint8_t buf[1024];
	struct kw_sgn_msg req, rep;
	enum kw_key_purpose p;
	const char *who;
	int r;

	kw_key_purpose_get(&p, &who);
	memset(&req, 0, sizeof(req));
	req.op = KW_SGN_OP_SIGN;
	req.a = (uint32_t)scheme;
	req.b = (uint32_t)hash;
	req.c = (uint32_t)p;
	req.str = who;
	req.str_len = strlen(who);
	if (req.str_len > 256)
		req.str_len = 256;
	req.data = digest;
	req.data_len = digest_len;
	pthread_mutex_lock(&k->s->lock);
	r = kw_sgn_key_xchg(k, &req, buf, sizeof(buf), &rep);
	if (r == KW_OK && rep.data_len > *sig_len)
		r = KW_ERR_SPACE;
	if (r == KW_OK) {
		memcpy(sig, rep.data, rep.data_len);
		*sig_len = rep.data_len;
	}
	pthread_mutex_unlock(&k->s->lock);
	if (r == KW_ERR_BUSY)
		atomic_fetch_add(&k->s->refused, 1);
	return r;
}

static int
kw_sgn_describe(void *impl, char *buf, size_t len)
{
	struct kw_sgn_key *k = impl;

	snprintf(buf, len, "%s", k->desc);
	return KW_OK;
}

static int
kw_sgn_supports(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash)
{
	struct kw_sgn_key *k = impl;

	return (k->mask & kw_sgn_scheme_bit(scheme, hash)) != 0 ? KW_OK :
	    KW_ERR_UNSUPPORTED;
}

static int
kw_sgn_simple(struct kw_sgn_key *k, enum kw_sgn_op op)
{
	uint8_t buf[1024];
	struct kw_sgn_msg req, rep;
	int r;

	memset(&req, 0, sizeof(req));
	req.op = op;
	pthread_mutex_lock(&k->s->lock);
	r = kw_sgn_key_xchg(k, &req, buf, sizeof(buf), &rep);
	pthread_mutex_unlock(&k->s->lock);
	return r;
}

static int
kw_sgn_present(void *impl)
{
	return kw_sgn_simple(impl, KW_SGN_OP_PRESENT);
}

static int
kw_sgn_decrypt(void *impl, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct kw_sgn_key *k = impl;
	uint8_t buf[2048];
	struct kw_sgn_msg req, rep;
	int r;

	/* Only asked whether it may: the signer said at open whether the
	 * key's backend decrypts; a sign-only RSA key is refused (and
	 * logged with the hint) by the signer at the first decryption. */
	if (in == NULL)
		return (k->flags & KW_SGN_F_DECRYPT) ? KW_OK :
		    KW_ERR_UNSUPPORTED;
	memset(&req, 0, sizeof(req));
	req.op = KW_SGN_OP_DECRYPT;
	req.data = in;
	req.data_len = in_len;
	pthread_mutex_lock(&k->s->lock);
	r = kw_sgn_key_xchg(k, &req, buf, sizeof(buf), &rep);
	if (r == KW_OK && rep.data_len > *out_len)
		r = KW_ERR_SPACE;
	if (r == KW_OK) {
		memcpy(out, rep.data, rep.data_len);
		*out_len = rep.data_len;
	}
	explicit_bzero(buf, sizeof(buf));
	pthread_mutex_unlock(&k->s->lock);
	return r;
}

static void
kw_sgn_close(void *impl)
{
	struct kw_sgn_key *k = impl;

	if (k == NULL)
		return;
	free(k->ref);
	free(k);
}

static const struct kw_key_ops kw_sgn_ops = {
	.name = "signer",
	.public_key = kw_sgn_public_key,
	.sign = kw_sgn_sign,
	.describe = kw_sgn_describe,
	.close = kw_sgn_close,
	.supports = kw_sgn_supports,
	.present = kw_sgn_present,
	.decrypt = kw_sgn_decrypt,
};

/* OPEN or GENERATE. */
static int
kw_signer_get(struct kw_signer *s, struct kw_sgn_msg *req,
    struct kw_key **out)
{
	struct kw_sgn_key *k;
	struct kw_sgn_msg rep;
	uint8_t buf[2048];
	int r;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return KW_ERR_NOMEM;
	k->s = s;
	if ((k->ref = strndup(req->str, req->str_len)) == NULL) {
		free(k);
		return KW_ERR_NOMEM;
	}
	pthread_mutex_lock(&s->lock);
	r = kw_signer_xchg(s, req, buf, sizeof(buf),
	    req->op == KW_SGN_OP_GENERATE ? KW_SGN_KEYGEN_MS :
	    KW_SGN_TIMEOUT_MS, &rep, NULL);
	if (r == KW_OK)
		kw_sgn_key_fill(k, &rep);
	pthread_mutex_unlock(&s->lock);
	if (r != KW_OK) {
		kw_sgn_close(k);
		return r;
	}
	return kw_key_new(&kw_sgn_ops, k, k->alg, out);
}

static void
kw_sgn_ref_req(struct kw_sgn_msg *req, enum kw_sgn_op op, const char *ref)
{
	memset(req, 0, sizeof(*req));
	req->op = op;
	req->str = ref;
	req->str_len = strlen(ref);
}

int
kw_signer_open(struct kw_signer *s, const char *ref, struct kw_key **out)
{
	struct kw_sgn_msg req;

	kw_sgn_ref_req(&req, KW_SGN_OP_OPEN, ref);
	return kw_signer_get(s, &req, out);
}

int
kw_signer_generate(struct kw_signer *s, const char *ref, enum kw_key_alg alg,
    unsigned usage, struct kw_key **out)
{
	struct kw_sgn_msg req;

	kw_sgn_ref_req(&req, KW_SGN_OP_GENERATE, ref);
	req.a = (uint32_t)alg;
	req.b = usage;
	return kw_signer_get(s, &req, out);
}

static int
kw_signer_refop(struct kw_signer *s, struct kw_sgn_msg *req,
    uint8_t **data, size_t *data_len, uint32_t *a)
{
	struct kw_sgn_msg rep;
	uint8_t buf[KW_SGN_MAX_FRAME];
	int r;

	pthread_mutex_lock(&s->lock);
	r = kw_signer_xchg(s, req, buf, sizeof(buf), KW_SGN_TIMEOUT_MS, &rep,
	    NULL);
	if (r == KW_OK && a != NULL)
		*a = rep.a;
	if (r == KW_OK && data != NULL) {
		if ((*data = malloc(rep.data_len)) == NULL)
			r = KW_ERR_NOMEM;
		else {
			memcpy(*data, rep.data, rep.data_len);
			*data_len = rep.data_len;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int
kw_signer_exists(struct kw_signer *s, const char *ref)
{
	struct kw_sgn_msg req;
	uint32_t a = 0;
	int r;

	kw_sgn_ref_req(&req, KW_SGN_OP_EXISTS, ref);
	if ((r = kw_signer_refop(s, &req, NULL, NULL, &a)) != KW_OK)
		return r;
	return a == 1;
}

int
kw_signer_delete(struct kw_signer *s, const char *ref)
{
	struct kw_sgn_msg req;

	kw_sgn_ref_req(&req, KW_SGN_OP_DELETE, ref);
	return kw_signer_refop(s, &req, NULL, NULL, NULL);
}

int
kw_signer_store_cert(struct kw_signer *s, const char *ref,
    const uint8_t *der, size_t der_len)
{
	struct kw_sgn_msg req;

	kw_sgn_ref_req(&req, KW_SGN_OP_STORE_CERT, ref);
	req.data = der;
	req.data_len = der_len;
	return kw_signer_refop(s, &req, NULL, NULL, NULL);
}

int
kw_signer_cert_load(struct kw_signer *s, const char *ref, uint8_t **der,
    size_t *der_len)
{
	struct kw_sgn_msg req;

	*der = NULL;
	*der_len = 0;
	kw_sgn_ref_req(&req, KW_SGN_OP_CERT_LOAD, ref);
	return kw_signer_refop(s, &req, der, der_len, NULL);
}

int
kw_signer_list(struct kw_signer *s, unsigned i, char *buf, size_t len)
{
	struct kw_sgn_msg req, rep;
	uint8_t fb[KW_SGN_MAX_FRAME];
	int r;

	memset(&req, 0, sizeof(req));
	req.op = KW_SGN_OP_LIST;
	req.a = i;
	pthread_mutex_lock(&s->lock);
	r = kw_signer_xchg(s, &req, fb, sizeof(fb), KW_SGN_TIMEOUT_MS, &rep,
	    NULL);
	if (r == KW_OK)
		snprintf(buf, len, "%.*s", (int)rep.str_len, rep.str);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int
kw_signer_is_key(const struct kw_key *key)
{
	return kw_key_impl(key, &kw_sgn_ops) != NULL;
}

int
kw_signer_key_posture(struct kw_key *key, const uint8_t *qd, size_t qd_len,
    uint8_t **ev, size_t *ev_len, unsigned *tpm_cmds)
{
	struct kw_sgn_key *k = kw_key_impl(key, &kw_sgn_ops);
	struct kw_sgn_msg req, rep;
	uint8_t *buf = NULL;
	int r;

	*ev = NULL;
	*ev_len = 0;
	*tpm_cmds = 0;
	if (k == NULL)
		return KW_ERR_UNSUPPORTED;
	if ((buf = malloc(KW_SGN_MAX_FRAME)) == NULL)
		return KW_ERR_NOMEM;
	memset(&req, 0, sizeof(req));
	req.op = KW_SGN_OP_POSTURE_EV;
	req.data = qd;
	req.data_len = qd_len;
	pthread_mutex_lock(&k->s->lock);
	r = kw_sgn_key_xchg(k, &req, buf, KW_SGN_MAX_FRAME, &rep);
	if (r == KW_OK) {
		*tpm_cmds = rep.a;
		if ((*ev = malloc(rep.data_len)) == NULL)
			r = KW_ERR_NOMEM;
		else {
			memcpy(*ev, rep.data, rep.data_len);
			*ev_len = rep.data_len;
		}
	}
	pthread_mutex_unlock(&k->s->lock);
	free(buf);
	return r;
}

int
kw_signer_key_activate(struct kw_key *key, const uint8_t *blob,
    size_t blob_len, const uint8_t *secret, size_t secret_len,
    uint8_t *cred, size_t *cred_len, unsigned *tpm_cmds)
{
	struct kw_sgn_key *k = kw_key_impl(key, &kw_sgn_ops);
	struct kw_sgn_msg req, rep;
	uint8_t in[4096], buf[4200];
	int r;

	*tpm_cmds = 0;
	if (k == NULL || blob_len + secret_len > sizeof(in)) {
		*cred_len = 0;
		return k == NULL ? KW_ERR_UNSUPPORTED : KW_ERR_SPACE;
	}
	memcpy(in, blob, blob_len);
	memcpy(in + blob_len, secret, secret_len);
	memset(&req, 0, sizeof(req));
	req.op = KW_SGN_OP_POSTURE_ACT;
	req.a = (uint32_t)blob_len;
	req.data = in;
	req.data_len = blob_len + secret_len;
	pthread_mutex_lock(&k->s->lock);
	r = kw_sgn_key_xchg(k, &req, buf, sizeof(buf), &rep);
	if (r == KW_OK && rep.data_len > *cred_len)
		r = KW_ERR_SPACE;
	if (r == KW_OK) {
		*tpm_cmds = rep.a;
		memcpy(cred, rep.data, rep.data_len);
		*cred_len = rep.data_len;
	} else
		*cred_len = 0;
	explicit_bzero(buf, sizeof(buf));
	pthread_mutex_unlock(&k->s->lock);
	return r;
}

int
kw_signer_up(struct kw_signer *s)
{
	int up;

	pthread_mutex_lock(&s->lock);
	if (s->fd < 0)
		kw_signer_take_new(s);
	up = s->fd >= 0;
	pthread_mutex_unlock(&s->lock);
	return up;
}

uint64_t
kw_signer_refused(struct kw_signer *s)
{
	return atomic_load(&s->refused);
}

uint64_t
kw_signer_restarts(struct kw_signer *s)
{
	return atomic_load(&s->restarts);
}
