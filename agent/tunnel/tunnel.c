/* Tunnel connections in a libevent loop (see tunnel.h).
 *
 * Each connection has a plaintext side (plain_fd) and a TLS side (tls_fd
 * + ssl).  A client tunnel accepts the plaintext side and connects the TLS
 * side; a server tunnel accepts the TLS side and, once the client is
 * admitted, connects the plaintext side.  conn_pump() makes every step it
 * can (handshake, read, write, half-close) and then enables exactly the
 * events the blocked steps wait for: a full buffer means its source side
 * is not read (backpressure).  wolfSSL is driven non-blocking: a
 * wolfSSL_write that returned WANT_WRITE is retried with the same bytes. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/dns.h>
#include <event2/util.h>

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_hello.h"
#include "agent/tunnel/tunnel_int.h"

/* A server connection's way to its handshake: the ClientHello is read
 * into a small buffer (no TLS state yet); then the connection waits for a
 * handshake slot, since the key signs before the client proves its
 * certificate.  A slot is two things: one of its source's
 * (max-signing-per-source), held until the client is authenticated or
 * the connection closes, and one of its key's (max-signing), held for
 * the first handshake step, the one that signs. */
enum kw_hs_state {
	KW_HS_NONE,		/* client tunnels; servers once handshaken */
	KW_HS_HELLO,		/* reading the ClientHello */
	KW_HS_WAIT,		/* ClientHello read, waiting for a slot */
	KW_HS_SLOT,		/* TLS state made, handshake under way */
};

#define KW_SRC_BUCKETS		1024

/* One source address (IPv6: its /64) of a server tunnel's clients. */
struct kw_src {
	struct kw_src *next;
	unsigned char addr[16];
	unsigned pending;		/* KW_HS_HELLO or KW_HS_WAIT */
	unsigned slots;			/* KW_HS_SLOT */
};

/* What a handshake step leaves for the loop.  Written by whoever runs
 * the step (a handshake thread, or the loop), read by the loop once the
 * step is handed back; never bit-fields (a thread writing one would race
 * with the loop writing its neighbours). */
struct kw_hs_out {
	int ret;			/* wolfSSL_connect/accept */
	int refused;			/* allow-list said no */
	uint64_t signs, sign_fails, sign_usec;	/* not counted yet */
	char who[256];			/* server: the client certificate */
};

struct kw_conn;
struct kw_conn_q {
	struct kw_conn *head, *tail;
};

struct kw_conn {
	struct kw_tunnel *t;
	struct kw_tunnel_gen *g;
	struct kw_conn *prev, *next;
	int plain_fd, tls_fd;
	WOLFSSL *ssl;
	struct event *ev_pr, *ev_pw, *ev_tr, *ev_tw, *ev_timer;
	/* Bit-fields: the event loop thread's alone (also while a
	 * handshake thread has the connection). */
	unsigned on_pr : 1, on_pw : 1, on_tr : 1, on_tw : 1;
	unsigned connecting : 1;	/* outbound connect in progress */
	unsigned plain_ready : 1;
	unsigned tls_ready : 1;		/* handshake done */
	unsigned plain_eof : 1;		/* plaintext peer sent FIN */
	unsigned tls_eof : 1;		/* TLS peer sent close_notify/FIN */
	unsigned notify_sent : 1;	/* our close_notify went out */
	unsigned plain_shut : 1;	/* our FIN to the plaintext peer */
	unsigned relaying : 1;
	unsigned in_worker : 1;		/* a handshake thread has it */
	unsigned free_pending : 1;	/* closed while in_worker */
	unsigned expired : 1;		/* handshake-timeout while in_worker */
	unsigned deferred : 1;		/* waited for a slot */
	unsigned pr_rdy : 1;		/* plain side may be readable */
	unsigned tr_rdy : 1;		/* TLS side may be readable */
	unsigned dns_sync : 1;
	unsigned hs_want_r : 1;		/* the handshake waits to read */
	unsigned hs_want_w : 1;		/* ... to write */
	unsigned key_slot : 1;		/* holds one of its key's slots */
	enum kw_hs_state hs_state;
	struct kw_src *src;		/* server: its source address */
	struct kw_conn *q_prev, *q_next;	/* in hello_q or wait_q */
	unsigned char *hello;		/* the ClientHello (KW_HS_HELLO..) */
	size_t hello_len, hello_off;	/* read; handed to wolfSSL */
	uint64_t signs;			/* signatures for this handshake */
	struct evdns_getaddrinfo_request *dns;
	int dns_result;
	struct kw_hs_out hs;
	struct kw_hs_pool *pool;	/* the pool that has it (in_worker) */
	struct kw_conn *hs_next;	/* handshake pool queues */
	WOLFSSL_SESSION *sess;		/* client: taken from the pool */
	struct evutil_addrinfo *dns_res;
	int tls_wr_pending;		/* length of a WANT_WRITE retry */
	size_t up_off, up_len;		/* plaintext -> TLS */
	size_t dn_off, dn_len;		/* TLS -> plaintext */
	uint64_t last_active_ms;
	char peer[64];
	/* KW_TUNNEL_BUF each, allocated while they hold data: an idle
	 * connection holds no buffer */
	unsigned char *up;
	unsigned char *dn;
};

struct kw_tunnel {
	struct event_base *base;
	struct evdns_base *dns;
	struct kw_tunnel_gen *gen;
	char *name;
	struct evconnlistener *lis;
	struct event *ev_resume;	/* re-enable accept after EMFILE */
	struct event *ev_slots;		/* hand out free handshake slots */
	char *unix_path;		/* our listening socket file */
	struct kw_conn *conns;
	struct kw_conn_q hello_q;	/* KW_HS_HELLO, oldest first */
	struct kw_conn_q wait_q;	/* KW_HS_WAIT, oldest first */
	struct kw_src *srcs[KW_SRC_BUCKETS];
	struct kw_tunnel_stats st;
	time_t last_full_log, last_src_log;
	struct kw_hs_pool *pool;	/* NULL: handshakes in the loop */
	uint64_t src_seed;		/* keys the source hash */
};

/* Handshake threads (handshake-threads = N): a handshake step that
 * signs may wait for a slow token (a smart card signs in 100+ ms); on a
 * worker the loop keeps carrying every other connection meanwhile.  The
 * loop hands a worker one step at a time, once the socket is ready for
 * it (an idle peer holds no thread), first come first served; a
 * connection handed to a worker is touched by the loop only on its
 * plaintext side (and not freed) until the worker hands it back through
 * the pipe. */
struct kw_hs_pool {
	pthread_t *threads;
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* singly linked by hs_next, oldest first */
	struct kw_conn *todo, *todo_tail, *done, *done_tail;
	int stop;
	int pipe_fd[2];
	struct event *ev_done;
};

static int conn_pump(struct kw_conn *c);
static void conn_give_session(struct kw_conn *c);
static void conn_free(struct kw_conn *c);

static uint64_t
kw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
tunnel_error(struct kw_tunnel *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log a per-connection problem and remember it as the tunnel's last. */
static void
tunnel_error(struct kw_tunnel *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->st.last_error, sizeof(t->st.last_error), fmt, ap);
	va_end(ap);
	t->st.last_error_time = time(NULL);
	kw_warn("tunnel %s: %s", t->name, t->st.last_error);
}

