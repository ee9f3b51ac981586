/* TPM 2.0 evidence structures: strict parsing (libtss2-mu), object names,
 * public areas as SubjectPublicKeyInfo, signatures by the AK (wolfCrypt),
 * and the certify and quote checks. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <string.h>

#include <tss2/tss2_mu.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "attest/attest_int.h"

int
attest_parse_public(const uint8_t *p, size_t len, TPMT_PUBLIC *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (p == NULL || len == 0 ||
	    Tss2_MU_TPMT_PUBLIC_Unmarshal(p, len, &off, out) != TSS2_RC_SUCCESS ||
	    off != len)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
attest_parse_attest(const uint8_t *p, size_t len, TPMS_ATTEST *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (p == NULL || len == 0 ||
	    Tss2_MU_TPMS_ATTEST_Unmarshal(p, len, &off, out) != TSS2_RC_SUCCESS ||
	    off != len)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
attest_parse_signature(const uint8_t *p, size_t len, TPMT_SIGNATURE *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (p == NULL || len == 0 ||
	    Tss2_MU_TPMT_SIGNATURE_Unmarshal(p, len, &off, out) !=
	    TSS2_RC_SUCCESS || off != len)
		return KW_ERR_PARSE;
	return KW_OK;
}

size_t
attest_hash_size(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_SHA256:
		return 32;
	case TPM2_ALG_SHA384:
		return 48;
	case TPM2_ALG_SHA512:
		return 64;
	default:
		return 0;
	}
}

int
attest_wc_hash(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_SHA256:
		return WC_HASH_TYPE_SHA256;
	case TPM2_ALG_SHA384:
		return WC_HASH_TYPE_SHA384;
	case TPM2_ALG_SHA512:
		return WC_HASH_TYPE_SHA512;
	default:
		return -1;
	}
}

int
attest_hash(TPM2_ALG_ID alg, const uint8_t *p, size_t len, uint8_t *out)
{
	int t = attest_wc_hash(alg);

	if (t < 0)
		return KW_ERR_UNSUPPORTED;
	if (wc_Hash((enum wc_HashType)t, p, (word32)len, out,
	    (word32)attest_hash_size(alg)) != 0)
		return KW_ERR_CRYPTO;
	return KW_OK;
}

int
kw_attest_name(const uint8_t *pub, size_t pub_len, uint8_t *name, size_t *len)
{
	TPMT_PUBLIC tp;
	size_t hs;
	int r;

	if ((r = attest_parse_public(pub, pub_len, &tp)) != KW_OK)
		return r;
	if ((hs = attest_hash_size(tp.nameAlg)) == 0)
		return KW_ERR_UNSUPPORTED;
	if (*len < 2 + hs)
		return KW_ERR_SPACE;
	name[0] = (uint8_t)(tp.nameAlg >> 8);
	name[1] = (uint8_t)tp.nameAlg;
	if ((r = attest_hash(tp.nameAlg, pub, pub_len, name + 2)) != KW_OK)
		return r;
	*len = 2 + hs;
	return KW_OK;
}

/* The SPKI of a parsed public area. */
static int
attest_spki(const TPMT_PUBLIC *tp, uint8_t *spki, size_t *len)
{
	uint8_t point[1 + 2 * 48], e[4];
	enum kw_key_alg alg;
	uint32_t exp;
	size_t cs;

	if (tp->type == TPM2_ALG_ECC) {
		switch (tp->parameters.eccDetail.curveID) {
		case TPM2_ECC_NIST_P256:
			alg = KW_ALG_EC_P256;
			cs = 32;
			break;
		case TPM2_ECC_NIST_P384:
			alg = KW_ALG_EC_P384;
			cs = 48;
			break;
		default:
			return KW_ERR_UNSUPPORTED;
		}
		if (tp->unique.ecc.x.size > cs || tp->unique.ecc.y.size > cs)
			return KW_ERR_PARSE;
		memset(point, 0, sizeof(point));
		point[0] = 0x04;
		memcpy(point + 1 + cs - tp->unique.ecc.x.size,
		    tp->unique.ecc.x.buffer, tp->unique.ecc.x.size);
		memcpy(point + 1 + 2 * cs - tp->unique.ecc.y.size,
		    tp->unique.ecc.y.buffer, tp->unique.ecc.y.size);
		return kw_der_spki_ec(alg, point, 1 + 2 * cs, spki, len);
	}
	if (tp->type == TPM2_ALG_RSA) {
		if (tp->unique.rsa.size == 0)
			return KW_ERR_PARSE;
		exp = tp->parameters.rsaDetail.exponent;
		if (exp == 0)
			exp = 65537;
		e[0] = (uint8_t)(exp >> 24);
		e[1] = (uint8_t)(exp >> 16);
		e[2] = (uint8_t)(exp >> 8);
		e[3] = (uint8_t)exp;
		return kw_der_spki_rsa(tp->unique.rsa.buffer, tp->unique.rsa.size,
		    e, sizeof(e), spki, len);
	}
	return KW_ERR_UNSUPPORTED;
}

