/* The posture exchange at the tunnel, both sides (see tunnel_posture.h). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <sys/random.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_cancel.h"
#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/posture_msg.h"
#include "agent/tunnel/tunnel_posture.h"

#define KW_POSTURE_SEEN_MAX	256	/* clients remembered per tunnel */

static const char *const kw_pr_names[KW_PR_COUNT] = {
	[KW_PR_NO_POSTURE] = "no-posture",
	[KW_PR_SECURE_BOOT] = "secure-boot",
	[KW_PR_PCR] = "pcr",
	[KW_PR_LOG] = "event-log",
	[KW_PR_EK] = "ek",
	[KW_PR_AK] = "ak",
	[KW_PR_QUOTE] = "quote",
	[KW_PR_SESSION] = "session",
	[KW_PR_KEY] = "key",
	[KW_PR_AGE] = "max-age",
	[KW_PR_PROTOCOL] = "protocol",
	[KW_PR_TIMEOUT] = "timeout",
	[KW_PR_ERROR] = "error",
};

const char *
kw_posture_reason_name(enum kw_posture_reason r)
{
	return (unsigned)r < KW_PR_COUNT ? kw_pr_names[r] : "error";
}

const struct kw_posture_ops *
kw_posture_ops(void)
{
	const struct kw_posture_ops *t = kw_posture_test_ops();

	return t != NULL ? t : &kw_posture_real_ops;
}

/* ---- the server's memory: verdict cache and last posture ---- */

struct ps_entry {
	struct kw_posture_seen s;
	unsigned epoch;			/* policy it was made under */
	time_t until;			/* ok verdict reusable until */
};

struct kw_posture_srv {
	const struct kw_posture_ops *ops;
	void *store;			/* EK -> AK bindings */
	pthread_mutex_t lock;		/* store (verify runs on threads) */
	unsigned epoch;
	struct ps_entry ents[KW_POSTURE_SEEN_MAX];
	size_t n;
};

int
kw_posture_srv_new(const struct kw_posture_ops *ops,
    struct kw_posture_srv **out)
{
	struct kw_posture_srv *ps;
	int r;

	*out = NULL;
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return KW_ERR_NOMEM;
	ps->ops = ops;
	pthread_mutex_init(&ps->lock, NULL);
	if ((r = ops->store_new(&ps->store)) != KW_OK) {
		kw_posture_srv_free(ps);
		return r;
	}
	*out = ps;
	return KW_OK;
}

void
kw_posture_srv_free(struct kw_posture_srv *ps)
{
	if (ps == NULL)
		return;
	if (ps->store != NULL)
		ps->ops->store_free(ps->store);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

void
kw_posture_srv_new_policy(struct kw_posture_srv *ps)
{
	ps->epoch++;
}

static struct ps_entry *
ps_find(struct kw_posture_srv *ps, const uint8_t hash[32])
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (memcmp(ps->ents[i].s.cert_sha256, hash, 32) == 0)
			return &ps->ents[i];
	return NULL;
}

/* The entry for hash, made (the oldest replaced when full). */
static struct ps_entry *
ps_get(struct kw_posture_srv *ps, const uint8_t hash[32])
{
	struct ps_entry *e = ps_find(ps, hash);
	size_t i, old = 0;

	if (e != NULL)
		return e;
	if (ps->n < KW_POSTURE_SEEN_MAX)
		e = &ps->ents[ps->n++];
	else {
		for (i = 1; i < ps->n; i++)
			if (ps->ents[i].s.time < ps->ents[old].s.time)
				old = i;
		e = &ps->ents[old];
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->s.cert_sha256, hash, 32);
	return e;
}

size_t
kw_posture_srv_seen(const struct kw_posture_srv *ps,
    struct kw_posture_seen *out, size_t max)
{
	size_t i, j, n = 0;

	if (ps == NULL)
		return 0;
	for (i = 0; i < ps->n && n < max; i++) {
		/* insertion by time, newest first */
		for (j = n; j > 0 && out[j - 1].time < ps->ents[i].s.time;
		    j--)
			out[j] = out[j - 1];
		out[j] = ps->ents[i].s;
		n++;
	}
	return n;
}

/* ---- one exchange ---- */

