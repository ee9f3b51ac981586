/* Strict parsers for what an EST server sends: base64 bodies, PKCS#7
 * certs-only (RFC 7030 4.1.3 / 4.2.3), the fields of an X.509 certificate
 * enrollment needs, and /csrattrs (RFC 7030 4.5.2).
 *
 * All input is untrusted: DER is walked with the toolkit of common/kw_der.h
 * (definite lengths only, minimal length encodings, no trailing bytes);
 * certificates go through wolfSSL's parser (kw_der_cert). */
#ifndef EST_DER_H
#define EST_DER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define EST_MAX_CERTS	16		/* certificates in one PKCS#7 */
#define EST_MAX_CERT	(16 * 1024)	/* bytes of one certificate */
#define EST_MAX_ATTRS	32		/* entries in a csrattrs answer */
#define EST_MAX_SANS	16		/* names taken from csrattrs */

/* Base64 (RFC 4648) with line breaks: CR, LF, space and tab are skipped,
 * '=' padding is required and final, anything else is KW_ERR_PARSE; NUL
 * bytes and white space at the very end are dropped (some servers end
 * their bodies so).  *out is malloc'd (free with free()). */
int est_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);
/* Base64 with a LF every 64 characters; *out malloc'd, NUL-terminated. */
int est_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len);

/* A list of DER certificates, each a malloc'd copy. */
struct est_certs {
	size_t n;
	struct {
		uint8_t *der;
		size_t len;
	} c[EST_MAX_CERTS];
};
void est_certs_clear(struct est_certs *certs);
int est_certs_add(struct est_certs *certs, const uint8_t *der, size_t len);
/* PEM "CERTIFICATE" blocks of every certificate; *pem malloc'd. */
int est_certs_pem(const struct est_certs *certs, size_t first, char **pem,
    size_t *pem_len);
/* Read every CERTIFICATE block of a PEM file (or one DER certificate). */
int est_certs_from_file(const char *path, struct est_certs *certs);

/* ContentInfo { id-signedData, SignedData { ..., certificates [0] } }:
 * the certificates, in order.  A PKCS#7 that is not certs-only SignedData,
 * is truncated, has trailing bytes or holds no certificate is rejected. */
int est_pkcs7_certs(const uint8_t *der, size_t len, struct est_certs *out);

/* The fields of one certificate that enrollment checks.  Pointers point
 * into the caller's buffer. */
struct est_cert_info {
	const uint8_t *spki;		/* SubjectPublicKeyInfo, whole TLV */
	size_t spki_len;
	const uint8_t *subject;		/* Name, whole TLV */
	size_t subject_len;
	const uint8_t *issuer;
	size_t issuer_len;
	time_t not_before;
	time_t not_after;
	int is_ca;			/* basicConstraints cA TRUE */
};
int est_cert_info(const uint8_t *der, size_t len, struct est_cert_info *out);
/* X.509 time (UTCTime or GeneralizedTime TLV contents). */
int est_der_time(int tag, const uint8_t *p, size_t len, time_t *out);

/* /csrattrs: what the server asks for.  Known items are mapped, the rest
 * is listed in unknown[] (dotted OIDs) for the caller to report. */
struct est_csrattrs {
	int want_challenge_password;	/* 1.2.840.113549.1.9.7 */
	int want_sha384;		/* ecdsa-with-SHA384 / sha384 asked */
	int want_sha256;
	size_t nsans;			/* from extensionRequest subjectAltName */
	char *sans[EST_MAX_SANS];	/* "dns:x", "ip:a.b.c.d", "uri:", "email:" */
	int want_san;			/* subjectAltName OID asked, no value */
	size_t nunknown;
	char unknown[EST_MAX_ATTRS][64];
};
int est_csrattrs_parse(const uint8_t *der, size_t len, struct est_csrattrs *out);
void est_csrattrs_clear(struct est_csrattrs *a);

/* Dotted form of an OID's contents ("1.2.840..."). */
int est_oid_str(const uint8_t *p, size_t len, char *buf, size_t buflen);

#endif