int
kw_attest_pub_spki(const uint8_t *pub, size_t pub_len, uint8_t *spki,
    size_t *len)
{
	TPMT_PUBLIC tp;
	int r;

	if ((r = attest_parse_public(pub, pub_len, &tp)) != KW_OK)
		return r;
	return attest_spki(&tp, spki, len);
}

/* The SubjectPublicKeyInfo inside DER: a certificate, a PKCS#10 request
 * (CertificationRequestInfo's third element) or the SPKI itself. */
static int
attest_spki_der(const uint8_t *der, size_t len, uint8_t **spki,
    size_t *spki_len)
{
	struct kw_der_cert cert;
	struct kw_der d, seq, info, ver, name, key, sigalg;

	if (kw_der_spki_alg(der, len) != KW_ALG_NONE) {
		*spki = (uint8_t *)der;
		*spki_len = len;
		return KW_OK;
	}
	if (kw_der_cert(der, len, &cert) == KW_OK) {
		*spki = (uint8_t *)cert.spki.p;
		*spki_len = cert.spki.len;
		return KW_OK;
	}
	/* CertificationRequest ::= SEQUENCE { info, sigAlg, signature } */
	if (kw_der_only(der, len, 0x30, &seq) != KW_OK)
		return KW_ERR_PARSE;
	d = seq;
	if (kw_der_get(&d, 0x30, &info, NULL) != KW_OK ||
	    kw_der_get(&d, 0x30, &sigalg, NULL) != KW_OK ||
	    kw_der_get(&d, 0x03, NULL, NULL) != KW_OK || d.len != 0)
		return KW_ERR_PARSE;
	d = info;
	if (kw_der_get(&d, 0x02, &ver, NULL) != KW_OK ||
	    kw_der_get(&d, 0x30, &name, NULL) != KW_OK ||
	    kw_der_get(&d, 0x30, NULL, &key) != KW_OK)
		return KW_ERR_PARSE;
	if (kw_der_spki_alg(key.p, key.len) == KW_ALG_NONE)
		return KW_ERR_UNSUPPORTED;
	*spki = (uint8_t *)key.p;
	*spki_len = key.len;
	return KW_OK;
}

int
kw_attest_spki_of(const uint8_t *buf, size_t len, uint8_t **spki,
    size_t *spki_len)
{
	static const char *const labels[] = { "CERTIFICATE",
	    "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "PUBLIC KEY" };
	char begin[64];
	const char *b, *e;
	uint8_t *der = NULL;
	size_t i, n, der_len = 0;
	int r = KW_ERR_PARSE;

	*spki = NULL;
	*spki_len = 0;
	if (len == 0 || buf[0] == 0x30) {
		if ((r = attest_spki_der(buf, len, &der, &der_len)) != KW_OK)
			return r;
		if ((*spki = malloc(der_len)) == NULL)
			return KW_ERR_NOMEM;
		memcpy(*spki, der, der_len);
		*spki_len = der_len;
		return KW_OK;
	}
	/* PEM: the first block with one of our labels */
	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		snprintf(begin, sizeof(begin), "-----BEGIN %s-----", labels[i]);
		b = memmem(buf, len, begin, strlen(begin));
		if (b == NULL)
			continue;
		b += strlen(begin);
		e = memmem(b, len - (size_t)(b - (const char *)buf), "-----END",
		    8);
		if (e == NULL)
			return KW_ERR_PARSE;
		n = (size_t)(e - b);
		if ((r = kw_b64_decode(b, n, &der, &der_len)) != KW_OK)
			return r;
		break;
	}
	if (der == NULL)
		return KW_ERR_PARSE;
	if ((r = attest_spki_der(der, der_len, spki, spki_len)) == KW_OK) {
		uint8_t *copy = malloc(*spki_len);

		if (copy == NULL)
			r = KW_ERR_NOMEM;
		else
			memcpy(copy, *spki, *spki_len);
		*spki = copy;
	}
	if (r != KW_OK) {
		*spki = NULL;
		*spki_len = 0;
	}
	free(der);
	return r;
}

