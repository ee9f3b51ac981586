/* TSS2 PRIVATE KEY files (the format tpm2-openssl and tpm2-tss-engine use):
 *
 *   TSSPRIVKEY ::= SEQUENCE {
 *     type        OBJECT IDENTIFIER,            -- 2.23.133.10.1.3 loadable
 *     emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
 *     policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
 *     secret      [2] EXPLICIT OCTET STRING OPTIONAL,
 *     authPolicy  [3] EXPLICIT SEQUENCE OF TPMAuthPolicy OPTIONAL,
 *     description [4] EXPLICIT UTF8String OPTIONAL,
 *     rsaParent   [5] EXPLICIT BOOLEAN OPTIONAL,
 *     parent      INTEGER,
 *     pubkey      OCTET STRING,                 -- marshalled TPM2B_PUBLIC
 *     privkey     OCTET STRING }                -- marshalled TPM2B_PRIVATE
 *
 * The parsers read files users hand us, with the DER toolkit
 * (common/kw_der.h): every length is checked against what is left,
 * definite minimal DER only, nothing may trail.  The PEM armour is ours:
 * wolfSSL's PEM reader knows no "TSS2 PRIVATE KEY". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm_int.h"

static const uint8_t tpm_oid_loadable[] = {
	0x67, 0x81, 0x05, 0x0a, 0x01, 0x03
};
static const char tpm_pem_begin[] = "-----BEGIN TSS2 PRIVATE KEY-----";
static const char tpm_pem_end[] = "-----END TSS2 PRIVATE KEY-----";

/* An OCTET STRING holding exactly one marshalled TPM2B. */
static int
tpm_parse_pub(const struct kw_der *v, TPM2B_PUBLIC *pub)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(v->p, v->len, &off, pub) !=
	    TSS2_RC_SUCCESS || off != v->len || pub->size + 2u != v->len)
		return KW_ERR_PARSE;
	return KW_OK;
}

static int
tpm_parse_priv(const struct kw_der *v, TPM2B_PRIVATE *priv)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(v->p, v->len, &off, priv) !=
	    TSS2_RC_SUCCESS || off != v->len || priv->size + 2u != v->len ||
	    priv->size == 0)
		return KW_ERR_PARSE;
	return KW_OK;
}

