/* The DER toolkit (see kw_der.h).
 *
 * What wolfSSL does here and what it does not (measured against Debian's
 * 5.5.4, the library keyward links):
 * - certificates: wc_ParseCert() validates the whole certificate and reads
 *   basicConstraints.  It keeps the issuer and subject as the Names'
 *   contents and neither the serial's nor the key's encoding, so the
 *   elements PKCS#11 objects and key matching need are located with the
 *   reader below; the times are read by kw_der_time() because
 *   wc_GetDateAsCalendarTime() takes month 13.
 * - base64: Base64_Encode() writes our armour; Base64_Decode() is not
 *   strict enough to read untrusted input (it accepts "", "QQ", "QUI",
 *   "QQ==QQ==", "QR==" and "QUJD="), so decoding is ours.
 * - PKCS#7 certs-only is in enroll/est_der.c (why it is ours is said there);
 *   csrattrs and the TSS2 key ASN.1 have no wolfSSL parser. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_mem.h"

/* ---- reader ------------------------------------------------------------ */

int
kw_der_get(struct kw_der *d, int tag, struct kw_der *val, struct kw_der *tlv)
{
	size_t l, hdr = 2, n, i;

	if (d->len < 2 || (d->p[0] & 0x1f) == 0x1f ||
	    (tag != KW_DER_ANY && d->p[0] != tag))
		return KW_ERR_PARSE;
	l = d->p[1];
	if (l & 0x80) {
		/* no indefinite length, at most 4 length octets, minimal */
		n = l & 0x7f;
		if (n == 0 || n > 4 || d->len - 2 < n || d->p[2] == 0)
			return KW_ERR_PARSE;
		for (l = 0, i = 0; i < n; i++)
			l = (l << 8) | d->p[2 + i];
		if (l < 0x80)
			return KW_ERR_PARSE;
		hdr += n;
	}
	if (l > d->len - hdr)
		return KW_ERR_PARSE;
	if (val != NULL) {
		val->p = d->p + hdr;
		val->len = l;
	}
	if (tlv != NULL) {
		tlv->p = d->p;
		tlv->len = hdr + l;
	}
	d->p += hdr + l;
	d->len -= hdr + l;
	return KW_OK;
}

int
kw_der_peek(const struct kw_der *d)
{
	return d->len > 0 ? d->p[0] : -1;
}

int
kw_der_only(const uint8_t *p, size_t len, int tag, struct kw_der *val)
{
	struct kw_der d = { p, len };

	if (p == NULL || kw_der_get(&d, tag, val, NULL) != KW_OK || d.len != 0)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
kw_der_uint32(struct kw_der *d, uint32_t *out)
{
	struct kw_der v, save = *d;
	uint64_t x = 0;
	size_t i;

	if (kw_der_get(d, 0x02, &v, NULL) != KW_OK)
		return KW_ERR_PARSE;
	if (v.len == 0 || v.len > 5 || (v.p[0] & 0x80) ||
	    (v.len > 1 && v.p[0] == 0 && !(v.p[1] & 0x80)) ||
	    (v.len == 5 && v.p[0] != 0)) {
		*d = save;
		return KW_ERR_PARSE;
	}
	for (i = 0; i < v.len; i++)
		x = (x << 8) | v.p[i];
	*out = (uint32_t)x;
	return KW_OK;
}

int
kw_der_eq(const struct kw_der *v, const uint8_t *p, size_t len)
{
	return v->len == len && memcmp(v->p, p, len) == 0;
}

int
kw_der_oid_str(const uint8_t *p, size_t len, char *buf, size_t buflen)
{
	size_t i, used = 0;
	uint64_t v = 0;
	int first = 1, n;

	if (len == 0 || buflen == 0 || (p[len - 1] & 0x80) != 0)
		return KW_ERR_PARSE;
	buf[0] = '\0';
	for (i = 0; i < len; i++) {
		if (v == 0 && p[i] == 0x80)	/* non-minimal arc */
			return KW_ERR_PARSE;
		if (v > (UINT64_MAX >> 7))
			return KW_ERR_PARSE;
		v = (v << 7) | (p[i] & 0x7f);
		if (p[i] & 0x80)
			continue;
		if (first) {
			unsigned a = v < 40 ? 0 : v < 80 ? 1 : 2;

			n = snprintf(buf + used, buflen - used, "%u.%llu", a,
			    (unsigned long long)(v - 40 * a));
			first = 0;
		} else
			n = snprintf(buf + used, buflen - used, ".%llu",
			    (unsigned long long)v);
		if (n < 0 || (size_t)n >= buflen - used)
			return KW_ERR_SPACE;
		used += (size_t)n;
		v = 0;
	}
	return KW_OK;
}

static int
kw_der_num(const uint8_t *p, size_t n, int *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return KW_ERR_PARSE;
		*out = *out * 10 + (p[i] - '0');
	}
	return KW_OK;
}