static unsigned
conn_ev(struct event *ev, int want, unsigned on)
{
	if (ev == NULL)
		return 0;
	if (want && !on)
		(void)event_add(ev, NULL);
	else if (!want && on)
		(void)event_del(ev);
	return want ? 1 : 0;
}

static void
conn_apply_events(struct kw_conn *c, int pr, int pw, int tr, int tw)
{
	c->on_pr = conn_ev(c->ev_pr, pr, c->on_pr);
	c->on_pw = conn_ev(c->ev_pw, pw, c->on_pw);
	c->on_tr = conn_ev(c->ev_tr, tr, c->on_tr);
	c->on_tw = conn_ev(c->ev_tw, tw, c->on_tw);
}

static void
conn_set_timer(struct kw_conn *c, uint64_t ms)
{
	struct timeval tv;

	if (ms == 0) {
		(void)event_del(c->ev_timer);
		return;
	}
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	(void)event_add(c->ev_timer, &tv);
}

/* ---- source addresses and handshake slots (server tunnels) ---- */

/* The source of sa as 16 bytes: IPv4 (also v4-mapped) as ::ffff:a.b.c.d,
 * IPv6 by its /64 (one host commonly has a whole /64).  0 for a Unix
 * socket: no per-source limits there. */
static int
src_key(const struct sockaddr *sa, unsigned char key[16])
{
	const struct sockaddr_in *in = (const void *)sa;
	const struct sockaddr_in6 *in6 = (const void *)sa;

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return 1;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		memcpy(key, &in6->sin6_addr, 16);
	else
		memcpy(key, &in6->sin6_addr, 8);
	return 1;
}

static size_t
src_bucket(const struct kw_tunnel *t, const unsigned char key[16])
{
	uint64_t h = t->src_seed;
	size_t i;

	for (i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return (size_t)(h % KW_SRC_BUCKETS);
}

/* The entry for sa's source, made when missing; NULL for a Unix socket
 * (*nomem set when out of memory). */
static struct kw_src *
src_get(struct kw_tunnel *t, const struct sockaddr *sa, int *nomem)
{
	unsigned char key[16];
	struct kw_src *s;
	size_t b;

	*nomem = 0;
	if (!src_key(sa, key))
		return NULL;
	b = src_bucket(t, key);
	for (s = t->srcs[b]; s != NULL; s = s->next)
		if (memcmp(s->addr, key, 16) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		*nomem = 1;
		return NULL;
	}
	memcpy(s->addr, key, 16);
	s->next = t->srcs[b];
	t->srcs[b] = s;
	return s;
}

/* Forget a source with no connection counted. */
static void
src_put(struct kw_tunnel *t, struct kw_src *s)
{
	struct kw_src **pp;

	if (s == NULL || s->pending > 0 || s->slots > 0)
		return;
	for (pp = &t->srcs[src_bucket(t, s->addr)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			free(s);
			return;
		}
}

/* Look for free slots soon (not now: callers may be deep in a close). */
static void
tunnel_kick_slots(struct kw_tunnel *t)
{
	if (t->ev_slots != NULL)
		event_active(t->ev_slots, EV_TIMEOUT, 0);
}

static void
conn_q_add(struct kw_conn_q *q, struct kw_conn *c)
{
	c->q_next = NULL;
	c->q_prev = q->tail;
	if (q->tail != NULL)
		q->tail->q_next = c;
	else
		q->head = c;
	q->tail = c;
}

static void
conn_q_del(struct kw_conn_q *q, struct kw_conn *c)
{
	if (c->q_prev != NULL)
		c->q_prev->q_next = c->q_next;
	else
		q->head = c->q_next;
	if (c->q_next != NULL)
		c->q_next->q_prev = c->q_prev;
	else
		q->tail = c->q_prev;
	c->q_prev = c->q_next = NULL;
}

static void
conn_wait_unlink(struct kw_conn *c)
{
	conn_q_del(&c->t->wait_q, c);
	c->t->st.hs_waiting--;
}

/* The signing step is made (or c closes): the key's slot goes back. */
static void
conn_key_slot_release(struct kw_conn *c)
{
	if (!c->key_slot)
		return;
	c->key_slot = 0;
	(*kw_tunnel_gen_key_slots(c->g))--;
	tunnel_kick_slots(c->t);
}

/* The handshake is over (done, or c closes): its slot goes back. */
static void
conn_slot_release(struct kw_conn *c)
{
	struct kw_tunnel *t = c->t;

	if (c->hs_state != KW_HS_SLOT)
		return;
	c->hs_state = KW_HS_NONE;
	conn_key_slot_release(c);
	t->st.hs_slots--;
	if (!c->tls_ready)
		t->st.sign_unauth += c->signs;
	if (c->src != NULL) {
		c->src->slots--;
		src_put(t, c->src);
		c->src = NULL;
	}
	tunnel_kick_slots(t);
}

/* c goes: whatever it counts for its source and the slots. */
static void
conn_hs_forget(struct kw_conn *c)
{
	if (c->hs_state == KW_HS_SLOT)
		conn_slot_release(c);
	else if (c->hs_state != KW_HS_NONE) {
		if (c->hs_state == KW_HS_WAIT)
			conn_wait_unlink(c);
		else
			conn_q_del(&c->t->hello_q, c);
		c->hs_state = KW_HS_NONE;
		if (c->src != NULL) {
			c->src->pending--;
			src_put(c->t, c->src);
			c->src = NULL;
		}
	}
	free(c->hello);
	c->hello = NULL;
}

static void
conn_free(struct kw_conn *c)
{
	struct kw_tunnel *t = c->t;

	if (c->in_worker) {
		/* the worker still drives its handshake: free on return */
		c->free_pending = 1;
		conn_apply_events(c, 0, 0, 0, 0);
		if (c->ev_timer != NULL)
			(void)event_del(c->ev_timer);
		return;
	}
	conn_hs_forget(c);
	if (c->dns != NULL) {
		struct evdns_getaddrinfo_request *req = c->dns;

		c->dns = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	if (c->ev_pr) event_free(c->ev_pr);
	if (c->ev_pw) event_free(c->ev_pw);
	if (c->ev_tr) event_free(c->ev_tr);
	if (c->ev_tw) event_free(c->ev_tw);
	if (c->ev_timer) event_free(c->ev_timer);
	if (c->ssl != NULL) {
		conn_give_session(c);
		kw_tls_ssl_free(c->g->tls, c->ssl);
	}
	if (c->sess != NULL)
		wolfSSL_SESSION_free(c->sess);
	free(c->up);
	free(c->dn);
	if (c->plain_fd >= 0)
		close(c->plain_fd);
	if (c->tls_fd >= 0)
		close(c->tls_fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	t->st.conns_active--;
	kw_tunnel_gen_unref(c->g);
	free(c);
}

/* Close with a reason (NULL: a clean end). */
static void
conn_close(struct kw_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
conn_close(struct kw_conn *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (!c->relaying)
			c->t->st.conns_failed++;
		tunnel_error(c->t, "connection from %s closed: %s", c->peer,
		    msg);
	} else
		kw_debug("tunnel %s: connection from %s done", c->t->name,
		    c->peer);
	conn_free(c);
}

static void
conn_cb(evutil_socket_t fd, short what, void *arg);
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg);

static int
conn_events_for(struct kw_conn *c, int fd, struct event **r,
    struct event **w)
{
	*r = event_new(c->t->base, fd, EV_READ | EV_PERSIST, conn_cb, c);
	*w = event_new(c->t->base, fd, EV_WRITE | EV_PERSIST, conn_cb, c);
	return *r != NULL && *w != NULL ? KW_OK : KW_ERR_NOMEM;
}

static const char *
conn_target_text(const struct kw_conn *c)
{
	return c->g->conf->target.text;
}

/* The outbound socket is connected.  Returns 1 when c was closed; the
 * caller pumps. */
static int
conn_connected(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	const char *sni;
	int r;

	c->connecting = 0;
	if (tc->mode == KW_TUNNEL_CLIENT) {
		sni = tc->servername ? tc->servername : tc->target.host;
		if ((r = kw_tls_ssl_new(c->g->tls, c->tls_fd, sni, &c->ssl))
		    != KW_OK) {
			conn_close(c, "TLS setup failed: %s", kw_strerror(r));
			return 1;
		}
		if (tc->ocsp_stapling != KW_OCSP_OFF &&
		    wolfSSL_UseOCSPStapling(c->ssl, WOLFSSL_CSR_OCSP, 0) !=
		    WOLFSSL_SUCCESS) {
			conn_close(c, "cannot ask for OCSP stapling");
			return 1;
		}
		if (tc->resume && c->g->nsessions > 0) {
			/* Ours alone: wolfSSL keeps a reference and writes to
			 * it during the handshake, so a session offered by two
			 * connections at once breaks their PSK binders. */
			c->sess = c->g->sessions[--c->g->nsessions];
			(void)kw_tls_ssl_resume(c->g->tls, c->ssl, c->sess);
		}
		conn_set_timer(c, tc->handshake_timeout_ms);
	} else {
		c->plain_ready = 1;
		c->pr_rdy = 1;
		c->relaying = 1;
		conn_set_timer(c, tc->idle_timeout_s ?
		    (uint64_t)tc->idle_timeout_s * 1000 : 0);
	}
	return 0;
}

/* Returns 1 when c was closed. */
static int
conn_connect_to(struct kw_conn *c, const struct sockaddr *sa, socklen_t len)
{
	int fd, one = 1, client = c->g->conf->mode == KW_TUNNEL_CLIENT;
	struct event **r, **w;

	r = client ? &c->ev_tr : &c->ev_pr;
	w = client ? &c->ev_tw : &c->ev_pw;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		conn_close(c, "socket: %s", strerror(errno));
		return 1;
	}
	if (client)
		c->tls_fd = fd;
	else
		c->plain_fd = fd;
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	if (conn_events_for(c, fd, r, w) != KW_OK) {
		conn_close(c, "out of memory");
		return 1;
	}
	if (connect(fd, sa, len) == 0)
		return conn_connected(c);
	if (errno != EINPROGRESS && errno != EAGAIN) {
		conn_close(c, "cannot connect to %s: %s", conn_target_text(c),
		    strerror(errno));
		return 1;
	}
	c->connecting = 1;
	if (client)
		c->on_tw = conn_ev(c->ev_tw, 1, c->on_tw);
	else
		c->on_pw = conn_ev(c->ev_pw, 1, c->on_pw);
	return 0;
}

/* Returns 1 when c was closed. */
static int
conn_dns_done(struct kw_conn *c, int result, struct evutil_addrinfo *res)
{
	int closed;

	c->connecting = 0;
	if (result != 0 || res == NULL) {
		conn_close(c, "cannot resolve %s: %s", conn_target_text(c),
		    evutil_gai_strerror(result));
		closed = 1;
	} else
		closed = conn_connect_to(c, res->ai_addr,
		    (socklen_t)res->ai_addrlen);
	if (res != NULL)
		evutil_freeaddrinfo(res);
	return closed;
}

static void
conn_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct kw_conn *c = arg;

	if (result == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;		/* c is gone */
	}
	if (c->dns_sync) {	/* inside evdns_getaddrinfo: report back */
		c->dns_result = result;
		c->dns_res = res;
		return;
	}
	c->dns = NULL;
	if (conn_dns_done(c, result, res) == 0)
		(void)conn_pump(c);
}

/* Returns 1 when c was closed. */
static int
conn_start_connect(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;

	conn_set_timer(c, tc->connect_timeout_ms);
	if (c->g->target_resolved)
		return conn_connect_to(c,
		    (const struct sockaddr *)&c->g->target_sa,
		    c->g->target_salen);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->connecting = 1;
	c->dns_sync = 1;
	c->dns_result = EVUTIL_EAI_FAIL;
	c->dns_res = NULL;
	req = evdns_getaddrinfo(c->t->dns, tc->target.host, tc->target.port,
	    &hints, conn_dns_cb, c);
	c->dns_sync = 0;
	if (req == NULL)	/* answered at once */
		return conn_dns_done(c, c->dns_result, c->dns_res);
	c->dns = req;
	return 0;
}

/* Our verify callback for server tunnels: the CA check (CRL soft-fail as
 * configured) and, on the client's own certificate, the allow-list, so a
 * refused client never completes the handshake (nor gets a ticket). */
static int
conn_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct kw_conn *c = store ? store->userCtx : NULL;
	int err, depth;

	if (c == NULL)
		return preverify;
	depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
	if (!preverify) {
		err = wolfSSL_X509_STORE_CTX_get_error(store);
		if (err == CRL_MISSING && !c->g->conf->crl_hard_fail) {
			kw_warn("tunnel %s: no CRL for the issuer of a "
			    "certificate of %s; accepting it (crl-check = "
			    "soft)", c->t->name, c->peer);
			return 1;
		}
		return 0;
	}
	/* TLS 1.2: a client that sent no certificate reaches here too;
	 * wolfSSL refuses it (NO_PEER_CERT), which kw_tls_explain names. */
	if (depth == 0 && store->totalCerts > 0 &&
	    store->current_cert != NULL && kw_tunnel_gen_admit(c->g,
	    store->current_cert, c->hs.who, sizeof(c->hs.who)) != KW_OK) {
		c->hs.refused = 1;
		return 0;
	}
	return 1;
}

