/* PKCS#10 requests made with wolfSSL and signed by a hardware key.
 *
 * The key enters wolfCrypt only as an id on the kw_dev device (wc_ecc_init_id
 * / wc_InitRsaKey_Id) with the public half imported from the token, so
 * wc_SignCert_ex's private-key operation goes through the crypto callback. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_hex.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "csr.h"

#define KW_CSR_MAX	(8 * 1024 + CTC_MAX_ALT_SIZE)
#define KW_SAN_MAX	4096

/* Subject attributes we accept and where they go in wolfSSL's CertName. */
enum kw_attr { KW_A_CN, KW_A_O, KW_A_OU, KW_A_C, KW_A_L, KW_A_ST, KW_A_N };

static const char *const kw_attr_names[KW_A_N] = {
	"CN", "O", "OU", "C", "L", "ST",
};

struct kw_subject {
	char v[KW_A_N][CTC_NAME_SIZE];
	int set[KW_A_N];
};

/* Parse one value starting at *p up to an unescaped ',' or the end. */
static int
kw_subject_value(const char **pp, const char *attr, char *out, size_t outsz)
{
	const char *p = *pp;
	size_t n = 0;
	int hi, lo, c;

	while (*p != '\0' && *p != ',') {
		if (*p == '\\') {
			p++;
			if (*p != '\0' && strchr(",+=\"\\<>;# ", *p) != NULL)
				c = (unsigned char)*p++;
			else if ((hi = kw_hex_digit(p[0])) >= 0 &&
			    (lo = kw_hex_digit(p[1])) >= 0) {
				c = hi * 16 + lo;
				p += 2;
			} else {
				kw_err("subject: %s value has a bad escape "
				    "'\\%.1s' (escape only , + = \" \\ < > ; # "
				    "space, or two hex digits)", attr, p);
				return KW_ERR_PARSE;
			}
		} else if (*p == '+') {
			kw_err("subject: multi-valued RDNs are not supported "
			    "(escape '+' in the %s value as '\\+')", attr);
			return KW_ERR_PARSE;
		} else if (*p == '=' || *p == '"' || *p == ';' || *p == '<' ||
		    *p == '>') {
			kw_err("subject: %s value has an unescaped '%c' (write "
			    "'\\%c')", attr, *p, *p);
			return KW_ERR_PARSE;
		} else
			c = (unsigned char)*p++;
		if (c == 0) {
			kw_err("subject: %s value contains a NUL byte", attr);
			return KW_ERR_PARSE;
		}
		if (n + 1 >= outsz) {
			kw_err("subject: %s value is longer than %zu bytes",
			    attr, outsz - 1);
			return KW_ERR_PARSE;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	*pp = p;
	if (n == 0) {
		kw_err("subject: %s has an empty value", attr);
		return KW_ERR_PARSE;
	}
	return KW_OK;
}

static int
kw_subject_parse(const char *s, struct kw_subject *sub)
{
	const char *p = s, *eq;
	char name[16];
	size_t len, i;
	int r;

	memset(sub, 0, sizeof(*sub));
	if (s == NULL || *s == '\0') {
		kw_err("subject is empty: give at least CN=NAME");
		return KW_ERR_PARSE;
	}
	for (;;) {
		while (*p == ' ')
			p++;
		if ((eq = strchr(p, '=')) == NULL) {
			kw_err("subject: '%s' is not ATTR=VALUE", p);
			return KW_ERR_PARSE;
		}
		len = (size_t)(eq - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(name)) {
			kw_err("subject: bad attribute name before '%s'", eq);
			return KW_ERR_PARSE;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		for (i = 0; i < KW_A_N; i++)
			if (strcasecmp(name, kw_attr_names[i]) == 0)
				break;
		if (i == KW_A_N) {
			kw_err("subject: unknown attribute '%s' (use CN, O, "
			    "OU, C, L or ST)", name);
			return KW_ERR_PARSE;
		}
		if (sub->set[i]) {
			kw_err("subject: %s given twice (each attribute at "
			    "most once)", kw_attr_names[i]);
			return KW_ERR_PARSE;
		}
		p = eq + 1;
		if ((r = kw_subject_value(&p, kw_attr_names[i], sub->v[i],
		    sizeof(sub->v[i]))) != KW_OK)
			return r;
		sub->set[i] = 1;
		if (i == KW_A_C && (strlen(sub->v[i]) != 2 ||
		    !isalpha((unsigned char)sub->v[i][0]) ||
		    !isalpha((unsigned char)sub->v[i][1]))) {
			kw_err("subject: C must be a two-letter country code, "
			    "not '%s'", sub->v[i]);
			return KW_ERR_PARSE;
		}
		if (*p == '\0')
			break;
		p++;	/* ',' */
		if (*p == '\0' || *p == ',') {
			kw_err("subject has an empty element (a ',' too many)");
			return KW_ERR_PARSE;
		}
	}
	if (!sub->set[KW_A_CN]) {
		kw_err("subject has no CN: give CN=NAME");
		return KW_ERR_PARSE;
	}
	return KW_OK;
}

/* DER length octets; returns the number written (at most 3 here). */
static size_t
kw_der_len(uint8_t *out, size_t len)
{
	if (len < 0x80) {
		out[0] = (uint8_t)len;
		return 1;
	}
	if (len < 0x100) {
		out[0] = 0x81;
		out[1] = (uint8_t)len;
		return 2;
	}
	out[0] = 0x82;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)len;
	return 3;
}

static int
kw_dns_ok(const char *s)
{
	size_t label = 0, total = strlen(s);
	const char *p = s;

	if (total == 0 || total > 253)
		return 0;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return 0;
		if (*p == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && p[-1] != '-';
}

static int
kw_printable_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return 0;
	return 1;
}

static int
kw_uri_ok(const char *s)
{
	const char *c = strchr(s, ':');
	const char *p;

	if (c == NULL || c == s || c[1] == '\0' || !kw_printable_ok(s) ||
	    !isalpha((unsigned char)s[0]))
		return 0;
	for (p = s; p < c; p++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' &&
		    *p != '.')
			return 0;
	return 1;
}

static int
kw_email_ok(const char *s)
{
	const char *at = strchr(s, '@');

	return at != NULL && at != s && strchr(at + 1, '@') == NULL &&
	    kw_printable_ok(s) && kw_dns_ok(at + 1);
}

/* GeneralNames SEQUENCE for the subjectAltName request extension. */
static int
kw_sans_der(const char *const *sans, size_t n, uint8_t *out, size_t outsz,
    size_t *out_len)
{
	uint8_t body[KW_SAN_MAX], ip[16];
	size_t blen = 0, vlen, hl, i;
	const char *v;
	uint8_t tag;

	*out_len = 0;
	for (i = 0; i < n; i++) {
		const char *s = sans[i];

		if (strncmp(s, "dns:", 4) == 0) {
			v = s + 4;
			tag = 0x82;
			if (!kw_dns_ok(v)) {
				kw_err("SAN '%s': not a DNS name (letters, "
				    "digits, '-', dots; optional leading *.)",
				    s);
				return KW_ERR_PARSE;
			}
			vlen = strlen(v);
		} else if (strncmp(s, "uri:", 4) == 0) {
			v = s + 4;
			tag = 0x86;
			if (!kw_uri_ok(v)) {
				kw_err("SAN '%s': not a URI (scheme:rest, "
				    "printable ASCII without spaces)", s);
				return KW_ERR_PARSE;
			}
			vlen = strlen(v);
		} else if (strncmp(s, "email:", 6) == 0) {
			v = s + 6;
			tag = 0x81;
			if (!kw_email_ok(v)) {
				kw_err("SAN '%s': not an e-mail address "
				    "(local@domain)", s);
				return KW_ERR_PARSE;
			}
			vlen = strlen(v);
		} else if (strncmp(s, "ip:", 3) == 0) {
			tag = 0x87;
			if (inet_pton(AF_INET, s + 3, ip) == 1)
				vlen = 4;
			else if (inet_pton(AF_INET6, s + 3, ip) == 1)
				vlen = 16;
			else {
				kw_err("SAN '%s': not an IPv4 or IPv6 address",
				    s);
				return KW_ERR_PARSE;
			}
			v = (const char *)ip;
		} else {
			kw_err("SAN '%s': use dns:NAME, uri:URI, email:ADDR "
			    "or ip:ADDR", s);
			return KW_ERR_PARSE;
		}
		if (blen + 4 + vlen > sizeof(body)) {
			kw_err("too many or too long SANs (at most %d bytes)",
			    KW_SAN_MAX);
			return KW_ERR_PARSE;
		}
		body[blen++] = tag;
		blen += kw_der_len(body + blen, vlen);
		memcpy(body + blen, v, vlen);
		blen += vlen;
	}
	if (n == 0)
		return KW_OK;
	if (blen + 4 > outsz)
		return KW_ERR_SPACE;
	out[0] = 0x30;
	hl = 1 + kw_der_len(out + 1, blen);
	memcpy(out + hl, body, blen);
	*out_len = hl + blen;
	return KW_OK;
}

static void
kw_set_name(char *dst, char *enc, const char *v, char enc_type)
{
	snprintf(dst, CTC_NAME_SIZE, "%s", v);
	*enc = enc_type;
}

/* PrintableString characters (X.680 41.4). */
static int
kw_printable_string_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr(" '()+,-./:=?", *s) == NULL)
			return 0;
	return 1;
}