enum pc_state {
	PC_SEND,		/* flush out[], then next */
	PC_READ,		/* a frame, then handle it */
	PC_WORK_EV,		/* client: produce evidence */
	PC_WORK_ACT,		/* client: activate the credential */
	PC_WORK_VERIFY,		/* server: verify (and challenge) */
	PC_DONE_OK,
	PC_DONE_NO,
};

struct kw_posture_conn {
	int server;
	const struct kw_posture_ops *ops;
	enum pc_state state, next;
	uint8_t exporter[32];
	uint8_t nonce[KW_PMSG_NONCE_LEN];
	uint8_t qd[KW_POSTURE_QD_LEN];
	/* frames */
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t *in;
	size_t in_len;
	struct kw_pmsg msg;		/* the last one read */
	int got_req, got_act, sent_act;
	/* server */
	struct kw_posture_srv *ps;
	void *pol;
	unsigned recheck_s;
	uint8_t cert_hash[32];
	uint8_t *spki;
	size_t spki_len;
	char who[160];
	struct kw_posture_verdict v;
	uint8_t cred[KW_PMSG_CRED_MAX];
	size_t cred_len;
	int cached;
	/* client */
	struct kw_posture_client_in cin;
	unsigned tpm_cmds;
	uint64_t usec;
	/* the end */
	enum kw_posture_reason why;
	char reason[160];
};

void
kw_posture_conn_free(struct kw_posture_conn *pc)
{
	if (pc == NULL)
		return;
	if (pc->out != NULL) {
		explicit_bzero(pc->out, pc->out_len);
		free(pc->out);
	}
	if (pc->in != NULL) {
		explicit_bzero(pc->in, pc->in_len);
		free(pc->in);
	}
	kw_pmsg_clear(&pc->msg);
	free(pc->spki);
	explicit_bzero(pc, sizeof(*pc));
	free(pc);
}