/* Client: a closing connection gives its session (if resumable: a TLS
 * 1.3 one only once its ticket arrived) to the pool for the next. */
static void
conn_give_session(struct kw_conn *c)
{
	struct kw_tunnel_gen *g = c->g;
	WOLFSSL_SESSION *s;

	if (g->conf->mode != KW_TUNNEL_CLIENT || !g->conf->resume ||
	    c->ssl == NULL || !c->tls_ready ||
	    (s = wolfSSL_get1_session(c->ssl)) == NULL)
		return;
	if (wolfSSL_version(c->ssl) == TLS1_3_VERSION &&
	    !wolfSSL_SESSION_has_ticket(s)) {
		wolfSSL_SESSION_free(s);
		return;
	}
	if (g->nsessions == KW_SESSION_POOL) {
		wolfSSL_SESSION_free(g->sessions[0]);
		memmove(g->sessions, g->sessions + 1,
		    (KW_SESSION_POOL - 1) * sizeof(g->sessions[0]));
		g->nsessions--;
	}
	g->sessions[g->nsessions++] = s;
}


/* One wolfSSL_connect/accept call under the key's lock, its signatures
 * noted in c->hs (counted for the tunnel by the loop thread). */
static void
conn_hs_step(struct kw_conn *c)
{
	struct kw_key *key = c->g->key;
	uint64_t n0, f0, u0;
	char who[128];

	snprintf(who, sizeof(who), "tunnel %s, peer %s", c->t->name, c->peer);
	kw_key_purpose_set(KW_PURPOSE_HANDSHAKE, who);
	kw_tunnel_gen_key_lock(c->g);
	n0 = kw_key_sign_count(key);
	f0 = kw_key_sign_failures(key);
	u0 = kw_key_sign_usec(key);
	c->hs.ret = c->g->conf->mode == KW_TUNNEL_CLIENT ?
	    wolfSSL_connect(c->ssl) : wolfSSL_accept(c->ssl);
	c->hs.signs += kw_key_sign_count(key) - n0;
	c->hs.sign_fails += kw_key_sign_failures(key) - f0;
	c->hs.sign_usec += kw_key_sign_usec(key) - u0;
	kw_tunnel_gen_key_unlock(c->g);
}

