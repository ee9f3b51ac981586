/* DER for the PKCS#11 backend, on the toolkit of common/kw_der.h: the
 * SubjectPublicKeyInfo of EC and RSA keys, the fields of a certificate that a
 * certificate object carries (CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER;
 * read by wolfSSL's parser), and the PKCS#1 v1.5 DigestInfo prefixes. */
#include <string.h>

#include "kw_der.h"
#include "kw_error.h"
#include "p11_internal.h"

/* DigestInfo prefixes (RFC 8017 section 9.2, note 1). */
static const uint8_t p11_di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t p11_di_sha384[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t p11_di_sha512[] = {
	0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

const uint8_t *
p11_digest_info(enum kw_hash hash, size_t *len)
{
	switch (hash) {
	case KW_HASH_SHA256:
		*len = sizeof(p11_di_sha256);
		return p11_di_sha256;
	case KW_HASH_SHA384:
		*len = sizeof(p11_di_sha384);
		return p11_di_sha384;
	case KW_HASH_SHA512:
		*len = sizeof(p11_di_sha512);
		return p11_di_sha512;
	default:
		*len = 0;
		return NULL;
	}
}

enum kw_key_alg
p11_ec_alg(const uint8_t *params, size_t len)
{
	return kw_der_curve_alg(params, len);
}

const uint8_t *
p11_ec_params(enum kw_key_alg alg, size_t *len)
{
	return kw_der_curve_oid(alg, len);
}

int
p11_spki_ec(enum kw_key_alg alg, const uint8_t *point, size_t plen,
    uint8_t *der, size_t *der_len)
{
	size_t field = (size_t)kw_alg_bits(alg) / 8, clen;

	if (kw_der_curve_oid(alg, &clen) == NULL)
		return KW_ERR_UNSUPPORTED;
	/* CKA_EC_POINT is a DER OCTET STRING holding the point; a few
	 * modules give the raw point instead, or a long-form length. */
	if (plen == 2 * field + 3 && point[0] == 0x04 &&
	    point[1] == 2 * field + 1) {
		point += 2;
		plen -= 2;
	} else if (plen == 2 * field + 4 && point[0] == 0x04 &&
	    point[1] == 0x81 && point[2] == 2 * field + 1) {
		point += 3;
		plen -= 3;
	}
	return kw_der_spki_ec(alg, point, plen, der, der_len);
}

int
p11_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    uint8_t *der, size_t *der_len)
{
	return kw_der_spki_rsa(n, nlen, e, elen, der, der_len);
}

int
p11_cert_parse(const uint8_t *cert, size_t len, struct p11_cert_parts *out)
{
	struct kw_der_cert c;

	memset(out, 0, sizeof(*out));
	if (kw_der_cert(cert, len, &c) != KW_OK)
		return KW_ERR_CERT;
	out->serial = c.serial.p;
	out->serial_len = c.serial.len;
	out->issuer = c.issuer.p;
	out->issuer_len = c.issuer.len;
	out->subject = c.subject.p;
	out->subject_len = c.subject.len;
	out->spki = c.spki.p;
	out->spki_len = c.spki.len;
	return KW_OK;
}

enum kw_key_alg
p11_spki_alg(const uint8_t *der, size_t len)
{
	return kw_der_spki_alg(der, len);
}
