/* mTLS tunnels: one listener and its connections in a libevent loop.
 *
 * A client tunnel accepts plaintext and carries it over mutual TLS to its
 * target; a server tunnel terminates mutual TLS (client certificate
 * required, checked against the CA and the allow-list) and forwards the
 * plaintext.  Each connection has two 16 KiB buffers, one per direction,
 * held only while they hold data; a full buffer stops reading on the side
 * that fills it (backpressure), half-closes are passed on (FIN <->
 * close_notify), and connect, handshake and idle timeouts apply.  Once
 * the handshake is done a connection gives back what only the handshake
 * needed (an idle one costs about 20-30 KiB, see README.md).
 *
 * A server tunnel holds a new connection's ClientHello in a buffer of
 * its size (at most 6 KiB) and makes its TLS state only when the
 * connection gets a handshake slot: per source address
 * (max-pending-per-source, max-signing-per-source) and per key
 * (max-signing), since the key signs before the client has proven its
 * certificate.  The handshake timeout runs from the accept.
 *
 * A tunnel's settings, TLS context and key form a "generation"
 * (struct kw_tunnel_gen, reference counted): a reload gives the tunnel a
 * new generation for new connections while established ones keep theirs. */
#ifndef KW_TUNNEL_H
#define KW_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evdns_base;
struct kw_tunnel;
struct kw_tunnel_gen;
struct kw_tunnel_conf;
struct kw_keycache;

#define KW_SIGN_BUCKETS		12	/* sign latency histogram */

/* Why a server tunnel refused a client's posture (require-posture): the
 * metrics' reason label (kw_posture_reason_name). */
enum kw_posture_reason {
	KW_PR_NO_POSTURE = 0,	/* offered no keyward-posture/1 */
	KW_PR_SECURE_BOOT,	/* the log says Secure Boot is off */
	KW_PR_PCR,		/* a PCR value the policy does not list */
	KW_PR_LOG,		/* the event log does not replay to the quote */
	KW_PR_EK,		/* EK certificate not from a trusted CA */
	KW_PR_AK,		/* AK not bound to that EK (activation) */
	KW_PR_QUOTE,		/* quote or certify signature, attributes */
	KW_PR_SESSION,		/* qualifying data: another nonce or session */
	KW_PR_KEY,		/* certified key is not the certificate's */
	KW_PR_AGE,		/* evidence older than max-age */
	KW_PR_PROTOCOL,		/* malformed or unexpected message */
	KW_PR_TIMEOUT,		/* not done within handshake-timeout */
	KW_PR_ERROR,		/* our own failure (memory, policy file) */
	KW_PR_COUNT
};

/* "no-posture", "secure-boot", ... */
const char *kw_posture_reason_name(enum kw_posture_reason r);

/* A server tunnel's last posture check of one client (certificate). */
struct kw_posture_seen {
	char who[160];			/* "CN=..., SAN ..." */
	uint8_t cert_sha256[32];
	time_t time;			/* of the last check */
	int ok;
	int cached;			/* answered from the cache */
	char reason[160];		/* the failing claim, "" when ok */
	enum kw_posture_reason why;	/* its kind, when !ok */
};

/* Upper bounds of the sign latency buckets, microseconds (the last one
 * is +Inf). */
extern const uint64_t kw_sign_bucket_usec[KW_SIGN_BUCKETS];

