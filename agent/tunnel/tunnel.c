/* Tunnels: the listener, accepting connections, generations swapped on
 * reload, counters (see tunnel.h).  A connection's life is below: the
 * pump (tunnel_conn.c) and the handshake threads (tunnel_pool.c) drive
 * it through its phases (tunnel_admit.c, tunnel_hs.c,
 * tunnel_posture_conn.c, tunnel_relay.c), all on tunnel_core.c (see
 * tunnel_int.h). */
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
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_hello.h"
#include "agent/tunnel/tunnel_core.h"
#include "agent/tunnel/tunnel_int.h"
#include "agent/tunnel/tunnel_posture.h"

static void
tunnel_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kw_tunnel *t = arg;

	(void)fd;
	(void)what;
	t->peak = t->st.conns_active;
	t->trim_more = t->peak > 0;	/* and again when none is left */
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
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
	if (++t->st.conns_active > t->peak)
		t->peak = t->st.conns_active;
	t->st.conns_total++;
	c->last_active_ms = (uint64_t)kw_now_ms();
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

	if (t->gen->conf->reuse_port && !a->is_unix)
		flags |= LEV_OPT_REUSEABLE_PORT;
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

/* Threads for a tunnel: handshake-threads, and at least one for the
 * posture exchange's TPM and verifier work, never made in the loop. */
static unsigned
tunnel_threads(const struct kw_tunnel_conf *tc)
{
	if (tc->handshake_threads == KW_HS_AUTO)
		return KW_HS_AUTO_THREADS;
	if (tc->handshake_threads == 0 && (tc->ak != NULL ||
	    tc->require_posture != NULL))
		return 1;
	return tc->handshake_threads;
}

/* Where handshake steps are made: in the loop (handshake-threads = 0),
 * on the pool, or by the key's speed (auto). */
static void
tunnel_hs_mode(struct kw_tunnel *t, const struct kw_tunnel_conf *tc)
{
	t->hs_inline = tc->handshake_threads == 0;
	t->hs_auto = tc->handshake_threads == KW_HS_AUTO;
	t->hs_slow = 1;
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
	t->pump = conn_pump;
	t->gen = g;
	kw_tunnel_gen_ref(g);
	if ((t->name = strdup(g->conf->name)) == NULL ||
	    (t->ev_resume = evtimer_new(base, tunnel_resume_cb, t)) == NULL ||
	    (t->ev_slots = evtimer_new(base, tunnel_slots_cb, t)) == NULL ||
	    (t->ev_trim = evtimer_new(base, tunnel_trim_cb, t)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if (getrandom(&t->src_seed, sizeof(t->src_seed), 0) !=
	    (ssize_t)sizeof(t->src_seed))
		t->src_seed = (uint64_t)kw_now_ms() ^ (uint64_t)(uintptr_t)t;
	tunnel_hs_mode(t, g->conf);
	if (tunnel_threads(g->conf) > 0 && (r = hs_pool_new(base, t->name,
	    tunnel_threads(g->conf), &t->pool)) != KW_OK)
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
	if (t->posture != NULL)
		kw_posture_srv_new_policy(t->posture);
	tunnel_hs_mode(t, g->conf);
	tunnel_set_threads(t, tunnel_threads(g->conf));
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
	kw_posture_srv_free(t->posture);
	if (t->ev_resume != NULL)
		event_free(t->ev_resume);
	if (t->ev_slots != NULL)
		event_free(t->ev_slots);
	if (t->ev_trim != NULL)
		event_free(t->ev_trim);
	kw_tunnel_gen_unref(t->gen);
	free(t->name);
	free(t);
}
