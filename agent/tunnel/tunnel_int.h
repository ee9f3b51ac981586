/* Internals shared by agent/tunnel.c (connections) and agent/tunnel_gen.c
 * (generations: settings + TLS context + key).  Include wolfSSL's
 * options.h before this header. */
#ifndef KW_TUNNEL_INT_H
#define KW_TUNNEL_INT_H

#include <sys/socket.h>
#include <time.h>

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

#endif