int
kw_attest_qualifying(const uint8_t *nonce, size_t nonce_len,
    const uint8_t *exporter, size_t exporter_len, uint8_t *out, size_t *len)
{
	wc_Sha256 h;
	int ok;

	if (exporter == NULL) {
		if (nonce_len > *len || nonce_len > 64)
			return KW_ERR_SPACE;
		if (nonce_len > 0)
			memcpy(out, nonce, nonce_len);
		*len = nonce_len;
		return KW_OK;
	}
	if (*len < WC_SHA256_DIGEST_SIZE)
		return KW_ERR_SPACE;
	ok = wc_InitSha256(&h) == 0 &&
	    wc_Sha256Update(&h, nonce, (word32)nonce_len) == 0 &&
	    wc_Sha256Update(&h, exporter, (word32)exporter_len) == 0 &&
	    wc_Sha256Final(&h, out) == 0;
	wc_Sha256Free(&h);
	if (!ok)
		return KW_ERR_CRYPTO;
	*len = WC_SHA256_DIGEST_SIZE;
	return KW_OK;
}

/* Is sig over msg made by the key of ak?  KW_OK yes, KW_ERR_ATTEST no. */
static int
attest_sig_ok(const TPMT_PUBLIC *ak, const TPMT_SIGNATURE *sig,
    const uint8_t *msg, size_t msg_len)
{
	uint8_t dig[64], enc[128], dec[1024], *out;
	TPM2_ALG_ID halg;
	ecc_key ec;
	RsaKey rsa;
	mp_int r, s;
	size_t hs;
	word32 elen;
	int ret = KW_ERR_ATTEST, res = 0, n, curve, oid;
	uint8_t e[4];
	uint32_t exp;

	switch (sig->sigAlg) {
	case TPM2_ALG_ECDSA:
		halg = sig->signature.ecdsa.hash;
		break;
	case TPM2_ALG_RSASSA:
		halg = sig->signature.rsassa.hash;
		break;
	case TPM2_ALG_RSAPSS:
		halg = sig->signature.rsapss.hash;
		break;
	default:
		return KW_ERR_ATTEST;
	}
	if ((hs = attest_hash_size(halg)) == 0 || attest_hash(halg, msg,
	    msg_len, dig) != KW_OK)
		return KW_ERR_ATTEST;
	if (sig->sigAlg == TPM2_ALG_ECDSA) {
		if (ak->type != TPM2_ALG_ECC)
			return KW_ERR_ATTEST;
		curve = ak->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ?
		    ECC_SECP256R1 : ak->parameters.eccDetail.curveID ==
		    TPM2_ECC_NIST_P384 ? ECC_SECP384R1 : -1;
		if (curve < 0 || wc_ecc_init(&ec) != 0)
			return KW_ERR_ATTEST;
		if (mp_init_multi(&r, &s, NULL, NULL, NULL, NULL) != MP_OKAY) {
			wc_ecc_free(&ec);
			return KW_ERR_ATTEST;
		}
		if (wc_ecc_import_unsigned(&ec, ak->unique.ecc.x.buffer,
		    ak->unique.ecc.y.buffer, NULL, curve) == 0 &&
		    ak->unique.ecc.x.size == (size_t)wc_ecc_get_curve_size_from_id(curve) &&
		    ak->unique.ecc.y.size == ak->unique.ecc.x.size &&
		    mp_read_unsigned_bin(&r,
		    sig->signature.ecdsa.signatureR.buffer,
		    sig->signature.ecdsa.signatureR.size) == MP_OKAY &&
		    mp_read_unsigned_bin(&s,
		    sig->signature.ecdsa.signatureS.buffer,
		    sig->signature.ecdsa.signatureS.size) == MP_OKAY &&
		    wc_ecc_verify_hash_ex(&r, &s, dig, (word32)hs, &res,
		    &ec) == 0 && res == 1)
			ret = KW_OK;
		mp_clear(&r);
		mp_clear(&s);
		wc_ecc_free(&ec);
		return ret;
	}
	/* RSASSA-PKCS1-v1_5 or RSASSA-PSS */
	if (ak->type != TPM2_ALG_RSA || wc_InitRsaKey(&rsa, NULL) != 0)
		return KW_ERR_ATTEST;
	exp = ak->parameters.rsaDetail.exponent ? ak->parameters.rsaDetail.exponent :
	    65537;
	e[0] = (uint8_t)(exp >> 24);
	e[1] = (uint8_t)(exp >> 16);
	e[2] = (uint8_t)(exp >> 8);
	e[3] = (uint8_t)exp;
	if (wc_RsaPublicKeyDecodeRaw(ak->unique.rsa.buffer, ak->unique.rsa.size,
	    e, sizeof(e), &rsa) != 0)
		goto out;
	if (sig->sigAlg == TPM2_ALG_RSASSA) {
		oid = wc_HashGetOID((enum wc_HashType)attest_wc_hash(halg));
		elen = wc_EncodeSignature(enc, dig, (word32)hs, oid);
		n = wc_RsaSSL_Verify(sig->signature.rsassa.sig.buffer,
		    sig->signature.rsassa.sig.size, dec, sizeof(dec), &rsa);
		if (n > 0 && (word32)n == elen && kw_memeq_ct(dec, enc, elen))
			ret = KW_OK;
	} else {
		n = wc_RsaPSS_VerifyInline(
		    (byte *)sig->signature.rsapss.sig.buffer,
		    sig->signature.rsapss.sig.size, &out,
		    (enum wc_HashType)attest_wc_hash(halg),
		    halg == TPM2_ALG_SHA256 ? WC_MGF1SHA256 : halg ==
		    TPM2_ALG_SHA384 ? WC_MGF1SHA384 : WC_MGF1SHA512, &rsa);
		if (n > 0 && wc_RsaPSS_CheckPadding(dig, (word32)hs, out,
		    (word32)n, (enum wc_HashType)attest_wc_hash(halg)) == 0)
			ret = KW_OK;
	}
out:
	wc_FreeRsaKey(&rsa);
	return ret;
}

