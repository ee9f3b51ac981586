/* Internals shared by the tunnel room's files (the list of them and
 * who calls whom is below the structs) and tunnel_gen.c (generations:
 * settings + TLS context + key).  Include wolfSSL's options.h and ssl.h
 * before this header. */
#ifndef KW_TUNNEL_INT_H
#define KW_TUNNEL_INT_H

#include <sys/socket.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <event2/util.h>

#include "kw_key.h"
#include "kw_tls.h"
#include "agent/conf/config.h"
#include "agent/tunnel/tunnel.h"

struct kw_keyent;

#define KW_SESSION_POOL	64

struct kw_tunnel_gen {
	unsigned refs;
	struct kw_tunnel_conf *conf;
	char *key_ref;
	char *cert_file;
	struct kw_keyent *kent;
	struct kw_key *key;
	struct kw_tls_ctx *tls;
	time_t not_after;
	/* client: resumable sessions with the target, each used by one
	 * connection at a time (wolfSSL writes to the session object of a
	 * connection in progress); newest last */
	WOLFSSL_SESSION *sessions[KW_SESSION_POOL];
	size_t nsessions;
	/* numeric target, resolved once (else evdns per connection) */
	int target_resolved;
	struct sockaddr_storage target_sa;
	socklen_t target_salen;
	/* posture (tunnel_posture.h): server, the require-posture policy
	 * (NULL: none) and its recheck; client, the TPM's TCTI for the AK */
	const struct kw_posture_ops *posture_ops;
	void *posture_pol;
	unsigned posture_recheck;
	char *posture_tcti;
	char *posture_auth_file;	/* client: the key's auth value file */
	int posture_alpn_off;		/* client: the target refused it */
};

/* Allow-list check of a client certificate (server tunnels).  KW_OK or
 * KW_ERR_PERM; who describes the certificate ("CN=..., SAN ...") either
 * way. */
int kw_tunnel_gen_admit(const struct kw_tunnel_gen *g, WOLFSSL_X509 *x,
    char *who, size_t wholen);

void kw_tunnel_gen_ref(struct kw_tunnel_gen *g);
/* Held around each handshake step, so that the signatures a step makes
 * (kw_key_sign_count before and after) are counted for its tunnel even
 * when handshakes run on worker threads or tunnels share the key. */
void kw_tunnel_gen_key_lock(struct kw_tunnel_gen *g);
void kw_tunnel_gen_key_unlock(struct kw_tunnel_gen *g);
/* Server handshakes whose signing step (the first) is queued or under
 * way on the generation's key, counted over every tunnel that shares it
 * (max-signing; event loop thread only). */
unsigned *kw_tunnel_gen_key_slots(struct kw_tunnel_gen *g);
/* Offer (client with an AK) or accept (server with require-posture)
 * ALPN keyward-posture/1 on a new connection. */
int kw_tunnel_gen_posture_alpn(const struct kw_tunnel_gen *g, WOLFSSL *ssl);

/* A server connection's way to its handshake: the ClientHello is read
 * into a small buffer (no TLS state yet); then the connection waits for a
 * handshake slot, since the key signs before the client proves its
 * certificate.  A slot is two things: one of its source's
 * (max-signing-per-source), held until the client is authenticated or
 * the connection closes, and one of its key's (max-signing), held for
 * the first handshake step, the one that signs. */
enum kw_hs_state {
	KW_HS_NONE,		/* client tunnels; servers once handshaken */
	KW_HS_HELLO,		/* reading the ClientHello */
	KW_HS_WAIT,		/* ClientHello read, waiting for a slot */
	KW_HS_SLOT,		/* TLS state made, handshake under way */
};

/* Each relay buffer of a connection (up, dn). */
#define KW_TUNNEL_BUF		16384

/* A connection still open this long after its handshake gives its TLS
 * state's zero pages back (kw_tls_ssl_trim). */
#define KW_TRIM_MS		1000

#define KW_SRC_BUCKETS		1024

/* One source address (IPv6: its /64) of a server tunnel's clients. */
struct kw_src {
	struct kw_src *next;
	unsigned char addr[16];
	unsigned pending;		/* KW_HS_HELLO or KW_HS_WAIT */
	unsigned slots;			/* KW_HS_SLOT */
};

