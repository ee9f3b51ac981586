/* TPM public areas: the key and SRK templates, and their DER
 * SubjectPublicKeyInfo (written by common/kw_der). */
#include <string.h>

#include "kw_der.h"
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
	/* Sign only (tpm_key_generate adds decrypt for the RSA keys SCEP
	 * asks for); the signature scheme and hash are chosen per call.
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

static int
tpm_spki_ec(const TPMT_PUBLIC *pub, uint8_t *der, size_t *len)
{
	const TPMS_ECC_POINT *pt = &pub->unique.ecc;
	enum kw_key_alg alg = tpm_pub_alg(pub);
	uint8_t point[1 + 2 * 48];
	size_t fs;

	if (alg != KW_ALG_EC_P256 && alg != KW_ALG_EC_P384)
		return KW_ERR_UNSUPPORTED;
	fs = (size_t)kw_alg_bits(alg) / 8;
	if (pt->x.size == 0 || pt->x.size > fs || pt->y.size == 0 ||
	    pt->y.size > fs)
		return KW_ERR_PARSE;
	/* Uncompressed point, coordinates left-padded to the field size. */
	memset(point, 0, sizeof(point));
	point[0] = 0x04;
	memcpy(point + 1 + fs - pt->x.size, pt->x.buffer, pt->x.size);
	memcpy(point + 1 + 2 * fs - pt->y.size, pt->y.buffer, pt->y.size);
	return kw_der_spki_ec(alg, point, 1 + 2 * fs, der, len);
}

static int
tpm_spki_rsa(const TPMT_PUBLIC *pub, uint8_t *der, size_t *len)
{
	uint32_t e = pub->parameters.rsaDetail.exponent;
	uint8_t eb[4];

	if (pub->unique.rsa.size == 0 ||
	    pub->unique.rsa.size > sizeof(pub->unique.rsa.buffer))
		return KW_ERR_PARSE;
	if (e == 0)
		e = 65537;	/* the TPM's way of saying "default" */
	eb[0] = (uint8_t)(e >> 24);
	eb[1] = (uint8_t)(e >> 16);
	eb[2] = (uint8_t)(e >> 8);
	eb[3] = (uint8_t)e;
	return kw_der_spki_rsa(pub->unique.rsa.buffer, pub->unique.rsa.size,
	    eb, sizeof(eb), der, len);
}

int
tpm_pub_spki(const TPMT_PUBLIC *pub, uint8_t *der, size_t *len)
{
	int r;

	if (pub->type == TPM2_ALG_ECC)
		r = tpm_spki_ec(pub, der, len);
	else if (pub->type == TPM2_ALG_RSA)
		r = tpm_spki_rsa(pub, der, len);
	else
		r = KW_ERR_UNSUPPORTED;
	if (r != KW_OK)
		*len = 0;
	return r;
}