/* The AK: a restricted signing key that never leaves its TPM. */
static int
attest_ak_ok(const TPMT_PUBLIC *ak)
{
	const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN;

	return (ak->objectAttributes & need) == need &&
	    !(ak->objectAttributes & TPMA_OBJECT_DECRYPT);
}

/* Parse and check what certify and quote share: the AK, the signature,
 * the magic, the type and the qualifying data. */
static int
attest_common(const uint8_t *ak_pub, size_t ak_len, const uint8_t *info,
    size_t info_len, const uint8_t *sig, size_t sig_len, const uint8_t *qual,
    size_t qual_len, TPM2_ST type, TPMS_ATTEST *att,
    TPM2_ALG_ID *sig_hash, enum kw_attest_reason *reason)
{
	TPMT_PUBLIC ak;
	TPMT_SIGNATURE ts;

	if (attest_parse_public(ak_pub, ak_len, &ak) != KW_OK ||
	    attest_parse_attest(info, info_len, att) != KW_OK ||
	    attest_parse_signature(sig, sig_len, &ts) != KW_OK) {
		*reason = KW_ATTEST_MALFORMED;
		return KW_ERR_ATTEST;
	}
	if (!attest_ak_ok(&ak)) {
		*reason = KW_ATTEST_AK_ATTRS;
		return KW_ERR_ATTEST;
	}
	if (att->magic != TPM2_GENERATED_VALUE) {
		*reason = KW_ATTEST_NOT_TPM;
		return KW_ERR_ATTEST;
	}
	if (att->type != type) {
		*reason = KW_ATTEST_WRONG_TYPE;
		return KW_ERR_ATTEST;
	}
	if (attest_sig_ok(&ak, &ts, info, info_len) != KW_OK) {
		*reason = KW_ATTEST_BAD_SIGNATURE;
		return KW_ERR_ATTEST;
	}
	if (att->extraData.size != qual_len || (qual_len > 0 &&
	    !kw_memeq_ct(att->extraData.buffer, qual, qual_len))) {
		*reason = KW_ATTEST_NONCE;
		return KW_ERR_ATTEST;
	}
	/* every signature scheme we take names its hash first */
	*sig_hash = ts.signature.any.hashAlg;
	return KW_OK;
}

