/* TLS contexts with hardware-held keys, shared by `connect`, tunnels and
 * the enrollment clients.  Nothing here knows which backend a key is in.
 *
 * A context holds: the key (through a kw_dev crypto-callback device; the
 * private key stays in the token), the certificate, the trust anchors, the
 * CRLs, TLS 1.3 preferred and 1.2 allowed, strong AEAD suites only, groups
 * X25519/P-256/P-384 (enforced in TLS 1.2 too), signatures with SHA-256 and
 * up (offered and accepted), no renegotiation, no TLS 1.3 resumption
 * without (EC)DHE, and always-on peer verification (names by RFC 6125).  Blocking users call
 * kw_tls_connect(); event-driven users (tunnels, EST) make each connection
 * with kw_tls_ssl_new(), drive wolfSSL_connect/accept themselves, then call
 * kw_tls_handshake_done() or, on failure, kw_tls_explain(), and release it
 * with kw_tls_ssl_free().  kw_tls keeps per-connection state in the SSL's
 * ex_data slots 0 and 1 and installs wolfSSL's PK verify callbacks (ECC,
 * RSA, RSA-PSS) on its contexts: callers leave those alone. */
#ifndef KW_TLS_H
#define KW_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "kw_key.h"

struct kw_tls_ctx;
struct WOLFSSL;
struct WOLFSSL_SESSION;

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
	int max_version;		/* 12 or 13 (default 13) */
	const char *cipher_list;	/* wolfSSL names; NULL: keyward's order */
};

/* Build a context; checks that the certificate matches the key's public
 * key and that the key can make the signatures TLS will ask for.  An RSA
 * key that cannot make RSA-PSS signatures is limited to TLS 1.2 with a
 * warning (or refused if min_version is 13).  Errors are logged in one
 * line: KW_ERR_KEY_MISMATCH, KW_ERR_CERT, KW_ERR_NOT_FOUND (file),
 * KW_ERR_UNSUPPORTED (key), KW_ERR_CONFIG. */
int kw_tls_ctx_new(const struct kw_tls_conf *conf, struct kw_tls_ctx **out);
void kw_tls_ctx_free(struct kw_tls_ctx *ctx);
/* The underlying WOLFSSL_CTX (as void * to keep wolfSSL out of callers
 * that only pass it around). */
void *kw_tls_ctx_wolf(struct kw_tls_ctx *ctx);
struct kw_key *kw_tls_ctx_key(const struct kw_tls_ctx *ctx);
/* Highest TLS version this context will negotiate (12 or 13). */
int kw_tls_ctx_max_version(const struct kw_tls_ctx *ctx);

/* Client: TCP connect to host:port (timeout), handshake with SNI and name
 * verification against servername (default: host).  On success *ssl_out
 * is a connected WOLFSSL * whose fd the caller closes after wolfSSL_free
 * (or kw_tls_ssl_free, which also keeps the session for resumption).
 * Failures are logged in one line in user terms and returned as
 * KW_ERR_NETWORK, KW_ERR_TIMEOUT, KW_ERR_PEER_VERIFY, KW_ERR_AUTH,
 * KW_ERR_HANDSHAKE, or the key's own error when it could not sign. */
int kw_tls_connect(struct kw_tls_ctx *ctx, const char *hostport,
    const char *servername, int timeout_ms, struct WOLFSSL **ssl_out);

/* One connection on a connected socket fd (not owned).  Client: servername
 * is sent as SNI (unless it is an IP address) and verified against the
 * server certificate while its Certificate message is processed (RFC 6125
 * wildcards; an IP address against IP SANs only); a cached session for the
 * same servername is offered. */
int kw_tls_ssl_new(struct kw_tls_ctx *ctx, int fd, const char *servername,
    struct WOLFSSL **ssl_out);
/* Client: offer sess for resumption on ssl (instead of
 * wolfSSL_set_session).  wolfSSL 5.5.4 lists psk_ke next to psk_dhe_ke in
 * a resuming ClientHello and cannot be told not to, so kw_tls watches the
 * server's answer and refuses, at the ServerHello, a TLS 1.3 resumption
 * without a key exchange (no forward secrecy).  Release ssl with
 * kw_tls_ssl_free, never wolfSSL_free. */
int kw_tls_ssl_resume(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl,
    struct WOLFSSL_SESSION *sess);
/* After wolfSSL_connect/accept succeeded: counts the handshake (full or
 * resumed) and keeps the client session for resumption.  (The server name,
 * DNS or IP address, is checked during the handshake, in the verify
 * callback.) */
int kw_tls_handshake_done(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl);
/* An established connection that from now on only carries data
 * (tunnels): give back what wolfSSL keeps after the handshake and a record
 * layer does not need (the handshake's secrets and randoms, the
 * resumption watcher).  Key export and channel binding
 * (kw_tls_channel_binding) do not work afterwards: call it once they are
 * done.  No-op before the handshake is done. */
void kw_tls_ssl_settle(struct WOLFSSL *ssl);
/* A connection that stays open (idle): give the pages of the SSL and of
 * its session object that hold only zeros back to the kernel (the session
 * has room for two peer chains of nine 2 KiB certificates; most of it is
 * never written).  Costs a scan and a system call now, and page faults
 * when the memory is used again: not for short connections. */
void kw_tls_ssl_trim(struct WOLFSSL *ssl);
/* Translate a failed wolfSSL call (ret) on ssl into a KW_ERR_* and log one
 * line that says what went wrong ("server certificate not trusted by CA
 * FILE", "server name X does not match its certificate", ...).  peer names
 * the other side in the message ("host:port"). */
int kw_tls_explain(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl, int ret,
    const char *peer);
/* Keep the session (TLS 1.3 tickets arrive after the handshake) and free
 * ssl; the fd stays open.  NULL is fine. */
void kw_tls_ssl_free(struct kw_tls_ctx *ctx, struct WOLFSSL *ssl);

/* Full and resumed handshakes completed with this context. */
uint64_t kw_tls_full_handshakes(const struct kw_tls_ctx *ctx);
uint64_t kw_tls_resumed_handshakes(const struct kw_tls_ctx *ctx);

/* Certificates and keys.  KW_OK when the certificate (DER) carries key's
 * public key, KW_ERR_KEY_MISMATCH when it carries another, KW_ERR_CERT
 * when it cannot be parsed. */
int kw_cert_matches_key(const uint8_t *cert_der, size_t cert_len,
    struct kw_key *key);
/* The first certificate of a PEM (or DER) file; *der malloc'd. */
int kw_cert_read_file(const char *path, uint8_t **der, size_t *der_len);

/* The channel binding of a connected session, for linking something sent
 * over it to it: "tls-exporter" (RFC 9266, 32 bytes) under TLS 1.3,
 * "tls-unique" (RFC 5929, the first Finished message) under TLS 1.2.
 * *out_len: room in out (at least KW_TLS_BINDING_MAX) on entry, the
 * binding's length on return; *type names it.  KW_ERR_UNSUPPORTED for
 * older versions. */
#define KW_TLS_BINDING_MAX	64
int kw_tls_channel_binding(struct WOLFSSL *ssl, uint8_t *out, size_t *out_len,
    const char **type);

#endif
