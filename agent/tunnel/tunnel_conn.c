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
#include "agent/tunnel/tunnel_posture.h"

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
		(void)conn_pump(c);
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

/* Each step below makes what progress it can and notes in p what it
 * waits for; one returning 1 has closed c. */

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

	if (!c->tls_ready || c->posture != NULL || c->up_len == 0)
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

	if (!c->tls_ready || c->posture != NULL || !c->plain_eof ||
	    c->up_len > 0 || c->notify_sent)
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

	if (!c->tls_ready || c->posture != NULL || c->tls_eof)
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
	if (!c->sess_given)	/* a ticket may have come with the data */
		conn_give_session(c, 0);
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
int
conn_pump(struct kw_conn *c)
{
	struct kw_pump p;

	do {
		memset(&p, 0, sizeof(p));
		if (pump_handshake(c, &p) || pump_posture(c, &p) ||
		    pump_plain_in(c, &p) || pump_tls_out(c, &p))
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
			c->last_active_ms = tunnel_now_ms();
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

void
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
	if (c->posture != NULL) {
		conn_posture_expired(c);
		return;
	}
	if (c->trim_pending) {
		c->trim_pending = 0;
		kw_tls_ssl_trim(c->ssl);
	}
	if (tc->idle_timeout_s == 0)
		return;
	idle_ms = (uint64_t)tc->idle_timeout_s * 1000;
	now = tunnel_now_ms();
	if (now - c->last_active_ms >= idle_ms) {
		kw_info("tunnel %s: connection from %s idle for %u s: closed",
		    c->t->name, c->peer, tc->idle_timeout_s);
		conn_free(c);
		return;
	}
	conn_set_timer(c, idle_ms - (now - c->last_active_ms));
}
