/* The tunnel connection's core, below the phases (tunnel_admit.c,
 * tunnel_hs.c, tunnel_posture_conn.c, tunnel_relay.c) and the pump that
 * drives them (tunnel_conn.c): a connection's life and state
 * transitions that the phases call, never the other way round.  Its
 * events and timers, close and free, the outbound connect and DNS, the
 * turn to the posture exchange or to relaying, the client's session
 * pool, the bookkeeping of handshake slots and sources, and the queue of
 * the handshake threads.  Socket events come back to the pump through
 * t->pump (tunnel_conn.c's conn_pump), the one call up. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
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
#include "agent/tunnel/tunnel_core.h"
#include "agent/tunnel/tunnel_int.h"
#include "agent/tunnel/tunnel_posture.h"

/* ---- the tunnel's basics ---- */


/* Log a per-connection problem and remember it as the tunnel's last. */
void
tunnel_error(struct kw_tunnel *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->st.last_error, sizeof(t->st.last_error), fmt, ap);
	va_end(ap);
	t->st.last_error_time = time(NULL);
	kw_warn("tunnel %s: %s", t->name, t->st.last_error);
}

void
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

/* After a burst: each time the connections open fell to half their peak
 * (of at least KW_TRIM_PEAK), and once more when the last is gone, the
 * heap's free pages go back to the kernel a second later (malloc_trim),
 * so that RSS follows the connections down instead of staying at the
 * peak. */
#define KW_TRIM_PEAK	256

void
tunnel_conn_gone(struct kw_tunnel *t)
{
	struct timeval tv = { 1, 0 };
	uint64_t n = t->st.conns_active;

	if (t->ev_trim == NULL || evtimer_pending(t->ev_trim, NULL))
		return;
	if ((t->peak >= KW_TRIM_PEAK && n <= t->peak / 2) ||
	    (n == 0 && t->trim_more))
		(void)evtimer_add(t->ev_trim, &tv);
}

/* ---- events, timers, close and free ---- */

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

void
conn_apply_events(struct kw_conn *c, int pr, int pw, int tr, int tw)
{
	c->on_pr = conn_ev(c->ev_pr, pr, c->on_pr);
	c->on_pw = conn_ev(c->ev_pw, pw, c->on_pw);
	c->on_tr = conn_ev(c->ev_tr, tr, c->on_tr);
	c->on_tw = conn_ev(c->ev_tw, tw, c->on_tw);
}

void
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

/* A relaying connection's timer: its idle timeout, but first the trim
 * (conn_relay_start) when that comes sooner. */
static void
conn_arm_idle(struct kw_conn *c)
{
	uint64_t idle_ms = (uint64_t)c->g->conf->idle_timeout_s * 1000;

	if (c->trim_pending && (idle_ms == 0 || idle_ms > KW_TRIM_MS))
		conn_set_timer(c, KW_TRIM_MS);
	else
		conn_set_timer(c, idle_ms);
}

void
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
		conn_give_session(c, 1);
		kw_tls_ssl_free(c->g->tls, c->ssl);
	}
	if (c->sess != NULL)
		wolfSSL_SESSION_free(c->sess);
	kw_posture_conn_free(c->posture);
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
	tunnel_conn_gone(t);
	kw_tunnel_gen_unref(c->g);
	free(c);
}

/* Close with a reason (NULL: a clean end). */
void
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

int
conn_events_for(struct kw_conn *c, int fd, struct event **r,
    struct event **w)
{
	*r = event_new(c->t->base, fd, EV_READ | EV_PERSIST, conn_cb, c);
	*w = event_new(c->t->base, fd, EV_WRITE | EV_PERSIST, conn_cb, c);
	return *r != NULL && *w != NULL ? KW_OK : KW_ERR_NOMEM;
}

const char *
conn_target_text(const struct kw_conn *c)
{
	return c->g->conf->target.text;
}

