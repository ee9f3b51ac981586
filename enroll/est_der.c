/* Strict base64, DER, PKCS#7 certs-only and csrattrs parsers (see est_der.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "est_der.h"

/* ---- base64 ------------------------------------------------------------ */

static int
est_b64_val(unsigned char c)
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

int
est_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	uint32_t acc = 0;
	size_t i, n = 0, nq = 0, pad = 0;
	int v, r = KW_ERR_PARSE;

	*out = NULL;
	*out_len = 0;
	if ((buf = malloc(len / 4 * 3 + 3)) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			/* padding: only in the last quantum, at most two */
			if (nq < 2 || ++pad > 2)
				goto out;
			acc <<= 6;
			nq++;
		} else {
			if (pad > 0 || (v = est_b64_val(c)) < 0)
				goto out;
			acc = (acc << 6) | (uint32_t)v;
			nq++;
		}
		if (nq == 4) {
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
	}
	/* after padding only whitespace may follow */
	for (i++; pad > 0 && i < len; i++)
		if (in[i] != '\r' && in[i] != '\n' && in[i] != ' ' &&
		    in[i] != '\t')
			goto out;
	if (nq != 0 || n == 0)
		goto out;
	*out = buf;
	*out_len = n;
	buf = NULL;
	r = KW_OK;
out:
	free(buf);
	return r;
}

