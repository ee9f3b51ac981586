/* The posture exchange's steps on a connection (tunnel_posture.h):
 * started when the handshake is done (conn_posture_client/_server,
 * tunnel_core.c), driven by conn_pump before any relaying, its TPM and
 * verifier steps handed to a handshake thread like a signing step. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <event2/event.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_core.h"
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