/* ---- connect, DNS and the turns to posture or relay ---- */

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
		if (kw_tunnel_gen_posture_alpn(c->g, c->ssl) != KW_OK) {
			conn_close(c, "cannot offer ALPN %s", KW_POSTURE_ALPN);
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
		conn_arm_idle(c);
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
		(void)c->t->pump(c);
}

/* The handshake is done and the peer accepted: from here on the
 * connection carries data.  What only the handshake needed goes back to
 * the allocator first, and a connection still open KW_TRIM_MS later gives
 * its zero pages back to the kernel too (an idle connection keeps little
 * more than its record layer; a short one is not worth the page faults).
 * Then the client relays, the server connects to its target.  Returns 1
 * when c was closed. */
int
conn_relay_start(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;

	kw_tls_ssl_settle(c->ssl);
	c->trim_pending = 1;
	if (c->sess != NULL) {	/* offered, and the handshake is over */
		wolfSSL_SESSION_free(c->sess);
		c->sess = NULL;
	}
	if (tc->mode == KW_TUNNEL_CLIENT && tc->resume) {
		/* the ticket it resumed with is not a new one */
		c->ticket_id = wolfSSL_session_reused(c->ssl) ?
		    conn_ticket_id(c->ssl) : 0;
		conn_give_session(c, 0);
	}
	if (tc->mode == KW_TUNNEL_SERVER)
		return conn_start_connect(c);
	c->relaying = 1;
	conn_arm_idle(c);
	return 0;
}

/* Returns 1 when c was closed. */
int
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
	(void)c->t->pump(c);
}

/* Client with an AK: the handshake is done; answer posture if the server
 * selected it, else relay.  Returns 1 when c was closed. */
int
conn_posture_client(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	struct kw_posture_client_in in;
	int r;

	memset(&in, 0, sizeof(in));
	in.ak_ref = tc->ak;
	in.event_log = tc->event_log;
	in.tcti = c->g->posture_tcti;
	in.tls_key_ref = c->g->key_ref;
	in.auth_file = c->g->posture_auth_file;
	in.tls_key = c->g->key;
	if ((r = kw_posture_client_start(c->g->posture_ops, &in, c->ssl,
	    &c->posture)) != KW_OK) {
		conn_close(c, "cannot start the posture exchange: %s",
		    kw_strerror(r));
		return 1;
	}
	if (c->posture != NULL)
		return 0;	/* the handshake timer still runs */
	return conn_relay_start(c);
}

/* Server with require-posture: the handshake is done; ask for posture
 * (or refuse a client that offered none).  Returns 1 when c was closed. */
int
conn_posture_server(struct kw_conn *c)
{
	struct kw_tunnel *t = c->t;
	int r;

	if (t->posture == NULL && (r = kw_posture_srv_new(c->g->posture_ops,
	    &t->posture)) != KW_OK) {
		conn_close(c, "cannot keep posture verdicts: %s",
		    kw_strerror(r));
		return 1;
	}
	r = kw_posture_server_start(t->posture, c->g->posture_pol,
	    c->g->posture_recheck, c->ssl, c->hs.who, &c->posture);
	if (r == KW_ERR_PERM) {
		t->st.posture_refused[KW_PR_NO_POSTURE]++;
		t->st.refused++;
		conn_close(c, "client %s offered no posture (%s)",
		    c->hs.who[0] ? c->hs.who : "(no names)", KW_POSTURE_ALPN);
		return 1;
	}
	if (r != KW_OK) {
		t->st.posture_refused[KW_PR_ERROR]++;
		conn_close(c, "cannot start the posture exchange: %s",
		    kw_strerror(r));
		return 1;
	}
	return 0;
}

/* Client: the same connection again from the TCP connect on (its
 * plaintext side and what it buffered stay).  Returns 1 when c was
 * closed. */
int
conn_reconnect(struct kw_conn *c)
{
	c->on_tr = c->on_tw = 0;
	if (c->ev_tr != NULL)
		event_free(c->ev_tr);
	if (c->ev_tw != NULL)
		event_free(c->ev_tw);
	c->ev_tr = c->ev_tw = NULL;
	kw_tls_ssl_free(c->g->tls, c->ssl);
	c->ssl = NULL;
	if (c->sess != NULL) {
		wolfSSL_SESSION_free(c->sess);
		c->sess = NULL;
	}
	close(c->tls_fd);
	c->tls_fd = -1;
	c->hs_want_r = c->hs_want_w = 0;
	c->tr_rdy = 0;
	memset(&c->hs, 0, sizeof(c->hs));
	return conn_start_connect(c);
}