/* [n] EXPLICIT holding exactly one element with this tag. */
static int
tpm_explicit(struct kw_der *seq, int n, int tag, struct kw_der *val)
{
	struct kw_der v;

	if (kw_der_get(seq, 0xa0 | n, &v, NULL) != KW_OK ||
	    kw_der_only(v.p, v.len, tag, val) != KW_OK)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
tpm_keyfile_from_der(const uint8_t *der, size_t len, struct tpm_keyblob *out)
{
	struct kw_der seq, v;
	int r = KW_ERR_PARSE, t;

	memset(out, 0, sizeof(*out));
	if (der == NULL)
		return KW_ERR_ARG;
	if (kw_der_only(der, len, 0x30, &seq) != KW_OK ||
	    kw_der_get(&seq, 0x06, &v, NULL) != KW_OK ||
	    !kw_der_eq(&v, tpm_oid_loadable, sizeof(tpm_oid_loadable)))
		goto out;	/* not a loadable TSS2 key */
	if (kw_der_peek(&seq) == 0xa0) {
		if (tpm_explicit(&seq, 0, 0x01, &v) != KW_OK || v.len != 1)
			goto out;
		/* DER says 0xff, but tpm2-openssl writes TRUE as 0x01 */
		out->empty_auth = v.p[0] != 0x00;
	}
	t = kw_der_peek(&seq);
	if (t == 0xa1 || t == 0xa2 || t == 0xa3) {
		r = KW_ERR_UNSUPPORTED;	/* policies / imported secret */
		goto out;
	}
	if (t == 0xa4 && tpm_explicit(&seq, 4, 0x0c, &v) != KW_OK)
		goto out;		/* description: ignored */
	if (kw_der_peek(&seq) == 0xa5) {
		r = KW_ERR_UNSUPPORTED;	/* RSA parent */
		goto out;
	}
	if (kw_der_uint32(&seq, &out->parent) != KW_OK ||
	    kw_der_get(&seq, 0x04, &v, NULL) != KW_OK ||
	    tpm_parse_pub(&v, &out->pub) != KW_OK ||
	    kw_der_get(&seq, 0x04, &v, NULL) != KW_OK ||
	    tpm_parse_priv(&v, &out->priv) != KW_OK || seq.len != 0)
		goto out;
	if (out->parent != TPM_SRK_TEMPLATE_PARENT &&
	    (out->parent >> 24) != TPM2_HT_PERSISTENT) {
		r = KW_ERR_UNSUPPORTED;	/* e.g. under the null hierarchy */
		goto out;
	}
	r = KW_OK;
out:
	if (r != KW_OK)
		explicit_bzero(out, sizeof(*out));
	return r;
}

/* Find needle in the first len bytes of hay (no NUL needed). */
static const uint8_t *
tpm_memmem(const uint8_t *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

static int
tpm_is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
tpm_keyfile_from_pem(const uint8_t *pem, size_t len, struct tpm_keyblob *out)
{
	const uint8_t *p, *body, *end;
	uint8_t *der = NULL;
	size_t der_len = 0, i, n;
	int r = KW_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (pem == NULL)
		return KW_ERR_ARG;
	if (len > TPM_KEYFILE_MAX)
		goto out;
	/* Only white space before the armour and after it. */
	for (i = 0; i < len && tpm_is_space(pem[i]); i++)
		;
	n = strlen(tpm_pem_begin);
	if (len - i < n || memcmp(pem + i, tpm_pem_begin, n) != 0)
		goto out;
	p = pem + i + n;
	if (p < pem + len && *p == '\r')
		p++;
	if (p >= pem + len || *p != '\n')
		goto out;
	body = p + 1;
	if ((end = tpm_memmem(body, (size_t)(pem + len - body),
	    tpm_pem_end)) == NULL)
		goto out;
	for (p = end + strlen(tpm_pem_end); p < pem + len; p++)
		if (!tpm_is_space(*p))
			goto out;	/* trailing garbage */
	if ((r = kw_b64_decode((const char *)body, (size_t)(end - body), &der,
	    &der_len)) != KW_OK)
		goto out;
	r = tpm_keyfile_from_der(der, der_len, out);
out:
	kw_freezero(der, der_len);
	return r;
}

int
tpm_keyfile_to_pem(const struct tpm_keyblob *kb, char **pem, size_t *pem_len)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC) + 2], priv[sizeof(TPM2B_PRIVATE) + 2];
	uint8_t parent[4], der[sizeof(pub) + sizeof(priv) + 64];
	size_t pub_len = 0, priv_len = 0, der_len = 0, b64_len = 0, cap, mark;
	char *b64 = NULL, *txt = NULL;
	struct kw_der_w w;
	int r;

	*pem = NULL;
	*pem_len = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(&kb->pub, pub, sizeof(pub),
	    &pub_len) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(&kb->priv, priv, sizeof(priv),
	    &priv_len) != TSS2_RC_SUCCESS) {
		r = KW_ERR_ARG;
		goto out;
	}
	parent[0] = (uint8_t)(kb->parent >> 24);
	parent[1] = (uint8_t)(kb->parent >> 16);
	parent[2] = (uint8_t)(kb->parent >> 8);
	parent[3] = (uint8_t)kb->parent;
	kw_der_w_init(&w, der, sizeof(der));
	mark = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x06, tpm_oid_loadable, sizeof(tpm_oid_loadable));
	if (kb->empty_auth)
		kw_der_put_raw(&w, "\xa0\x03\x01\x01\xff", 5);
	kw_der_put_uint(&w, parent, sizeof(parent));
	kw_der_put(&w, 0x04, pub, pub_len);
	kw_der_put(&w, 0x04, priv, priv_len);
	kw_der_close(&w, mark);
	if ((r = kw_der_w_end(&w, &der_len)) != KW_OK ||
	    (r = kw_b64_encode(der, der_len, &b64, &b64_len)) != KW_OK)
		goto out;
	cap = strlen(tpm_pem_begin) + b64_len + strlen(tpm_pem_end) + 3;
	if ((txt = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	*pem_len = (size_t)snprintf(txt, cap, "%s\n%s%s\n", tpm_pem_begin, b64,
	    tpm_pem_end);
	*pem = txt;
	r = KW_OK;
out:
	kw_freezero(b64, b64_len);
	explicit_bzero(der, sizeof(der));
	explicit_bzero(priv, sizeof(priv));
	return r;
}
