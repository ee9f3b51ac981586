/* The pump: what drives a tunnel connection through its phases, above
 * them (see tunnel_int.h).  Each connection has a plaintext side
 * (plain_fd) and a TLS side (tls_fd + ssl).  A client tunnel accepts the
 * plaintext side and connects the TLS side; a server tunnel accepts the
 * TLS side and, once the client is admitted, connects the plaintext
 * side.  conn_pump() makes every step it can (ClientHello, handshake,
 * posture, relay: read, write, half-close) and then enables exactly the
 * events the blocked steps wait for: a full buffer means its source side
 * is not read (backpressure).  The timers of a connection and the
 * handing out of handshake slots (tunnel_slots_cb) start here too; the
 * phases call down to tunnel_core.c, never up to the pump. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <event2/event.h>
#include <event2/util.h>

#include <stdint.h>
#include <string.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_core.h"
#include "agent/tunnel/tunnel_int.h"

/* Every step that can move, in order, until none does; then exactly the
 * events the blocked ones wait for.  Returns 1 when c was closed. */
int
conn_pump(struct kw_conn *c)
{
	struct kw_pump p;

	do {
		memset(&p, 0, sizeof(p));
		if ((c->hs_state == KW_HS_HELLO ? pump_hello(c, &p) :
		    pump_handshake(c, &p)) || pump_posture(c, &p) ||
		    pump_relay(c, &p))
			return 1;
		if (c->plain_shut && c->notify_sent) {
			conn_close(c, NULL);
			return 1;
		}
		if (p.progress)
			c->last_active_ms = (uint64_t)kw_now_ms();
	} while (p.progress);
	pump_release_buffers(c);
	conn_apply_events(c, p.pr, p.pw, p.tr, p.tw);
	return 0;
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
	now = (uint64_t)kw_now_ms();
	if (now - c->last_active_ms >= idle_ms) {
		kw_info("tunnel %s: connection from %s idle for %u s: closed",
		    c->t->name, c->peer, tc->idle_timeout_s);
		conn_free(c);
		return;
	}
	conn_set_timer(c, idle_ms - (now - c->last_active_ms));
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
	if (kw_tunnel_gen_posture_alpn(c->g, c->ssl) != KW_OK) {
		conn_close(c, "cannot accept ALPN keyward-posture/1");
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
void
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
