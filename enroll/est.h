/* The EST client (RFC 7030): /cacerts, /csrattrs, /simpleenroll and
 * /simplereenroll over TLS from common/kw_tls (client keys in hardware),
 * and the checks on what comes back.  Keys only through the key interface. */
#ifndef EST_H
#define EST_H

#include <stddef.h>
#include <stdint.h>

#include "kw_cancel.h"
#include "kw_key.h"
#include "est_der.h"

struct est_client;

struct est_conf {
	const char *url;		/* https://HOST[:PORT][/.well-known/est[/LABEL]] */
	/* Trust: exactly one of these.  ca_file is an explicit trust anchor
	 * (PEM); ca_fingerprint is the SHA-256 of the CA certificate
	 * (hex, ':' allowed), checked against /cacerts on first contact. */
	const char *ca_file;
	const char *ca_fingerprint;
	/* HTTP Basic (optional).  The password is copied and wiped. */
	const char *user;
	const char *password;
	/* TLS client identity (optional): a bootstrap certificate for
	 * /simpleenroll, or the current one for /simplereenroll. */
	struct kw_key *client_key;
	const char *client_cert_file;
	const uint8_t *client_cert_der;	/* or the certificate itself (DER,
					 * e.g. read from a token) */
	size_t client_cert_der_len;
	/* Bounds each exchange as a whole: connect, TLS, request and
	 * response (0: 30 s).  KW_ERR_TIMEOUT when it runs out. */
	int timeout_ms;
	/* Optional: when it fires, the exchange in progress stops at once
	 * with KW_ERR_CANCELLED (a reload or shutdown of the daemon). */
	const struct kw_cancel *cancel;
};

int est_client_new(const struct est_conf *conf, struct est_client **out);
void est_client_free(struct est_client *c);

/* GET /cacerts and establish trust in it: verified against ca_file, or the
 * pinned fingerprint must match one certificate (the anchor) and the
 * others must chain to it.  After this, every connection verifies the
 * server against these CA certificates.  Called implicitly by the other
 * operations. */
int est_fetch_cacerts(struct est_client *c);
/* The CA certificates in force (after est_fetch_cacerts). */
const struct est_certs *est_cacerts(const struct est_client *c);

/* GET /csrattrs.  KW_OK with *found = 0 when the server publishes none. */
int est_fetch_csrattrs(struct est_client *c, struct est_csrattrs *out,
    int *found);

/* POST /simpleenroll (reenroll = 0) or /simplereenroll with a DER CSR.
 * KW_OK: *certs holds the issued certificate first (the one whose public
 * key equals spki), then any chain the server sent; it is verified to
 * chain to the CA certificates.  KW_ERR_PENDING: *retry_after seconds. */
int est_enroll(struct est_client *c, int reenroll, const uint8_t *csr,
    size_t csr_len, const uint8_t *spki, size_t spki_len,
    struct est_certs *certs, unsigned *retry_after);

/* Proof-of-possession linking (RFC 7030 3.5): the CSR is made on the
 * connection it is sent over, with that connection's TLS channel binding
 * (tls-unique under TLS 1.2, tls-exporter under TLS 1.3), base64-encoded,
 * as its challengePassword.  make() returns a malloc'd DER CSR. */
struct est_csr_maker {
	int (*make)(void *arg, const char *challenge, uint8_t **der,
	    size_t *der_len);
	void *arg;
};
/* As est_enroll, with the CSR made by mk once the TLS session exists.
 * *csr (malloc'd, *csr_len) is the CSR that was sent, also when the
 * answer was KW_ERR_PENDING or an error after it was made. */
int est_enroll_linked(struct est_client *c, int reenroll,
    const struct est_csr_maker *mk, const uint8_t *spki, size_t spki_len,
    struct est_certs *certs, unsigned *retry_after, uint8_t **csr,
    size_t *csr_len);

/* Check that certs->c[0]... holds a certificate for spki that chains to
 * the anchors (reordering so the leaf is first).  Used by est_enroll and
 * by callers re-checking stored state. */
int est_verify_issued(const struct est_certs *anchors, struct est_certs *certs,
    const uint8_t *spki, size_t spki_len);

/* One HTTP request over a fresh TLS connection to u->host, u->port
 * verified with tls, within one deadline for the whole exchange (connect,
 * TLS, request, answer; timeout_ms, 0: 30 s) and cancellable.  EST's
 * transport, shared with the ACME client (what names the server in
 * messages: "ACME").  u->path is not used: req holds the request.
 * tls NULL: plain HTTP (SCEP over http://, trusted by its messages). */
struct kw_tls_ctx;
struct est_url;
struct est_http_resp;
int est_https_exchange(struct kw_tls_ctx *tls, const struct est_url *u,
    const char *what, int timeout_ms, const struct kw_cancel *cancel,
    const char *req, size_t req_len, size_t max_body,
    struct est_http_resp **out);

/* SHA-256 of a DER certificate as lower-case hex ("ab12..."), 65 bytes. */
int est_fingerprint(const uint8_t *der, size_t len, char out[65]);
/* Normalize a user-given fingerprint (hex with optional ':' or spaces,
 * optional "sha256:" / "SHA256=" prefix) into 64 lower-case hex digits. */
int est_fingerprint_parse(const char *in, char out[65]);

/* Fetch /cacerts WITHOUT trusting it and print each certificate's subject
 * and SHA-256 fingerprint, for comparison with what the CA's operators
 * publish out of band.  Never stores anything. */
int est_show_cacerts(const char *url, int timeout_ms);

#endif