struct kw_tunnel_stats {
	uint64_t conns_active;
	uint64_t conns_total;
	uint64_t conns_failed;		/* closed before any data could flow */
	uint64_t refused;		/* peer certificate or name refused */
	uint64_t hs_full;
	uint64_t hs_resumed;
	uint64_t hs_threaded;		/* whose key signed on a handshake
					 * thread */
	uint64_t signatures;		/* hardware signatures for handshakes */
	uint64_t sign_failures;
	uint64_t sign_usec;		/* total time in those signatures */
	uint64_t sign_hist[KW_SIGN_BUCKETS];	/* non-cumulative */
	uint64_t bytes_up;		/* plaintext side -> TLS side */
	uint64_t bytes_down;		/* TLS side -> plaintext side */
	uint64_t reloads;
	/* server tunnels: handshake slots (max-signing...) */
	uint64_t hs_slots;		/* slots held now */
	uint64_t hs_waiting;		/* ClientHellos waiting for one now */
	uint64_t sign_deferred;		/* handshakes that had to wait */
	uint64_t sign_unauth;		/* signatures for clients that never
					 * proved their certificate */
	uint64_t src_refused;		/* max-pending-per-source */
	/* posture: server tunnels with require-posture */
	uint64_t posture_ok;		/* verified from evidence */
	uint64_t posture_cached;	/* admitted from the cache */
	uint64_t posture_refused[KW_PR_COUNT];
	/* posture: client tunnels with an AK */
	uint64_t posture_answers;	/* evidence sent */
	uint64_t posture_tpm_cmds;	/* TPM commands for it */
	uint64_t posture_usec;		/* time in that TPM work */
	time_t last_error_time;
	char last_error[256];
};

/* Shared key handles: tunnels (and generations) naming the same key with
 * the same options share one open key (one TPM connection). */
int kw_keycache_new(struct kw_keycache **out);
void kw_keycache_free(struct kw_keycache *kc);

/* A generation: conf is taken over (freed with the generation).  key_ref
 * and cert_file override conf->key/conf->cert (identities); chain_file
 * (NULL or "": none) adds intermediate certificates sent after cert_file's.  Opens the key
 * (through kc), builds the TLS context, resolves a numeric target.  Errors
 * are logged with the tunnel's name. */
int kw_tunnel_gen_new(struct kw_tunnel_conf *conf, const char *key_ref,
    const char *cert_file, const char *chain_file, const char *global_tcti, const char *global_module,
    const char *global_auth_file, struct kw_keycache *kc,
    struct kw_tunnel_gen **out);
void kw_tunnel_gen_unref(struct kw_tunnel_gen *g);
const struct kw_tunnel_conf *kw_tunnel_gen_conf(const struct kw_tunnel_gen *g);
time_t kw_tunnel_gen_not_after(const struct kw_tunnel_gen *g);
const char *kw_tunnel_gen_key_ref(const struct kw_tunnel_gen *g);
const char *kw_tunnel_gen_cert_file(const struct kw_tunnel_gen *g);
/* "tpm key ..., N failed signatures" and the like. */
void kw_tunnel_gen_token_state(const struct kw_tunnel_gen *g, char *buf,
    size_t len);
void kw_tunnel_gen_key_desc(const struct kw_tunnel_gen *g, char *buf,
    size_t len);

/* A tunnel listening with generation g (a reference is taken). */
int kw_tunnel_new(struct event_base *base, struct evdns_base *dns,
    struct kw_tunnel_gen *g, struct kw_tunnel **out);
/* New connections use g from now on (a reference is taken). */
void kw_tunnel_set_gen(struct kw_tunnel *t, struct kw_tunnel_gen *g);
struct kw_tunnel_gen *kw_tunnel_gen(const struct kw_tunnel *t);
const char *kw_tunnel_name(const struct kw_tunnel *t);
/* Stop accepting (the tunnel left the config); connections go on. */
void kw_tunnel_stop_listening(struct kw_tunnel *t);
uint64_t kw_tunnel_active(const struct kw_tunnel *t);
void kw_tunnel_stats(const struct kw_tunnel *t, struct kw_tunnel_stats *st);
/* Server tunnels with require-posture: the last posture of up to max
 * clients (newest first) into out; returns how many. */
size_t kw_tunnel_posture_seen(const struct kw_tunnel *t,
    struct kw_posture_seen *out, size_t max);
/* Close every connection and the listener. */
void kw_tunnel_free(struct kw_tunnel *t);

#endif