static void
conn_sign_stats(struct kw_conn *c)
{
	uint64_t n = c->hs.signs, us;
	size_t i;

	c->t->st.sign_failures += c->hs.sign_fails;
	c->hs.sign_fails = 0;
	if (n == 0)
		return;
	c->signs += n;
	c->t->st.signatures += n;
	c->t->st.sign_usec += c->hs.sign_usec;
	us = c->hs.sign_usec / n;
	for (i = 0; i + 1 < KW_SIGN_BUCKETS && us > kw_sign_bucket_usec[i]; i++)
		;
	c->t->st.sign_hist[i] += n;
	c->hs.signs = 0;
	c->hs.sign_usec = 0;
}

/* What the last handshake step came to (loop thread).  Returns 1 when
 * the connection was closed. */
static int
conn_hs_result(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	int w = c->hs.ret, e, r;

	conn_sign_stats(c);
	conn_key_slot_release(c);
	if (w == WOLFSSL_SUCCESS) {
		if ((r = kw_tls_handshake_done(c->g->tls, c->ssl)) != KW_OK) {
			c->t->st.refused++;
			conn_close(c, "%s %s refused: %s",
			    tc->mode == KW_TUNNEL_CLIENT ? "server" : "client",
			    tc->mode == KW_TUNNEL_CLIENT ? conn_target_text(c) :
			    c->peer, kw_strerror(r));
			return 1;
		}
		c->tls_ready = 1;
		c->tr_rdy = 1;
		if (wolfSSL_session_reused(c->ssl))
			c->t->st.hs_resumed++;
		else
			c->t->st.hs_full++;
		kw_debug("tunnel %s: %s %s%s with %s%s%s", c->t->name,
		    wolfSSL_get_version(c->ssl),
		    wolfSSL_get_cipher_name(c->ssl),
		    wolfSSL_session_reused(c->ssl) ? " (resumed)" : "",
		    tc->mode == KW_TUNNEL_CLIENT ? conn_target_text(c) :
		    c->peer, c->hs.who[0] ? ": " : "", c->hs.who);
		if (tc->mode == KW_TUNNEL_CLIENT) {
			c->relaying = 1;
			conn_set_timer(c, tc->idle_timeout_s ?
			    (uint64_t)tc->idle_timeout_s * 1000 : 0);
			return 0;
		}
		conn_slot_release(c);	/* the client proved its certificate */
		return conn_start_connect(c);
	}
	if (c->expired) {
		conn_close(c, "TLS handshake timed out after %u ms",
		    tc->handshake_timeout_ms);
		return 1;
	}
	e = wolfSSL_get_error(c->ssl, w);
	if (e == WOLFSSL_ERROR_WANT_READ) {
		c->hs_want_r = 1;
		return 0;
	}
	if (e == WOLFSSL_ERROR_WANT_WRITE) {
		c->hs_want_w = 1;
		return 0;
	}
	if (c->hs.refused) {
		c->t->st.refused++;
		conn_close(c, "client certificate refused: %s is not in the "
		    "allow-list", c->hs.who[0] ? c->hs.who : "(no names)");
		return 1;
	}
	if (e == OCSP_CERT_UNKNOWN && tc->ocsp_stapling == KW_OCSP_REQUIRE) {
		c->t->st.refused++;
		conn_close(c, "server %s stapled no OCSP response for its "
		    "certificate (ocsp-stapling = require)",
		    conn_target_text(c));
		return 1;
	}
	r = kw_tls_explain(c->g->tls, c->ssl, w, tc->mode == KW_TUNNEL_CLIENT ?
	    conn_target_text(c) : c->peer);
	if (r != KW_ERR_NETWORK && r != KW_ERR_TIMEOUT)
		c->t->st.refused++;	/* peer, version, suite: refused */
	conn_close(c, "TLS handshake failed: %s", kw_strerror(r));
	return 1;
}

/* What one pass of conn_pump found: the events the blocked steps wait
 * for, and whether any step moved. */
struct kw_pump {
	int pr, pw, tr, tw;
	int progress;
};

/* ---- the ClientHello, before any TLS state (server tunnels) ---- */

/* wolfSSL's receive for server connections: the ClientHello we read
 * first, then the socket. */
static int
conn_tls_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct kw_conn *c = ctx;
	size_t n;
	ssize_t k;

	(void)ssl;
	if (sz <= 0)
		return 0;
	if (c->hello != NULL) {
		n = c->hello_len - c->hello_off;
		if (n > (size_t)sz)
			n = (size_t)sz;
		memcpy(buf, c->hello + c->hello_off, n);
		c->hello_off += n;
		if (c->hello_off == c->hello_len) {
			free(c->hello);
			c->hello = NULL;
		}
		return (int)n;
	}
	k = recv(c->tls_fd, buf, (size_t)sz, 0);
	if (k > 0)
		return (int)k;
	if (k == 0)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (errno == EINTR)
		return WOLFSSL_CBIO_ERR_ISR;
	if (errno == ECONNRESET)
		return WOLFSSL_CBIO_ERR_CONN_RST;
	if (errno == ECONNABORTED)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return WOLFSSL_CBIO_ERR_GENERAL;
}

/* Read what is there of the ClientHello; once whole, wait for a slot.
 * Returns 1 when c was closed. */
static int
pump_hello(struct kw_conn *c, struct kw_pump *p)
{
	struct kw_tunnel *t = c->t;
	unsigned char *nb;
	size_t need;
	ssize_t k;
	int r;

	while ((r = kw_hello_need(c->hello, c->hello_len, &need)) == 1) {
		if (!c->tr_rdy) {
			p->tr = 1;
			return 0;
		}
		if (c->hello_len + need > KW_HELLO_MAX) {
			r = -1;
			break;
		}
		if ((nb = realloc(c->hello, c->hello_len + need)) == NULL) {
			conn_close(c, "out of memory");
			return 1;
		}
		c->hello = nb;
		k = read(c->tls_fd, c->hello + c->hello_len, need);
		if (k > 0)
			c->hello_len += (size_t)k;
		else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->tr_rdy = 0;
			p->tr = 1;
			return 0;
		} else {
			conn_close(c, "closed before its ClientHello was "
			    "complete%s%s", k < 0 ? ": " : "",
			    k < 0 ? strerror(errno) : "");
			return 1;
		}
	}
	if (r < 0) {
		conn_close(c, "sent no TLS ClientHello of at most %d bytes",
		    KW_HELLO_MAX);
		return 1;
	}
	c->hs_state = KW_HS_WAIT;
	conn_q_del(&t->hello_q, c);
	conn_q_add(&t->wait_q, c);
	t->st.hs_waiting++;
	tunnel_kick_slots(t);
	return 0;
}

/* c gets a slot: its TLS state is made and the handshake begins.
 * Returns 1 when c was closed. */