/* Fill cert's subject and SANs from req. */
static int
kw_csr_fill(const struct kw_csr_req *req, Cert *cert)
{
	struct kw_subject sub;
	size_t alt_len = 0;
	int r;

	if ((r = kw_subject_parse(req->subject, &sub)) != KW_OK)
		return r;
	if (req->nsans > 0 && req->sans == NULL)
		return KW_ERR_ARG;
	if (req->challenge != NULL && (req->challenge[0] == '\0' ||
	    strlen(req->challenge) >= CTC_NAME_SIZE ||
	    !kw_printable_string_ok(req->challenge))) {
		kw_err("csr: the challengePassword must be 1..%d printable "
		    "characters (A-Z a-z 0-9 and ' ( ) + , - . / : = ? space)",
		    CTC_NAME_SIZE - 1);
		return KW_ERR_PARSE;
	}
	if (cert == NULL) {
		uint8_t tmp[KW_SAN_MAX + 4];

		return kw_sans_der(req->sans, req->nsans, tmp, sizeof(tmp),
		    &alt_len);
	}
	if ((r = kw_sans_der(req->sans, req->nsans, cert->altNames,
	    sizeof(cert->altNames), &alt_len)) != KW_OK)
		return r;
	cert->altNamesSz = (int)alt_len;
	if (sub.set[KW_A_C])
		kw_set_name(cert->subject.country, &cert->subject.countryEnc,
		    sub.v[KW_A_C], CTC_PRINTABLE);
	if (sub.set[KW_A_ST])
		kw_set_name(cert->subject.state, &cert->subject.stateEnc,
		    sub.v[KW_A_ST], CTC_UTF8);
	if (sub.set[KW_A_L])
		kw_set_name(cert->subject.locality,
		    &cert->subject.localityEnc, sub.v[KW_A_L], CTC_UTF8);
	if (sub.set[KW_A_O])
		kw_set_name(cert->subject.org, &cert->subject.orgEnc,
		    sub.v[KW_A_O], CTC_UTF8);
	if (sub.set[KW_A_OU])
		kw_set_name(cert->subject.unit, &cert->subject.unitEnc,
		    sub.v[KW_A_OU], CTC_UTF8);
	kw_set_name(cert->subject.commonName, &cert->subject.commonNameEnc,
	    sub.v[KW_A_CN], CTC_UTF8);
	if (req->challenge != NULL) {
		snprintf(cert->challengePw, sizeof(cert->challengePw), "%s",
		    req->challenge);
		cert->challengePwPrintableString = 1;
	}
	return KW_OK;
}