/* What a handshake step leaves for the loop.  Written by whoever runs
 * the step (a handshake thread, or the loop), read by the loop once the
 * step is handed back; never bit-fields (a thread writing one would race
 * with the loop writing its neighbours). */
struct kw_hs_out {
	int ret;			/* wolfSSL_connect/accept */
	int refused;			/* allow-list said no */
	uint64_t signs, sign_fails, sign_usec;	/* not counted yet */
	int on_thread;			/* the step was made on a thread */
	char who[256];			/* server: the client certificate */
};

struct kw_conn;
struct kw_conn_q {
	struct kw_conn *head, *tail;
};

struct kw_conn {
	struct kw_tunnel *t;
	struct kw_tunnel_gen *g;
	struct kw_conn *prev, *next;
	int plain_fd, tls_fd;
	WOLFSSL *ssl;
	struct event *ev_pr, *ev_pw, *ev_tr, *ev_tw, *ev_timer;
	/* Bit-fields: the event loop thread's alone (also while a
	 * handshake thread has the connection). */
	unsigned on_pr : 1, on_pw : 1, on_tr : 1, on_tw : 1;
	unsigned connecting : 1;	/* outbound connect in progress */
	unsigned plain_ready : 1;
	unsigned tls_ready : 1;		/* handshake done */
	unsigned plain_eof : 1;		/* plaintext peer sent FIN */
	unsigned tls_eof : 1;		/* TLS peer sent close_notify/FIN */
	unsigned notify_sent : 1;	/* our close_notify went out */
	unsigned plain_shut : 1;	/* our FIN to the plaintext peer */
	unsigned relaying : 1;
	unsigned in_worker : 1;		/* a handshake thread has it */
	unsigned hs_threaded : 1;	/* its key signed on a thread */
	unsigned free_pending : 1;	/* closed while in_worker */
	unsigned expired : 1;		/* handshake-timeout while in_worker */
	unsigned deferred : 1;		/* waited for a slot */
	unsigned pr_rdy : 1;		/* plain side may be readable */
	unsigned tr_rdy : 1;		/* TLS side may be readable */
	unsigned dns_sync : 1;
	unsigned hs_want_r : 1;		/* the handshake waits to read */
	unsigned hs_want_w : 1;		/* ... to write */
	unsigned key_slot : 1;		/* holds one of its key's slots */
	unsigned trim_pending : 1;	/* kw_tls_ssl_trim once relaying */
	unsigned sess_given : 1;	/* client: its session is in the pool */
	enum kw_hs_state hs_state;
	struct kw_src *src;		/* server: its source address */
	struct kw_conn *q_prev, *q_next;	/* in hello_q or wait_q */
	unsigned char *hello;		/* the ClientHello (KW_HS_HELLO..) */
	size_t hello_len, hello_off;	/* read; handed to wolfSSL */
	uint64_t signs;			/* signatures for this handshake */
	struct evdns_getaddrinfo_request *dns;
	int dns_result;
	struct kw_hs_out hs;
	struct kw_hs_pool *pool;	/* the pool that has it (in_worker) */
	struct kw_conn *hs_next;	/* handshake pool queues */
	WOLFSSL_SESSION *sess;		/* client: taken from the pool, for
					 * the handshake */
	uint64_t ticket_id;		/* client: the ticket offered or last
					 * given to the pool (conn_give_session) */
	/* the posture exchange after the handshake (tunnel_posture.c):
	 * no relaying while it is there; job: what a handshake thread
	 * runs for c (set by the loop before it hands c over) */
	struct kw_posture_conn *posture;
	int job;
	struct evutil_addrinfo *dns_res;
	int tls_wr_pending;		/* length of a WANT_WRITE retry */
	size_t up_off, up_len;		/* plaintext -> TLS */
	size_t dn_off, dn_len;		/* TLS -> plaintext */
	uint64_t last_active_ms;
	char peer[64];
	/* KW_TUNNEL_BUF each, allocated while they hold data: an idle
	 * connection holds no buffer */
	unsigned char *up;
	unsigned char *dn;
};