static int
conn_slot_take(struct kw_conn *c)
{
	struct kw_tunnel *t = c->t;
	int r;

	conn_wait_unlink(c);
	c->hs_state = KW_HS_SLOT;
	c->key_slot = 1;
	(*kw_tunnel_gen_key_slots(c->g))++;
	t->st.hs_slots++;
	if (c->src != NULL) {
		c->src->pending--;
		c->src->slots++;
	}
	if ((r = kw_tls_ssl_new(c->g->tls, c->tls_fd, NULL, &c->ssl)) !=
	    KW_OK) {
		conn_close(c, "TLS setup failed: %s", kw_strerror(r));
		return 1;
	}
	wolfSSL_set_verify(c->ssl, WOLFSSL_VERIFY_PEER |
	    WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, conn_verify_cb);
	wolfSSL_SetCertCbCtx(c->ssl, c);
	wolfSSL_SSLSetIORecv(c->ssl, conn_tls_recv);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	c->hello_off = 0;
	c->hs_want_r = c->hs_want_w = 0;
	return conn_pump(c);
}

static void
conn_defer(struct kw_conn *c)
{
	if (!c->deferred) {
		c->deferred = 1;
		c->t->st.sign_deferred++;
	}
}

/* Hand free slots to waiting connections, oldest first, skipping those
 * whose source has max-signing-per-source.  A key shared with another
 * tunnel may free a slot without telling us: look again in 100 ms. */
static void
tunnel_slots_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_tunnel *t = arg;
	struct timeval tv = { 0, 100000 };
	const struct kw_tunnel_conf *tc;
	struct kw_conn *c, *next;
	int key_full = 0;

	(void)fd;
	(void)what;
	for (c = t->wait_q.head; c != NULL; c = next) {
		next = c->q_next;
		tc = c->g->conf;
		if (*kw_tunnel_gen_key_slots(c->g) >= tc->max_signing) {
			key_full = 1;
			conn_defer(c);
		} else if (c->src != NULL &&
		    c->src->slots >= tc->max_signing_per_source)
			conn_defer(c);
		else
			(void)conn_slot_take(c);
	}
	if (key_full && t->wait_q.head != NULL)
		(void)event_add(t->ev_slots, &tv);
}

/* ---- handshake threads ---- */

static void *
hs_pool_main(void *arg)
{
	struct kw_hs_pool *pool = arg;
	struct kw_conn *c;
	char b = 'd';

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->todo == NULL && !pool->stop)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (pool->stop)
			break;
		c = pool->todo;
		if ((pool->todo = c->hs_next) == NULL)
			pool->todo_tail = NULL;
		pthread_mutex_unlock(&pool->lock);
		conn_hs_step(c);
		pthread_mutex_lock(&pool->lock);
		c->hs_next = NULL;
		if (pool->done_tail != NULL)
			pool->done_tail->hs_next = c;
		else
			pool->done = c;
		pool->done_tail = c;
		if (write(pool->pipe_fd[1], &b, 1) < 0) {
			/* the pipe is full: a wake-up is pending */
		}
	}
	pthread_mutex_unlock(&pool->lock);
#ifdef FP_ECC
	/* wolfSSL's ECC fixed-point cache is per thread */
	wc_ecc_fp_free();
#endif
	return NULL;
}

/* A connection whose step a worker made, back in the loop. */
static void
hs_pool_back(struct kw_conn *c)
{
	c->in_worker = 0;
	c->pool = NULL;
	if (c->free_pending)
		conn_free(c);
	else if (conn_hs_result(c) == 0)
		(void)conn_pump(c);
}

/* Loop thread: take back the connections whose step is made. */
static void
hs_pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_hs_pool *pool = arg;
	struct kw_conn *c, *next;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&pool->lock);
	c = pool->done;
	pool->done = pool->done_tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	for (; c != NULL; c = next) {
		next = c->hs_next;
		hs_pool_back(c);
	}
}

/* Last in the queue: first come, first served. */
static void
hs_pool_submit(struct kw_hs_pool *pool, struct kw_conn *c)
{
	c->in_worker = 1;
	c->pool = pool;
	c->hs_next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->todo_tail != NULL)
		pool->todo_tail->hs_next = c;
	else
		pool->todo = c;
	pool->todo_tail = c;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

/* Take c out of the queue if no worker has begun its step: 1 if so. */
static int
hs_pool_cancel(struct kw_hs_pool *pool, struct kw_conn *c)
{
	struct kw_conn **pp, *prev = NULL;
	int found = 0;

	pthread_mutex_lock(&pool->lock);
	for (pp = &pool->todo; *pp != NULL; prev = *pp, pp = &(*pp)->hs_next)
		if (*pp == c) {
			*pp = c->hs_next;
			if (pool->todo_tail == c)
				pool->todo_tail = prev;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&pool->lock);
	if (found) {
		c->in_worker = 0;
		c->pool = NULL;
	}
	return found;
}

/* Stops the threads (each ends the step it is making: one signature at
 * most).  The connections still queued (*todo) and those whose step was
 * made (*done) are handed back, oldest first; with NULL for both, they
 * are only let go (those closed meanwhile freed). */
static void
hs_pool_free(struct kw_hs_pool *pool, struct kw_conn **todo,
    struct kw_conn **done)
{
	struct kw_conn *c, *next;
	size_t i;

