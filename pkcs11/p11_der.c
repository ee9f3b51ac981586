/* Hand-written DER for what the PKCS#11 backend needs: SubjectPublicKeyInfo
 * for EC and RSA keys, the few fields of a certificate that a certificate
 * object carries (CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER), and the
 * PKCS#1 v1.5 DigestInfo prefixes.  No crypto library in pkcs11/. */
#include <string.h>

#include "kw_error.h"
#include "p11_internal.h"

/* namedCurve OIDs as CKA_EC_PARAMS holds them (DER, with tag). */
static const uint8_t p11_oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t p11_oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
/* id-ecPublicKey and rsaEncryption */
static const uint8_t p11_oid_ecpub[] = {
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t p11_oid_rsa[] = {
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };

/* DigestInfo prefixes (RFC 8017 section 9.2, note 1). */
static const uint8_t p11_di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t p11_di_sha384[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t p11_di_sha512[] = {
	0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

const uint8_t *
p11_digest_info(enum kw_hash hash, size_t *len)
{
	switch (hash) {
	case KW_HASH_SHA256:
		*len = sizeof(p11_di_sha256);
		return p11_di_sha256;
	case KW_HASH_SHA384:
		*len = sizeof(p11_di_sha384);
		return p11_di_sha384;
	case KW_HASH_SHA512:
		*len = sizeof(p11_di_sha512);
		return p11_di_sha512;
	default:
		*len = 0;
		return NULL;
	}
}

enum kw_key_alg
p11_ec_alg(const uint8_t *params, size_t len)
{
	if (len == sizeof(p11_oid_p256) &&
	    memcmp(params, p11_oid_p256, len) == 0)
		return KW_ALG_EC_P256;
	if (len == sizeof(p11_oid_p384) &&
	    memcmp(params, p11_oid_p384, len) == 0)
		return KW_ALG_EC_P384;
	return KW_ALG_NONE;
}

const uint8_t *
p11_ec_params(enum kw_key_alg alg, size_t *len)
{
	switch (alg) {
	case KW_ALG_EC_P256:
		*len = sizeof(p11_oid_p256);
		return p11_oid_p256;
	case KW_ALG_EC_P384:
		*len = sizeof(p11_oid_p384);
		return p11_oid_p384;
	default:
		*len = 0;
		return NULL;
	}
}

/* ---- a tiny DER writer (sizes are small, lengths computed first) ---- */

struct p11_w {
	uint8_t *buf;
	size_t len, used;
	int err;
};

static void
p11_w_bytes(struct p11_w *w, const uint8_t *p, size_t n)
{
	if (w->err || n > w->len - w->used) {
		w->err = 1;
		return;
	}
	memcpy(w->buf + w->used, p, n);
	w->used += n;
}

static void
p11_w_hdr(struct p11_w *w, uint8_t tag, size_t n)
{
	uint8_t h[4];
	size_t k = 0;

	h[k++] = tag;
	if (n < 0x80)
		h[k++] = (uint8_t)n;
	else if (n < 0x100) {
		h[k++] = 0x81;
		h[k++] = (uint8_t)n;
	} else if (n < 0x10000) {
		h[k++] = 0x82;
		h[k++] = (uint8_t)(n >> 8);
		h[k++] = (uint8_t)n;
	} else {
		w->err = 1;
		return;
	}
	p11_w_bytes(w, h, k);
}

static size_t
p11_hdr_len(size_t n)
{
	return n < 0x80 ? 2 : n < 0x100 ? 3 : 4;
}

/* A positive INTEGER from big-endian magnitude bytes. */
static size_t
p11_int_body(const uint8_t **p, size_t *n)
{
	while (*n > 1 && (*p)[0] == 0) {
		(*p)++;
		(*n)--;
	}
	return *n + (((*p)[0] & 0x80) ? 1 : 0);
}

static void
p11_w_int(struct p11_w *w, const uint8_t *p, size_t n)
{
	size_t body = p11_int_body(&p, &n);
	uint8_t zero = 0;

	p11_w_hdr(w, 0x02, body);
	if (body > n)
		p11_w_bytes(w, &zero, 1);
	p11_w_bytes(w, p, n);
}

int
p11_spki_ec(enum kw_key_alg alg, const uint8_t *point, size_t plen,
    uint8_t *der, size_t *der_len)
{
	struct p11_w w = { der, *der_len, 0, 0 };
	const uint8_t *curve;
	size_t clen, field, algid, bits;
	uint8_t zero = 0;

	if ((curve = p11_ec_params(alg, &clen)) == NULL)
		return KW_ERR_UNSUPPORTED;
	field = alg == KW_ALG_EC_P256 ? 32 : 48;
	/* CKA_EC_POINT is a DER OCTET STRING holding the point; a few
	 * modules give the raw point instead. */
	if (plen == 2 * field + 3 && point[0] == 0x04 &&
	    point[1] == 2 * field + 1) {
		point += 2;
		plen -= 2;
	} else if (plen == 2 * field + 4 && point[0] == 0x04 &&
	    point[1] == 0x81 && point[2] == 2 * field + 1) {
		point += 3;
		plen -= 3;
	}
	if (plen != 2 * field + 1 || point[0] != 0x04)
		return KW_ERR_PARSE;	/* not an uncompressed point */
	algid = sizeof(p11_oid_ecpub) + clen;
	bits = plen + 1;
	p11_w_hdr(&w, 0x30, p11_hdr_len(algid) + algid + p11_hdr_len(bits) +
	    bits);
	p11_w_hdr(&w, 0x30, algid);
	p11_w_bytes(&w, p11_oid_ecpub, sizeof(p11_oid_ecpub));
	p11_w_bytes(&w, curve, clen);
	p11_w_hdr(&w, 0x03, bits);
	p11_w_bytes(&w, &zero, 1);
	p11_w_bytes(&w, point, plen);
	if (w.err)
		return KW_ERR_SPACE;
	*der_len = w.used;
	return KW_OK;
}

int
p11_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    uint8_t *der, size_t *der_len)
{
	struct p11_w w = { der, *der_len, 0, 0 };
	const uint8_t *pn = n, *pe = e;
	size_t bn = nlen, be = elen, nb, eb, seq, algid, bits;
	static const uint8_t null[] = { 0x05, 0x00 };
	uint8_t zero = 0;

	if (nlen == 0 || elen == 0)
		return KW_ERR_PARSE;
	nb = p11_int_body(&pn, &bn);
	eb = p11_int_body(&pe, &be);
	seq = p11_hdr_len(nb) + nb + p11_hdr_len(eb) + eb;
	bits = 1 + p11_hdr_len(seq) + seq;
	algid = sizeof(p11_oid_rsa) + sizeof(null);
	p11_w_hdr(&w, 0x30, p11_hdr_len(algid) + algid + p11_hdr_len(bits) +
	    bits);
	p11_w_hdr(&w, 0x30, algid);
	p11_w_bytes(&w, p11_oid_rsa, sizeof(p11_oid_rsa));
	p11_w_bytes(&w, null, sizeof(null));
	p11_w_hdr(&w, 0x03, bits);
	p11_w_bytes(&w, &zero, 1);
	p11_w_hdr(&w, 0x30, seq);
	p11_w_int(&w, n, nlen);
	p11_w_int(&w, e, elen);
	if (w.err)
		return KW_ERR_SPACE;
	*der_len = w.used;
	return KW_OK;
}

/* ---- a tiny DER reader ---- */

/* Read one TLV at p (within end).  *body and *blen: its contents; returns the
 * total length of the TLV, or 0 if malformed. */
static size_t
p11_tlv(const uint8_t *p, const uint8_t *end, uint8_t *tag,
    const uint8_t **body, size_t *blen)
{
	size_t avail = (size_t)(end - p), n, hl, i, k;

	if (avail < 2)
		return 0;
	*tag = p[0];
	if ((p[0] & 0x1f) == 0x1f)
		return 0;		/* high tag numbers: not in certs */
	if (p[1] < 0x80) {
		n = p[1];
		hl = 2;
	} else {
		k = p[1] & 0x7f;
		if (k == 0 || k > 3 || avail < 2 + k)
			return 0;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | p[2 + i];
		hl = 2 + k;
	}
	if (n > avail - hl)
		return 0;
	*body = p + hl;
	*blen = n;
	return hl + n;
}

int
p11_cert_parse(const uint8_t *cert, size_t len, struct p11_cert_parts *out)
{
	const uint8_t *p, *end, *body;
	size_t blen, t;
	uint8_t tag;

	memset(out, 0, sizeof(*out));
	if (p11_tlv(cert, cert + len, &tag, &body, &blen) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	end = body + blen;
	/* tbsCertificate */
	if (p11_tlv(body, end, &tag, &body, &blen) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	p = body;
	end = body + blen;
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0)
		return KW_ERR_CERT;
	if (tag == 0xa0) {		/* [0] version */
		p += t;
		if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0)
			return KW_ERR_CERT;
	}
	if (tag != 0x02)
		return KW_ERR_CERT;
	out->serial = p;
	out->serial_len = t;
	p += t;
	/* signature AlgorithmIdentifier */
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	p += t;
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	out->issuer = p;
	out->issuer_len = t;
	p += t;
	/* validity */
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	p += t;
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	out->subject = p;
	out->subject_len = t;
	p += t;
	if ((t = p11_tlv(p, end, &tag, &body, &blen)) == 0 || tag != 0x30)
		return KW_ERR_CERT;
	out->spki = p;
	out->spki_len = t;
	return KW_OK;
}

enum kw_key_alg
p11_spki_alg(const uint8_t *der, size_t len)
{
	const uint8_t *body, *end, *ab, *oid, *bits;
	size_t blen, alen, olen, bl, t, nbytes;
	uint8_t tag;

	if (p11_tlv(der, der + len, &tag, &body, &blen) == 0 || tag != 0x30)
		return KW_ALG_NONE;
	end = body + blen;
	if ((t = p11_tlv(body, end, &tag, &ab, &alen)) == 0 || tag != 0x30)
		return KW_ALG_NONE;
	if (p11_tlv(body + t, end, &tag, &bits, &bl) == 0 || tag != 0x03)
		return KW_ALG_NONE;
	if ((t = p11_tlv(ab, ab + alen, &tag, &oid, &olen)) == 0)
		return KW_ALG_NONE;
	if (t == sizeof(p11_oid_ecpub) &&
	    memcmp(ab, p11_oid_ecpub, t) == 0)
		return p11_ec_alg(ab + t, alen - t);
	if (t != sizeof(p11_oid_rsa) || memcmp(ab, p11_oid_rsa, t) != 0)
		return KW_ALG_NONE;
	/* BIT STRING: 00, SEQUENCE { INTEGER n, INTEGER e } */
	if (bl < 1 || p11_tlv(bits + 1, bits + bl, &tag, &body, &blen) == 0 ||
	    tag != 0x30 ||
	    p11_tlv(body, body + blen, &tag, &oid, &olen) == 0 || tag != 0x02)
		return KW_ALG_NONE;
	nbytes = olen;
	while (nbytes > 0 && *oid == 0) {
		oid++;
		nbytes--;
	}
	if (nbytes == 256)
		return KW_ALG_RSA2048;
	if (nbytes == 384)
		return KW_ALG_RSA3072;
	return KW_ALG_NONE;
}
