/* The relay phase of a tunnel connection: once the handshake (and any
 * posture exchange) is done, bytes both ways through two buffers, and
 * the half-closes passed on (plaintext EOF as close_notify, TLS EOF as
 * FIN).  wolfSSL is driven non-blocking: a wolfSSL_write that returned
 * WANT_WRITE is retried with the same bytes. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>

#include <event2/util.h>

#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_tls.h"
#include "agent/tunnel/tunnel_core.h"
#include "agent/tunnel/tunnel_int.h"

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

/* Each step below makes what progress it can and notes in p what it
 * waits for; one returning 1 has closed c. */

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
void
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

/* The relay's steps, in order.  Returns 1 when c was closed. */
int
pump_relay(struct kw_conn *c, struct kw_pump *p)
{
	if (pump_plain_in(c, p) || pump_tls_out(c, p))
		return 1;
	pump_notify(c, p);
	if (pump_tls_in(c, p) || pump_plain_out(c, p))
		return 1;
	pump_fin(c, p);
	return 0;
}