int
est_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, n = 0, col = 0, cap;
	char *buf;

	*out = NULL;
	*out_len = 0;
	cap = (len + 2) / 3 * 4;
	cap += cap / 64 + 2;
	if ((buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		buf[n++] = tab[(v >> 18) & 63];
		buf[n++] = tab[(v >> 12) & 63];
		buf[n++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		buf[n++] = i + 2 < len ? tab[v & 63] : '=';
		if ((col += 4) == 64) {
			buf[n++] = '\n';
			col = 0;
		}
	}
	if (col != 0)
		buf[n++] = '\n';
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return KW_OK;
}

/* ---- DER reader -------------------------------------------------------- */

struct est_rd {
	const uint8_t *p;
	size_t len;
};

/* Read one TLV.  tag -1: any (returned in *got_tag).  val: contents;
 * tlv/tlv_len: the whole element (optional). */
static int
est_der_next(struct est_rd *rd, int tag, int *got_tag, struct est_rd *val,
    const uint8_t **tlv, size_t *tlv_len)
{
	size_t l, hdr, i, nlen;

	if (rd->len < 2)
		return KW_ERR_PARSE;
	if ((rd->p[0] & 0x1f) == 0x1f)	/* high tag numbers: never in EST */
		return KW_ERR_PARSE;
	if (tag >= 0 && rd->p[0] != tag)
		return KW_ERR_PARSE;
	if (rd->p[1] < 0x80) {
		l = rd->p[1];
		hdr = 2;
	} else {
		nlen = rd->p[1] & 0x7f;
		/* no indefinite length, at most 4 length bytes, minimal */
		if (nlen == 0 || nlen > 4 || rd->len < 2 + nlen || rd->p[2] == 0)
			return KW_ERR_PARSE;
		for (l = 0, i = 0; i < nlen; i++)
			l = (l << 8) | rd->p[2 + i];
		if (l < 0x80)
			return KW_ERR_PARSE;
		hdr = 2 + nlen;
	}
	if (l > rd->len - hdr)
		return KW_ERR_PARSE;
	if (got_tag != NULL)
		*got_tag = rd->p[0];
	if (val != NULL) {
		val->p = rd->p + hdr;
		val->len = l;
	}
	if (tlv != NULL) {
		*tlv = rd->p;
		*tlv_len = hdr + l;
	}
	rd->p += hdr + l;
	rd->len -= hdr + l;
	return KW_OK;
}

static int
est_der_peek(const struct est_rd *rd)
{
	return rd->len > 0 ? rd->p[0] : -1;
}

static int
est_oid_eq(const struct est_rd *oid, const uint8_t *want, size_t want_len)
{
	return oid->len == want_len && memcmp(oid->p, want, want_len) == 0;
}

int
est_oid_str(const uint8_t *p, size_t len, char *buf, size_t buflen)
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

/* ---- certificates ------------------------------------------------------ */

static int
est_num(const uint8_t *p, size_t n, int *out)
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
est_der_time(int tag, const uint8_t *p, size_t len, time_t *out)
{
	struct tm tm;
	int year, mon, day, h, m, s, off;

	*out = 0;
	memset(&tm, 0, sizeof(tm));
	if (tag == 0x17 && len == 13) {		/* UTCTime YYMMDDHHMMSSZ */
		if (est_num(p, 2, &year) != 0)
			return KW_ERR_PARSE;
		year += year < 50 ? 2000 : 1900;
		off = 2;
	} else if (tag == 0x18 && len == 15) {	/* GeneralizedTime */
		if (est_num(p, 4, &year) != 0)
			return KW_ERR_PARSE;
		off = 4;
	} else
		return KW_ERR_PARSE;
	if (p[len - 1] != 'Z' || est_num(p + off, 2, &mon) != 0 ||
	    est_num(p + off + 2, 2, &day) != 0 ||
	    est_num(p + off + 4, 2, &h) != 0 ||
	    est_num(p + off + 6, 2, &m) != 0 ||
	    est_num(p + off + 8, 2, &s) != 0)
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

static const uint8_t est_oid_basic_constraints[] = { 0x55, 0x1d, 0x13 };
static const uint8_t est_oid_san[] = { 0x55, 0x1d, 0x11 };

static int
est_cert_exts(struct est_rd exts, struct est_cert_info *ci)
{
	struct est_rd seq, ext, oid, val, bc, b;
	int r;

	if ((r = est_der_next(&exts, 0x30, NULL, &seq, NULL, NULL)) != 0 ||
	    exts.len != 0)
		return KW_ERR_PARSE;
	while (seq.len > 0) {
		if ((r = est_der_next(&seq, 0x30, NULL, &ext, NULL, NULL)) != 0 ||
		    (r = est_der_next(&ext, 0x06, NULL, &oid, NULL, NULL)) != 0)
			return KW_ERR_PARSE;
		if (est_der_peek(&ext) == 0x01 &&
		    est_der_next(&ext, 0x01, NULL, &b, NULL, NULL) != 0)
			return KW_ERR_PARSE;
		if (est_der_next(&ext, 0x04, NULL, &val, NULL, NULL) != 0 ||
		    ext.len != 0)
			return KW_ERR_PARSE;
		if (!est_oid_eq(&oid, est_oid_basic_constraints,
		    sizeof(est_oid_basic_constraints)))
			continue;
		if (est_der_next(&val, 0x30, NULL, &bc, NULL, NULL) != 0 ||
		    val.len != 0)
			return KW_ERR_PARSE;
		if (est_der_peek(&bc) == 0x01) {
			if (est_der_next(&bc, 0x01, NULL, &b, NULL, NULL) != 0 ||
			    b.len != 1)
				return KW_ERR_PARSE;
			ci->is_ca = b.p[0] != 0;
		}
	}
	return KW_OK;
}

int
est_cert_info(const uint8_t *der, size_t len, struct est_cert_info *out)
{
	struct est_rd all = { der, len }, cert, tbs, x, validity;
	const uint8_t *t;
	size_t tl;
	int tag;

	memset(out, 0, sizeof(*out));
	if (len > EST_MAX_CERT ||
	    est_der_next(&all, 0x30, NULL, &cert, NULL, NULL) != 0 ||
	    all.len != 0 ||
	    est_der_next(&cert, 0x30, NULL, &tbs, NULL, NULL) != 0 ||
	    est_der_next(&cert, 0x30, NULL, &x, NULL, NULL) != 0 ||	/* sigAlg */
	    est_der_next(&cert, 0x03, NULL, &x, NULL, NULL) != 0 ||	/* sig */
	    cert.len != 0)
		goto bad;
	if (est_der_peek(&tbs) == 0xa0 &&
	    est_der_next(&tbs, 0xa0, NULL, NULL, NULL, NULL) != 0)
		goto bad;
	if (est_der_next(&tbs, 0x02, NULL, NULL, NULL, NULL) != 0 ||	/* serial */
	    est_der_next(&tbs, 0x30, NULL, NULL, NULL, NULL) != 0 ||	/* sigAlg */
	    est_der_next(&tbs, 0x30, NULL, NULL, &t, &tl) != 0)
		goto bad;
	out->issuer = t;
	out->issuer_len = tl;
	if (est_der_next(&tbs, 0x30, NULL, &validity, NULL, NULL) != 0 ||
	    est_der_next(&validity, -1, &tag, &x, NULL, NULL) != 0 ||
	    est_der_time(tag, x.p, x.len, &out->not_before) != 0 ||
	    est_der_next(&validity, -1, &tag, &x, NULL, NULL) != 0 ||
	    est_der_time(tag, x.p, x.len, &out->not_after) != 0 ||
	    validity.len != 0)
		goto bad;
	if (est_der_next(&tbs, 0x30, NULL, NULL, &t, &tl) != 0)
		goto bad;
	out->subject = t;
	out->subject_len = tl;
	if (est_der_next(&tbs, 0x30, NULL, NULL, &t, &tl) != 0)
		goto bad;
	out->spki = t;
	out->spki_len = tl;
	if (est_der_peek(&tbs) == 0x81 &&
	    est_der_next(&tbs, 0x81, NULL, NULL, NULL, NULL) != 0)
		goto bad;
	if (est_der_peek(&tbs) == 0x82 &&
	    est_der_next(&tbs, 0x82, NULL, NULL, NULL, NULL) != 0)
		goto bad;
	if (est_der_peek(&tbs) == 0xa3) {
		if (est_der_next(&tbs, 0xa3, NULL, &x, NULL, NULL) != 0 ||
		    est_cert_exts(x, out) != 0)
			goto bad;
	}
	if (tbs.len != 0 || out->not_after <= out->not_before)
		goto bad;
	return KW_OK;
bad:
	memset(out, 0, sizeof(*out));
	return KW_ERR_PARSE;
}

/* ---- certificate lists ------------------------------------------------- */

void
est_certs_clear(struct est_certs *certs)
{
	size_t i;

	for (i = 0; i < certs->n; i++)
		free(certs->c[i].der);
	memset(certs, 0, sizeof(*certs));
}

int
est_certs_add(struct est_certs *certs, const uint8_t *der, size_t len)
{
	uint8_t *copy;

	if (certs->n >= EST_MAX_CERTS)
		return KW_ERR_SPACE;
	if ((copy = malloc(len)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(copy, der, len);
	certs->c[certs->n].der = copy;
	certs->c[certs->n].len = len;
	certs->n++;
	return KW_OK;
}

int
est_certs_pem(const struct est_certs *certs, size_t first, char **pem,
    size_t *pem_len)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----\n";
	static const char tail[] = "-----END CERTIFICATE-----\n";
	char *buf = NULL, *b64 = NULL, *nb;
	size_t i, n = 0, bl;
	int r = KW_OK;

	*pem = NULL;
	*pem_len = 0;
	if ((buf = calloc(1, 1)) == NULL)
		return KW_ERR_NOMEM;
	for (i = first; i < certs->n; i++) {
		if ((r = est_b64_encode(certs->c[i].der, certs->c[i].len,
		    &b64, &bl)) != 0)
			goto out;
		if ((nb = realloc(buf, n + sizeof(head) + bl + sizeof(tail))) ==
		    NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		buf = nb;
		memcpy(buf + n, head, sizeof(head) - 1);
		n += sizeof(head) - 1;
		memcpy(buf + n, b64, bl);
		n += bl;
		memcpy(buf + n, tail, sizeof(tail));	/* with NUL */
		n += sizeof(tail) - 1;
		free(b64);
		b64 = NULL;
	}
	*pem = buf;
	*pem_len = n;
	buf = NULL;
out:
	free(b64);
	free(buf);
	return r;
}

int
est_certs_from_file(const char *path, struct est_certs *certs)
{
	static const char head[] = "-----BEGIN CERTIFICATE-----";
	static const char tail[] = "-----END CERTIFICATE-----";
	struct est_cert_info ci;
	uint8_t *data = NULL, *der = NULL;
	size_t len, dl;
	const char *p, *e;
	int r;

	memset(certs, 0, sizeof(*certs));
	if ((r = kw_file_read(path, 1024 * 1024, &data, &len)) != 0) {
		kw_err("cannot read certificates from %s: %s", path,
		    kw_strerror(r));
		goto out;
	}
	if (len > 0 && data[0] == 0x30) {	/* one DER certificate */
		if ((r = est_cert_info(data, len, &ci)) == 0)
			r = est_certs_add(certs, data, len);
		goto out;
	}
	p = (const char *)data;
	while ((p = strstr(p, head)) != NULL) {
		p += sizeof(head) - 1;
		if ((e = strstr(p, tail)) == NULL) {
			r = KW_ERR_PARSE;
			goto out;
		}
		if ((r = est_b64_decode(p, (size_t)(e - p), &der, &dl)) != 0 ||
		    (r = est_cert_info(der, dl, &ci)) != 0 ||
		    (r = est_certs_add(certs, der, dl)) != 0)
			goto out;
		free(der);
		der = NULL;
		p = e + sizeof(tail) - 1;
	}
	r = certs->n > 0 ? KW_OK : KW_ERR_PARSE;
out:
	if (r != 0) {
		if (r == KW_ERR_PARSE)
			kw_err("%s: no valid certificate (PEM CERTIFICATE or "
			    "DER expected)", path);
		est_certs_clear(certs);
	}
	free(der);
	free(data);
	return r;
}

/* ---- PKCS#7 certs-only ------------------------------------------------- */

static const uint8_t est_oid_signed_data[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t est_oid_data[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };

int
est_pkcs7_certs(const uint8_t *der, size_t len, struct est_certs *out)
{
	struct est_rd all = { der, len }, ci, oid, expl, sd, x, eci, certs;
	struct est_cert_info info;
	const uint8_t *t;
	size_t tl;
	int r;

	memset(out, 0, sizeof(*out));
	if (est_der_next(&all, 0x30, NULL, &ci, NULL, NULL) != 0 ||
	    all.len != 0 ||
	    est_der_next(&ci, 0x06, NULL, &oid, NULL, NULL) != 0 ||
	    !est_oid_eq(&oid, est_oid_signed_data, sizeof(est_oid_signed_data)) ||
	    est_der_next(&ci, 0xa0, NULL, &expl, NULL, NULL) != 0 ||
	    ci.len != 0 ||
	    est_der_next(&expl, 0x30, NULL, &sd, NULL, NULL) != 0 ||
	    expl.len != 0)
		goto bad;
	if (est_der_next(&sd, 0x02, NULL, &x, NULL, NULL) != 0 ||	/* version */
	    x.len != 1 || x.p[0] > 5 ||
	    est_der_next(&sd, 0x31, NULL, NULL, NULL, NULL) != 0 ||	/* digestAlgs */
	    est_der_next(&sd, 0x30, NULL, &eci, NULL, NULL) != 0 ||
	    est_der_next(&eci, 0x06, NULL, &oid, NULL, NULL) != 0 ||
	    !est_oid_eq(&oid, est_oid_data, sizeof(est_oid_data)))
		goto bad;
	/* certs-only: no encapsulated content */
	if (eci.len != 0)
		goto bad;
	if (est_der_next(&sd, 0xa0, NULL, &certs, NULL, NULL) != 0)
		goto bad;
	if (est_der_peek(&sd) == 0xa1 &&		/* CRLs: ignored */
	    est_der_next(&sd, 0xa1, NULL, NULL, NULL, NULL) != 0)
		goto bad;
	/* signerInfos must be present and, for certs-only, empty */
	if (est_der_next(&sd, 0x31, NULL, &x, NULL, NULL) != 0 || x.len != 0 ||
	    sd.len != 0)
		goto bad;
	while (certs.len > 0) {
		if (est_der_next(&certs, 0x30, NULL, NULL, &t, &tl) != 0 ||
		    est_cert_info(t, tl, &info) != 0)
			goto bad;
		if ((r = est_certs_add(out, t, tl)) != 0) {
			est_certs_clear(out);
			return r;
		}
	}
	if (out->n == 0)
		goto bad;
	return KW_OK;
bad:
	est_certs_clear(out);
	return KW_ERR_PARSE;
}

/* ---- csrattrs ---------------------------------------------------------- */

static const uint8_t est_oid_challenge[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07 };
static const uint8_t est_oid_ext_req[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e };
static const uint8_t est_oid_ecdsa_sha256[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const uint8_t est_oid_ecdsa_sha384[] = {
	0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const uint8_t est_oid_rsa_sha256[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const uint8_t est_oid_sha256[] = {
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t est_oid_sha384[] = {
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 };

void
est_csrattrs_clear(struct est_csrattrs *a)
{
	size_t i;

	for (i = 0; i < a->nsans; i++)
		free(a->sans[i]);
	memset(a, 0, sizeof(*a));
}

static void
est_attr_unknown(struct est_csrattrs *a, const struct est_rd *oid,
    const char *what)
{
	char s[48];

	if (a->nunknown >= EST_MAX_ATTRS)
		return;
	if (est_oid_str(oid->p, oid->len, s, sizeof(s)) != 0)
		snprintf(s, sizeof(s), "(unprintable OID)");
	snprintf(a->unknown[a->nunknown++], sizeof(a->unknown[0]), "%s%s",
	    s, what);
}

static int
est_attr_add_san(struct est_csrattrs *a, const char *prefix,
    const uint8_t *p, size_t len)
{
	char *s;
	size_t i, pl = strlen(prefix);

	if (a->nsans >= EST_MAX_SANS || len == 0 || len > 253)
		return KW_ERR_PARSE;
	for (i = 0; i < len; i++)	/* printable ASCII only */
		if (p[i] < 0x21 || p[i] > 0x7e)
			return KW_ERR_PARSE;
	if ((s = malloc(pl + len + 1)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(s, prefix, pl);
	memcpy(s + pl, p, len);
	s[pl + len] = '\0';
	a->sans[a->nsans++] = s;
	return KW_OK;
}

static int
est_attr_san_values(struct est_csrattrs *a, struct est_rd val)
{
	struct est_rd names, gn;
	char ip[INET6_ADDRSTRLEN];
	int tag, r;

	if (est_der_next(&val, 0x30, NULL, &names, NULL, NULL) != 0 ||
	    val.len != 0)
		return KW_ERR_PARSE;
	while (names.len > 0) {
		if (est_der_next(&names, -1, &tag, &gn, NULL, NULL) != 0)
			return KW_ERR_PARSE;
		switch (tag) {
		case 0x81:
			r = est_attr_add_san(a, "email:", gn.p, gn.len);
			break;
		case 0x82:
			r = est_attr_add_san(a, "dns:", gn.p, gn.len);
			break;
		case 0x86:
			r = est_attr_add_san(a, "uri:", gn.p, gn.len);
			break;
		case 0x87:
			if ((gn.len != 4 && gn.len != 16) ||
			    inet_ntop(gn.len == 4 ? AF_INET : AF_INET6, gn.p,
			    ip, sizeof(ip)) == NULL)
				return KW_ERR_PARSE;
			r = est_attr_add_san(a, "ip:", (const uint8_t *)ip,
			    strlen(ip));
			break;
		default:
			r = KW_OK;	/* other name forms: not mapped */
			kw_warn("csrattrs: a subjectAltName form (tag 0x%02x) "
			    "keyward cannot request is ignored", tag);
		}
		if (r != 0)
			return r;
	}
	return KW_OK;
}

/* extensionRequest values: OIDs of wanted extensions, or Extensions. */
static int
est_attr_ext_req(struct est_csrattrs *a, struct est_rd set)
{
	struct est_rd v, exts, ext, oid, val, b;
	int tag, r;

	while (set.len > 0) {
		if (est_der_next(&set, -1, &tag, &v, NULL, NULL) != 0)
			return KW_ERR_PARSE;
		if (tag == 0x06) {
			if (est_oid_eq(&v, est_oid_san, sizeof(est_oid_san)))
				a->want_san = 1;
			else
				est_attr_unknown(a, &v, " (extension)");
			continue;
		}
		if (tag != 0x30)
			return KW_ERR_PARSE;
		exts = v;
		while (exts.len > 0) {
			if (est_der_next(&exts, 0x30, NULL, &ext, NULL, NULL) != 0 ||
			    est_der_next(&ext, 0x06, NULL, &oid, NULL, NULL) != 0)
				return KW_ERR_PARSE;
			if (est_der_peek(&ext) == 0x01 &&
			    est_der_next(&ext, 0x01, NULL, &b, NULL, NULL) != 0)
				return KW_ERR_PARSE;
			if (est_der_next(&ext, 0x04, NULL, &val, NULL, NULL) != 0 ||
			    ext.len != 0)
				return KW_ERR_PARSE;
			if (est_oid_eq(&oid, est_oid_san, sizeof(est_oid_san))) {
				if ((r = est_attr_san_values(a, val)) != 0)
					return r;
			} else
				est_attr_unknown(a, &oid, " (extension value)");
		}
	}
	return KW_OK;
}

static void
est_attr_oid(struct est_csrattrs *a, const struct est_rd *oid)
{
	if (est_oid_eq(oid, est_oid_challenge, sizeof(est_oid_challenge)))
		a->want_challenge_password = 1;
	else if (est_oid_eq(oid, est_oid_ecdsa_sha256,
	    sizeof(est_oid_ecdsa_sha256)) ||
	    est_oid_eq(oid, est_oid_rsa_sha256, sizeof(est_oid_rsa_sha256)) ||
	    est_oid_eq(oid, est_oid_sha256, sizeof(est_oid_sha256)))
		a->want_sha256 = 1;
	else if (est_oid_eq(oid, est_oid_ecdsa_sha384,
	    sizeof(est_oid_ecdsa_sha384)) ||
	    est_oid_eq(oid, est_oid_sha384, sizeof(est_oid_sha384)))
		a->want_sha384 = 1;
	else if (est_oid_eq(oid, est_oid_san, sizeof(est_oid_san)))
		a->want_san = 1;
	else
		est_attr_unknown(a, oid, "");
}

int
est_csrattrs_parse(const uint8_t *der, size_t len, struct est_csrattrs *out)
{
	struct est_rd all = { der, len }, seq, v, oid, set;
	int tag, r = KW_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (est_der_next(&all, 0x30, NULL, &seq, NULL, NULL) != 0 ||
	    all.len != 0)
		goto out;
	while (seq.len > 0) {
		if (est_der_next(&seq, -1, &tag, &v, NULL, NULL) != 0)
			goto out;
		if (tag == 0x06) {
			est_attr_oid(out, &v);
			continue;
		}
		if (tag != 0x30 ||
		    est_der_next(&v, 0x06, NULL, &oid, NULL, NULL) != 0 ||
		    est_der_next(&v, 0x31, NULL, &set, NULL, NULL) != 0 ||
		    v.len != 0 || set.len == 0)
			goto out;
		if (est_oid_eq(&oid, est_oid_ext_req, sizeof(est_oid_ext_req))) {
			if ((r = est_attr_ext_req(out, set)) != 0)
				goto out;
			r = KW_ERR_PARSE;
		} else if (est_oid_eq(&oid, est_oid_challenge,
		    sizeof(est_oid_challenge)))
			out->want_challenge_password = 1;
		else
			est_attr_unknown(out, &oid, " (attribute)");
	}
	r = KW_OK;
out:
	if (r != 0)
		est_csrattrs_clear(out);
	return r;
}