static void
pc_fail(struct kw_posture_conn *pc, enum kw_posture_reason why,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
pc_fail(struct kw_posture_conn *pc, enum kw_posture_reason why,
    const char *fmt, ...)
{
	va_list ap;

	pc->why = why;
	va_start(ap, fmt);
	vsnprintf(pc->reason, sizeof(pc->reason), fmt, ap);
	va_end(ap);
	pc->state = PC_DONE_NO;
}

/* Queue message m, then go to next. */
static int
pc_queue(struct kw_posture_conn *pc, const struct kw_pmsg *m,
    enum pc_state next)
{
	int r;

	if (pc->out != NULL) {
		explicit_bzero(pc->out, pc->out_len);
		free(pc->out);
		pc->out = NULL;
	}
	if ((r = kw_pmsg_encode(m, &pc->out, &pc->out_len)) != KW_OK)
		return r;
	pc->out_off = 0;
	pc->state = PC_SEND;
	pc->next = next;
	return KW_OK;
}

static int
pc_queue_type(struct kw_posture_conn *pc, enum kw_pmsg_type type,
    enum pc_state next)
{
	struct kw_pmsg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	return pc_queue(pc, &m, next);
}

/* Server: refuse with NO(reason), then close. */
static void
pc_refuse(struct kw_posture_conn *pc, enum kw_posture_reason why,
    const char *reason)
{
	struct kw_pmsg m;

	pc->why = why;
	snprintf(pc->reason, sizeof(pc->reason), "%s", reason);
	memset(&m, 0, sizeof(m));
	m.type = KW_PMSG_NO;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	if (pc_queue(pc, &m, PC_DONE_NO) != KW_OK)
		pc->state = PC_DONE_NO;
}

static int
pc_exporter(struct kw_posture_conn *pc, WOLFSSL *ssl)
{
	if (wolfSSL_export_keying_material(ssl, pc->exporter,
	    sizeof(pc->exporter), KW_POSTURE_EXPORTER,
	    strlen(KW_POSTURE_EXPORTER), NULL, 0, 0) != WOLFSSL_SUCCESS)
		return KW_ERR_TLS;
	return KW_OK;
}

/* qd = SHA-256(nonce || exporter) */
static int
pc_qd(struct kw_posture_conn *pc)
{
	wc_Sha256 h;
	int ok;

	if (wc_InitSha256(&h) != 0)
		return KW_ERR_CRYPTO;
	ok = wc_Sha256Update(&h, pc->nonce, sizeof(pc->nonce)) == 0 &&
	    wc_Sha256Update(&h, pc->exporter, sizeof(pc->exporter)) == 0 &&
	    wc_Sha256Final(&h, pc->qd) == 0;
	wc_Sha256Free(&h);
	return ok ? KW_OK : KW_ERR_CRYPTO;
}

static int
pc_alpn_selected(WOLFSSL *ssl)
{
	char *name = NULL;
	unsigned short len = 0;

	return wolfSSL_ALPN_GetProtocol(ssl, &name, &len) == WOLFSSL_SUCCESS &&
	    name != NULL && len == strlen(KW_POSTURE_ALPN) &&
	    memcmp(name, KW_POSTURE_ALPN, len) == 0;
}

static int
pc_new(int server, const struct kw_posture_ops *ops, WOLFSSL *ssl,
    struct kw_posture_conn **out)
{
	struct kw_posture_conn *pc;
	int r;

	*out = NULL;
	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return KW_ERR_NOMEM;
	pc->server = server;
	pc->ops = ops;
	if ((r = pc_exporter(pc, ssl)) != KW_OK) {
		kw_posture_conn_free(pc);
		return r;
	}
	*out = pc;
	return KW_OK;
}

/* The client certificate: its SHA-256 and SubjectPublicKeyInfo. */
static int
pc_peer_cert(struct kw_posture_conn *pc, WOLFSSL *ssl)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
	const unsigned char *der;
	struct kw_der_cert dc;
	int len, r = KW_ERR_CERT;

	if (x == NULL || (der = wolfSSL_X509_get_der(x, &len)) == NULL ||
	    len <= 0)
		goto out;
	if (wc_Sha256Hash(der, (word32)len, pc->cert_hash) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	if ((r = kw_der_cert(der, (size_t)len, &dc)) != KW_OK)
		goto out;
	r = KW_ERR_NOMEM;
	if ((pc->spki = malloc(dc.spki.len)) == NULL)
		goto out;
	memcpy(pc->spki, dc.spki.p, dc.spki.len);
	pc->spki_len = dc.spki.len;
	r = KW_OK;
out:
	wolfSSL_X509_free(x);
	return r;
}

int
kw_posture_server_start(struct kw_posture_srv *ps, void *policy,
    unsigned recheck_s, WOLFSSL *ssl, const char *who,
    struct kw_posture_conn **out)
{
	struct kw_posture_conn *pc = NULL;
	struct ps_entry *e;
	struct kw_pmsg m;
	int r;

	*out = NULL;
	if (!pc_alpn_selected(ssl))
		return KW_ERR_PERM;
	if ((r = pc_new(1, ps->ops, ssl, &pc)) != KW_OK)
		goto out;
	pc->ps = ps;
	pc->pol = policy;
	pc->recheck_s = recheck_s;
	snprintf(pc->who, sizeof(pc->who), "%s", who);
	if ((r = pc_peer_cert(pc, ssl)) != KW_OK)
		goto out;
	e = ps_find(ps, pc->cert_hash);
	if (recheck_s > 0 && e != NULL && e->s.ok && e->epoch == ps->epoch &&
	    time(NULL) < e->until) {
		pc->cached = 1;
		r = pc_queue_type(pc, KW_PMSG_OK, PC_DONE_OK);
		goto out;
	}
	if (getrandom(pc->nonce, sizeof(pc->nonce), 0) !=
	    (ssize_t)sizeof(pc->nonce)) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	if ((r = pc_qd(pc)) != KW_OK)
		goto out;
	memset(&m, 0, sizeof(m));
	m.type = KW_PMSG_REQ;
	m.a = pc->nonce;
	m.a_len = sizeof(pc->nonce);
	r = pc_queue(pc, &m, PC_READ);
out:
	if (r == KW_OK) {
		*out = pc;
		pc = NULL;
	}
	kw_posture_conn_free(pc);
	return r;
}

int
kw_posture_client_start(const struct kw_posture_ops *ops,
    const struct kw_posture_client_in *in, WOLFSSL *ssl,
    struct kw_posture_conn **out)
{
	struct kw_posture_conn *pc = NULL;
	int r;

	*out = NULL;
	if (!pc_alpn_selected(ssl))
		return KW_OK;
	if ((r = pc_new(0, ops, ssl, &pc)) != KW_OK)
		return r;
	pc->cin = *in;
	pc->cin.qd = pc->qd;
	pc->state = PC_READ;
	*out = pc;
	return KW_OK;
}

/* wolfSSL's answer n to a read or write: 0 to wait (want set), -1 when
 * the exchange cannot go on (pc failed). */
static int
pc_io_error(struct kw_posture_conn *pc, WOLFSSL *ssl, int n, int *want_r,
    int *want_w)
{
	int e = wolfSSL_get_error(ssl, n);

	if (e == WOLFSSL_ERROR_WANT_READ) {
		*want_r = 1;
		return 0;
	}
	if (e == WOLFSSL_ERROR_WANT_WRITE) {
		*want_w = 1;
		return 0;
	}
	pc_fail(pc, KW_PR_PROTOCOL, "%s closed the connection during the "
	    "posture exchange%s", pc->server ? "the client" : "the server",
	    e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E ? "" :
	    " (TLS error)");
	return -1;
}

/* 1 when out[] is written, 0 to wait, -1 failed. */
static int
pc_write(struct kw_posture_conn *pc, WOLFSSL *ssl, int *want_r,
    int *want_w)
{
	int n;

	while (pc->out_off < pc->out_len) {
		n = wolfSSL_write(ssl, pc->out + pc->out_off,
		    (int)(pc->out_len - pc->out_off));
		if (n <= 0)
			return pc_io_error(pc, ssl, n, want_r, want_w);
		pc->out_off += (size_t)n;
	}
	return 1;
}

/* 1 when a whole message is in pc->msg, 0 to wait, -1 failed, 2 when
 * the server refuses it (its NO queued). */
static int
pc_read(struct kw_posture_conn *pc, WOLFSSL *ssl, int *want_r, int *want_w)
{
	size_t need, total;
	uint8_t *nb;
	int n, r;

	for (;;) {
		r = kw_pmsg_frame_need(pc->in, pc->in_len, &need, &total);
		if (r == 0)
			break;
		if (r < 0 && pc->server) {
			pc_refuse(pc, KW_PR_PROTOCOL, "the client sent a "
			    "posture message of a bad length");
			return 2;
		}
		if (r < 0) {
			pc_fail(pc, KW_PR_PROTOCOL, "the server sent a posture "
			    "message of a bad length");
			return -1;
		}
		if ((nb = realloc(pc->in, pc->in_len + need)) == NULL) {
			pc_fail(pc, KW_PR_ERROR, "out of memory");
			return -1;
		}
		pc->in = nb;
		n = wolfSSL_read(ssl, pc->in + pc->in_len, (int)need);
		if (n <= 0)
			return pc_io_error(pc, ssl, n, want_r, want_w);
		pc->in_len += (size_t)n;
	}
	kw_pmsg_clear(&pc->msg);
	r = kw_pmsg_decode(pc->in + 4, total - 4, &pc->msg);
	explicit_bzero(pc->in, pc->in_len);
	free(pc->in);
	pc->in = NULL;
	pc->in_len = 0;
	if (r != KW_OK && pc->server) {
		pc_refuse(pc, r == KW_ERR_NOMEM ? KW_PR_ERROR : KW_PR_PROTOCOL,
		    "the client sent a malformed posture message");
		return 2;
	}
	if (r != KW_OK) {
		pc_fail(pc, r == KW_ERR_NOMEM ? KW_PR_ERROR : KW_PR_PROTOCOL,
		    "the server sent a malformed posture message");
		return -1;
	}
	return 1;
}

static void
pc_server_msg(struct kw_posture_conn *pc)
{
	struct kw_pmsg *m = &pc->msg;

	if (m->type == KW_PMSG_EV && !pc->sent_act && pc->v.ak_name_len == 0) {
		pc->state = PC_WORK_VERIFY;
		return;
	}
	if (m->type == KW_PMSG_ACTD && pc->sent_act) {
		if (m->a_len != pc->cred_len ||
		    !kw_memeq_ct(m->a, pc->cred, pc->cred_len)) {
			pc_refuse(pc, KW_PR_AK, "AK not in the TPM of that EK "
			    "(credential activation failed)");
			return;
		}
		pthread_mutex_lock(&pc->ps->lock);
		(void)pc->ops->bind(pc->ps->store, &pc->v);
		pthread_mutex_unlock(&pc->ps->lock);
		if (pc_queue_type(pc, KW_PMSG_OK, PC_DONE_OK) != KW_OK)
			pc_fail(pc, KW_PR_ERROR, "out of memory");
		return;
	}
	pc_refuse(pc, KW_PR_PROTOCOL, "unexpected posture message");
}

/* A NO's reason names a claim; map it back for the client's log. */
static void
pc_client_msg(struct kw_posture_conn *pc)
{
	struct kw_pmsg *m = &pc->msg;
	size_t i;

	switch (m->type) {
	case KW_PMSG_REQ:
		if (pc->got_req++)
			break;
		memcpy(pc->nonce, m->a, sizeof(pc->nonce));
		if (pc_qd(pc) != KW_OK) {
			pc_fail(pc, KW_PR_ERROR, "cannot hash the nonce");
			return;
		}
		pc->state = PC_WORK_EV;
		return;
	case KW_PMSG_ACT:
		if (!pc->got_req || pc->got_act++)
			break;
		pc->state = PC_WORK_ACT;
		return;
	case KW_PMSG_OK:
		pc->state = PC_DONE_OK;
		return;
	case KW_PMSG_NO:
		pc->why = KW_PR_ERROR;
		for (i = 0; i < KW_PR_COUNT; i++)
			if (strstr(m->reason, kw_pr_names[i]) != NULL)
				pc->why = (enum kw_posture_reason)i;
		pc_fail(pc, pc->why, "the server refused our posture: %s",
		    m->reason);
		return;
	default:
		break;
	}
	pc_fail(pc, KW_PR_PROTOCOL, "the server sent an unexpected posture "
	    "message (%s)", kw_pmsg_type_name(m->type));
}

enum kw_pc_step
kw_posture_conn_pump(struct kw_posture_conn *pc, WOLFSSL *ssl, int *want_r,
    int *want_w)
{
	int k;

	*want_r = *want_w = 0;
	for (;;) {
		switch (pc->state) {
		case PC_SEND:
			if ((k = pc_write(pc, ssl, want_r, want_w)) <= 0)
				return k == 0 ? KW_PC_WAIT : KW_PC_FAIL;
			pc->state = pc->next;
			break;
		case PC_READ:
			if ((k = pc_read(pc, ssl, want_r, want_w)) <= 0)
				return k == 0 ? KW_PC_WAIT : KW_PC_FAIL;
			if (k == 2)
				break;		/* NO queued */
			if (pc->server)
				pc_server_msg(pc);
			else
				pc_client_msg(pc);
			break;
		case PC_WORK_EV:
		case PC_WORK_ACT:
		case PC_WORK_VERIFY:
			return KW_PC_WORK;
		case PC_DONE_OK:
			return KW_PC_OK;
		case PC_DONE_NO:
		default:
			return KW_PC_FAIL;
		}
	}
}


static void
pc_work_evidence(struct kw_posture_conn *pc)
{
	struct kw_pmsg m;
	unsigned cmds = 0;
	uint64_t t0 = kw_now_usec();
	int r;

	memset(&m, 0, sizeof(m));
	m.type = KW_PMSG_EV;
	r = pc->ops->evidence(&pc->cin, &m.a, &m.a_len, &cmds);
	pc->tpm_cmds += cmds;
	pc->usec += kw_now_usec() - t0;
	if (r != KW_OK)
		pc_fail(pc, KW_PR_ERROR, "cannot make posture evidence with "
		    "AK %s: %s", pc->cin.ak_ref, kw_strerror(r));
	else if ((r = pc_queue(pc, &m, PC_READ)) != KW_OK)
		pc_fail(pc, KW_PR_ERROR, "evidence of %zu bytes: %s", m.a_len,
		    kw_strerror(r));
	free(m.a);
}

static void
pc_work_activate(struct kw_posture_conn *pc)
{
	uint8_t cred[KW_PMSG_CRED_MAX];
	size_t cred_len = sizeof(cred);
	struct kw_pmsg m;
	unsigned cmds = 0;
	uint64_t t0 = kw_now_usec();
	int r;

	r = pc->ops->activate(&pc->cin, pc->msg.a, pc->msg.a_len, pc->msg.b,
	    pc->msg.b_len, cred, &cred_len, &cmds);
	pc->tpm_cmds += cmds;
	pc->usec += kw_now_usec() - t0;
	if (r != KW_OK)
		pc_fail(pc, KW_PR_AK, "cannot activate the server's "
		    "credential with AK %s: %s", pc->cin.ak_ref,
		    kw_strerror(r));
	else {
		kw_info("posture: activated the gateway's credential with AK "
		    "%s (%u TPM commands)", pc->cin.ak_ref, cmds);
		memset(&m, 0, sizeof(m));
		m.type = KW_PMSG_ACTD;
		m.a = cred;
		m.a_len = cred_len;
		if (pc_queue(pc, &m, PC_READ) != KW_OK)
			pc_fail(pc, KW_PR_ERROR, "bad credential size");
	}
	explicit_bzero(cred, sizeof(cred));
}

static void
pc_work_verify(struct kw_posture_conn *pc)
{
	struct kw_posture_verdict *v = &pc->v;
	struct kw_pmsg m;
	int r;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&pc->ps->lock);
	r = pc->ops->verify(pc->pol, pc->ps->store, pc->msg.a, pc->msg.a_len,
	    pc->nonce, pc->exporter, pc->qd, pc->spki, pc->spki_len, v);
	pthread_mutex_unlock(&pc->ps->lock);
	if (r != KW_OK) {
		kw_debug("posture evidence of %s: %s", pc->who, kw_strerror(r));
		pc_refuse(pc, r == KW_ERR_PARSE ? KW_PR_PROTOCOL : KW_PR_ERROR,
		    r == KW_ERR_PARSE ? "evidence unreadable" :
		    "the gateway could not check the evidence");
		return;
	}
	if (!v->ok) {
		if (v->reason[0] == '\0')
			snprintf(v->reason, sizeof(v->reason), "%s",
			    kw_posture_reason_name(v->why));
		pc_refuse(pc, v->why, v->reason);
		return;
	}
	if (!v->need_activation) {
		if (pc_queue_type(pc, KW_PMSG_OK, PC_DONE_OK) != KW_OK)
			pc_fail(pc, KW_PR_ERROR, "out of memory");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.type = KW_PMSG_ACT;
	pc->cred_len = sizeof(pc->cred);
	r = pc->ops->challenge(pc->pol, v, &m.a, &m.a_len, &m.b, &m.b_len,
	    pc->cred, &pc->cred_len);
	if (r != KW_OK)
		pc_refuse(pc, KW_PR_ERROR, "cannot make the activation "
		    "challenge");
	else if (pc_queue(pc, &m, PC_READ) != KW_OK)
		pc_refuse(pc, KW_PR_ERROR, "activation challenge too large");
	else
		pc->sent_act = 1;
	free(m.a);
	free(m.b);
}

void
kw_posture_conn_work(struct kw_posture_conn *pc)
{
	switch (pc->state) {
	case PC_WORK_EV:
		pc_work_evidence(pc);
		break;
	case PC_WORK_ACT:
		pc_work_activate(pc);
		break;
	case PC_WORK_VERIFY:
		pc_work_verify(pc);
		break;
	default:
		break;
	}
}

enum kw_posture_reason
kw_posture_conn_why(const struct kw_posture_conn *pc, const char **reason)
{
	*reason = pc->reason;
	return pc->why;
}

void
kw_posture_conn_timeout(struct kw_posture_conn *pc)
{
	pc_fail(pc, KW_PR_TIMEOUT, "posture exchange not done within "
	    "handshake-timeout");
}

int
kw_posture_conn_cached(const struct kw_posture_conn *pc)
{
	return pc->cached;
}

void
kw_posture_conn_cost(const struct kw_posture_conn *pc, unsigned *tpm_cmds,
    uint64_t *usec)
{
	*tpm_cmds = pc->tpm_cmds;
	*usec = pc->usec;
}

void
kw_posture_conn_record(struct kw_posture_conn *pc)
{
	struct ps_entry *e;
	int ok = pc->state == PC_DONE_OK;

	if (!pc->server || pc->ps == NULL)
		return;
	e = ps_get(pc->ps, pc->cert_hash);
	if (pc->who[0] != '\0' || e->s.who[0] == '\0')	/* resumed: none */
		snprintf(e->s.who, sizeof(e->s.who), "%s", pc->who[0] ?
		    pc->who : "(resumed session)");
	e->s.time = time(NULL);
	e->s.ok = ok;
	e->s.cached = pc->cached;
	e->s.why = pc->why;
	snprintf(e->s.reason, sizeof(e->s.reason), "%s",
	    ok ? "" : pc->reason);
	if (ok && !pc->cached) {
		e->epoch = pc->ps->epoch;
		e->until = pc->recheck_s > 0 ? e->s.time +
		    (time_t)pc->recheck_s : 0;
	} else if (!ok)
		e->until = 0;
}
