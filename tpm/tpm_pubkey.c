/* TPM public areas: the key and SRK templates, and DER SubjectPublicKeyInfo
 * encoding (hand-made: tpm/ links no crypto library). */
#include <string.h>

#include "kw_error.h"
#include "tpm_int.h"

#define TPM_SIGN_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_SIGN_ENCRYPT)
#define TPM_SRK_ATTRS (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
	TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
	TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

void
tpm_pub_srk_template(TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPM_SRK_ATTRS;
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
	p->parameters.eccDetail.symmetric.keyBits.aes = 128;
	p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	/* unique: empty x and y */
}

int
tpm_pub_is_srk_template(const TPMT_PUBLIC *p)
{
	const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

	return p->type == TPM2_ALG_ECC && p->nameAlg == TPM2_ALG_SHA256 &&
	    p->objectAttributes == TPM_SRK_ATTRS && p->authPolicy.size == 0 &&
	    e->symmetric.algorithm == TPM2_ALG_AES &&
	    e->symmetric.keyBits.aes == 128 &&
	    e->symmetric.mode.aes == TPM2_ALG_CFB &&
	    e->scheme.scheme == TPM2_ALG_NULL &&
	    e->curveID == TPM2_ECC_NIST_P256 && e->kdf.scheme == TPM2_ALG_NULL;
}

int
tpm_pub_key_template(enum kw_key_alg alg, int with_auth, TPM2B_PUBLIC *out)
{
	TPMT_PUBLIC *p = &out->publicArea;

	memset(out, 0, sizeof(*out));
	p->nameAlg = TPM2_ALG_SHA256;
	/* Never decrypt; the signature scheme and hash are chosen per call.
	 * Without an auth value there is nothing to guess, and dictionary-
	 * attack protection would only stop the key from signing while the
	 * TPM is in lockout (which unclean power-offs alone can cause): such
	 * keys are noDA, like tpm2-tss-engine's.  Keys with an auth value
	 * stay DA-protected. */
	p->objectAttributes = TPM_SIGN_ATTRS;
	if (!with_auth)
		p->objectAttributes |= TPMA_OBJECT_NODA;
	switch (alg) {
	case KW_ALG_EC_P256:
	case KW_ALG_EC_P384:
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = alg == KW_ALG_EC_P256 ?
		    TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		return KW_OK;
	case KW_ALG_RSA2048:
	case KW_ALG_RSA3072:
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = alg == KW_ALG_RSA2048 ?
		    2048 : 3072;
		p->parameters.rsaDetail.exponent = 0;	/* 65537 */
		return KW_OK;
	default:
		return KW_ERR_UNSUPPORTED;
	}
}

enum kw_key_alg
tpm_pub_alg(const TPMT_PUBLIC *p)
{
	if (p->type == TPM2_ALG_ECC) {
		if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
			return KW_ALG_EC_P256;
		if (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384)
			return KW_ALG_EC_P384;
	} else if (p->type == TPM2_ALG_RSA) {
		if (p->parameters.rsaDetail.keyBits == 2048)
			return KW_ALG_RSA2048;
		if (p->parameters.rsaDetail.keyBits == 3072)
			return KW_ALG_RSA3072;
	}
	return KW_ALG_NONE;
}

/* A small DER writer over a fixed buffer; overflow sets err. */
struct tpm_dw {
	uint8_t *buf;
	size_t cap, off;
	int err;
};

static void
tpm_dw_bytes(struct tpm_dw *w, const void *p, size_t n)
{
	if (w->err || n > w->cap - w->off) {
		w->err = 1;
		return;
	}
	memcpy(w->buf + w->off, p, n);
	w->off += n;
}

static void
tpm_dw_hdr(struct tpm_dw *w, uint8_t tag, size_t len)
{
	uint8_t h[4];
	size_t n = 0;

	h[n++] = tag;
	if (len < 0x80)
		h[n++] = (uint8_t)len;
	else if (len < 0x100) {
		h[n++] = 0x81;
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = 0x82;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	}
	tpm_dw_bytes(w, h, n);
}

static size_t
tpm_hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

/* Unsigned big-endian magnitude: strip leading zeros. */
static void
tpm_strip(const uint8_t **p, size_t *n)
{
	while (*n > 1 && (*p)[0] == 0) {
		(*p)++;
		(*n)--;
	}
}