int
kw_attest_check_certify(const uint8_t *ak_pub, size_t ak_len,
    const uint8_t *info, size_t info_len, const uint8_t *sig, size_t sig_len,
    const uint8_t *qual, size_t qual_len, const uint8_t *key_pub,
    size_t key_len, const uint8_t *spki, size_t spki_len,
    enum kw_attest_reason *reason)
{
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_SIGN_ENCRYPT;
	uint8_t name[2 + 64], mine[1024];
	size_t name_len = sizeof(name), mine_len = sizeof(mine);
	TPMS_ATTEST att;
	TPMT_PUBLIC kp;
	TPM2_ALG_ID h;
	int r;

	*reason = KW_ATTEST_OK;
	if ((r = attest_common(ak_pub, ak_len, info, info_len, sig, sig_len,
	    qual, qual_len, TPM2_ST_ATTEST_CERTIFY, &att, &h, reason)) != KW_OK)
		return r;
	if (attest_parse_public(key_pub, key_len, &kp) != KW_OK ||
	    kw_attest_name(key_pub, key_len, name, &name_len) != KW_OK) {
		*reason = KW_ATTEST_MALFORMED;
		return KW_ERR_ATTEST;
	}
	if (att.attested.certify.name.size != name_len ||
	    memcmp(att.attested.certify.name.name, name, name_len) != 0) {
		*reason = KW_ATTEST_NAME_MISMATCH;
		return KW_ERR_ATTEST;
	}
	/* fixed to this TPM and born in it; a signing key that signs anything
	 * (a restricted key would be an AK or a storage key, not a TLS key) */
	if ((kp.objectAttributes & need) != need ||
	    (kp.objectAttributes & TPMA_OBJECT_RESTRICTED)) {
		*reason = KW_ATTEST_KEY_ATTRS;
		return KW_ERR_ATTEST;
	}
	if (spki != NULL) {
		if (attest_spki(&kp, mine, &mine_len) != KW_OK ||
		    mine_len != spki_len || memcmp(mine, spki, spki_len) != 0) {
			*reason = KW_ATTEST_KEY_MISMATCH;
			return KW_ERR_ATTEST;
		}
	}
	return KW_OK;
}

int
kw_attest_check_quote(const uint8_t *ak_pub, size_t ak_len,
    const uint8_t *info, size_t info_len, const uint8_t *sig, size_t sig_len,
    const uint8_t *qual, size_t qual_len, uint32_t want_mask,
    const uint8_t *values, size_t values_len, struct kw_attest_pcrs *pcrs,
    enum kw_attest_reason *reason)
{
	const TPML_PCR_SELECTION *sel;
	const TPMS_PCR_SELECTION *s;
	uint8_t dig[64];
	TPMS_ATTEST att;
	TPM2_ALG_ID h;
	uint32_t mask = 0, i;
	size_t n = 0, hs;
	int r;

	memset(pcrs, 0, sizeof(*pcrs));
	*reason = KW_ATTEST_OK;
	if ((r = attest_common(ak_pub, ak_len, info, info_len, sig, sig_len,
	    qual, qual_len, TPM2_ST_ATTEST_QUOTE, &att, &h, reason)) != KW_OK)
		return r;
	/* one bank, sha256, PCRs 0..23 */
	sel = &att.attested.quote.pcrSelect;
	s = &sel->pcrSelections[0];
	if (sel->count != 1 || s->hash != TPM2_ALG_SHA256 ||
	    s->sizeofSelect < 1 || s->sizeofSelect > 3) {
		*reason = KW_ATTEST_PCR_SELECTION;
		return KW_ERR_ATTEST;
	}
	for (i = 0; i < 8u * s->sizeofSelect; i++)
		if (s->pcrSelect[i / 8] & (1u << (i % 8)))
			mask |= 1u << i;
	if (mask == 0 || (want_mask != 0 && mask != want_mask)) {
		*reason = KW_ATTEST_PCR_SELECTION;
		return KW_ERR_ATTEST;
	}
	for (i = 0; i < 24; i++)
		if (mask & (1u << i))
			n++;
	hs = attest_hash_size(h);
	if (values_len != 32 * n || hs == 0 ||
	    attest_hash(h, values, values_len, dig) != KW_OK ||
	    att.attested.quote.pcrDigest.size != hs ||
	    memcmp(att.attested.quote.pcrDigest.buffer, dig, hs) != 0) {
		*reason = KW_ATTEST_PCR_DIGEST;
		return KW_ERR_ATTEST;
	}
	pcrs->mask = mask;
	for (i = 0, n = 0; i < 24; i++)
		if (mask & (1u << i))
			memcpy(pcrs->val[i], values + 32 * n++, 32);
	return KW_OK;
}
