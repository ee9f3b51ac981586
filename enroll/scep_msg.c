/* SCEP messages (RFC 8894): what keyward sends (a SignedData over a
 * pkcsPKIEnvelope, signed by the hardware key through common/kw_der's
 * writer, since wolfSSL's PKCS#7 signer cannot use a token key) and what
 * the CA answers (CertRep, read with kw_der's strict reader, its signature
 * checked with wolfCrypt, its envelope opened by the token). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/des3.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pkcs7.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/asn.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_wolf.h"
#include "csr.h"
#include "scep.h"

/* OIDs, whole elements */
static const uint8_t oid_data[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t oid_signed[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t oid_enveloped[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x01, 0x07, 0x03 };
static const uint8_t oid_content_type[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };
static const uint8_t oid_message_digest[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04 };
static const uint8_t oid_rsa[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
    0x0d, 0x01, 0x01, 0x01 };
/* SCEP attributes: 2.16.840.1.113733.1.9.N */
#define SCEP_ATTR(n) { 0x06, 0x0a, 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, \
    0x45, 0x01, 0x09, (n) }
static const uint8_t oid_message_type[] = SCEP_ATTR(2);
static const uint8_t oid_pki_status[] = SCEP_ATTR(3);
static const uint8_t oid_fail_info[] = SCEP_ATTR(4);
static const uint8_t oid_sender_nonce[] = SCEP_ATTR(5);
static const uint8_t oid_recipient_nonce[] = SCEP_ATTR(6);
static const uint8_t oid_transaction_id[] = SCEP_ATTR(7);

struct scep_digest_alg {
	enum scep_digest d;
	enum wc_HashType wc;
	int wc_oid;			/* for wc_EncodeSignature */
	uint8_t oid[11];		/* hash OID contents */
	size_t oid_len;
	uint8_t sig_oid[9];		/* shaNWithRSAEncryption contents */
};

static const struct scep_digest_alg scep_digests[] = {
	{ SCEP_DIGEST_SHA1, WC_HASH_TYPE_SHA, SHAh,
	  { 0x2b, 0x0e, 0x03, 0x02, 0x1a }, 5,
	  { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05 } },
	{ SCEP_DIGEST_SHA256, WC_HASH_TYPE_SHA256, SHA256h,
	  { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 }, 9,
	  { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b } },
	{ SCEP_DIGEST_SHA384, WC_HASH_TYPE_SHA384, SHA384h,
	  { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 }, 9,
	  { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c } },
	{ SCEP_DIGEST_SHA512, WC_HASH_TYPE_SHA512, SHA512h,
	  { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 }, 9,
	  { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d } },
};

struct scep_cipher_alg {
	enum scep_cipher c;
	uint8_t oid[9];
	size_t oid_len;
	size_t key_len, iv_len;
	int wc_oid;			/* for wolfSSL's envelope encoder */
};

static const struct scep_cipher_alg scep_ciphers[] = {
	{ SCEP_AES128_CBC, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01,
	  0x02 }, 9, 16, 16, AES128CBCb },
	{ SCEP_AES256_CBC, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01,
	  0x2a }, 9, 32, 16, AES256CBCb },
	{ SCEP_DES3_CBC, { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07 }, 8,
	  24, 8, DES3b },
	{ SCEP_DES_CBC, { 0x2b, 0x0e, 0x03, 0x02, 0x07 }, 5, 8, 8, DESb },
};

static const struct scep_cipher_alg *
scep_cipher_alg(enum scep_cipher c)
{
	size_t i;

	for (i = 0; i < sizeof(scep_ciphers) / sizeof(scep_ciphers[0]); i++)
		if (scep_ciphers[i].c == c)
			return &scep_ciphers[i];
	return NULL;
}

static const struct scep_digest_alg *
scep_digest_alg(enum scep_digest d)
{
	size_t i;

	for (i = 0; i < sizeof(scep_digests) / sizeof(scep_digests[0]); i++)
		if (scep_digests[i].d == d)
			return &scep_digests[i];
	return NULL;
}

/* ---- names ---------------------------------------------------------------- */

const char *
scep_cipher_name(enum scep_cipher c)
{
	switch (c) {
	case SCEP_AES128_CBC: return "AES-128-CBC";
	case SCEP_AES256_CBC: return "AES-256-CBC";
	case SCEP_DES3_CBC: return "3DES-CBC";
	case SCEP_DES_CBC: return "DES-CBC";
	default: return "none";
	}
}

const char *
scep_digest_name(enum scep_digest d)
{
	switch (d) {
	case SCEP_DIGEST_SHA1: return "SHA-1";
	case SCEP_DIGEST_SHA256: return "SHA-256";
	case SCEP_DIGEST_SHA384: return "SHA-384";
	case SCEP_DIGEST_SHA512: return "SHA-512";
	default: return "none";
	}
}

const char *
scep_failinfo_name(int fail_info)
{
	static const char *const names[] = { "badAlg", "badMessageCheck",
	    "badRequest", "badTime", "badCertId" };

	if (fail_info >= 0 && fail_info < 5)
		return names[fail_info];
	return "unknown";
}

/* ---- GetCACaps ------------------------------------------------------------ */

int
scep_caps_parse(const uint8_t *body, size_t len, unsigned *caps)
{
	static const struct { const char *kw; unsigned bit; } kws[] = {
		{ "AES", SCEP_CAP_AES }, { "DES3", SCEP_CAP_DES3 },
		{ "SHA-1", SCEP_CAP_SHA1 }, { "SHA-256", SCEP_CAP_SHA256 },
		{ "SHA-512", SCEP_CAP_SHA512 },
		{ "POSTPKIOperation", SCEP_CAP_POST },
		{ "Renewal", SCEP_CAP_RENEWAL },
		{ "SCEPStandard", SCEP_CAP_STANDARD },
		{ "GetNextCACert", SCEP_CAP_NEXTCA },
	};
	size_t i = 0, s, e, k;

	*caps = 0;
	if (len > 4096)
		return KW_ERR_PARSE;
	while (i < len) {
		s = i;
		while (i < len && body[i] != '\n')
			i++;
		e = i++;
		while (e > s && (body[e - 1] == '\r' || body[e - 1] == ' ' ||
		    body[e - 1] == '\t'))
			e--;
		while (s < e && (body[s] == ' ' || body[s] == '\t'))
			s++;
		for (k = 0; k < sizeof(kws) / sizeof(kws[0]); k++)
			if (strlen(kws[k].kw) == e - s &&
			    strncasecmp((const char *)body + s, kws[k].kw,
			    e - s) == 0)
				*caps |= kws[k].bit;
	}
	if (*caps & SCEP_CAP_STANDARD)
		*caps |= SCEP_CAP_AES | SCEP_CAP_SHA256 | SCEP_CAP_POST;
	return KW_OK;
}