struct kw_tunnel {
	struct event_base *base;
	struct evdns_base *dns;
	struct kw_tunnel_gen *gen;
	char *name;
	struct evconnlistener *lis;
	struct event *ev_resume;	/* re-enable accept after EMFILE */
	struct event *ev_slots;		/* hand out free handshake slots */
	struct event *ev_trim;		/* heap pages back after a burst */
	uint64_t peak;			/* most connections since the last
					 * trim */
	int trim_more;			/* trimmed with connections left */
	char *unix_path;		/* our listening socket file */
	struct kw_conn *conns;
	struct kw_conn_q hello_q;	/* KW_HS_HELLO, oldest first */
	struct kw_conn_q wait_q;	/* KW_HS_WAIT, oldest first */
	struct kw_src *srcs[KW_SRC_BUCKETS];
	struct kw_tunnel_stats st;
	time_t last_full_log, last_src_log;
	struct kw_hs_pool *pool;	/* NULL: handshakes in the loop */
	uint64_t src_seed;		/* keys the source hash */
	struct kw_posture_srv *posture;	/* require-posture: verdicts */
	/* handshake-threads = 0: handshake steps in the loop, even when
	 * the pool is there for the posture work */
	int hs_inline;
	/* handshake-threads = auto: steps on the pool while the key signs
	 * slowly (hs_slow, decided by conn_handshake in tunnel_hs.c) */
	int hs_auto;
	int hs_slow;
	/* conn_pump (tunnel_conn.c), for tunnel_core.c's socket and DNS
	 * callbacks: the core is below the pump and calls it only so */
	int (*pump)(struct kw_conn *c);
};

#define KW_JOB_HANDSHAKE	0
#define KW_JOB_POSTURE		1

/* Handshake threads (handshake-threads = N): a handshake step that
 * signs may wait for a slow token (a smart card signs in 100+ ms); on a
 * worker the loop keeps carrying every other connection meanwhile.  The
 * loop hands a worker one step at a time, once the socket is ready for
 * it (an idle peer holds no thread), first come first served; a
 * connection handed to a worker is touched by the loop only on its
 * plaintext side (and not freed) until the worker hands it back through
 * the pipe. */
struct kw_hs_pool {
	pthread_t *threads;
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* singly linked by hs_next, oldest first */
	struct kw_conn *todo, *todo_tail, *done, *done_tail;
	int stop;
	int pipe_fd[2];
	struct event *ev_done;
};

/* What one pass of conn_pump found: the events the blocked steps wait
 * for, and whether any step moved. */
struct kw_pump {
	int pr, pw, tr, tw;
	int progress;
};

/* The files below tunnel.c (the listener), each calling only down:
 *   tunnel_pool.c	the handshake threads; steps handed back
 *   tunnel_conn.c	the pump: drives a connection through its phases
 *   tunnel_admit.c, tunnel_hs.c, tunnel_posture_conn.c, tunnel_relay.c
 *			the phases: ClientHello and admission, the TLS
 *			handshake, the posture exchange, the relay
 *   tunnel_core.c	a connection's life and state transitions
 *			(tunnel_core.h), what the phases call */

/* tunnel_pool.c */
void hs_pool_back(struct kw_conn *c);
void hs_pool_free(struct kw_hs_pool *pool, struct kw_conn **todo,
    struct kw_conn **done);
int hs_pool_new(struct event_base *base, const char *name, unsigned n,
    struct kw_hs_pool **out);

/* tunnel_conn.c */
int conn_pump(struct kw_conn *c);
void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
void tunnel_slots_cb(evutil_socket_t fd, short what, void *arg);

/* tunnel_admit.c */
int conn_tls_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx);
int pump_hello(struct kw_conn *c, struct kw_pump *p);
int tunnel_admit_source(struct kw_tunnel *t, const struct sockaddr *sa,
    struct kw_src **out);
void src_unadmit(struct kw_tunnel *t, struct kw_src *s);
int tunnel_make_room(struct kw_tunnel *t);

/* tunnel_hs.c */
int conn_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
void conn_hs_step(struct kw_conn *c);
int conn_hs_result(struct kw_conn *c);
int pump_handshake(struct kw_conn *c, struct kw_pump *p);

/* tunnel_posture_conn.c: the posture exchange's steps */
void conn_posture_work(struct kw_conn *c);
void conn_posture_expired(struct kw_conn *c);
int pump_posture(struct kw_conn *c, struct kw_pump *p);

/* tunnel_relay.c */
int pump_relay(struct kw_conn *c, struct kw_pump *p);
void pump_release_buffers(struct kw_conn *c);

#endif
