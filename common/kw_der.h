/* One DER toolkit for keyward (issue 10): a strict reader and a writer with
 * explicit lengths, SubjectPublicKeyInfo for EC and RSA keys, strict base64,
 * X.509 times, and the fields of a certificate (wolfSSL's parser).
 *
 * All input is untrusted: the reader takes definite lengths only, minimally
 * encoded (at most four length octets), low tag numbers only, and every
 * length is checked against what is left.  Callers check that nothing
 * trails.  The writer works on the caller's buffer; running out of room is
 * remembered and reported once at the end (KW_ERR_SPACE). */
#ifndef KW_DER_H
#define KW_DER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kw_key.h"

/* A window on DER bytes (not owned). */
struct kw_der {
	const uint8_t *p;
	size_t len;
};

#define KW_DER_ANY	(-1)	/* kw_der_get: any tag */

/* Take one element off the front of d.  tag: the tag wanted or KW_DER_ANY;
 * val: its contents, tlv: the whole element (either may be NULL).  d is
 * left untouched on error (KW_ERR_PARSE). */
int kw_der_get(struct kw_der *d, int tag, struct kw_der *val,
    struct kw_der *tlv);
/* The tag of the next element, -1 if d is empty. */
int kw_der_peek(const struct kw_der *d);
/* p..p+len is exactly one element with this tag: its contents. */
int kw_der_only(const uint8_t *p, size_t len, int tag, struct kw_der *val);
/* A non-negative INTEGER that fits 32 bits, minimally encoded. */
int kw_der_uint32(struct kw_der *d, uint32_t *out);
/* v holds exactly these bytes. */
int kw_der_eq(const struct kw_der *v, const uint8_t *p, size_t len);
/* Dotted form of an OID's contents ("1.2.840..."). */
int kw_der_oid_str(const uint8_t *p, size_t len, char *buf, size_t buflen);
/* X.509 time: UTCTime (tag 0x17) or GeneralizedTime (0x18) contents,
 * "Z" only, every field range-checked. */
int kw_der_time(int tag, const uint8_t *p, size_t len, time_t *out);

/* The writer: kw_der_open() starts a constructed element and returns its
 * mark, kw_der_close() fills in its length once the contents are known. */
struct kw_der_w {
	uint8_t *buf;
	size_t cap, off;
	int err;
};
void kw_der_w_init(struct kw_der_w *w, uint8_t *buf, size_t cap);
size_t kw_der_open(struct kw_der_w *w, uint8_t tag);
void kw_der_close(struct kw_der_w *w, size_t mark);
void kw_der_put(struct kw_der_w *w, uint8_t tag, const void *p, size_t n);
void kw_der_put_raw(struct kw_der_w *w, const void *p, size_t n);
/* A positive INTEGER from a big-endian magnitude (leading zeros dropped). */
void kw_der_put_uint(struct kw_der_w *w, const uint8_t *mag, size_t n);
/* *len: the bytes written; KW_ERR_SPACE if the buffer was too small. */
int kw_der_w_end(const struct kw_der_w *w, size_t *len);

/* SubjectPublicKeyInfo.  point: uncompressed (04 || X || Y); n, e:
 * big-endian magnitudes.  *len: the room in der on entry, used on return. */
int kw_der_spki_ec(enum kw_key_alg alg, const uint8_t *point, size_t plen,
    uint8_t *der, size_t *len);
int kw_der_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e,
    size_t elen, uint8_t *der, size_t *len);
/* The key type of a SubjectPublicKeyInfo, KW_ALG_NONE if not ours. */
enum kw_key_alg kw_der_spki_alg(const uint8_t *der, size_t len);
/* The namedCurve OID element (tag included) of a curve, and back. */
const uint8_t *kw_der_curve_oid(enum kw_key_alg alg, size_t *len);
enum kw_key_alg kw_der_curve_alg(const uint8_t *oid, size_t len);

/* Base64 (RFC 4648) as armour and EST bodies carry it: CR, LF, space and
 * tab are skipped, '=' padding is required and final, the bits padding
 * drops must be zero, anything else is KW_ERR_PARSE.  *out malloc'd. */
int kw_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);
/* Base64 with a LF every 64 characters and at the end (wolfSSL's encoder);
 * *out malloc'd and NUL-terminated. */
int kw_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len);

/* The fields of one X.509 certificate.  Windows point into the caller's
 * buffer and hold whole elements (tag and length included). */
struct kw_der_cert {
	struct kw_der serial;		/* INTEGER */
	struct kw_der issuer;		/* Name */
	struct kw_der subject;		/* Name */
	struct kw_der spki;		/* SubjectPublicKeyInfo */
	time_t not_before;
	time_t not_after;
	int is_ca;			/* basicConstraints cA TRUE */
};
/* der..der+len must be exactly one certificate that wolfSSL parses (its
 * signature is not checked here). */
int kw_der_cert(const uint8_t *der, size_t len, struct kw_der_cert *out);

#endif