enum scep_cipher
scep_caps_cipher(unsigned caps)
{
	if (caps & SCEP_CAP_AES)
		return SCEP_AES128_CBC;
	if (caps & SCEP_CAP_DES3)
		return SCEP_DES3_CBC;
	return SCEP_DES_CBC;
}

/* ---- helpers ------------------------------------------------------------- */

static int
scep_random(uint8_t *out, size_t len)
{
	WC_RNG rng;
	int r;

	if (wc_InitRng(&rng) != 0)
		return KW_ERR_CRYPTO;
	r = wc_RNG_GenerateBlock(&rng, out, (word32)len) == 0 ? KW_OK :
	    KW_ERR_CRYPTO;
	wc_FreeRng(&rng);
	return r;
}

/* A DER buffer of cap bytes, grown by the caller's retry is not needed:
 * messages are bounded by what they carry. */
static int
scep_w_alloc(struct kw_der_w *w, size_t cap, uint8_t **buf)
{
	if ((*buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	kw_der_w_init(w, *buf, cap);
	return KW_OK;
}

static int
scep_w_finish(struct kw_der_w *w, uint8_t **buf, uint8_t **der,
    size_t *der_len)
{
	int r;

	if ((r = kw_der_w_end(w, der_len)) != KW_OK) {
		free(*buf);
		*buf = NULL;
		return r;
	}
	*der = *buf;
	*buf = NULL;
	return KW_OK;
}

/* CertificationRequest -> its info's subject and SubjectPublicKeyInfo. */
static int
scep_csr_parts(const uint8_t *csr, size_t csr_len, struct kw_der *name,
    struct kw_der *spki)
{
	struct kw_der req, info, ver;

	if (kw_der_only(csr, csr_len, 0x30, &req) != KW_OK ||
	    kw_der_get(&req, 0x30, &info, NULL) != KW_OK ||
	    kw_der_get(&info, 0x02, &ver, NULL) != KW_OK ||
	    kw_der_get(&info, 0x30, NULL, name) != KW_OK ||
	    kw_der_get(&info, 0x30, NULL, spki) != KW_OK)
		return KW_ERR_PARSE;
	return KW_OK;
}

int
scep_csr_subject(const uint8_t *csr, size_t csr_len, struct kw_der *name)
{
	struct kw_der spki;

	return scep_csr_parts(csr, csr_len, name, &spki);
}

static void
scep_utctime(struct kw_der_w *w, time_t t)
{
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	kw_der_put(w, 0x17, s, strlen(s));
}

/* ---- the transient certificate -------------------------------------------- */

int
scep_selfsigned(struct kw_key *key, const uint8_t *csr, size_t csr_len,
    uint8_t **der, size_t *der_len)
{
	static const uint8_t v3[] = { 0xa0, 0x03, 0x02, 0x01, 0x02 };
	struct kw_der name, spki;
	struct kw_der_w w;
	const uint8_t *sigalg;
	uint8_t serial[16], *buf = NULL, *tbs_der = NULL;
	size_t sig_len, tbs, m, tbs_len;
	time_t now = time(NULL);
	int r;

	*der = NULL;
	*der_len = 0;
	if ((r = scep_csr_parts(csr, csr_len, &name, &spki)) != KW_OK ||
	    (r = kw_cert_sigalg_der(key, &sigalg, &sig_len)) != KW_OK ||
	    (r = scep_random(serial, sizeof(serial))) != KW_OK)
		goto out;
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, 16 bytes */
	if ((r = scep_w_alloc(&w, name.len * 2 + spki.len + 256, &buf)) !=
	    KW_OK)
		goto out;
	tbs = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, v3, sizeof(v3));
	kw_der_put(&w, 0x02, serial, sizeof(serial));
	kw_der_put_raw(&w, sigalg, sig_len);
	kw_der_put_raw(&w, name.p, name.len);		/* issuer = subject */
	m = kw_der_open(&w, 0x30);
	scep_utctime(&w, now - 3600);
	scep_utctime(&w, now + 86400);
	kw_der_close(&w, m);
	kw_der_put_raw(&w, name.p, name.len);
	kw_der_put_raw(&w, spki.p, spki.len);
	kw_der_close(&w, tbs);
	if ((r = scep_w_finish(&w, &buf, &tbs_der, &tbs_len)) != KW_OK)
		goto out;
	r = kw_cert_sign_tbs(key, tbs_der, tbs_len, der, der_len);
out:
	free(buf);
	free(tbs_der);
	return r;
}

/* ---- the envelope we send -------------------------------------------------- */

int
scep_envelope_make(const uint8_t *recipient, size_t recipient_len,
    enum scep_cipher cipher, const uint8_t *content, size_t content_len,
    uint8_t **der, size_t *der_len)
{
	const struct scep_cipher_alg *ca = scep_cipher_alg(cipher);
	PKCS7 *p7 = NULL;
	uint8_t *cert = NULL, *out = NULL;
	size_t cap = content_len + recipient_len + 1024;
	int w, r;

	*der = NULL;
	*der_len = 0;
	if (ca == NULL || content_len > SCEP_MAX_MSG)
		return KW_ERR_ARG;
	/* wolfSSL keeps a pointer to the certificate it is given */
	if ((cert = malloc(recipient_len)) == NULL ||
	    (out = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	memcpy(cert, recipient, recipient_len);
	if ((p7 = wc_PKCS7_New(NULL, INVALID_DEVID)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((w = wc_PKCS7_InitWithCert(p7, cert, (word32)recipient_len)) != 0) {
		r = kw_wolf_err(w, "SCEP: reading the CA/RA certificate");
		kw_err("SCEP: the CA/RA certificate cannot take an envelope "
		    "(not RSA?)");
		goto out;
	}
	p7->content = (byte *)content;
	p7->contentSz = (word32)content_len;
	p7->contentOID = DATA;
	p7->encryptOID = ca->wc_oid;
	if ((w = wc_PKCS7_EncodeEnvelopedData(p7, out, (word32)cap)) <= 0) {
		r = kw_wolf_err(w, "SCEP: encrypting the request envelope");
		kw_err("SCEP: cannot encrypt the request to the CA with %s",
		    scep_cipher_name(cipher));
		goto out;
	}
	*der = out;
	*der_len = (size_t)w;
	out = NULL;
	r = KW_OK;
out:
	if (p7 != NULL)
		wc_PKCS7_Free(p7);
	free(cert);
	free(out);
	return r;
}

int
scep_issuer_and_subject(const uint8_t *ca_cert, size_t ca_len,
    const uint8_t *csr, size_t csr_len, uint8_t **der, size_t *der_len)
{
	struct kw_der_cert ci;
	struct kw_der name, spki;
	struct kw_der_w w;
	uint8_t *buf = NULL;
	size_t m;
	int r;

	*der = NULL;
	*der_len = 0;
	if ((r = kw_der_cert(ca_cert, ca_len, &ci)) != KW_OK ||
	    (r = scep_csr_parts(csr, csr_len, &name, &spki)) != KW_OK ||
	    (r = scep_w_alloc(&w, ci.subject.len + name.len + 16, &buf)) !=
	    KW_OK)
		goto out;
	m = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, ci.subject.p, ci.subject.len);
	kw_der_put_raw(&w, name.p, name.len);
	kw_der_close(&w, m);
	r = scep_w_finish(&w, &buf, der, der_len);
out:
	free(buf);
	return r;
}

/* ---- the pkiMessage we send ----------------------------------------------- */

struct scep_attr_buf {
	uint8_t b[160];
	size_t len;
};

static int
scep_attr(struct scep_attr_buf *a, const uint8_t *oid, size_t oid_len,
    uint8_t tag, const void *v, size_t vlen)
{
	struct kw_der_w w;
	size_t s, set;

	kw_der_w_init(&w, a->b, sizeof(a->b));
	s = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, oid, oid_len);
	set = kw_der_open(&w, 0x31);
	if (tag == 0)
		kw_der_put_raw(&w, v, vlen);
	else
		kw_der_put(&w, tag, v, vlen);
	kw_der_close(&w, set);
	kw_der_close(&w, s);
	return kw_der_w_end(&w, &a->len);
}

/* DER orders a SET OF by the encodings. */
static int
scep_attr_cmp(const void *x, const void *y)
{
	const struct scep_attr_buf *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->b, b->b, n);

	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static enum wc_HashType
scep_kw_hash_wc(enum kw_hash h)
{
	switch (h) {
	case KW_HASH_SHA384: return WC_HASH_TYPE_SHA384;
	case KW_HASH_SHA512: return WC_HASH_TYPE_SHA512;
	default: return WC_HASH_TYPE_SHA256;
	}
}

static const struct scep_digest_alg *
scep_kw_hash_alg(enum kw_hash h)
{
	switch (h) {
	case KW_HASH_SHA384: return scep_digest_alg(SCEP_DIGEST_SHA384);
	case KW_HASH_SHA512: return scep_digest_alg(SCEP_DIGEST_SHA512);
	default: return scep_digest_alg(SCEP_DIGEST_SHA256);
	}
}

int
scep_pkimsg_make(const struct scep_out *m, uint8_t **der, size_t *der_len)
{
	const struct scep_digest_alg *da;
	struct scep_attr_buf attrs[8];
	struct kw_der_cert ci;
	struct kw_der_w w;
	uint8_t md[KW_MAX_DIGEST], sig[KW_MAX_SIG], *sa = NULL, *buf = NULL;
	size_t mdlen, sig_len = sizeof(sig), i, sa_len, cap, ci0, sd, s, e;
	size_t certs, infos, si, sid, alg, aset, nattrs;
	char type[8], status[8], fail[8];
	int r;

	*der = NULL;
	*der_len = 0;
	if (m->key == NULL || m->transaction_id == NULL ||
	    strlen(m->transaction_id) > SCEP_MAX_TID ||
	    m->content_len > SCEP_MAX_MSG)
		return KW_ERR_ARG;
	if (!kw_alg_is_rsa(kw_key_alg(m->key))) {
		kw_err("SCEP needs an RSA key; this key is %s",
		    kw_alg_name(kw_key_alg(m->key)));
		return KW_ERR_UNSUPPORTED;
	}
	da = scep_kw_hash_alg(m->hash);
	mdlen = kw_hash_len(m->hash == KW_HASH_NONE ? KW_HASH_SHA256 : m->hash);
	if ((r = kw_der_cert(m->signer_cert, m->signer_cert_len, &ci)) !=
	    KW_OK)
		return r;
	if (wc_Hash(scep_kw_hash_wc(m->hash), m->content,
	    (word32)m->content_len, md, (word32)mdlen) != 0)
		return KW_ERR_CRYPTO;
	/* the signed attributes */
	snprintf(type, sizeof(type), "%d", (int)m->type);
	if ((r = scep_attr(&attrs[0], oid_content_type,
	    sizeof(oid_content_type), 0, oid_data, sizeof(oid_data))) ||
	    (r = scep_attr(&attrs[1], oid_message_digest,
	    sizeof(oid_message_digest), 0x04, md, mdlen)) ||
	    (r = scep_attr(&attrs[2], oid_message_type,
	    sizeof(oid_message_type), 0x13, type, strlen(type))) ||
	    (r = scep_attr(&attrs[3], oid_transaction_id,
	    sizeof(oid_transaction_id), 0x13, m->transaction_id,
	    strlen(m->transaction_id))) ||
	    (r = scep_attr(&attrs[4], oid_sender_nonce,
	    sizeof(oid_sender_nonce), 0x04, m->sender_nonce, SCEP_NONCE_LEN)))
		return r;
	nattrs = 5;
	if (m->recipient_nonce != NULL) {
		snprintf(status, sizeof(status), "%d", (int)m->status);
		snprintf(fail, sizeof(fail), "%d", m->fail_info);
		if ((r = scep_attr(&attrs[nattrs++], oid_recipient_nonce,
		    sizeof(oid_recipient_nonce), 0x04, m->recipient_nonce,
		    SCEP_NONCE_LEN)) ||
		    (r = scep_attr(&attrs[nattrs++], oid_pki_status,
		    sizeof(oid_pki_status), 0x13, status, strlen(status))) ||
		    (m->fail_info >= 0 && (r = scep_attr(&attrs[nattrs++],
		    oid_fail_info, sizeof(oid_fail_info), 0x13, fail,
		    strlen(fail)))))
			return r;
	}
	qsort(attrs, nattrs, sizeof(attrs[0]), scep_attr_cmp);
	if ((sa = malloc(nattrs * sizeof(attrs[0].b) + 8)) == NULL)
		return KW_ERR_NOMEM;
	kw_der_w_init(&w, sa, nattrs * sizeof(attrs[0].b) + 8);
	s = kw_der_open(&w, 0x31);
	for (i = 0; i < nattrs; i++)
		kw_der_put_raw(&w, attrs[i].b, attrs[i].len);
	kw_der_close(&w, s);
	if ((r = kw_der_w_end(&w, &sa_len)) != KW_OK)
		goto out;
	/* signed over the SET; sent as [0] IMPLICIT */
	if (wc_Hash(scep_kw_hash_wc(m->hash), sa, (word32)sa_len, md,
	    (word32)mdlen) != 0) {
		r = KW_ERR_CRYPTO;
		goto out;
	}
	if ((r = kw_key_sign(m->key, KW_SIG_RSA_PKCS1, m->hash ==
	    KW_HASH_NONE ? KW_HASH_SHA256 : m->hash, md, mdlen, sig,
	    &sig_len)) != KW_OK) {
		kw_err("SCEP: the key could not sign the request: %s",
		    kw_strerror(r));
		goto out;
	}
	sa[0] = 0xa0;
	cap = m->content_len + m->signer_cert_len + sa_len + sig_len + 512;
	if ((r = scep_w_alloc(&w, cap, &buf)) != KW_OK)
		goto out;
	ci0 = kw_der_open(&w, 0x30);			/* ContentInfo */
	kw_der_put_raw(&w, oid_signed, sizeof(oid_signed));
	e = kw_der_open(&w, 0xa0);
	sd = kw_der_open(&w, 0x30);			/* SignedData */
	kw_der_put(&w, 0x02, "\x01", 1);
	aset = kw_der_open(&w, 0x31);			/* digestAlgorithms */
	alg = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x06, da->oid, da->oid_len);
	kw_der_put(&w, 0x05, NULL, 0);
	kw_der_close(&w, alg);
	kw_der_close(&w, aset);
	s = kw_der_open(&w, 0x30);			/* encapContentInfo */
	kw_der_put_raw(&w, oid_data, sizeof(oid_data));
	i = kw_der_open(&w, 0xa0);
	kw_der_put(&w, 0x04, m->content, m->content_len);
	kw_der_close(&w, i);
	kw_der_close(&w, s);
	certs = kw_der_open(&w, 0xa0);			/* certificates */
	kw_der_put_raw(&w, m->signer_cert, m->signer_cert_len);
	kw_der_close(&w, certs);
	infos = kw_der_open(&w, 0x31);			/* signerInfos */
	si = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x02, "\x01", 1);
	sid = kw_der_open(&w, 0x30);			/* IssuerAndSerial */
	kw_der_put_raw(&w, ci.issuer.p, ci.issuer.len);
	kw_der_put_raw(&w, ci.serial.p, ci.serial.len);
	kw_der_close(&w, sid);
	alg = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x06, da->oid, da->oid_len);
	kw_der_put(&w, 0x05, NULL, 0);
	kw_der_close(&w, alg);
	kw_der_put_raw(&w, sa, sa_len);
	alg = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, oid_rsa, sizeof(oid_rsa));
	kw_der_put(&w, 0x05, NULL, 0);
	kw_der_close(&w, alg);
	kw_der_put(&w, 0x04, sig, sig_len);
	kw_der_close(&w, si);
	kw_der_close(&w, infos);
	kw_der_close(&w, sd);
	kw_der_close(&w, e);
	kw_der_close(&w, ci0);
	r = scep_w_finish(&w, &buf, der, der_len);