int
kw_csr_check(const struct kw_csr_req *req)
{
	if (req == NULL)
		return KW_ERR_ARG;
	return kw_csr_fill(req, NULL);
}

/* Append "ATTR=value" with RFC 4514 escapes to out at *n. */
static int
kw_subject_append(char *out, size_t len, size_t *n, const char *attr,
    const unsigned char *v, int vlen)
{
	int i, k;

	k = snprintf(out + *n, len - *n, "%s%s=", *n > 0 ? "," : "", attr);
	if (k < 0 || (size_t)k >= len - *n)
		return KW_ERR_SPACE;
	*n += (size_t)k;
	for (i = 0; i < vlen; i++) {
		if (*n + 3 >= len)
			return KW_ERR_SPACE;
		if (v[i] == 0)
			return KW_ERR_UNSUPPORTED;
		if (strchr(",+=\"\\<>;", v[i]) != NULL)
			out[(*n)++] = '\\';
		out[(*n)++] = (char)v[i];
	}
	out[*n] = '\0';
	return KW_OK;
}

int
kw_csr_subject_from_cert(const uint8_t *cert_der, size_t cert_len, char *out,
    size_t len)
{
	WOLFSSL_X509 *x = NULL;
	WOLFSSL_X509_NAME *name;
	WOLFSSL_X509_NAME_ENTRY *e;
	WOLFSSL_ASN1_STRING *d;
	const char *sn;
	int seen[KW_A_N] = { 0 }, i, cnt, r;
	size_t n = 0, a;

	if (len == 0)
		return KW_ERR_SPACE;
	out[0] = '\0';
	if ((x = wolfSSL_X509_load_certificate_buffer(cert_der, (int)cert_len,
	    WOLFSSL_FILETYPE_ASN1)) == NULL ||
	    (name = wolfSSL_X509_get_subject_name(x)) == NULL) {
		kw_err("cannot read the certificate's subject");
		r = KW_ERR_CERT;
		goto out;
	}
	cnt = wolfSSL_X509_NAME_entry_count(name);
	for (i = 0; i < cnt; i++) {
		/* wolfSSL knows the attribute by NID; its short name is
		 * "CN", "O", ... as in the subject syntax */
		if ((e = wolfSSL_X509_NAME_get_entry(name, i)) == NULL ||
		    (d = wolfSSL_X509_NAME_ENTRY_get_data(e)) == NULL) {
			r = KW_ERR_CERT;
			goto out;
		}
		sn = wolfSSL_OBJ_nid2sn(wolfSSL_OBJ_obj2nid(
		    wolfSSL_X509_NAME_ENTRY_get_object(e)));
		for (a = 0; sn != NULL && a < KW_A_N; a++)
			if (strcmp(sn, kw_attr_names[a]) == 0)
				break;
		if (sn == NULL || a == KW_A_N || seen[a]) {
			kw_err("the certificate's subject has %s%s, which a "
			    "keyward CSR cannot repeat: give --subject",
			    sn == NULL || a == KW_A_N ? "the attribute " :
			    "more than one ", sn == NULL ? "?" : sn);
			r = KW_ERR_UNSUPPORTED;
			goto out;
		}
		seen[a] = 1;
		if ((r = kw_subject_append(out, len, &n, kw_attr_names[a],
		    wolfSSL_ASN1_STRING_data(d),
		    wolfSSL_ASN1_STRING_length(d))) != KW_OK) {
			if (r == KW_ERR_UNSUPPORTED)
				kw_err("the certificate's subject has a NUL "
				    "byte: give --subject");
			goto out;
		}
	}
	if (!seen[KW_A_CN]) {
		kw_err("the certificate's subject has no CN: give --subject");
		r = KW_ERR_UNSUPPORTED;
		goto out;
	}
	r = KW_OK;
out:
	if (r != KW_OK)
		out[0] = '\0';
	if (x != NULL)
		wolfSSL_X509_free(x);
	return r;
}

