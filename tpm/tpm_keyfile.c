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
 * The parsers read files users hand us: every length is checked against
 * what is left, definite minimal DER only, nothing may trail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "tpm_int.h"

static const uint8_t tpm_oid_loadable[] = {
	0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03
};
static const char tpm_pem_begin[] = "-----BEGIN TSS2 PRIVATE KEY-----";
static const char tpm_pem_end[] = "-----END TSS2 PRIVATE KEY-----";

struct tpm_der {
	const uint8_t *p;
	size_t len;
};

/* Take one TLV with this tag off the front of d; val gets its contents. */
static int
tpm_der_take(struct tpm_der *d, uint8_t tag, struct tpm_der *val)
{
	size_t hdr = 2, l, n, i;

	if (d->len < 2 || d->p[0] != tag)
		return KW_ERR_PARSE;
	l = d->p[1];
	if (l & 0x80) {
		n = l & 0x7f;
		/* A key file is small: at most two length octets. */
		if (n == 0 || n > 2 || d->len - 2 < n)
			return KW_ERR_PARSE;
		for (l = 0, i = 0; i < n; i++)
			l = (l << 8) | d->p[2 + i];
		if (l < 0x80 || (n == 2 && l < 0x100))
			return KW_ERR_PARSE;	/* not minimal */
		hdr += n;
	}
	if (l > d->len - hdr)
		return KW_ERR_PARSE;
	val->p = d->p + hdr;
	val->len = l;
	d->p += hdr + l;
	d->len -= hdr + l;
	return KW_OK;
}

static int
tpm_der_next_is(const struct tpm_der *d, uint8_t tag)
{
	return d->len > 0 && d->p[0] == tag;
}

/* A non-negative INTEGER that fits 32 bits, minimally encoded. */
static int
tpm_der_u32(struct tpm_der *d, uint32_t *out)
{
	struct tpm_der v;
	uint64_t x = 0;
	size_t i;
	int r;

	if ((r = tpm_der_take(d, 0x02, &v)) != KW_OK)
		return r;
	if (v.len == 0 || v.len > 5 || (v.p[0] & 0x80))
		return KW_ERR_PARSE;
	if (v.len > 1 && v.p[0] == 0 && !(v.p[1] & 0x80))
		return KW_ERR_PARSE;
	if (v.len == 5 && v.p[0] != 0)
		return KW_ERR_PARSE;
	for (i = 0; i < v.len; i++)
		x = (x << 8) | v.p[i];
	*out = (uint32_t)x;
	return KW_OK;
}

static int
tpm_parse_pub(const struct tpm_der *v, TPM2B_PUBLIC *pub)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(v->p, v->len, &off, pub) !=
	    TSS2_RC_SUCCESS || off != v->len || pub->size + 2u != v->len)
		return KW_ERR_PARSE;
	return KW_OK;
}

static int
tpm_parse_priv(const struct tpm_der *v, TPM2B_PRIVATE *priv)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(v->p, v->len, &off, priv) !=
	    TSS2_RC_SUCCESS || off != v->len || priv->size + 2u != v->len ||
	    priv->size == 0)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
