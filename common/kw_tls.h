/* TLS contexts with hardware-held keys, shared by `connect`, tunnels and
 * the enrollment clients.  Nothing here knows which backend a key is in. */
#ifndef KW_TLS_H
#define KW_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct kw_tls_ctx;
struct WOLFSSL;

enum kw_tls_side { KW_TLS_CLIENT, KW_TLS_SERVER };

struct kw_tls_conf {
	enum kw_tls_side side;
	struct kw_key *key;		/* NULL: no certificate of our own */
	const char *cert_file;		/* PEM leaf (+ chain) for key */
	const uint8_t *cert_der;	/* or: DER leaf (e.g. read from a token) */
	size_t cert_der_len;
	const char *ca_file;		/* PEM trust anchors; required */
	const char *crl_file;		/* optional PEM/DER CRL(s) */
	int crl_hard_fail;		/* 1: no usable CRL => refuse */
	int min_version;		/* 12 or 13 (default 12) */
	int require_client_cert;	/* server: refuse clients without one */
	int session_cache;		/* client: resume sessions (tickets) */
};

/* Build a context; checks that the certificate matches the key's public
 * key and that the key can make the signatures TLS will ask for. */
int kw_tls_ctx_new(const struct kw_tls_conf *conf, struct kw_tls_ctx **out);
void kw_tls_ctx_free(struct kw_tls_ctx *ctx);
/* The underlying WOLFSSL_CTX (as void * to keep wolfSSL out of callers
 * that only pass it around). */
void *kw_tls_ctx_wolf(struct kw_tls_ctx *ctx);

/* Client: TCP connect to host:port (timeout), handshake with SNI and name
 * verification against servername (default: host).  On success *ssl_out
 * is a connected WOLFSSL * whose fd the caller closes after wolfSSL_free. */
int kw_tls_connect(struct kw_tls_ctx *ctx, const char *hostport,
    const char *servername, int timeout_ms, struct WOLFSSL **ssl_out);

/* Full and resumed handshakes completed with this context. */
uint64_t kw_tls_full_handshakes(const struct kw_tls_ctx *ctx);
uint64_t kw_tls_resumed_handshakes(const struct kw_tls_ctx *ctx);

#endif
