/* Admission of a server tunnel's connections: per-source counts
 * (max-pending-per-source), max-connections and the ClientHello read
 * before any TLS state; then the connection waits for a handshake slot,
 * handed out by the pump (tunnel_conn.c, tunnel_slots_cb), its
 * bookkeeping in tunnel_core.c. */
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

/* ---- the ClientHello, before any TLS state (server tunnels) ---- */

/* wolfSSL's receive for server connections: the ClientHello we read
 * first, then the socket. */
int
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
int
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

/* Server: a new connection from sa within max-pending-per-source?  1
 * with its source in *out (NULL for a Unix socket), the connection
 * already counted in it, else 0 (logged at most once a second). */
int
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
void
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
int
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