	if (todo != NULL)
		*todo = NULL;
	if (done != NULL)
		*done = NULL;
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	if (todo != NULL) {
		*todo = pool->todo;
		*done = pool->done;
	} else {
		for (c = pool->todo; c != NULL; c = next) {
			next = c->hs_next;
			c->in_worker = 0;
			c->pool = NULL;
			if (c->free_pending)
				conn_free(c);
		}
		for (c = pool->done; c != NULL; c = next) {
			next = c->hs_next;
			c->in_worker = 0;
			c->pool = NULL;
			if (c->free_pending)
				conn_free(c);
		}
	}
	if (pool->ev_done != NULL)
		event_free(pool->ev_done);
	if (pool->pipe_fd[0] >= 0)
		close(pool->pipe_fd[0]);
	if (pool->pipe_fd[1] >= 0)
		close(pool->pipe_fd[1]);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

static int
hs_pool_new(struct event_base *base, const char *name, unsigned n,
    struct kw_hs_pool **out)
{
	struct kw_hs_pool *pool;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		return KW_ERR_NOMEM;
	pool->pipe_fd[0] = pool->pipe_fd[1] = -1;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	if ((pool->threads = calloc(n, sizeof(*pool->threads))) == NULL)
		goto out;
	if (pipe2(pool->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		r = KW_ERR_IO;
		goto out;
	}
	pool->ev_done = event_new(base, pool->pipe_fd[0],
	    EV_READ | EV_PERSIST, hs_pool_done_cb, pool);
	if (pool->ev_done == NULL || event_add(pool->ev_done, NULL) != 0)
		goto out;
	for (; pool->nthreads < n; pool->nthreads++)
		if (pthread_create(&pool->threads[pool->nthreads], NULL,
		    hs_pool_main, pool) != 0) {
			kw_err("tunnel %s: cannot start handshake threads",
			    name);
			r = KW_ERR_NOMEM;
			goto out;
		} else	/* as ps -L and top -H show it */
			(void)pthread_setname_np(pool->threads[pool->nthreads],
			    "kw-handshake");
	*out = pool;
	pool = NULL;
	r = KW_OK;
out:
	hs_pool_free(pool, NULL, NULL);
	return r;
}

/* One handshake step in the loop, or to a worker.  Returns 1 when c was
 * closed. */
static int
conn_handshake(struct kw_conn *c)
{
	if (c->t->pool != NULL) {
		hs_pool_submit(c->t->pool, c);
		return 0;
	}
	conn_hs_step(c);
	return conn_hs_result(c);
}

/* Each step below makes what progress it can and notes in p what it
 * waits for; one returning 1 has closed c. */

/* The TLS handshake, while it is not done. */
static int
pump_handshake(struct kw_conn *c, struct kw_pump *p)
{
	if (c->connecting) {
		/* wait for the connect (its write event is on) */
		if (c->g->conf->mode == KW_TUNNEL_CLIENT)
			p->tw = 1;
		else
			p->pw = 1;
	}
	if (c->hs_state == KW_HS_HELLO)
		return pump_hello(c, p);
	if (c->ssl == NULL || c->tls_ready || c->connecting || c->in_worker)
		return 0;
	/* a step only once the socket is ready for it */
	if (!c->hs_want_r && !c->hs_want_w && conn_handshake(c))
		return 1;
	if (c->tls_ready)
		p->progress = 1;
	else if (!c->in_worker) {
		p->tr |= c->hs_want_r;
		p->tw |= c->hs_want_w;
	}
	return 0;
}

/* A buffer of KW_TUNNEL_BUF for *buf (off, len: its data): allocated
 * when missing, the data moved to the front when it reached the end
 * (not while a WANT_WRITE retry points into it: pinned).  Returns the
 * room after the data, or -1 when out of memory. */
static ssize_t
pump_buf_room(unsigned char **buf, size_t *off, size_t len, int pinned)
{
	if (len == 0)
		*off = 0;
	else if (*off > 0 && !pinned && *off + len == KW_TUNNEL_BUF) {
		memmove(*buf, *buf + *off, len);
		*off = 0;
	}
	if (*buf == NULL && (*buf = malloc(KW_TUNNEL_BUF)) == NULL)
		return -1;
	return (ssize_t)(KW_TUNNEL_BUF - *off - len);
}

/* Plaintext peer -> up buffer. */
static int
pump_plain_in(struct kw_conn *c, struct kw_pump *p)
{
	ssize_t room, k;

	if (!c->plain_ready || c->plain_eof)
		return 0;
	room = pump_buf_room(&c->up, &c->up_off, c->up_len,
	    c->tls_wr_pending != 0);
	if (room < 0) {
		conn_close(c, "out of memory");
		return 1;
	}
	if (room == 0)
		return 0;
	if (!c->pr_rdy) {
		p->pr = 1;		/* wait for the event */
		return 0;
	}
	k = read(c->plain_fd, c->up + c->up_off + c->up_len, (size_t)room);
	if (k > 0) {
		c->up_len += (size_t)k;
		p->progress = 1;
	} else if (k == 0) {
		c->plain_eof = 1;
		p->progress = 1;
	} else if (errno == EAGAIN || errno == EINTR) {
		p->pr = 1;
		c->pr_rdy = 0;
	} else {
		conn_close(c, "reading from the plaintext side: %s",
		    strerror(errno));
		return 1;
	}
	return 0;
}

/* Up buffer -> TLS (a WANT_WRITE retry with the same length). */
static int
pump_tls_out(struct kw_conn *c, struct kw_pump *p)
{
	int n, e, len;

	if (!c->tls_ready || c->up_len == 0)
		return 0;
	len = c->tls_wr_pending ? c->tls_wr_pending : (int)c->up_len;
	n = wolfSSL_write(c->ssl, c->up + c->up_off, len);
	if (n > 0) {
		c->up_off += (size_t)n;
		c->up_len -= (size_t)n;
		c->tls_wr_pending = 0;
		c->t->st.bytes_up += (uint64_t)n;
		p->progress = 1;
		return 0;
	}
	e = wolfSSL_get_error(c->ssl, n);
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		p->tw = 1;
	else if (e == WOLFSSL_ERROR_WANT_READ)
		p->tr = 1;
	else {
		conn_close(c, "TLS write failed (wolfSSL error %d)", e);
		return 1;
	}
	c->tls_wr_pending = len;
	return 0;
}

/* Plaintext EOF passed on as close_notify. */
static void
pump_notify(struct kw_conn *c, struct kw_pump *p)
{
	int n, e;

	if (!c->tls_ready || !c->plain_eof || c->up_len > 0 ||
	    c->notify_sent)
		return;
	n = wolfSSL_shutdown(c->ssl);
	e = n == WOLFSSL_SUCCESS || n == WOLFSSL_SHUTDOWN_NOT_DONE ? 0 :
	    wolfSSL_get_error(c->ssl, n);
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		p->tw = 1;
	else {
		c->notify_sent = 1;
		p->progress = 1;
	}
}

/* TLS -> down buffer. */
static int
pump_tls_in(struct kw_conn *c, struct kw_pump *p)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	ssize_t room;
	int n, e;

	if (!c->tls_ready || c->tls_eof)
		return 0;
	room = pump_buf_room(&c->dn, &c->dn_off, c->dn_len, 0);
	if (room < 0) {
		conn_close(c, "out of memory");
		return 1;
	}
	if (room == 0)
		return 0;
	if (!c->tr_rdy && wolfSSL_pending(c->ssl) == 0) {
		p->tr = 1;		/* wait for the event */
		return 0;
	}
	n = wolfSSL_read(c->ssl, c->dn + c->dn_off + c->dn_len, (int)room);
	if (n > 0) {
		c->dn_len += (size_t)n;
		c->t->st.bytes_down += (uint64_t)n;
		p->progress = 1;
		return 0;
	}
	e = wolfSSL_get_error(c->ssl, n);
	if (e == WOLFSSL_ERROR_WANT_READ) {
		p->tr = 1;
		c->tr_rdy = 0;
	} else if (e == WOLFSSL_ERROR_WANT_WRITE)
		p->tw = 1;
	else if (e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E) {
		c->tls_eof = 1;
		p->progress = 1;
	} else {
		kw_tls_explain(c->g->tls, c->ssl, n,
		    tc->mode == KW_TUNNEL_CLIENT ? conn_target_text(c) :
		    c->peer);
		conn_close(c, "TLS read failed (wolfSSL error %d)", e);
		return 1;
	}
	return 0;
}

/* Down buffer -> plaintext peer. */
static int
pump_plain_out(struct kw_conn *c, struct kw_pump *p)
{
	ssize_t k;

	if (!c->plain_ready || c->dn_len == 0)
		return 0;
	k = send(c->plain_fd, c->dn + c->dn_off, c->dn_len, MSG_NOSIGNAL);
	if (k > 0) {
		c->dn_off += (size_t)k;
		c->dn_len -= (size_t)k;
		p->progress = 1;
	} else if (k < 0 && (errno == EAGAIN || errno == EINTR))
		p->pw = 1;
	else {
		conn_close(c, "writing to the plaintext side: %s",
		    strerror(errno));
		return 1;
	}
	return 0;
}

/* TLS EOF passed on as FIN. */
static void
pump_fin(struct kw_conn *c, struct kw_pump *p)
{
	if (!c->plain_ready || !c->tls_eof || c->dn_len > 0 || c->plain_shut)
		return;
	(void)shutdown(c->plain_fd, SHUT_WR);
	c->plain_shut = 1;
	p->progress = 1;
}

/* Idle: give the buffers back. */
static void
pump_release_buffers(struct kw_conn *c)
{
	if (c->up_len == 0 && c->tls_wr_pending == 0) {
		free(c->up);
		c->up = NULL;
	}
	if (c->dn_len == 0) {
		free(c->dn);
		c->dn = NULL;
	}
}

/* Every step that can move, in order, until none does; then exactly the
 * events the blocked ones wait for.  Returns 1 when c was closed. */
static int
conn_pump(struct kw_conn *c)
{
	struct kw_pump p;

	do {
		memset(&p, 0, sizeof(p));
		if (pump_handshake(c, &p) || pump_plain_in(c, &p) ||
		    pump_tls_out(c, &p))
			return 1;
		pump_notify(c, &p);
		if (pump_tls_in(c, &p) || pump_plain_out(c, &p))
			return 1;
		pump_fin(c, &p);
		if (c->plain_shut && c->notify_sent) {
			conn_close(c, NULL);
			return 1;
		}
		if (p.progress)
			c->last_active_ms = kw_now_ms();
	} while (p.progress);
	pump_release_buffers(c);
	conn_apply_events(c, p.pr, p.pw, p.tr, p.tw);
	return 0;
}

static void
conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_conn *c = arg;
	int err = 0, out_fd;
	socklen_t elen = sizeof(err);