int
kw_der_time(int tag, const uint8_t *p, size_t len, time_t *out)
{
	struct tm tm;
	int year, mon, day, h, m, s, off;

	*out = 0;
	memset(&tm, 0, sizeof(tm));
	if (tag == 0x17 && len == 13) {		/* UTCTime YYMMDDHHMMSSZ */
		if (kw_der_num(p, 2, &year) != 0)
			return KW_ERR_PARSE;
		year += year < 50 ? 2000 : 1900;
		off = 2;
	} else if (tag == 0x18 && len == 15) {	/* GeneralizedTime */
		if (kw_der_num(p, 4, &year) != 0)
			return KW_ERR_PARSE;
		off = 4;
	} else
		return KW_ERR_PARSE;
	if (p[len - 1] != 'Z' || kw_der_num(p + off, 2, &mon) != 0 ||
	    kw_der_num(p + off + 2, 2, &day) != 0 ||
	    kw_der_num(p + off + 4, 2, &h) != 0 ||
	    kw_der_num(p + off + 6, 2, &m) != 0 ||
	    kw_der_num(p + off + 8, 2, &s) != 0)
		return KW_ERR_PARSE;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 || m > 59 ||
	    s > 60)
		return KW_ERR_PARSE;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	*out = timegm(&tm);
	return KW_OK;
}

/* ---- writer ------------------------------------------------------------ */

void
kw_der_w_init(struct kw_der_w *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0;
	w->off = 0;
	w->err = 0;
}

void
kw_der_put_raw(struct kw_der_w *w, const void *p, size_t n)
{
	if (w->err || n > w->cap - w->off) {
		w->err = 1;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->off, p, n);
	w->off += n;
}

size_t
kw_der_open(struct kw_der_w *w, uint8_t tag)
{
	uint8_t h[2] = { tag, 0 };
	size_t mark = w->off;

	kw_der_put_raw(w, h, sizeof(h));
	return mark;
}

/* The contents were written after a one-octet length: make room for the
 * long form if it needs one, then write the length. */
void
kw_der_close(struct kw_der_w *w, size_t mark)
{
	size_t body, len, extra, i;

	if (w->err)
		return;
	body = mark + 2;
	len = w->off - body;
	extra = len < 0x80 ? 0 : len < 0x100 ? 1 : len < 0x10000 ? 2 : 3;
	if (len >= 0x1000000 || extra > w->cap - w->off) {
		w->err = 1;
		return;
	}
	if (extra == 0) {
		w->buf[mark + 1] = (uint8_t)len;
		return;
	}
	memmove(w->buf + body + extra, w->buf + body, len);
	w->buf[mark + 1] = (uint8_t)(0x80 | extra);
	for (i = 0; i < extra; i++)
		w->buf[body + i] = (uint8_t)(len >> (8 * (extra - 1 - i)));
	w->off += extra;
}

void
kw_der_put(struct kw_der_w *w, uint8_t tag, const void *p, size_t n)
{
	size_t mark = kw_der_open(w, tag);

	kw_der_put_raw(w, p, n);
	kw_der_close(w, mark);
}

void
kw_der_put_uint(struct kw_der_w *w, const uint8_t *mag, size_t n)
{
	static const uint8_t zero = 0;
	size_t mark;

	while (n > 1 && mag[0] == 0) {
		mag++;
		n--;
	}
	mark = kw_der_open(w, 0x02);
	if (n == 0 || (mag[0] & 0x80))
		kw_der_put_raw(w, &zero, 1);
	kw_der_put_raw(w, mag, n);
	kw_der_close(w, mark);
}

int
kw_der_w_end(const struct kw_der_w *w, size_t *len)
{
	*len = w->err ? 0 : w->off;
	return w->err ? KW_ERR_SPACE : KW_OK;
}

/* ---- SubjectPublicKeyInfo --------------------------------------------- */