/* ---- the client's session pool ---- */

/* Which session ticket ssl holds now: a hash of its bytes (0: none). */
uint64_t
conn_ticket_id(WOLFSSL *ssl)
{
	unsigned char small[2048], *buf = small, *big = NULL;
	word32 len = sizeof(small), i;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (!wolfSSL_SESSION_has_ticket(wolfSSL_get_session(ssl)))
		return 0;
	if (wolfSSL_get_SessionTicket(ssl, buf, &len) != WOLFSSL_SUCCESS)
		return 1;
	if (len == 0) {
		/* a ticket longer than most: up to the protocol's limit */
		if ((big = malloc(65535)) == NULL)
			return 1;
		buf = big;
		len = 65535;
		if (wolfSSL_get_SessionTicket(ssl, buf, &len) !=
		    WOLFSSL_SUCCESS)
			len = 0;
	}
	for (i = 0; i < len; i++) {
		h ^= buf[i];
		h *= 0x100000001b3ULL;
	}
	free(big);
	return h != 0 ? h : 1;
}

/* Client: the session goes to the pool for the next connection as soon
 * as it can be resumed, so that connections opened while this one lasts
 * resume too (a TLS 1.3 one once a ticket it did not offer arrives, TLS
 * 1.2 at the handshake), else when it closes; and, closing, once more if
 * a newer ticket came since.  The pool holds a reference to the session
 * this connection goes on using (a newer ticket lands in it); a connection
 * that takes it makes its own copy (wolfSSL_set_session), and takes it
 * alone, so each TLS 1.3 ticket is offered once (RFC 8446, C.4).  The
 * loop thread only. */
void
conn_give_session(struct kw_conn *c, int closing)
{
	struct kw_tunnel_gen *g = c->g;
	WOLFSSL_SESSION *s;
	uint64_t id = 0;
	size_t i;

	if (g->conf->mode != KW_TUNNEL_CLIENT || !g->conf->resume ||
	    c->ssl == NULL || !c->tls_ready)
		return;
	if (!closing && g->nsessions >= KW_SESSION_POOL)
		return;		/* early only into a pool with room */
	if (wolfSSL_version(c->ssl) == TLS1_3_VERSION) {
		if ((id = conn_ticket_id(c->ssl)) == 0 || id == c->ticket_id)
			return;
	} else if (c->sess_given)
		return;
	if ((s = wolfSSL_get1_session(c->ssl)) == NULL)
		return;
	c->ticket_id = id;
	c->sess_given = 1;
	for (i = 0; i < g->nsessions; i++)
		if (g->sessions[i] == s) {
			/* given early and not taken: it has the newer ticket */
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

/* ---- the handshake threads' queue ---- */

/* Last in the queue: first come, first served. */
void
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
int
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

/* ---- sources, queues and handshake slots (server tunnels) ---- */

size_t
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

/* Forget a source with no connection counted. */
void
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
void
tunnel_kick_slots(struct kw_tunnel *t)
{
	if (t->ev_slots != NULL)
		event_active(t->ev_slots, EV_TIMEOUT, 0);
}

void
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

void
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

void
conn_wait_unlink(struct kw_conn *c)
{
	conn_q_del(&c->t->wait_q, c);
	c->t->st.hs_waiting--;
}

/* The signing step is made (or c closes): the key's slot goes back. */
void
conn_key_slot_release(struct kw_conn *c)
{
	if (!c->key_slot)
		return;
	c->key_slot = 0;
	(*kw_tunnel_gen_key_slots(c->g))--;
	tunnel_kick_slots(c->t);
}

/* The handshake is over (done, or c closes): its slot goes back. */
void
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
void
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