/* A hardware key as wolfCrypt sees it: an id on the kw_dev device with the
 * public half imported, so wc_SignCert_ex's private-key operation goes
 * through the crypto callback. */
struct kw_signer {
	struct kw_key *key;
	struct kw_dev *dev;
	ecc_key ecc;
	RsaKey rsa;
	WC_RNG rng;
	int have_ecc, have_rsa, have_rng;
	int type;			/* RSA_TYPE, ECC_TYPE */
	int sig_type;			/* CTC_SHA256wRSA, ... */
	void *k;
};

static void
kw_signer_close(struct kw_signer *s)
{
	if (s->have_ecc)
		wc_ecc_free(&s->ecc);
	if (s->have_rsa)
		wc_FreeRsaKey(&s->rsa);
	if (s->have_rng)
		wc_FreeRng(&s->rng);
	kw_dev_free(s->dev);
	memset(s, 0, sizeof(*s));
}

static int
kw_signer_open(struct kw_key *key, const char *what, struct kw_signer *s)
{
	enum kw_key_alg alg = kw_key_alg(key);
	uint8_t pub[KW_MAX_PUBKEY_DER];
	size_t pub_len = sizeof(pub);
	const unsigned char *id;
	int idlen, w, r;
	word32 idx = 0;

	memset(s, 0, sizeof(*s));
	s->key = key;
	if ((r = kw_key_public_der(key, pub, &pub_len)) != KW_OK) {
		kw_err("%s: cannot read the key's public key: %s", what,
		    kw_strerror(r));
		goto out;
	}
	if (!kw_alg_is_rsa(alg) && (r = kw_key_supports(key, KW_SIG_ECDSA,
	    alg == KW_ALG_EC_P384 ? KW_HASH_SHA384 : KW_HASH_SHA256)) != KW_OK)
		goto out;
	if (kw_alg_is_rsa(alg) && (r = kw_key_supports(key, KW_SIG_RSA_PKCS1,
	    KW_HASH_SHA256)) != KW_OK) {
		kw_err("%s: the key cannot make PKCS#1 v1.5 signatures, which "
		    "it needs", what);
		goto out;
	}
	if ((r = kw_dev_new(key, &s->dev)) != KW_OK)
		goto out;
	id = kw_dev_key_id(s->dev, &idlen);
	if ((w = wc_InitRng(&s->rng)) != 0) {
		r = kw_wolf_err(w, "initialising the RNG");
		goto out;
	}
	s->have_rng = 1;
	if (kw_alg_is_rsa(alg)) {
		if ((w = wc_InitRsaKey_Id(&s->rsa, (unsigned char *)id, idlen,
		    NULL, kw_dev_id(s->dev))) != 0) {
			r = kw_wolf_err(w, "initialising the RSA key by id");
			goto out;
		}
		s->have_rsa = 1;
		if ((w = wc_RsaPublicKeyDecode(pub, &idx, &s->rsa,
		    (word32)pub_len)) != 0) {
			r = kw_wolf_err(w, "importing the RSA public key");
			goto out;
		}
		s->type = RSA_TYPE;
		s->k = &s->rsa;
		s->sig_type = CTC_SHA256wRSA;
	} else {
		if ((w = wc_ecc_init_id(&s->ecc, (unsigned char *)id, idlen,
		    NULL, kw_dev_id(s->dev))) != 0) {
			r = kw_wolf_err(w, "initialising the EC key by id");
			goto out;
		}
		s->have_ecc = 1;
		if ((w = wc_EccPublicKeyDecode(pub, &idx, &s->ecc,
		    (word32)pub_len)) != 0) {
			r = kw_wolf_err(w, "importing the EC public key");
			goto out;
		}
		s->type = ECC_TYPE;
		s->k = &s->ecc;
		s->sig_type = alg == KW_ALG_EC_P384 ? CTC_SHA384wECDSA :
		    CTC_SHA256wECDSA;
	}
	r = KW_OK;
out:
	if (r != KW_OK)
		kw_signer_close(s);
	return r;
}