/* namedCurve OIDs as CKA_EC_PARAMS and SPKI hold them (tag included) */
static const uint8_t kw_oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t kw_oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
/* id-ecPublicKey and rsaEncryption, contents only */
static const uint8_t kw_oid_ecpub[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const uint8_t kw_oid_rsa[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };

const uint8_t *
kw_der_curve_oid(enum kw_key_alg alg, size_t *len)
{
	switch (alg) {
	case KW_ALG_EC_P256:
		*len = sizeof(kw_oid_p256);
		return kw_oid_p256;
	case KW_ALG_EC_P384:
		*len = sizeof(kw_oid_p384);
		return kw_oid_p384;
	default:
		*len = 0;
		return NULL;
	}
}

enum kw_key_alg
kw_der_curve_alg(const uint8_t *oid, size_t len)
{
	struct kw_der v = { oid, len };

	if (kw_der_eq(&v, kw_oid_p256, sizeof(kw_oid_p256)))
		return KW_ALG_EC_P256;
	if (kw_der_eq(&v, kw_oid_p384, sizeof(kw_oid_p384)))
		return KW_ALG_EC_P384;
	return KW_ALG_NONE;
}

int
kw_der_spki_ec(enum kw_key_alg alg, const uint8_t *point, size_t plen,
    uint8_t *der, size_t *len)
{
	struct kw_der_w w;
	const uint8_t *curve;
	size_t clen, spki, algid, bits;

	kw_der_w_init(&w, der, *len);
	*len = 0;
	if ((curve = kw_der_curve_oid(alg, &clen)) == NULL)
		return KW_ERR_UNSUPPORTED;
	if (plen != 2 * (size_t)(kw_alg_bits(alg) / 8) + 1 || point[0] != 0x04)
		return KW_ERR_PARSE;	/* not an uncompressed point */
	spki = kw_der_open(&w, 0x30);
	algid = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x06, kw_oid_ecpub, sizeof(kw_oid_ecpub));
	kw_der_put_raw(&w, curve, clen);
	kw_der_close(&w, algid);
	bits = kw_der_open(&w, 0x03);
	kw_der_put_raw(&w, "", 1);		/* no unused bits */
	kw_der_put_raw(&w, point, plen);
	kw_der_close(&w, bits);
	kw_der_close(&w, spki);
	return kw_der_w_end(&w, len);
}

int
kw_der_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e,
    size_t elen, uint8_t *der, size_t *len)
{
	static const uint8_t null[] = { 0x05, 0x00 };
	struct kw_der_w w;
	size_t spki, algid, bits, key;

	kw_der_w_init(&w, der, *len);
	*len = 0;
	if (nlen == 0 || elen == 0)
		return KW_ERR_PARSE;
	spki = kw_der_open(&w, 0x30);
	algid = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x06, kw_oid_rsa, sizeof(kw_oid_rsa));
	kw_der_put_raw(&w, null, sizeof(null));
	kw_der_close(&w, algid);
	bits = kw_der_open(&w, 0x03);
	kw_der_put_raw(&w, "", 1);
	key = kw_der_open(&w, 0x30);
	kw_der_put_uint(&w, n, nlen);
	kw_der_put_uint(&w, e, elen);
	kw_der_close(&w, key);
	kw_der_close(&w, bits);
	kw_der_close(&w, spki);
	return kw_der_w_end(&w, len);
}

enum kw_key_alg
kw_der_spki_alg(const uint8_t *der, size_t len)
{
	struct kw_der spki, algid, oid, bits, key, n;

	if (kw_der_only(der, len, 0x30, &spki) != KW_OK ||
	    kw_der_get(&spki, 0x30, &algid, NULL) != KW_OK ||
	    kw_der_get(&spki, 0x03, &bits, NULL) != KW_OK || spki.len != 0 ||
	    kw_der_get(&algid, 0x06, &oid, NULL) != KW_OK)
		return KW_ALG_NONE;
	if (kw_der_eq(&oid, kw_oid_ecpub, sizeof(kw_oid_ecpub)))
		return kw_der_curve_alg(algid.p, algid.len);
	if (!kw_der_eq(&oid, kw_oid_rsa, sizeof(kw_oid_rsa)))
		return KW_ALG_NONE;
	/* BIT STRING: 00, SEQUENCE { INTEGER n, INTEGER e } */
	if (bits.len < 1 || bits.p[0] != 0 ||
	    kw_der_only(bits.p + 1, bits.len - 1, 0x30, &key) != KW_OK ||
	    kw_der_get(&key, 0x02, &n, NULL) != KW_OK)
		return KW_ALG_NONE;
	while (n.len > 0 && n.p[0] == 0) {
		n.p++;
		n.len--;
	}
	return n.len == 256 ? KW_ALG_RSA2048 : n.len == 384 ? KW_ALG_RSA3072 :
	    KW_ALG_NONE;
}

/* ---- base64 ------------------------------------------------------------ */

static int
kw_b64_val(unsigned char c)
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

