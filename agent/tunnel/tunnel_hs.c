/* The TLS handshake of a tunnel connection: one wolfSSL_connect/accept
 * step at a time, in the loop or on a handshake thread, its signatures
 * counted, the peer's certificate checked (allow-list), and what the
 * result means for the connection (also the client's way around a
 * target that refuses ALPN keyward-posture/1). */
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
#include "agent/tunnel/tunnel_core.h"
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

/* One wolfSSL_connect/accept call under the key's lock, its signatures
 * noted in c->hs (counted for the tunnel by the loop thread). */
void
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
	if (c->hs.on_thread)
		c->hs_threaded = 1;
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
	if (c->hs_threaded)
		c->t->st.hs_threaded++;
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

/* Client: did the server end the handshake with no_application_protocol? */
static int
conn_alpn_refused(WOLFSSL *ssl)
{
	WOLFSSL_ALERT_HISTORY h;

	return wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS &&
	    h.last_rx.level == alert_fatal &&
	    h.last_rx.code == no_application_protocol;
}

/* What the last handshake step came to (loop thread).  Returns 1 when
 * the connection was closed. */
int
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
	if ((r == KW_ERR_TOKEN_ABSENT || r == KW_ERR_BUSY) &&
	    kw_key_failure_said(kw_tls_ctx_key(c->g->tls))) {
		/* said once for the key (kw_key.c): the token's outage by
		 * its backend, the refusals by the signer's sign-rate */
		if (r == KW_ERR_BUSY)
			c->t->st.refused++;	/* as before it was said once */
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

/* handshake-threads = auto: is the key slow enough that the loop should
 * not wait for its signatures?  Unmeasured counts as slow (a hardware
 * token's first signature must not hold up every connection either);
 * between the two marks the last answer stands, so that one signature
 * delayed by a busy CPU does not flip it. */
static int
conn_key_slow(struct kw_conn *c)
{
	struct kw_tunnel *t = c->t;
	uint64_t us = kw_key_recent_sign_usec(c->g->key);

	if (us == 0 || us >= KW_HS_SLOW_USEC)
		t->hs_slow = 1;
	else if (us < KW_HS_FAST_USEC)
		t->hs_slow = 0;
	return t->hs_slow;
}

/* One handshake step in the loop, or to a worker.  Returns 1 when c was
 * closed. */
static int
conn_handshake(struct kw_conn *c)
{
	if (c->t->pool != NULL && !c->t->hs_inline &&
	    (!c->t->hs_auto || conn_key_slow(c))) {
		c->hs.on_thread = 1;
		hs_pool_submit(c->t->pool, c);
		return 0;
	}
	c->hs.on_thread = 0;
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