/* Sign the body_len bytes at the start of buf (a TBSCertificate or
 * CertificationRequestInfo) and wrap them; returns the total length. */
static int
kw_signer_sign(struct kw_signer *s, const char *what, uint8_t *buf,
    int body_len, size_t buf_size, size_t *out_len)
{
	int w, r;

	w = wc_SignCert_ex(body_len, s->sig_type, buf, (word32)buf_size,
	    s->type, s->k, &s->rng);
	if (w <= 0) {
		r = kw_wolf_err(w, "signing");
		if (w == WC_HW_E && kw_dev_last_error(s->dev) != KW_OK)
			r = kw_dev_last_error(s->dev);
		kw_err("%s: the %s key could not sign: %s", what,
		    kw_key_backend(s->key), kw_strerror(r));
		return r;
	}
	*out_len = (size_t)w;
	return KW_OK;
}

/* ---- the evidence attribute (draft-ietf-lamps-csr-attestation) ---------- */

/* id-aa-evidence and keyward's statement type (csr.h), DER contents. */
static const uint8_t kw_oid_evidence[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
    0x0d, 0x01, 0x09, 0x10, 0x02, 0x3b };
static const uint8_t kw_oid_evidence_type[] = { 0x69, 0x81, 0xa6, 0xba,
    0xfa, 0x85, 0xd3, 0x8c, 0xea, 0x98, 0xdd, 0xb8, 0xb8, 0xcf, 0xab, 0xc5,
    0xd5, 0xb3, 0xba, 0x6d };

