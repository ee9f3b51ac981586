/* The ACME client (RFC 8555): account, order, challenges, finalize with a
 * hardware-signed CSR, certificate download.  The account key is a
 * hardware key too: every JWS is signed through the key interface.
 *
 * Challenges are answered by responders (struct acme_responder) that the
 * caller starts before the order and stops after it; http-01 is here
 * (acme_http01.c).  Other challenge types (tls-alpn-01, device-attest-01)
 * plug in through the same small interface. */
#ifndef ACME_H
#define ACME_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kw_cancel.h"
#include "kw_key.h"
#include "est_der.h"

struct acme_client;

/* A challenge responder: publish(keyauth) before the server is told to
 * validate, withdraw after.  type is the ACME challenge type it answers;
 * ident is the identifier's value (a DNS name). */
struct acme_responder {
	const char *type;		/* "http-01", "tls-alpn-01" */
	int (*publish)(void *arg, const char *ident, const char *token,
	    const char *keyauth);
	void (*withdraw)(void *arg, const char *token);
	void *arg;
};

struct acme_conf {
	const char *directory_url;	/* https://.../directory */
	const char *ca_file;		/* trust for the ACME server's TLS */
	struct kw_key *account_key;	/* signs every JWS (NULL: a client
					 * for unauthenticated GETs only,
					 * e.g. acme_renewal_info) */
	const char *const *contacts;	/* "mailto:..." (optional) */
	size_t ncontacts;
	/* External Account Binding (both or neither). */
	const char *eab_kid;
	const uint8_t *eab_hmac;	/* the MAC key, decoded; copied */
	size_t eab_hmac_len;
	int timeout_ms;			/* per exchange (0: 30 s) */
	unsigned wait_s;		/* polling budget for an order (300) */
	const struct kw_cancel *cancel;	/* fired: stop (KW_ERR_CANCELLED) */
};

int acme_client_new(const struct acme_conf *conf, struct acme_client **out);
void acme_client_free(struct acme_client *c);

/* GET the directory, create the account or find the existing one. */
int acme_account(struct acme_client *c);
/* The account URL (kid) once known, else NULL. */
const char *acme_account_url(const struct acme_client *c);

/* An order for identifiers "dns:NAME" or "ip:ADDR": authorizations
 * answered with the responder, finalized with csr (DER), the chain
 * downloaded.  KW_OK: *certs holds the PEM chain as the server sent it
 * (leaf first), not yet verified.  Problem documents are logged in one
 * line (type, detail, subproblems). */
int acme_order(struct acme_client *c, const char *const *idents, size_t n,
    const struct acme_responder *resp, const uint8_t *csr, size_t csr_len,
    struct est_certs *certs);

/* Move the account to new_key (RFC 8555 7.3.5); afterwards the client
 * signs with new_key. */
int acme_key_change(struct acme_client *c, struct kw_key *new_key);

/* Deactivate the account (RFC 8555 7.3.6). */
int acme_deactivate(struct acme_client *c);

/* ---- Renewal Information (RFC 9773; acme_ari.c, acme_client.c) ---------- */

/* 1 when the directory names renewalInfo (after acme_account). */
int acme_has_ari(const struct acme_client *c);
/* GET renewalInfo/CERTID (unauthenticated).  KW_OK: the suggested window
 * (end > start) and the Retry-After in seconds (0: none);
 * KW_ERR_UNSUPPORTED: the server offers no ARI; anything else (a failed
 * exchange, a malformed answer): logged in one warning. */
int acme_renewal_info(struct acme_client *c, const char *certid,
    time_t *start, time_t *end, unsigned *retry_after);
/* The next acme_order is a renewal of the certificate CERTID (RFC 9773
 * "replaces"; sent only when the server offers ARI; NULL: none).  If the
 * server refuses the order over it, the order is sent once without. */
int acme_set_replaces(struct acme_client *c, const char *certid);
/* CertID: base64url(AKI keyIdentifier) "." base64url(serial's DER
 * content bytes); *out malloc'd.  KW_ERR_UNSUPPORTED: no AKI. */
int acme_ari_certid(const uint8_t *der, size_t len, char **out);
int acme_ari_certid_raw(const uint8_t *aki, size_t aki_len,
    const uint8_t *serial, size_t serial_len, char **out);
/* RFC 3339 date-time to time_t. */
int acme_ari_time(const char *s, time_t *out);
/* A renewalInfo answer (JSON) read strictly: suggestedWindow.start and
 * .end both RFC 3339, end > start; else KW_ERR_PARSE. */
