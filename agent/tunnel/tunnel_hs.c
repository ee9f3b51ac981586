/* The TLS handshake of a tunnel connection: one wolfSSL_connect/accept
 * step at a time, in the loop or on a handshake thread, its signatures
 * counted, the peer's certificate checked (allow-list), and what the
 * result means for the connection. */
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

/* Our verify callback for server tunnels: the CA check (CRL soft-fail as
 * configured) and, on the client's own certificate, the allow-list, so a
 * refused client never completes the handshake (nor gets a ticket). */
int
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

/* One wolfSSL_connect/accept call under the key's lock, its signatures
 * noted in c->hs (counted for the tunnel by the loop thread). */
static void
conn_hs_step(struct kw_conn *c)
{
	struct kw_key *key = c->g->key;
	uint64_t n0, f0, u0;
	char who[128];

	/* for the signer's audit log */
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

/* The handshake succeeded: the peer is checked and counted, and the
 * connection goes on to carry data.  Returns 1 when c was closed. */
static int
conn_hs_done(struct kw_conn *c)
{
	const struct kw_tunnel_conf *tc = c->g->conf;
	int r;

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
	    wolfSSL_get_version(c->ssl), wolfSSL_get_cipher_name(c->ssl),
	    wolfSSL_session_reused(c->ssl) ? " (resumed)" : "",
	    tc->mode == KW_TUNNEL_CLIENT ? conn_target_text(c) : c->peer,
	    c->hs.who[0] ? ": " : "", c->hs.who);
	if (tc->mode == KW_TUNNEL_SERVER)
		conn_slot_release(c);	/* the client proved its certificate */
	/* Between "handshake done" and "relay starts": the posture exchange
	 * (tunnel_posture_conn.c) needs the TLS channel (its exporter binds
	 * the evidence to this session), so it runs before conn_relay_start
	 * lets wolfSSL give back the handshake's state; its "ok" calls
	 * conn_relay_start. */
	if (tc->mode == KW_TUNNEL_CLIENT && tc->ak != NULL)
		return conn_posture_client(c);
	if (tc->mode == KW_TUNNEL_SERVER && c->g->posture_pol != NULL)
		return conn_posture_server(c);
	return conn_relay_start(c);
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
	if (w == WOLFSSL_SUCCESS)
		return conn_hs_done(c);
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
	if (tc->mode == KW_TUNNEL_CLIENT && tc->ak != NULL &&
	    !c->g->posture_alpn_off && conn_alpn_refused(c->ssl)) {
		/* a server with a strict ALPN list (nginx's http) does not
		 * know keyward-posture/1: this target gets none from now on */
		c->g->posture_alpn_off = 1;
		kw_warn("tunnel %s: server %s refuses ALPN keyward-posture/1 "
		    "(alert no_application_protocol): not offering it there "
		    "again", c->t->name, conn_target_text(c));
		return conn_reconnect(c);
	}
	r = kw_tls_explain(c->g->tls, c->ssl, w, tc->mode == KW_TUNNEL_CLIENT ?
	    conn_target_text(c) : c->peer);
	if (r == KW_ERR_TOKEN_ABSENT &&
	    kw_key_failure_said(kw_tls_ctx_key(c->g->tls))) {
		/* the key's backend reported the token's outage */
		c->t->st.conns_failed++;
		snprintf(c->t->st.last_error, sizeof(c->t->st.last_error),
		    "connection from %s closed: TLS handshake failed: %s",
		    c->peer, kw_strerror(r));
		c->t->st.last_error_time = time(NULL);
		kw_debug("tunnel %s: connection from %s closed: TLS handshake "
		    "failed: %s", c->t->name, c->peer, kw_strerror(r));
		conn_free(c);
		return 1;
	}
	if (r != KW_ERR_NETWORK && r != KW_ERR_TIMEOUT)
		c->t->st.refused++;	/* peer, version, suite: refused */
	conn_close(c, "TLS handshake failed: %s", kw_strerror(r));
	return 1;
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
		if (c->job == KW_JOB_POSTURE)
			conn_posture_work(c);
		else
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
void
hs_pool_back(struct kw_conn *c)
{
	c->in_worker = 0;
	c->pool = NULL;
	if (c->free_pending)
		conn_free(c);
	else if (c->job == KW_JOB_POSTURE) {
		c->job = KW_JOB_HANDSHAKE;
		if (c->expired)
			conn_posture_expired(c);
		else
			(void)conn_pump(c);
	} else if (conn_hs_result(c) == 0)
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

/* Stops the threads (each ends the step it is making: one signature at
 * most).  The connections still queued (*todo) and those whose step was
 * made (*done) are handed back, oldest first; with NULL for both, they
 * are only let go (those closed meanwhile freed). */
void
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

int
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
	if (c->t->pool != NULL && !c->t->hs_inline) {
		hs_pool_submit(c->t->pool, c);
		return 0;
	}
	conn_hs_step(c);
	return conn_hs_result(c);
}

/* The TLS handshake, while it is not done. */
int
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
	if (c->connecting)	/* connecting again (conn_reconnect) */
		p->tw = 1;
	else if (c->tls_ready)
		p->progress = 1;
	else if (!c->in_worker) {
		p->tr |= c->hs_want_r;
		p->tw |= c->hs_want_w;
	}
	return 0;
}
