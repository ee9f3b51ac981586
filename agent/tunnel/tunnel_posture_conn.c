/* The posture exchange's hooks into a connection (tunnel_posture.h):
 * started when the handshake is done, driven by conn_pump before any
 * relaying, its TPM and verifier steps handed to a handshake thread like
 * a signing step.  Also the client's way around a target that refuses
 * ALPN keyward-posture/1. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <event2/event.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_int.h"
#include "agent/tunnel/tunnel_posture.h"

/* The exchange's TPM or verifier step (a handshake thread, or the
 * loop): on the client under the key's lock, as the AK and the TLS key
 * share the TPM (and its connection). */
void
conn_posture_work(struct kw_conn *c)
{
	int client = c->g->conf->mode == KW_TUNNEL_CLIENT;

	if (client)
		kw_tunnel_gen_key_lock(c->g);
	kw_posture_conn_work(c->posture);
	if (client)
		kw_tunnel_gen_key_unlock(c->g);
}

/* The exchange is over: count it, remember the verdict (server), put
 * the reason in why and drop the exchange's state. */
static void
conn_posture_end(struct kw_conn *c, int ok, char *why, size_t len)
{
	struct kw_tunnel_stats *st = &c->t->st;
	enum kw_posture_reason pr;
	const char *reason;
	unsigned cmds;
	uint64_t usec;

	kw_posture_conn_cost(c->posture, &cmds, &usec);
	st->posture_tpm_cmds += cmds;
	st->posture_usec += usec;
	if (usec > 0)
		st->posture_answers++;
	pr = kw_posture_conn_why(c->posture, &reason);
	snprintf(why, len, "%s (%s)", reason, kw_posture_reason_name(pr));
	if (c->g->conf->mode == KW_TUNNEL_SERVER) {
		kw_posture_conn_record(c->posture);
		if (ok && kw_posture_conn_cached(c->posture))
			st->posture_cached++;
		else if (ok)
			st->posture_ok++;
		else {
			st->posture_refused[pr]++;
			st->refused++;
		}
	}
	kw_posture_conn_free(c->posture);
	c->posture = NULL;
}

static void
conn_posture_fail(struct kw_conn *c)
{
	char why[256];

	conn_posture_end(c, 0, why, sizeof(why));
	if (c->g->conf->mode == KW_TUNNEL_SERVER)
		conn_close(c, "client %s: posture refused: %s",
		    c->hs.who[0] ? c->hs.who : "(no names)", why);
	else
		conn_close(c, "posture exchange with %s failed: %s",
		    conn_target_text(c), why);
}

void
conn_posture_expired(struct kw_conn *c)
{
	kw_posture_conn_timeout(c->posture);
	conn_posture_fail(c);
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

/* The exchange, while it is there: nothing is relayed before its "ok";
 * the server connects to its target only then. */
int
pump_posture(struct kw_conn *c, struct kw_pump *p)
{
	char why[256];
	int wr, ww;

	while (c->posture != NULL && !c->in_worker) {
		switch (kw_posture_conn_pump(c->posture, c->ssl, &wr, &ww)) {
		case KW_PC_WAIT:
			if (wr && wolfSSL_pending(c->ssl) == 0)
				c->tr_rdy = 0;
			p->tr |= wr;
			p->tw |= ww;
			return 0;
		case KW_PC_WORK:
			if (c->t->pool != NULL) {
				c->job = KW_JOB_POSTURE;
				hs_pool_submit(c->t->pool, c);
				return 0;
			}
			conn_posture_work(c);
			break;
		case KW_PC_OK:
			conn_posture_end(c, 1, why, sizeof(why));
			p->progress = 1;
			return conn_relay_start(c);
		case KW_PC_FAIL:
		default:
			conn_posture_fail(c);
			return 1;
		}
	}
	return 0;
}

size_t
kw_tunnel_posture_seen(const struct kw_tunnel *t,
    struct kw_posture_seen *out, size_t max)
{
	return kw_posture_srv_seen(t->posture, out, max);
}

/* Client: did the server end the handshake with no_application_protocol? */
int
conn_alpn_refused(WOLFSSL *ssl)
{
	WOLFSSL_ALERT_HISTORY h;

	return wolfSSL_get_alert_history(ssl, &h) == WOLFSSL_SUCCESS &&
	    h.last_rx.level == alert_fatal &&
	    h.last_rx.code == no_application_protocol;
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