int acme_ari_window(const char *json, size_t len, time_t *start,
    time_t *end);
/* A time uniformly inside [start, end) not before now; now when the
 * window has passed (rnd: any 32-bit random). */
time_t acme_ari_pick(time_t start, time_t end, time_t now, uint32_t rnd);

/* ---- JWS and JWK (acme_jws.c) ------------------------------------------ */

/* base64url without padding; *out malloc'd, NUL-terminated. */
int acme_b64url(const uint8_t *in, size_t len, char **out);
/* Decode base64url (padding optional); *out malloc'd. */
int acme_b64url_decode(const char *in, uint8_t **out, size_t *out_len);
/* The JWK of a key (public part only) as compact JSON with members in
 * lexicographic order, and its RFC 7638 thumbprint (base64url SHA-256). */
int acme_jwk(struct kw_key *key, char **json);
int acme_jwk_thumbprint(struct kw_key *key, char **out);
/* JWS "alg" for a key: ES256, ES384, RS256. */
const char *acme_jws_alg(struct kw_key *key);
/* Flattened JWS JSON: protected header {alg, nonce, url, kid | jwk},
 * payload (NULL: POST-as-GET, empty payload), signed by the key.  nonce
 * NULL: no nonce (the inner JWS of a key change). */
int acme_jws(struct kw_key *key, const char *kid, const char *nonce,
    const char *url, const char *payload, char **out);
/* External Account Binding JWS (RFC 8555 7.3.4): HS256 over the account
 * JWK with the CA's key id and MAC key. */
int acme_eab_jws(const char *kid, const uint8_t *mac, size_t mac_len,
    const char *url, const char *jwk, char **out);
/* "token.thumbprint" */
int acme_keyauth(struct kw_key *key, const char *token, char **out);

/* ---- http-01 responder (acme_http01.c) ---------------------------------- */

struct acme_http01;
/* Listen on addr ("host:port", "[v6]:port") and serve
 * /.well-known/acme-challenge/TOKEN from a thread until freed. */
int acme_http01_start(const char *addr, struct acme_http01 **out);
void acme_http01_stop(struct acme_http01 *h);
/* Fill a responder that publishes through h. */
void acme_http01_responder(struct acme_http01 *h, struct acme_responder *r);

/* ---- tls-alpn-01 responder (acme_tlsalpn.c, RFC 8737) -------------------- */

struct acme_tlsalpn;
/* Listen on addr and answer ALPN "acme-tls/1" handshakes with a
 * self-signed certificate carrying the acmeIdentifier extension, signed by
 * key (the hardware key being certified; the TLS handshake signature is
 * made by it too).  No client certificate is asked for. */
int acme_tlsalpn_start(const char *addr, struct kw_key *key,
    struct acme_tlsalpn **out);
void acme_tlsalpn_stop(struct acme_tlsalpn *t);
void acme_tlsalpn_responder(struct acme_tlsalpn *t, struct acme_responder *r);
/* The acmeIdentifier certificate for name and keyauth (DER, malloc'd). */
int acme_tlsalpn_cert(struct kw_key *key, const char *name,
    const char *keyauth, uint8_t **der, size_t *len);
/* The responders' server (acme_srv.c): "host:port" -> a listening socket,
 * served one connection at a time by a thread until stopped (stop is
 * idempotent and fine after a failed start). */
int acme_listen(const char *addr, const char *what, int *out);
struct acme_srv {
	int lfd;
	int stop[2];			/* pipe: a write wakes the thread */
	pthread_t thread;
	int running;
	void (*serve)(void *arg, int fd);
	void *arg;
};
int acme_srv_start(struct acme_srv *s, const char *addr, const char *what,
    void (*serve)(void *arg, int fd), void *arg);
void acme_srv_stop(struct acme_srv *s);

/* A problem document (RFC 7807 JSON, len bytes) as the one line the client
 * logs: "TYPE: detail [ID TYPE: detail; ...]", the ACME error prefix cut,
 * control characters shown as '?', truncated to buflen.  KW_ERR_PARSE
 * (buf empty) when json is not a JSON object. */
int acme_problem_format(const char *json, size_t len, char *buf,
    size_t buflen);

/* Parse certificates from PEM text ("CERTIFICATE" blocks). */
int acme_pem_certs(const char *pem, size_t len, struct est_certs *out);

#endif