	if ((what & EV_READ) != 0) {
		if (fd == c->plain_fd)
			c->pr_rdy = 1;
		else if (fd == c->tls_fd)
			c->tr_rdy = 1;
		if (fd == c->tls_fd)
			c->hs_want_r = 0;
	}
	if ((what & EV_WRITE) != 0 && fd == c->tls_fd)
		c->hs_want_w = 0;
	if (c->connecting) {
		out_fd = c->g->conf->mode == KW_TUNNEL_CLIENT ? c->tls_fd :
		    c->plain_fd;
		if (fd != out_fd)
			goto pump;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (err == EINPROGRESS)
			return;
		if (err != 0) {
			conn_close(c, "cannot connect to %s: %s",
			    conn_target_text(c), strerror(err));
			return;
		}
		if (conn_connected(c))
			return;
	}
pump:
	(void)conn_pump(c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_conn *c = arg;
	const struct kw_tunnel_conf *tc = c->g->conf;
	uint64_t idle_ms, now;

	(void)fd;
	(void)what;
	if (c->in_worker && !hs_pool_cancel(c->pool, c)) {
		c->expired = 1;	/* closed when the worker hands it back */
		return;
	}
	if (c->connecting) {
		conn_close(c, "connecting to %s timed out after %u ms",
		    conn_target_text(c), tc->connect_timeout_ms);
		return;
	}
	if (!c->tls_ready) {
		conn_close(c, "TLS handshake timed out after %u ms",
		    tc->handshake_timeout_ms);
		return;
	}
	if (tc->idle_timeout_s == 0)
		return;
	idle_ms = (uint64_t)tc->idle_timeout_s * 1000;
	now = kw_now_ms();
	if (now - c->last_active_ms >= idle_ms) {
		kw_info("tunnel %s: connection from %s idle for %u s: closed",
		    c->t->name, c->peer, tc->idle_timeout_s);
		conn_free(c);
		return;
	}
	conn_set_timer(c, idle_ms - (now - c->last_active_ms));
}

static void
kw_peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "unix socket");
}

/* Server: a new connection from sa within max-pending-per-source?  1
 * with its source in *out (NULL for a Unix socket), the connection
 * already counted in it, else 0 (logged at most once a second). */
static int
tunnel_admit_source(struct kw_tunnel *t, const struct sockaddr *sa,
    struct kw_src **out)
{
	const struct kw_tunnel_conf *tc = t->gen->conf;
	struct kw_src *s;
	char peer[64];
	time_t now;
	int nomem;

	*out = NULL;
	if ((s = src_get(t, sa, &nomem)) == NULL)
		return !nomem;
	if (s->pending < tc->max_pending_per_source) {
		s->pending++;
		*out = s;
		return 1;
	}
	t->st.src_refused++;
	now = time(NULL);
	if (now != t->last_src_log) {
		t->last_src_log = now;
		kw_peer_text(sa, peer, sizeof(peer));
		tunnel_error(t, "%s has %u connections without a handshake "
		    "slot (max-pending-per-source): refusing more", peer,
		    tc->max_pending_per_source);
	}
	return 0;
}

/* A connection counted by tunnel_admit_source goes after all. */
static void
src_unadmit(struct kw_tunnel *t, struct kw_src *s)
{
	if (s == NULL)
		return;
	s->pending--;
	src_put(t, s);
}

/* Room for one more connection (max-connections)?  When full, the oldest
 * connection still sending its ClientHello makes room (a client sends it
 * at once; a flood does not); else 0.  Logged at most once a second.
 * The new connection is counted in its source already, so a drop cannot
 * free that. */
static int
tunnel_make_room(struct kw_tunnel *t)
{
	const struct kw_tunnel_conf *tc = t->gen->conf;
	struct kw_conn *old = t->hello_q.head;
	time_t now;

	if (t->st.conns_active < tc->max_conns)
		return 1;
	now = time(NULL);
	if (now != t->last_full_log) {
		t->last_full_log = now;
		tunnel_error(t, "%u connections open (max-connections): %s",
		    tc->max_conns, old != NULL ? "dropping the oldest that "
		    "sent no ClientHello yet" : "refusing new ones");
	}
	if (old == NULL)
		return 0;
	t->st.conns_failed++;
	conn_free(old);
	return 1;
}

static void
tunnel_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct kw_tunnel *t = arg;
	struct kw_tunnel_gen *g = t->gen;
	const struct kw_tunnel_conf *tc = g->conf;
	struct kw_conn *c;
	struct kw_src *src = NULL;
	int one = 1;

	(void)lis;
	(void)salen;
	if (tc->mode == KW_TUNNEL_SERVER && !tunnel_admit_source(t, sa, &src)) {
		close(fd);
		return;
	}
	if (!tunnel_make_room(t)) {
		src_unadmit(t, src);
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		src_unadmit(t, src);
		close(fd);
		return;
	}
	c->t = t;
	c->g = g;
	c->src = src;
	if (tc->mode == KW_TUNNEL_SERVER) {
		c->hs_state = KW_HS_HELLO;
		conn_q_add(&t->hello_q, c);
	}
	kw_tunnel_gen_ref(g);
	c->plain_fd = c->tls_fd = -1;
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	t->st.conns_active++;
	t->st.conns_total++;
	c->last_active_ms = kw_now_ms();
	kw_peer_text(sa, c->peer, sizeof(c->peer));
	if (sa->sa_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	c->ev_timer = evtimer_new(t->base, conn_timer_cb, c);
	if (c->ev_timer == NULL) {
		close(fd);
		conn_close(c, "out of memory");
		return;
	}
	if (tc->mode == KW_TUNNEL_CLIENT) {
		c->plain_fd = fd;
		c->plain_ready = 1;
		c->pr_rdy = 1;
		if (conn_events_for(c, fd, &c->ev_pr, &c->ev_pw) != KW_OK) {
			conn_close(c, "out of memory");
			return;
		}
		/* then read what the application sends meanwhile */
		if (conn_start_connect(c) == 0)
			(void)conn_pump(c);
		return;
	}
	c->tls_fd = fd;
	if (conn_events_for(c, fd, &c->ev_tr, &c->ev_tw) != KW_OK) {
		conn_close(c, "out of memory");
		return;
	}
	/* handshake-timeout from now, whatever the ClientHello, a slot or a
	 * thread keep it waiting for; no TLS state until the ClientHello */
	conn_set_timer(c, tc->handshake_timeout_ms);
	(void)conn_pump(c);
}