out:
	free(sa);
	free(buf);
	return r;
}

/* ---- reading a CertRep ------------------------------------------------------ */

/* The one value of an attribute whose type is oid. */
static int
scep_attr_value(const struct kw_der *attrs, const uint8_t *oid, size_t oid_len,
    int tag, struct kw_der *val, int *found)
{
	struct kw_der a = *attrs, at, type, set, v;

	*found = 0;
	while (a.len > 0) {
		if (kw_der_get(&a, 0x30, &at, NULL) != KW_OK ||
		    kw_der_get(&at, 0x06, NULL, &type) != KW_OK ||
		    kw_der_get(&at, 0x31, &set, NULL) != KW_OK || at.len != 0)
			return KW_ERR_PARSE;
		if (!kw_der_eq(&type, oid, oid_len))
			continue;
		if (*found || kw_der_get(&set, tag, &v, NULL) != KW_OK ||
		    set.len != 0)
			return KW_ERR_PARSE;	/* twice, or not one value */
		*val = v;
		*found = 1;
	}
	return KW_OK;
}

/* A PrintableString attribute holding a small decimal number. */
static int
scep_attr_num(const struct kw_der *attrs, const uint8_t *oid, size_t oid_len,
    int *out, int *found)
{
	struct kw_der v;
	size_t i;
	int r, n = 0;

	if ((r = scep_attr_value(attrs, oid, oid_len, 0x13, &v, found)) !=
	    KW_OK || !*found)
		return r;
	if (v.len == 0 || v.len > 3)
		return KW_ERR_PARSE;
	for (i = 0; i < v.len; i++) {
		if (!isdigit(v.p[i]))
			return KW_ERR_PARSE;
		n = n * 10 + (v.p[i] - '0');
	}
	*out = n;
	return KW_OK;
}