#define KW_CSR_MAX_ATTRS	16

/* DER order of SET OF (X.690 11.6): as octet strings, the shorter one
 * padded with zeros. */
static int
kw_der_set_cmp(const struct kw_der *a, const struct kw_der *b)
{
	size_t n = a->len < b->len ? a->len : b->len, i;
	int c = memcmp(a->p, b->p, n);

	if (c != 0)
		return c;
	for (i = n; i < a->len; i++)
		if (a->p[i] != 0)
			return 1;
	for (i = n; i < b->len; i++)
		if (b->p[i] != 0)
			return -1;
	return 0;
}

/* The CertificationRequestInfo wolfSSL made (cri, cri_len) with the
 * evidence attribute added to its attributes, into out (*out_len: room on
 * entry).  The attributes stay a DER SET OF (sorted). */
static int
kw_csr_add_evidence(const uint8_t *cri, size_t cri_len, const uint8_t *ev,
    size_t ev_len, uint8_t *out, size_t *out_len)
{
	struct kw_der d, body, ver, name, spki, attrs, a;
	struct kw_der set[KW_CSR_MAX_ATTRS + 1], t;
	struct kw_der_w w, aw;
	uint8_t *attr = NULL;
	size_t m, m2, m3, m4, m5, alen, nset = 0, i, j, cap = ev_len + 128;
	int r;

	if ((attr = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	/* Attribute ::= SEQUENCE { type, values SET { EvidenceBundle } } */
	kw_der_w_init(&aw, attr, cap);
	m = kw_der_open(&aw, 0x30);
	kw_der_put(&aw, 0x06, kw_oid_evidence, sizeof(kw_oid_evidence));
	m2 = kw_der_open(&aw, 0x31);
	m3 = kw_der_open(&aw, 0x30);		/* EvidenceBundle */
	m4 = kw_der_open(&aw, 0x30);		/* evidences */
	m5 = kw_der_open(&aw, 0x30);		/* EvidenceStatement */
	kw_der_put(&aw, 0x06, kw_oid_evidence_type,
	    sizeof(kw_oid_evidence_type));
	kw_der_put(&aw, 0x04, ev, ev_len);	/* stmt: the CBOR message */
	kw_der_close(&aw, m5);
	kw_der_close(&aw, m4);
	kw_der_close(&aw, m3);
	kw_der_close(&aw, m2);
	kw_der_close(&aw, m);
	if ((r = kw_der_w_end(&aw, &alen)) != KW_OK)
		goto out;

	/* CertificationRequestInfo ::= SEQUENCE { version, subject,
	 * subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute } */
	if ((r = kw_der_only(cri, cri_len, 0x30, &body)) != KW_OK ||
	    (r = kw_der_get(&body, 0x02, NULL, &ver)) != KW_OK ||
	    (r = kw_der_get(&body, 0x30, NULL, &name)) != KW_OK ||
	    (r = kw_der_get(&body, 0x30, NULL, &spki)) != KW_OK)
		goto out;
	attrs.p = NULL;
	attrs.len = 0;
	if (body.len > 0 && (r = kw_der_get(&body, 0xa0, &attrs, NULL)) !=
	    KW_OK)
		goto out;
	if (body.len != 0) {
		r = KW_ERR_PARSE;
		goto out;
	}
	d = attrs;
	while (d.len > 0) {
		if (nset >= KW_CSR_MAX_ATTRS) {
			r = KW_ERR_SPACE;
			goto out;
		}
		if ((r = kw_der_get(&d, 0x30, NULL, &a)) != KW_OK)
			goto out;
		set[nset++] = a;
	}
	set[nset].p = attr;
	set[nset++].len = alen;
	for (i = 1; i < nset; i++)
		for (j = i; j > 0 && kw_der_set_cmp(&set[j - 1], &set[j]) > 0;
		    j--) {
			t = set[j];
			set[j] = set[j - 1];
			set[j - 1] = t;
		}
	kw_der_w_init(&w, out, *out_len);
	m = kw_der_open(&w, 0x30);
	kw_der_put_raw(&w, ver.p, ver.len);
	kw_der_put_raw(&w, name.p, name.len);
	kw_der_put_raw(&w, spki.p, spki.len);
	m2 = kw_der_open(&w, 0xa0);
	for (i = 0; i < nset; i++)
		kw_der_put_raw(&w, set[i].p, set[i].len);
	kw_der_close(&w, m2);
	kw_der_close(&w, m);
	r = kw_der_w_end(&w, out_len);
out:
	if (r == KW_ERR_PARSE)
		kw_err("csr: cannot add the evidence attribute: the request "
		    "wolfSSL encoded is not as expected");
	free(attr);
	return r;
}

int
kw_csr_make(struct kw_key *key, const struct kw_csr_req *req, uint8_t **der,
    size_t *der_len)
{
	struct kw_signer s;
	Cert *cert = NULL;
	uint8_t *buf = NULL, *ebuf = NULL;
	size_t buf_size = KW_CSR_MAX, body_len;
	int w, r, opened = 0;

	*der = NULL;
	*der_len = 0;
	if (key == NULL || req == NULL)
		return KW_ERR_ARG;
	if (req->evidence != NULL && (req->evidence_len == 0 ||
	    req->evidence_len > KW_CSR_EVIDENCE_MAX)) {
		kw_err("csr: attestation evidence of %zu bytes (at most %u)",
		    req->evidence_len, KW_CSR_EVIDENCE_MAX);
		return KW_ERR_ARG;
	}
	if (req->evidence != NULL)
		buf_size += req->evidence_len + 256;
	if ((cert = calloc(1, sizeof(*cert))) == NULL ||
	    (buf = malloc(buf_size)) == NULL ||
	    (req->evidence != NULL && (ebuf = malloc(buf_size)) == NULL)) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((w = wc_InitCert(cert)) != 0) {
		r = kw_wolf_err(w, "initialising the request");
		goto out;
	}
	cert->version = 0;		/* PKCS#10 v1 */
	if ((r = kw_csr_fill(req, cert)) != KW_OK)
		goto out;
	kw_key_purpose_set(KW_PURPOSE_CSR, req->subject);
	if ((r = kw_signer_open(key, "csr", &s)) != KW_OK)
		goto out;
	opened = 1;
	cert->sigType = s.sig_type;
	if ((w = wc_MakeCertReq_ex(cert, buf, (word32)buf_size, s.type,
	    s.k)) <= 0) {
		r = kw_wolf_err(w, "encoding the request");
		kw_err("csr: cannot encode the request");
		goto out;
	}
	body_len = (size_t)cert->bodySz;
	if (req->evidence != NULL) {
		/* the attribute goes in before the token signs */
		body_len = buf_size;
		if ((r = kw_csr_add_evidence(buf, (size_t)cert->bodySz,
		    req->evidence, req->evidence_len, ebuf, &body_len)) !=
		    KW_OK)
			goto out;
		memcpy(buf, ebuf, body_len);
	}
	if ((r = kw_signer_sign(&s, "csr", buf, (int)body_len, buf_size,
	    der_len)) != KW_OK)
		goto out;
	*der = buf;
	buf = NULL;
out:
	if (opened)
		kw_signer_close(&s);
	free(cert);
	free(buf);
	free(ebuf);
	return r;
}

int
kw_cert_sigalg_der(struct kw_key *key, const uint8_t **der, size_t *len)
{
	static const uint8_t ec256[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
	    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	static const uint8_t ec384[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
	    0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
	static const uint8_t rsa256[] = { 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
	    0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00 };
	enum kw_key_alg alg = kw_key_alg(key);

	if (kw_alg_is_rsa(alg)) {
		*der = rsa256;
		*len = sizeof(rsa256);
	} else if (alg == KW_ALG_EC_P384) {
		*der = ec384;
		*len = sizeof(ec384);
	} else {
		*der = ec256;
		*len = sizeof(ec256);
	}
	return KW_OK;
}

int
kw_cert_sign_tbs(struct kw_key *key, const uint8_t *tbs, size_t tbs_len,
    uint8_t **der, size_t *der_len)
{
	struct kw_signer s;
	size_t cap = tbs_len + KW_MAX_SIG + 64;
	uint8_t *buf = NULL;
	int r;

	*der = NULL;
	*der_len = 0;
	if ((buf = malloc(cap)) == NULL)
		return KW_ERR_NOMEM;
	memcpy(buf, tbs, tbs_len);
	if ((r = kw_signer_open(key, "certificate", &s)) != KW_OK)
		goto out;
	r = kw_signer_sign(&s, "certificate", buf, (int)tbs_len, cap, der_len);
	kw_signer_close(&s);
	if (r == KW_OK) {
		*der = buf;
		buf = NULL;
	}
out:
	free(buf);
	return r;
}

int
kw_csr_pem(const uint8_t *der, size_t der_len, char **pem)
{
	char *out;
	int n, size;

	*pem = NULL;
	size = (int)(der_len * 4 / 3 + der_len / 48 + 128);
	if ((out = malloc((size_t)size + 1)) == NULL)
		return KW_ERR_NOMEM;
	n = wc_DerToPem(der, (word32)der_len, (byte *)out, (word32)size,
	    CERTREQ_TYPE);
	if (n <= 0) {
		free(out);
		return kw_wolf_err(n, "encoding the request as PEM");
	}
	out[n] = '\0';
	*pem = out;
	return KW_OK;
}

int
kw_csr_cert_matches_key(const uint8_t *cert_der, size_t cert_len,
    struct kw_key *key)
{
	return kw_cert_matches_key(cert_der, cert_len, key);
}