static size_t
tpm_int_len(const uint8_t *p, size_t n)
{
	size_t l = n + ((p[0] & 0x80) ? 1 : 0);

	return tpm_hdr_len(l) + l;
}

static void
tpm_dw_int(struct tpm_dw *w, const uint8_t *p, size_t n)
{
	static const uint8_t zero = 0;

	tpm_dw_hdr(w, 0x02, n + ((p[0] & 0x80) ? 1 : 0));
	if (p[0] & 0x80)
		tpm_dw_bytes(w, &zero, 1);
	tpm_dw_bytes(w, p, n);
}

static int
tpm_spki_ec(const TPMT_PUBLIC *pub, struct tpm_dw *w)
{
	static const uint8_t alg_p256[] = {
		0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
		0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
	};
	static const uint8_t alg_p384[] = {
		0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
		0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
	};
	const TPMS_ECC_POINT *pt = &pub->unique.ecc;
	uint8_t point[1 + 2 * 48];
	size_t fs, bits;
	const uint8_t *alg;
	size_t alg_len;

	if (pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256) {
		fs = 32;
		alg = alg_p256;
		alg_len = sizeof(alg_p256);
	} else if (pub->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384) {
		fs = 48;
		alg = alg_p384;
		alg_len = sizeof(alg_p384);
	} else
		return KW_ERR_UNSUPPORTED;
	if (pt->x.size == 0 || pt->x.size > fs || pt->y.size == 0 ||
	    pt->y.size > fs)
		return KW_ERR_PARSE;
	/* Uncompressed point, coordinates left-padded to the field size. */
	memset(point, 0, sizeof(point));
	point[0] = 0x04;
	memcpy(point + 1 + fs - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(point + 1 + 2 * fs - pt->y.size, pt->y.buffer, pt->y.size);
	bits = 1 + (1 + 2 * fs);
	tpm_dw_hdr(w, 0x30, alg_len + tpm_hdr_len(bits) + bits);
	tpm_dw_bytes(w, alg, alg_len);
	tpm_dw_hdr(w, 0x03, bits);
	tpm_dw_bytes(w, "", 1);		/* no unused bits */
	tpm_dw_bytes(w, point, 1 + 2 * fs);
	return KW_OK;
}

static int
tpm_spki_rsa(const TPMT_PUBLIC *pub, struct tpm_dw *w)
{
	static const uint8_t alg_rsa[] = {
		0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x01, 0x01, 0x05, 0x00
	};
	uint32_t e = pub->parameters.rsaDetail.exponent;
	uint8_t eb[4];
	const uint8_t *n = pub->unique.rsa.buffer, *ep = eb;
	size_t n_len = pub->unique.rsa.size, e_len = sizeof(eb), seq, bits;

	if (n_len == 0 || n_len > sizeof(pub->unique.rsa.buffer))
		return KW_ERR_PARSE;
	if (e == 0)
		e = 65537;	/* the TPM's way of saying "default" */
	eb[0] = (uint8_t)(e >> 24);
	eb[1] = (uint8_t)(e >> 16);
	eb[2] = (uint8_t)(e >> 8);
	eb[3] = (uint8_t)e;
	tpm_strip(&n, &n_len);
	tpm_strip(&ep, &e_len);
	seq = tpm_int_len(n, n_len) + tpm_int_len(ep, e_len);
	bits = 1 + tpm_hdr_len(seq) + seq;
	tpm_dw_hdr(w, 0x30, sizeof(alg_rsa) + tpm_hdr_len(bits) + bits);
	tpm_dw_bytes(w, alg_rsa, sizeof(alg_rsa));
	tpm_dw_hdr(w, 0x03, bits);
	tpm_dw_bytes(w, "", 1);
	tpm_dw_hdr(w, 0x30, seq);
	tpm_dw_int(w, n, n_len);
	tpm_dw_int(w, ep, e_len);
	return KW_OK;
}

int
tpm_pub_spki(const TPMT_PUBLIC *pub, uint8_t *der, size_t *len)
{
	struct tpm_dw w = { der, *len, 0, 0 };
	int r;

	if (pub->type == TPM2_ALG_ECC)
		r = tpm_spki_ec(pub, &w);
	else if (pub->type == TPM2_ALG_RSA)
		r = tpm_spki_rsa(pub, &w);
	else
		r = KW_ERR_UNSUPPORTED;
	if (r == KW_OK && w.err)
		r = KW_ERR_SPACE;
	*len = r == KW_OK ? w.off : 0;
	return r;
}