static int
scep_attr_nonce(const struct kw_der *attrs, const uint8_t *oid,
    size_t oid_len, uint8_t *out, int *found)
{
	struct kw_der v;
	int r;

	if ((r = scep_attr_value(attrs, oid, oid_len, 0x04, &v, found)) !=
	    KW_OK || !*found)
		return r;
	if (v.len != SCEP_NONCE_LEN)
		return KW_ERR_PARSE;
	memcpy(out, v.p, SCEP_NONCE_LEN);
	return KW_OK;
}

/* AlgorithmIdentifier of a digest: SHA-1/256/384/512, NULL or absent
 * parameters. */
static int
scep_read_digest_alg(struct kw_der *d, const struct scep_digest_alg **out)
{
	struct kw_der alg, oid, nul;
	size_t i;

	if (kw_der_get(d, 0x30, &alg, NULL) != KW_OK ||
	    kw_der_get(&alg, 0x06, &oid, NULL) != KW_OK ||
	    (alg.len != 0 && (kw_der_get(&alg, 0x05, &nul, NULL) != KW_OK ||
	    nul.len != 0 || alg.len != 0)))
		return KW_ERR_PARSE;
	for (i = 0; i < sizeof(scep_digests) / sizeof(scep_digests[0]); i++)
		if (kw_der_eq(&oid, scep_digests[i].oid,
		    scep_digests[i].oid_len)) {
			*out = &scep_digests[i];
			return KW_OK;
		}
	return KW_ERR_UNSUPPORTED;
}