tpm_keyfile_from_der(const uint8_t *der, size_t len, struct tpm_keyblob *out)
{
	struct tpm_der in = { der, len }, seq, v, b;
	int r;

	memset(out, 0, sizeof(*out));
	if (der == NULL)
		return KW_ERR_ARG;
	if ((r = tpm_der_take(&in, 0x30, &seq)) != KW_OK)
		goto out;
	if (in.len != 0) {
		r = KW_ERR_PARSE;	/* trailing bytes */
		goto out;
	}
	if (seq.len < sizeof(tpm_oid_loadable) ||
	    memcmp(seq.p, tpm_oid_loadable, sizeof(tpm_oid_loadable)) != 0) {
		r = KW_ERR_PARSE;	/* not a loadable TSS2 key */
		goto out;
	}
	seq.p += sizeof(tpm_oid_loadable);
	seq.len -= sizeof(tpm_oid_loadable);
	if (tpm_der_next_is(&seq, 0xa0)) {
		if ((r = tpm_der_take(&seq, 0xa0, &v)) != KW_OK ||
		    (r = tpm_der_take(&v, 0x01, &b)) != KW_OK)
			goto out;
		if (v.len != 0 || b.len != 1) {
			r = KW_ERR_PARSE;
			goto out;
		}
		/* DER says 0xff, but tpm2-openssl writes TRUE as 0x01 */
		out->empty_auth = b.p[0] != 0x00;
	}
	if (tpm_der_next_is(&seq, 0xa1) || tpm_der_next_is(&seq, 0xa2) ||
	    tpm_der_next_is(&seq, 0xa3)) {
		r = KW_ERR_UNSUPPORTED;	/* policies / imported secret */
		goto out;
	}
	if (tpm_der_next_is(&seq, 0xa4)) {	/* description: ignored */
		if ((r = tpm_der_take(&seq, 0xa4, &v)) != KW_OK ||
		    (r = tpm_der_take(&v, 0x0c, &b)) != KW_OK)
			goto out;
		if (v.len != 0) {
			r = KW_ERR_PARSE;
			goto out;
		}
	}
	if (tpm_der_next_is(&seq, 0xa5)) {
		r = KW_ERR_UNSUPPORTED;	/* RSA parent */
		goto out;
	}
	if ((r = tpm_der_u32(&seq, &out->parent)) != KW_OK)
		goto out;
	if ((r = tpm_der_take(&seq, 0x04, &v)) != KW_OK ||
	    (r = tpm_parse_pub(&v, &out->pub)) != KW_OK)
		goto out;
	if ((r = tpm_der_take(&seq, 0x04, &v)) != KW_OK ||
	    (r = tpm_parse_priv(&v, &out->priv)) != KW_OK)
		goto out;
	if (seq.len != 0) {
		r = KW_ERR_PARSE;
		goto out;
	}
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

static int
tpm_b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64: line breaks (LF, CRLF) anywhere, '=' only at the very end,
 * a multiple of four symbols. */
static int
tpm_b64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t max,
    size_t *out_len)
{
	uint32_t acc = 0;
	size_t i, n = 0, o = 0, pad = 0;
	int v;

	*out_len = 0;
	for (i = 0; i < len; i++) {
		if (in[i] == '\n' || in[i] == '\r')
			continue;
		if (in[i] == '=') {
			if (++pad > 2)
				return KW_ERR_PARSE;
			v = 0;
		} else {
			if (pad != 0 || (v = tpm_b64_val(in[i])) < 0)
				return KW_ERR_PARSE;
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++n % 4 == 0) {
			if (o + 3 - pad > max)
				return KW_ERR_PARSE;
			out[o++] = (uint8_t)(acc >> 16);
			if (pad < 2)
				out[o++] = (uint8_t)(acc >> 8);
			if (pad < 1)
				out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (n == 0 || n % 4 != 0)
		return KW_ERR_PARSE;
	*out_len = o;
	return KW_OK;
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
	if ((der = malloc(TPM_KEYFILE_MAX)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = tpm_b64_decode(body, (size_t)(end - body), der,
	    TPM_KEYFILE_MAX, &der_len)) != KW_OK)
		goto out;
	r = tpm_keyfile_from_der(der, der_len, out);
out:
	kw_freezero(der, der ? TPM_KEYFILE_MAX : 0);
	return r;
}

/* Append a tag and definite length. */
static void
tpm_der_hdr(uint8_t *buf, size_t *off, uint8_t tag, size_t len)
{
	buf[(*off)++] = tag;
	if (len < 0x80)
		buf[(*off)++] = (uint8_t)len;
	else if (len < 0x100) {
		buf[(*off)++] = 0x81;
		buf[(*off)++] = (uint8_t)len;
	} else {
		buf[(*off)++] = 0x82;
		buf[(*off)++] = (uint8_t)(len >> 8);
		buf[(*off)++] = (uint8_t)len;
	}
}

static size_t
tpm_der_hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

static const char tpm_b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
tpm_keyfile_to_pem(const struct tpm_keyblob *kb, char **pem, size_t *pem_len)
{
	uint8_t pub[sizeof(TPM2B_PUBLIC) + 2], priv[sizeof(TPM2B_PRIVATE) + 2];
	uint8_t parent[5], *der = NULL;
	size_t pub_len = 0, priv_len = 0, parent_len, body, total, off = 0;
	size_t i, cap, o = 0;
	char *txt = NULL;
	uint32_t v;
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
	/* parent INTEGER: big-endian, a leading 0 if the top bit is set. */
	v = kb->parent;
	parent_len = 0;
	if (v & 0x80000000u)
		parent[parent_len++] = 0;
	for (i = 0; i < 4; i++)
		if (parent_len > 0 || (v >> (24 - 8 * i)) != 0 || i == 3)
			parent[parent_len++] = (uint8_t)(v >> (24 - 8 * i));
	body = sizeof(tpm_oid_loadable) + (kb->empty_auth ? 5 : 0) +
	    2 + parent_len + tpm_der_hdr_len(pub_len) + pub_len +
	    tpm_der_hdr_len(priv_len) + priv_len;
	total = tpm_der_hdr_len(body) + body;
	if (body > 0xffff || (der = malloc(total)) == NULL) {
		r = body > 0xffff ? KW_ERR_ARG : KW_ERR_NOMEM;
		goto out;
	}
	tpm_der_hdr(der, &off, 0x30, body);
	memcpy(der + off, tpm_oid_loadable, sizeof(tpm_oid_loadable));
	off += sizeof(tpm_oid_loadable);
	if (kb->empty_auth) {
		static const uint8_t t[] = { 0xa0, 0x03, 0x01, 0x01, 0xff };
		memcpy(der + off, t, sizeof(t));
		off += sizeof(t);
	}
	tpm_der_hdr(der, &off, 0x02, parent_len);
	memcpy(der + off, parent, parent_len);
	off += parent_len;
	tpm_der_hdr(der, &off, 0x04, pub_len);
	memcpy(der + off, pub, pub_len);
	off += pub_len;
	tpm_der_hdr(der, &off, 0x04, priv_len);
	memcpy(der + off, priv, priv_len);
	off += priv_len;

	cap = strlen(tpm_pem_begin) + strlen(tpm_pem_end) + 4 +
	    (total + 2) / 3 * 4 + (total / 48 + 1) + 1;
	if ((txt = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	o = (size_t)snprintf(txt, cap, "%s\n", tpm_pem_begin);
	for (i = 0; i < total; i += 3) {
		uint32_t a = (uint32_t)der[i] << 16;
		size_t left = total - i;

		if (left > 1)
			a |= (uint32_t)der[i + 1] << 8;
		if (left > 2)
			a |= der[i + 2];
		txt[o++] = tpm_b64_chars[(a >> 18) & 63];
		txt[o++] = tpm_b64_chars[(a >> 12) & 63];
		txt[o++] = left > 1 ? tpm_b64_chars[(a >> 6) & 63] : '=';
		txt[o++] = left > 2 ? tpm_b64_chars[a & 63] : '=';
		if ((i / 3 + 1) % 16 == 0 || left <= 3)
			txt[o++] = '\n';
	}
	o += (size_t)snprintf(txt + o, cap - o, "%s\n", tpm_pem_end);
	*pem = txt;
	*pem_len = o;
	txt = NULL;
	r = KW_OK;
out:
	free(txt);
	kw_freezero(der, der ? total : 0);
	explicit_bzero(priv, sizeof(priv));
	return r;
}
