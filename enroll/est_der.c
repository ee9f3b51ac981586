/* What an EST server sends, read with the DER toolkit (common/kw_der.h):
 * base64 bodies, PKCS#7 certs-only, certificate fields, csrattrs. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "est_der.h"

/* ---- base64 ------------------------------------------------------------ */

int
est_b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	/* Some servers end the body with NUL bytes or white space: both are
	 * dropped from the end, and only from the end. */
	while (len > 0 && (in[len - 1] == '\0' || in[len - 1] == '\r' ||
	    in[len - 1] == '\n' || in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	return kw_b64_decode(in, len, out, out_len);
}

int
est_b64_encode(const uint8_t *in, size_t len, char **out, size_t *out_len)
{
	return kw_b64_encode(in, len, out, out_len);
}

int
est_oid_str(const uint8_t *p, size_t len, char *buf, size_t buflen)
{
	return kw_der_oid_str(p, len, buf, buflen);
}

/* ---- certificates ------------------------------------------------------ */

int
est_der_time(int tag, const uint8_t *p, size_t len, time_t *out)
{
	return kw_der_time(tag, p, len, out);
}

/* wolfSSL's certificate parser, through kw_der_cert(). */
int
est_cert_info(const uint8_t *der, size_t len, struct est_cert_info *out)
{
	struct kw_der_cert c;

	memset(out, 0, sizeof(*out));
	if (len > EST_MAX_CERT || kw_der_cert(der, len, &c) != KW_OK)
		return KW_ERR_PARSE;
	out->spki = c.spki.p;
	out->spki_len = c.spki.len;
	out->subject = c.subject.p;
	out->subject_len = c.subject.len;
	out->issuer = c.issuer.p;
	out->issuer_len = c.issuer.len;
	out->not_before = c.not_before;
	out->not_after = c.not_after;
	out->is_ca = c.is_ca;
	return KW_OK;
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

/* Our own walk, not wc_PKCS7_VerifySignedData(): on certs-only answers
 * wolfSSL 5.5.4 accepts trailing bytes, wrong lengths of the [0] and
 * SignedData wrappers and any encapsulated content type (tried on
 * tests/enroll/vectors.h), and keeps at most 15 certificates.  The
 * certificates themselves go through wolfSSL's parser (est_cert_info). */
static const uint8_t est_oid_signed_data[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t est_oid_data[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };

int
est_pkcs7_certs(const uint8_t *der, size_t len, struct est_certs *out)
{
	struct kw_der ci, oid, expl, sd, x, eci, certs, t;
	struct est_cert_info info;
	int r = KW_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (kw_der_only(der, len, 0x30, &ci) != KW_OK ||
	    kw_der_get(&ci, 0x06, &oid, NULL) != KW_OK ||
	    !kw_der_eq(&oid, est_oid_signed_data, sizeof(est_oid_signed_data)) ||
	    kw_der_get(&ci, 0xa0, &expl, NULL) != KW_OK || ci.len != 0 ||
	    kw_der_only(expl.p, expl.len, 0x30, &sd) != KW_OK)
		goto out;
	/* version, digestAlgorithms, encapContentInfo { id-data } with no
	 * content, certificates [0], CRLs [1] (ignored), empty signerInfos */
	if (kw_der_get(&sd, 0x02, &x, NULL) != KW_OK || x.len != 1 ||
	    x.p[0] > 5 || kw_der_get(&sd, 0x31, NULL, NULL) != KW_OK ||
	    kw_der_get(&sd, 0x30, &eci, NULL) != KW_OK ||
	    kw_der_get(&eci, 0x06, &oid, NULL) != KW_OK ||
	    !kw_der_eq(&oid, est_oid_data, sizeof(est_oid_data)) ||
	    eci.len != 0 || kw_der_get(&sd, 0xa0, &certs, NULL) != KW_OK ||
	    (kw_der_peek(&sd) == 0xa1 &&
	    kw_der_get(&sd, 0xa1, NULL, NULL) != KW_OK) ||
	    kw_der_get(&sd, 0x31, &x, NULL) != KW_OK || x.len != 0 ||
	    sd.len != 0)
		goto out;
	while (certs.len > 0) {
		if (kw_der_get(&certs, 0x30, NULL, &t) != KW_OK ||
		    est_cert_info(t.p, t.len, &info) != KW_OK) {
			r = KW_ERR_PARSE;
			goto out;
		}
		if ((r = est_certs_add(out, t.p, t.len)) != KW_OK)
			goto out;
	}
	r = out->n > 0 ? KW_OK : KW_ERR_PARSE;
out:
	if (r != KW_OK)
		est_certs_clear(out);
	return r;
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
static const uint8_t est_oid_san[] = { 0x55, 0x1d, 0x11 };

void
est_csrattrs_clear(struct est_csrattrs *a)
{
	size_t i;

	for (i = 0; i < a->nsans; i++)
		free(a->sans[i]);
	memset(a, 0, sizeof(*a));
}

static void
est_attr_unknown(struct est_csrattrs *a, const struct kw_der *oid,
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
est_attr_san_values(struct est_csrattrs *a, struct kw_der val)
{
	struct kw_der names, gn, t;
	char ip[INET6_ADDRSTRLEN];
	int tag, r;

	if (kw_der_get(&val, 0x30, &names, NULL) != KW_OK ||
	    val.len != 0)
		return KW_ERR_PARSE;
	while (names.len > 0) {
		if (kw_der_get(&names, KW_DER_ANY, &gn, &t) != KW_OK)
			return KW_ERR_PARSE;
		tag = t.p[0];
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
est_attr_ext_req(struct est_csrattrs *a, struct kw_der set)
{
	struct kw_der v, exts, ext, oid, val, t;
	int tag, r;

	while (set.len > 0) {
		if (kw_der_get(&set, KW_DER_ANY, &v, &t) != KW_OK)
			return KW_ERR_PARSE;
		tag = t.p[0];
		if (tag == 0x06) {
			if (kw_der_eq(&v, est_oid_san, sizeof(est_oid_san)))
				a->want_san = 1;
			else
				est_attr_unknown(a, &v, " (extension)");
			continue;
		}
		if (tag != 0x30)
			return KW_ERR_PARSE;
		exts = v;
		while (exts.len > 0) {
			if (kw_der_get(&exts, 0x30, &ext, NULL) != KW_OK ||
			    kw_der_get(&ext, 0x06, &oid, NULL) != KW_OK)
				return KW_ERR_PARSE;
			if (kw_der_peek(&ext) == 0x01 &&
			    kw_der_get(&ext, 0x01, NULL, NULL) != KW_OK)
				return KW_ERR_PARSE;
			if (kw_der_get(&ext, 0x04, &val, NULL) != KW_OK ||
			    ext.len != 0)
				return KW_ERR_PARSE;
			if (kw_der_eq(&oid, est_oid_san, sizeof(est_oid_san))) {
				if ((r = est_attr_san_values(a, val)) != 0)
					return r;
			} else
				est_attr_unknown(a, &oid, " (extension value)");
		}
	}
	return KW_OK;
}

static void
est_attr_oid(struct est_csrattrs *a, const struct kw_der *oid)
{
	if (kw_der_eq(oid, est_oid_challenge, sizeof(est_oid_challenge)))
		a->want_challenge_password = 1;
	else if (kw_der_eq(oid, est_oid_ecdsa_sha256,
	    sizeof(est_oid_ecdsa_sha256)) ||
	    kw_der_eq(oid, est_oid_rsa_sha256, sizeof(est_oid_rsa_sha256)) ||
	    kw_der_eq(oid, est_oid_sha256, sizeof(est_oid_sha256)))
		a->want_sha256 = 1;
	else if (kw_der_eq(oid, est_oid_ecdsa_sha384,
	    sizeof(est_oid_ecdsa_sha384)) ||
	    kw_der_eq(oid, est_oid_sha384, sizeof(est_oid_sha384)))
		a->want_sha384 = 1;
	else if (kw_der_eq(oid, est_oid_san, sizeof(est_oid_san)))
		a->want_san = 1;
	else
		est_attr_unknown(a, oid, "");
}

int
est_csrattrs_parse(const uint8_t *der, size_t len, struct est_csrattrs *out)
{
	struct kw_der seq, v, oid, set, t;
	int tag, r = KW_ERR_PARSE;

	memset(out, 0, sizeof(*out));
	if (kw_der_only(der, len, 0x30, &seq) != KW_OK)
		goto out;
	while (seq.len > 0) {
		if (kw_der_get(&seq, KW_DER_ANY, &v, &t) != KW_OK)
			goto out;
		tag = t.p[0];
		if (tag == 0x06) {
			est_attr_oid(out, &v);
			continue;
		}
		if (tag != 0x30 ||
		    kw_der_get(&v, 0x06, &oid, NULL) != KW_OK ||
		    kw_der_get(&v, 0x31, &set, NULL) != KW_OK ||
		    v.len != 0 || set.len == 0)
			goto out;
		if (kw_der_eq(&oid, est_oid_ext_req, sizeof(est_oid_ext_req))) {
			if ((r = est_attr_ext_req(out, set)) != 0)
				goto out;
			r = KW_ERR_PARSE;
		} else if (kw_der_eq(&oid, est_oid_challenge,
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