/* Verify sig over digest (of da) with the RSA key of a certificate. */
static int
scep_rsa_verify(const uint8_t *cert, size_t cert_len,
    const struct scep_digest_alg *da, const uint8_t *digest, size_t dlen,
    const uint8_t *sig, size_t sig_len)
{
	struct kw_der_cert ci;
	RsaKey rsa;
	word32 idx = 0;
	uint8_t buf[KW_MAX_SIG], want[KW_MAX_DIGEST + 32], *dec = NULL;
	int n, wl, r, inited = 0;

	if (kw_der_cert(cert, cert_len, &ci) != KW_OK)
		return KW_ERR_UNSUPPORTED;
	if (sig_len > sizeof(buf))
		return KW_ERR_PEER_VERIFY;
	memcpy(buf, sig, sig_len);
	if (wc_InitRsaKey(&rsa, NULL) != 0)
		return KW_ERR_CRYPTO;
	inited = 1;
	if (wc_RsaPublicKeyDecode(ci.spki.p, &idx, &rsa,
	    (word32)ci.spki.len) != 0) {
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	if ((size_t)wc_RsaEncryptSize(&rsa) != sig_len) {
		r = KW_ERR_PEER_VERIFY;
		goto out;
	}
	n = wc_RsaSSL_VerifyInline(buf, (word32)sig_len, &dec, &rsa);
	wl = (int)wc_EncodeSignature(want, digest, (word32)dlen, da->wc_oid);
	r = n > 0 && wl > 0 && n == wl && dec != NULL &&
	    memcmp(dec, want, (size_t)n) == 0 ? KW_OK : KW_ERR_PEER_VERIFY;
out:
	if (inited)
		wc_FreeRsaKey(&rsa);
	return r;
}

/* Which of signers the SignerInfo's sid (IssuerAndSerialNumber) names. */
static int
scep_find_signer(const struct kw_der *sid, const struct est_certs *signers,
    size_t *idx)
{
	struct kw_der s = *sid, issuer, serial;
	struct kw_der_cert ci;
	size_t i;

	if (kw_der_get(&s, 0x30, NULL, &issuer) != KW_OK ||
	    kw_der_get(&s, 0x02, NULL, &serial) != KW_OK || s.len != 0)
		return KW_ERR_PARSE;
	for (i = 0; signers != NULL && i < signers->n; i++) {
		if (kw_der_cert(signers->c[i].der, signers->c[i].len, &ci) !=
		    KW_OK)
			continue;
		if (kw_der_eq(&issuer, ci.issuer.p, ci.issuer.len) &&
		    kw_der_eq(&serial, ci.serial.p, ci.serial.len)) {
			*idx = i;
			return KW_OK;
		}
	}
	return KW_ERR_PEER_VERIFY;
}

/* SignedData's outer layers: ContentInfo, version, digestAlgorithms,
 * encapContentInfo (its eContent, if any), certificates and crls skipped,
 * the one SignerInfo. */
static int
scep_signed_data(const uint8_t *der, size_t len, struct kw_der *econtent,
    int *has_content, struct kw_der *signer_info)
{
	struct kw_der ci, type, e, sd, v, set, encap, ctype, ec, oct, infos;

	*has_content = 0;
	if (kw_der_only(der, len, 0x30, &ci) != KW_OK ||
	    kw_der_get(&ci, 0x06, NULL, &type) != KW_OK ||
	    !kw_der_eq(&type, oid_signed, sizeof(oid_signed)) ||
	    kw_der_get(&ci, 0xa0, &e, NULL) != KW_OK || ci.len != 0 ||
	    kw_der_get(&e, 0x30, &sd, NULL) != KW_OK || e.len != 0 ||
	    kw_der_get(&sd, 0x02, &v, NULL) != KW_OK ||
	    kw_der_get(&sd, 0x31, &set, NULL) != KW_OK ||
	    kw_der_get(&sd, 0x30, &encap, NULL) != KW_OK ||
	    kw_der_get(&encap, 0x06, NULL, &ctype) != KW_OK ||
	    !kw_der_eq(&ctype, oid_data, sizeof(oid_data)))
		return KW_ERR_PARSE;
	if (encap.len > 0) {
		if (kw_der_get(&encap, 0xa0, &ec, NULL) != KW_OK ||
		    encap.len != 0 ||
		    kw_der_get(&ec, 0x04, &oct, NULL) != KW_OK || ec.len != 0)
			return KW_ERR_PARSE;
		*econtent = oct;
		*has_content = 1;
	}
	if (kw_der_peek(&sd) == 0xa0 &&
	    kw_der_get(&sd, 0xa0, NULL, NULL) != KW_OK)
		return KW_ERR_PARSE;
	if (kw_der_peek(&sd) == 0xa1 &&
	    kw_der_get(&sd, 0xa1, NULL, NULL) != KW_OK)
		return KW_ERR_PARSE;
	if (kw_der_get(&sd, 0x31, &infos, NULL) != KW_OK || sd.len != 0 ||
	    kw_der_get(&infos, 0x30, signer_info, NULL) != KW_OK ||
	    infos.len != 0)
		return KW_ERR_PARSE;
	return KW_OK;
}

/* The SCEP attributes of a verified CertRep. */
static int
scep_certrep_attrs(const struct kw_der *attrs, struct scep_certrep *out)
{
	struct kw_der tid;
	int found, n, r;

	if ((r = scep_attr_num(attrs, oid_message_type,
	    sizeof(oid_message_type), &n, &found)) != KW_OK || !found)
		return KW_ERR_PARSE;
	out->type = (enum scep_msg_type)n;
	if ((r = scep_attr_num(attrs, oid_pki_status, sizeof(oid_pki_status),
	    &n, &found)) != KW_OK || !found)
		return KW_ERR_PARSE;
	if (n != SCEP_SUCCESS && n != SCEP_FAILURE && n != SCEP_PENDING)
		return KW_ERR_PARSE;
	out->status = (enum scep_status)n;
	if ((r = scep_attr_num(attrs, oid_fail_info, sizeof(oid_fail_info),
	    &n, &found)) != KW_OK)
		return r;
	out->fail_info = found ? n : -1;
	if ((r = scep_attr_value(attrs, oid_transaction_id,
	    sizeof(oid_transaction_id), 0x13, &tid, &found)) != KW_OK ||
	    !found || tid.len == 0 || tid.len > SCEP_MAX_TID)
		return KW_ERR_PARSE;
	memcpy(out->transaction_id, tid.p, tid.len);
	out->transaction_id[tid.len] = '\0';
	if ((r = scep_attr_nonce(attrs, oid_sender_nonce,
	    sizeof(oid_sender_nonce), out->sender_nonce, &found)) != KW_OK)
		return r;
	return scep_attr_nonce(attrs, oid_recipient_nonce,
	    sizeof(oid_recipient_nonce), out->recipient_nonce,
	    &out->has_recipient_nonce);
}

int
scep_certrep_parse(const uint8_t *der, size_t len,
    const struct est_certs *signers, struct scep_certrep *out)
{
	const struct scep_digest_alg *da = NULL;
	struct kw_der econtent, si, v, sid, attrs, attrs_tlv, salg, soid, sig,
	    md, ctype, nul;
	uint8_t h[KW_MAX_DIGEST], *sa = NULL;
	size_t hl;
	int has_content, found, r;

	memset(out, 0, sizeof(*out));
	out->fail_info = -1;
	if (der == NULL || len == 0 || len > SCEP_MAX_MSG ||
	    (r = scep_signed_data(der, len, &econtent, &has_content, &si)) !=
	    KW_OK) {
		kw_err("SCEP: the CA's answer is not a pkiMessage (SignedData): "
		    "rejected");
		return KW_ERR_PARSE;
	}
	r = KW_ERR_PARSE;
	if (kw_der_get(&si, 0x02, &v, NULL) != KW_OK ||
	    kw_der_get(&si, 0x30, &sid, NULL) != KW_OK ||
	    (r = scep_read_digest_alg(&si, &da)) != KW_OK ||
	    kw_der_get(&si, 0xa0, &attrs, &attrs_tlv) != KW_OK ||
	    kw_der_get(&si, 0x30, &salg, NULL) != KW_OK ||
	    kw_der_get(&salg, 0x06, &soid, NULL) != KW_OK ||
	    (salg.len != 0 && (kw_der_get(&salg, 0x05, &nul, NULL) != KW_OK ||
	    salg.len != 0)) ||
	    kw_der_get(&si, 0x04, &sig, NULL) != KW_OK ||
	    (si.len != 0 && kw_der_peek(&si) != 0xa1)) {
		if (r == KW_ERR_UNSUPPORTED)
			kw_err("SCEP: the CA signed its answer with a digest "
			    "keyward does not take: rejected");
		else
			kw_err("SCEP: the CA's answer has a malformed "
			    "SignerInfo: rejected");
		return r == KW_ERR_UNSUPPORTED ? r : KW_ERR_PARSE;
	}
	if (!kw_der_eq(&soid, oid_rsa + 2, sizeof(oid_rsa) - 2) &&
	    !kw_der_eq(&soid, da->sig_oid, sizeof(da->sig_oid))) {
		kw_err("SCEP: the CA signed its answer with an algorithm "
		    "keyward does not take (RSA with %s expected): rejected",
		    scep_digest_name(da->d));
		return KW_ERR_UNSUPPORTED;
	}
	if ((r = scep_find_signer(&sid, signers, &out->signer)) != KW_OK) {
		kw_err("SCEP: the answer is signed by a certificate that is "
		    "not the CA's or RA's from GetCACert: rejected");
		return r == KW_ERR_PARSE ? r : KW_ERR_PEER_VERIFY;
	}
	out->digest = da->d;
	hl = wc_HashGetDigestSize(da->wc) > 0 ?
	    (size_t)wc_HashGetDigestSize(da->wc) : 0;
	/* contentType and messageDigest (RFC 5652 5.3) */
	if (scep_attr_value(&attrs, oid_content_type, sizeof(oid_content_type),
	    0x06, &ctype, &found) != KW_OK || !found ||
	    !kw_der_eq(&ctype, oid_data + 2, sizeof(oid_data) - 2) ||
	    scep_attr_value(&attrs, oid_message_digest,
	    sizeof(oid_message_digest), 0x04, &md, &found) != KW_OK ||
	    !found || md.len != hl) {
		kw_err("SCEP: the CA's answer lacks its contentType or "
		    "messageDigest: rejected");
		return KW_ERR_PARSE;
	}
	if (wc_Hash(da->wc, has_content ? econtent.p : (const uint8_t *)"",
	    has_content ? (word32)econtent.len : 0, h, (word32)hl) != 0)
		return KW_ERR_CRYPTO;
	if (!kw_der_eq(&md, h, hl)) {
		kw_err("SCEP: the CA's answer does not match its "
		    "messageDigest: rejected");
		return KW_ERR_PEER_VERIFY;
	}
	/* the signature is over the attributes as a SET */
	if ((sa = malloc(attrs_tlv.len)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(sa, attrs_tlv.p, attrs_tlv.len);
	sa[0] = 0x31;
	r = wc_Hash(da->wc, sa, (word32)attrs_tlv.len, h, (word32)hl) == 0 ?
	    KW_OK : KW_ERR_CRYPTO;
	free(sa);
	if (r != KW_OK)
		return r;
	if ((r = scep_rsa_verify(signers->c[out->signer].der,
	    signers->c[out->signer].len, da, h, hl, sig.p, sig.len)) !=
	    KW_OK) {
		kw_err("SCEP: the signature on the CA's answer does not verify "
		    "with the CA/RA certificate: rejected");
		return r == KW_ERR_UNSUPPORTED ? r : KW_ERR_PEER_VERIFY;
	}
	if ((r = scep_certrep_attrs(&attrs, out)) != KW_OK) {
		kw_err("SCEP: the CA's answer has missing or malformed SCEP "
		    "attributes (messageType, pkiStatus, transactionID, "
		    "nonces): rejected");
		return KW_ERR_PARSE;
	}
	if (out->status == SCEP_SUCCESS) {
		if (!has_content || econtent.len == 0) {
			kw_err("SCEP: the CA answered SUCCESS without a "
			    "certificate: rejected");
			return KW_ERR_PARSE;
		}
		out->envelope = econtent;
	}
	return KW_OK;
}

/* ---- the envelope we receive -------------------------------------------- */

void
scep_envelope_clear(struct scep_envelope *e)
{
	free(e->ciphertext);
	memset(e, 0, sizeof(*e));
}

/* encryptedContent [0] IMPLICIT: primitive, or constructed of OCTET
 * STRING segments (joined). */
static int
scep_envelope_content(struct kw_der *eci, struct scep_envelope *out)
{
	struct kw_der c, seg, tmp;
	size_t total = 0;
	int tag = kw_der_peek(eci);

	if (tag == 0x80) {
		if (kw_der_get(eci, 0x80, &c, NULL) != KW_OK || c.len == 0 ||
		    (out->ciphertext = malloc(c.len)) == NULL)
			return KW_ERR_PARSE;
		memcpy(out->ciphertext, c.p, c.len);
		out->ciphertext_len = c.len;
		return KW_OK;
	}
	if (tag != 0xa0 || kw_der_get(eci, 0xa0, &c, NULL) != KW_OK)
		return KW_ERR_PARSE;
	tmp = c;
	while (tmp.len > 0) {
		if (kw_der_get(&tmp, 0x04, &seg, NULL) != KW_OK)
			return KW_ERR_PARSE;
		total += seg.len;
	}
	if (total == 0 || (out->ciphertext = malloc(total)) == NULL)
		return KW_ERR_PARSE;
	while (c.len > 0) {
		(void)kw_der_get(&c, 0x04, &seg, NULL);
		memcpy(out->ciphertext + out->ciphertext_len, seg.p, seg.len);
		out->ciphertext_len += seg.len;
	}
	return KW_OK;
}

int
scep_envelope_parse(const uint8_t *der, size_t len, struct scep_envelope *out)
{
	struct kw_der ci, type, e, ed, v, ris, ri, rv, rid, kalg, koid, eci,
	    ctype, calg, coid, iv;
	size_t i;
	int got = 0;

	memset(out, 0, sizeof(*out));
	if (kw_der_only(der, len, 0x30, &ci) != KW_OK ||
	    kw_der_get(&ci, 0x06, NULL, &type) != KW_OK ||
	    !kw_der_eq(&type, oid_enveloped, sizeof(oid_enveloped)) ||
	    kw_der_get(&ci, 0xa0, &e, NULL) != KW_OK || ci.len != 0 ||
	    kw_der_get(&e, 0x30, &ed, NULL) != KW_OK || e.len != 0 ||
	    kw_der_get(&ed, 0x02, &v, NULL) != KW_OK)
		goto bad;
	if (kw_der_peek(&ed) == 0xa0 && kw_der_get(&ed, 0xa0, NULL, NULL) !=
	    KW_OK)
		goto bad;	/* originatorInfo */
	if (kw_der_get(&ed, 0x31, &ris, NULL) != KW_OK)
		goto bad;
	while (ris.len > 0) {
		if (kw_der_get(&ris, KW_DER_ANY, &ri, NULL) != KW_OK)
			goto bad;
		if (got || kw_der_get(&ri, 0x02, &rv, NULL) != KW_OK ||
		    kw_der_get(&ri, KW_DER_ANY, &rid, NULL) != KW_OK ||
		    kw_der_get(&ri, 0x30, &kalg, NULL) != KW_OK ||
		    kw_der_get(&kalg, 0x06, NULL, &koid) != KW_OK ||
		    !kw_der_eq(&koid, oid_rsa, sizeof(oid_rsa)))
			continue;	/* not key transport to RSA */
		if (kw_der_get(&ri, 0x04, &out->encrypted_key, NULL) != KW_OK ||
		    ri.len != 0)
			goto bad;
		got = 1;
	}
	if (!got ||
	    kw_der_get(&ed, 0x30, &eci, NULL) != KW_OK ||
	    kw_der_get(&eci, 0x06, NULL, &ctype) != KW_OK ||
	    !kw_der_eq(&ctype, oid_data, sizeof(oid_data)) ||
	    kw_der_get(&eci, 0x30, &calg, NULL) != KW_OK ||
	    kw_der_get(&calg, 0x06, &coid, NULL) != KW_OK ||
	    kw_der_get(&calg, 0x04, &iv, NULL) != KW_OK || calg.len != 0)
		goto bad;
	for (i = 0; i < sizeof(scep_ciphers) / sizeof(scep_ciphers[0]); i++)
		if (kw_der_eq(&coid, scep_ciphers[i].oid,
		    scep_ciphers[i].oid_len))
			out->cipher = scep_ciphers[i].c;
	if (out->cipher == SCEP_CIPHER_NONE) {
		kw_err("SCEP: the CA encrypted its answer with a cipher keyward "
		    "does not take (AES-CBC, 3DES-CBC or DES-CBC expected): "
		    "rejected");
		return KW_ERR_UNSUPPORTED;
	}
	if (iv.len != scep_cipher_alg(out->cipher)->iv_len)
		goto bad;
	memcpy(out->iv, iv.p, iv.len);
	out->iv_len = iv.len;
	if (scep_envelope_content(&eci, out) != KW_OK || eci.len != 0 ||
	    out->ciphertext_len % out->iv_len != 0)
		goto bad;
	/* unprotectedAttrs [1] may follow; nothing else */
	if (ed.len != 0 && (kw_der_get(&ed, 0xa1, NULL, NULL) != KW_OK ||
	    ed.len != 0))
		goto bad;
	return KW_OK;
bad:
	scep_envelope_clear(out);
	kw_err("SCEP: the envelope of the CA's answer is malformed "
	    "(EnvelopedData to an RSA key expected): rejected");
	return KW_ERR_PARSE;
}

/* CBC decryption in place by wolfCrypt. */
static int
scep_cbc_decrypt(enum scep_cipher c, const uint8_t *key, const uint8_t *iv,
    uint8_t *buf, size_t len)
{
	Aes aes;
	Des3 des3;
	Des des;
	int w = -1;

	switch (c) {
	case SCEP_AES128_CBC:
	case SCEP_AES256_CBC:
		if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0)
			return KW_ERR_CRYPTO;
		if ((w = wc_AesSetKey(&aes, key, c == SCEP_AES128_CBC ? 16 : 32,
		    iv, AES_DECRYPTION)) == 0)
			w = wc_AesCbcDecrypt(&aes, buf, buf, (word32)len);
		wc_AesFree(&aes);
		break;
	case SCEP_DES3_CBC:
		if (wc_Des3Init(&des3, NULL, INVALID_DEVID) != 0)
			return KW_ERR_CRYPTO;
		if ((w = wc_Des3_SetKey(&des3, key, iv, DES_DECRYPTION)) == 0)
			w = wc_Des3_CbcDecrypt(&des3, buf, buf, (word32)len);
		wc_Des3Free(&des3);
		explicit_bzero(&des3, sizeof(des3));
		break;
	case SCEP_DES_CBC:
		if ((w = wc_Des_SetKey(&des, key, iv, DES_DECRYPTION)) == 0)
			w = wc_Des_CbcDecrypt(&des, buf, buf, (word32)len);
		explicit_bzero(&des, sizeof(des));
		break;
	default:
		break;
	}
	explicit_bzero(&aes, sizeof(aes));
	return w == 0 ? KW_OK : KW_ERR_CRYPTO;
}

int
scep_envelope_open(struct kw_key *key, const struct scep_envelope *e,
    uint8_t **plain, size_t *plain_len)
{
	const struct scep_cipher_alg *ca = scep_cipher_alg(e->cipher);
	uint8_t cek[64], *buf = NULL, pad, bad = 0;
	size_t cek_len = sizeof(cek), i;
	int r;

	*plain = NULL;
	*plain_len = 0;
	if (ca == NULL || e->ciphertext_len == 0)
		return KW_ERR_CRYPTO;
	/* the token decrypts the content-encryption key */
	r = kw_key_decrypt(key, e->encrypted_key.p, e->encrypted_key.len, cek,
	    &cek_len);
	if (r == KW_OK && cek_len != ca->key_len)
		r = KW_ERR_CRYPTO;
	if (r == KW_OK && (buf = malloc(e->ciphertext_len)) == NULL)
		r = KW_ERR_NOMEM;
	if (r == KW_OK) {
		memcpy(buf, e->ciphertext, e->ciphertext_len);
		r = scep_cbc_decrypt(e->cipher, cek, e->iv, buf,
		    e->ciphertext_len);
	}
	if (r == KW_OK) {
		/* PKCS#7 padding, checked without an early exit */
		pad = buf[e->ciphertext_len - 1];
		bad |= (uint8_t)(pad == 0 || pad > ca->iv_len);
		for (i = 0; i < ca->iv_len; i++)
			if (i < pad)
				bad |= (uint8_t)(buf[e->ciphertext_len - 1 - i] ^
				    pad);
		if (bad)
			r = KW_ERR_CRYPTO;
	}
	explicit_bzero(cek, sizeof(cek));
	if (r != KW_OK) {
		/* one answer for every failure: no padding oracle */
		if (buf != NULL)
			kw_freezero(buf, e->ciphertext_len);
		kw_err("SCEP: the CA's answer could not be decrypted with the "
		    "key: rejected");
		return r == KW_ERR_UNSUPPORTED ? r : KW_ERR_CRYPTO;
	}
	*plain = buf;
	*plain_len = e->ciphertext_len - pad;
	return KW_OK;
}