static void
tunnel_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_tunnel *t = arg;

	(void)fd;
	(void)what;
	if (t->lis != NULL)
		(void)evconnlistener_enable(t->lis);
}

static void
tunnel_accept_error_cb(struct evconnlistener *lis, void *arg)
{
	struct kw_tunnel *t = arg;
	struct timeval tv = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();

	tunnel_error(t, "accept on %s failed: %s; pausing 1 s",
	    t->gen->conf->listen.text, evutil_socket_error_to_string(e));
	(void)evconnlistener_disable(lis);
	(void)event_add(t->ev_resume, &tv);
}

static int
tunnel_listen(struct kw_tunnel *t)
{
	const struct kw_addr *a = &t->gen->conf->listen;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	    LEV_OPT_REUSEABLE;
	struct sockaddr_un sun;
	struct addrinfo hints, *res = NULL;
	struct stat st;
	int fd = -1, gai, r = KW_ERR_NETWORK;

	if (a->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a->path);
		/* a stale socket from an earlier run: replace it */
		if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(a->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sun,
		    sizeof(sun)) != 0 || chmod(a->path, 0660) != 0 ||
		    listen(fd, 1024) != 0) {
			kw_err("tunnel %s: cannot listen on %s: %s", t->name,
			    a->text, strerror(errno));
			if (fd >= 0)
				close(fd);
			return KW_ERR_NETWORK;
		}
		if ((t->unix_path = strdup(a->path)) == NULL) {
			close(fd);
			return KW_ERR_NOMEM;
		}
		t->lis = evconnlistener_new(t->base, tunnel_accept_cb, t,
		    flags, -1, fd);
		if (t->lis == NULL) {
			close(fd);
			return KW_ERR_NOMEM;
		}
		r = KW_OK;
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((gai = getaddrinfo(strcmp(a->host, "*") == 0 ? NULL : a->host,
	    a->port, &hints, &res)) != 0) {
		kw_err("tunnel %s: cannot resolve listen address %s: %s",
		    t->name, a->text, gai_strerror(gai));
		goto out;
	}
	t->lis = evconnlistener_new_bind(t->base, tunnel_accept_cb, t, flags,
	    1024, res->ai_addr, (int)res->ai_addrlen);
	if (t->lis == NULL) {
		kw_err("tunnel %s: cannot listen on %s: %s", t->name, a->text,
		    strerror(errno));
		goto out;
	}
	r = KW_OK;
out:
	if (res != NULL)
		freeaddrinfo(res);
	if (r == KW_OK)
		evconnlistener_set_error_cb(t->lis, tunnel_accept_error_cb);
	return r;
}

int
kw_tunnel_new(struct event_base *base, struct evdns_base *dns,
    struct kw_tunnel_gen *g, struct kw_tunnel **out)
{
	struct kw_tunnel *t;
	int r;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KW_ERR_NOMEM;
	t->base = base;
	t->dns = dns;
	t->gen = g;
	kw_tunnel_gen_ref(g);
	if ((t->name = strdup(g->conf->name)) == NULL ||
	    (t->ev_resume = evtimer_new(base, tunnel_resume_cb, t)) == NULL ||
	    (t->ev_slots = evtimer_new(base, tunnel_slots_cb, t)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (getrandom(&t->src_seed, sizeof(t->src_seed), 0) !=
	    (ssize_t)sizeof(t->src_seed))
		t->src_seed = (uint64_t)kw_now_ms() ^ (uint64_t)(uintptr_t)t;
	if (g->conf->handshake_threads > 0 && (r = hs_pool_new(base, t->name,
	    g->conf->handshake_threads, &t->pool)) != KW_OK)
		goto out;
	if ((r = tunnel_listen(t)) != KW_OK)
		goto out;
	kw_info("tunnel %s: %s %s -> %s", t->name,
	    g->conf->mode == KW_TUNNEL_CLIENT ? "client" : "server",
	    g->conf->listen.text, g->conf->target.text);
	*out = t;
	t = NULL;
out:
	kw_tunnel_free(t);
	return r;
}

/* handshake-threads changed by a reload: a new pool (or none) for the
 * steps to come; the old one's threads end their steps, which are taken
 * back as usual, and what was still queued goes to the new one. */
static void
tunnel_set_threads(struct kw_tunnel *t, unsigned n)
{
	struct kw_hs_pool *pool = NULL;
	struct kw_conn *todo, *done, *c, *next;

	if (n == (t->pool != NULL ? t->pool->nthreads : 0))
		return;
	if (n > 0 && hs_pool_new(t->base, t->name, n, &pool) != KW_OK) {
		kw_err("tunnel %s: keeping %zu handshake threads", t->name,
		    t->pool != NULL ? t->pool->nthreads : (size_t)0);
		return;
	}
	hs_pool_free(t->pool, &todo, &done);
	t->pool = pool;
	kw_info("tunnel %s: %u handshake threads", t->name, n);
	for (c = done; c != NULL; c = next) {
		next = c->hs_next;
		hs_pool_back(c);
	}
	for (c = todo; c != NULL; c = next) {
		next = c->hs_next;
		c->in_worker = 0;
		c->pool = NULL;
		if (c->free_pending)
			conn_free(c);
		else if (c->expired)
			conn_close(c, "TLS handshake timed out after %u ms",
			    c->g->conf->handshake_timeout_ms);
		else
			(void)conn_pump(c);
	}
}

void
kw_tunnel_set_gen(struct kw_tunnel *t, struct kw_tunnel_gen *g)
{
	kw_tunnel_gen_ref(g);
	kw_tunnel_gen_unref(t->gen);
	t->gen = g;
	t->st.reloads++;
	tunnel_set_threads(t, g->conf->handshake_threads);
}

struct kw_tunnel_gen *
kw_tunnel_gen(const struct kw_tunnel *t)
{
	return t->gen;
}

const char *
kw_tunnel_name(const struct kw_tunnel *t)
{
	return t->name;
}

void
kw_tunnel_stop_listening(struct kw_tunnel *t)
{
	if (t->lis != NULL) {
		evconnlistener_free(t->lis);
		t->lis = NULL;
	}
	if (t->unix_path != NULL) {
		(void)unlink(t->unix_path);
		free(t->unix_path);
		t->unix_path = NULL;
	}
}

uint64_t
kw_tunnel_active(const struct kw_tunnel *t)
{
	return t->st.conns_active;
}

void
kw_tunnel_stats(const struct kw_tunnel *t, struct kw_tunnel_stats *st)
{
	*st = t->st;
}

void
kw_tunnel_free(struct kw_tunnel *t)
{
	if (t == NULL)
		return;
	hs_pool_free(t->pool, NULL, NULL);
	t->pool = NULL;
	while (t->conns != NULL)
		conn_free(t->conns);
	kw_tunnel_stop_listening(t);
	if (t->ev_resume != NULL)
		event_free(t->ev_resume);
	if (t->ev_slots != NULL)
		event_free(t->ev_slots);
	kw_tunnel_gen_unref(t->gen);
	free(t->name);
	free(t);
}