static int
kw_b64_space(unsigned char c)
{
	return c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

int
kw_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	uint32_t acc = 0;
	size_t i, n = 0, nq = 0, pad = 0, cap = len / 4 * 3 + 3;
	int v, r = KW_ERR_PARSE;

	*out = NULL;
	*out_len = 0;
	if ((buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (kw_b64_space(c))
			continue;
		if (c == '=') {
			/* padding: only in the last quantum, at most two */
			if (nq < 2 || ++pad > 2)
				goto out;
			acc <<= 6;
		} else {
			if (pad > 0 || (v = kw_b64_val(c)) < 0)
				goto out;
			acc = (acc << 6) | (uint32_t)v;
		}
		if (++nq < 4)
			continue;
		/* canonical: the bits padding drops must be zero */
		if ((pad == 1 && (acc & 0xff) != 0) ||
		    (pad == 2 && (acc & 0xffff) != 0))
			goto out;
		buf[n++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			buf[n++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			buf[n++] = (uint8_t)acc;
		acc = 0;
		nq = 0;
		if (pad > 0)
			break;
	}
	/* after padding only white space may follow */
	for (i++; pad > 0 && i < len; i++)
		if (!kw_b64_space((unsigned char)in[i]))
			goto out;
	if (nq != 0 || n == 0)
		goto out;
	*out = buf;
	*out_len = n;
	buf = NULL;
	r = KW_OK;
out:
	kw_freezero(buf, buf != NULL ? cap : 0);	/* key files pass here */
	return r;
}

int
kw_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	char *buf = NULL;
	word32 cap, ol = 0;
	int r = KW_ERR_ARG;

	*out = NULL;
	*out_len = 0;
	if (len > 0x3fffffff)
		goto out;
	cap = (word32)((len + 2) / 3 * 4);
	cap += cap / 64 + 2;
	if ((buf = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	ol = cap - 1;
	if (len == 0)
		ol = 0;		/* wolfSSL refuses empty input */
	else if (Base64_Encode(in, (word32)len, (byte *)buf, &ol) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	buf[ol] = '\0';
	*out = buf;
	*out_len = ol;
	buf = NULL;
	r = KW_OK;
out:
	kw_freezero(buf, buf != NULL ? cap : 0);
	return r;
}

/* ---- certificates ------------------------------------------------------ */

static int
kw_der_validity(struct kw_der *tbs, struct kw_der_cert *out)
{
	struct kw_der validity, t, v;

	if (kw_der_get(tbs, 0x30, &validity, NULL) != KW_OK ||
	    kw_der_get(&validity, KW_DER_ANY, &v, &t) != KW_OK ||
	    kw_der_time(t.p[0], v.p, v.len, &out->not_before) != KW_OK ||
	    kw_der_get(&validity, KW_DER_ANY, &v, &t) != KW_OK ||
	    kw_der_time(t.p[0], v.p, v.len, &out->not_after) != KW_OK ||
	    validity.len != 0)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
kw_der_cert(const uint8_t *der, size_t len, struct kw_der_cert *out)
{
	struct kw_der cert, tbs;
	DecodedCert *dc = NULL;
	int r = KW_ERR_PARSE, inited = 0;

	memset(out, 0, sizeof(*out));
	/* One element, nothing after it: wolfSSL reads a certificate off the
	 * front of its input and ignores what follows. */
	if (len > 0xffffffu || kw_der_only(der, len, 0x30, &cert) != KW_OK)
		goto out;
	if ((dc = malloc(sizeof(*dc))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	wc_InitDecodedCert(dc, der, (word32)len, NULL);
	inited = 1;
	if (wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) != 0)
		goto out;
	out->is_ca = dc->isCA != 0;
	/* tbsCertificate: [0] version, serial, signature, issuer, validity,
	 * subject, subjectPublicKeyInfo, ... (wolfSSL checked the rest) */
	if (kw_der_get(&cert, 0x30, &tbs, NULL) != KW_OK ||
	    (kw_der_peek(&tbs) == 0xa0 &&
	    kw_der_get(&tbs, 0xa0, NULL, NULL) != KW_OK) ||
	    kw_der_get(&tbs, 0x02, NULL, &out->serial) != KW_OK ||
	    kw_der_get(&tbs, 0x30, NULL, NULL) != KW_OK ||
	    kw_der_get(&tbs, 0x30, NULL, &out->issuer) != KW_OK ||
	    kw_der_validity(&tbs, out) != KW_OK ||
	    kw_der_get(&tbs, 0x30, NULL, &out->subject) != KW_OK ||
	    kw_der_get(&tbs, 0x30, NULL, &out->spki) != KW_OK ||
	    out->not_after <= out->not_before)
		goto out;
	r = KW_OK;
out:
	if (inited)
		wc_FreeDecodedCert(dc);
	free(dc);
	if (r != KW_OK)
		memset(out, 0, sizeof(*out));
	return r;
}
