/* Unit tests for enroll/scep_msg.c: GetCACaps, the transient certificate,
 * our pkiMessage (its SignedData signature and attributes checked by
 * wolfCrypt's own PKCS#7 verifier), the envelope both ways (wolfSSL
 * encrypts, the key decrypts), and the CertRep reader's refusals: another
 * signer, a flipped signature or digest, truncations, trailing bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/pkcs7.h>

#include "kw_der.h"
#include "kw_error.h"
#include "kw_key.h"
#include "enroll/csr.h"
#include "enroll/est_der.h"
#include "enroll/scep.h"
#include "tests/unit/soft_key.h"

struct fx {
	struct kw_key *key;		/* RSA-2048, "the device" */
	struct kw_key *ca_key;		/* RSA-2048, "the CA" */
	uint8_t *csr, *cert, *ca_cert;
	size_t csr_len, cert_len, ca_cert_len;
};

static int
setup(void **state)
{
	static struct fx f;
	struct kw_csr_req req;

	memset(&f, 0, sizeof(f));
	memset(&req, 0, sizeof(req));
	if (soft_key_new(KW_ALG_RSA2048, &f.key, NULL) != KW_OK ||
	    soft_key_new(KW_ALG_RSA2048, &f.ca_key, NULL) != KW_OK)
		return -1;
	req.subject = "CN=device,O=keyward";
	req.challenge = "s3cret";
	if (kw_csr_make(f.key, &req, &f.csr, &f.csr_len) != KW_OK ||
	    scep_selfsigned(f.key, f.csr, f.csr_len, &f.cert, &f.cert_len) !=
	    KW_OK)
		return -1;
	req.subject = "CN=test SCEP CA";
	req.challenge = NULL;
	{
		uint8_t *ccsr;
		size_t clen;

		if (kw_csr_make(f.ca_key, &req, &ccsr, &clen) != KW_OK ||
		    scep_selfsigned(f.ca_key, ccsr, clen, &f.ca_cert,
		    &f.ca_cert_len) != KW_OK)
			return -1;
		free(ccsr);
	}
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	kw_key_close(f->key);
	kw_key_close(f->ca_key);
	free(f->csr);
	free(f->cert);
	free(f->ca_cert);
	return 0;
}

static void
test_caps(void **state)
{
	static const char body[] = "AES\r\nsha-256\n  POSTPKIOperation \n"
	    "Renewal\nBogus\n";
	unsigned caps;

	(void)state;
	assert_int_equal(scep_caps_parse((const uint8_t *)body,
	    strlen(body), &caps), KW_OK);
	assert_int_equal(caps, SCEP_CAP_AES | SCEP_CAP_SHA256 | SCEP_CAP_POST |
	    SCEP_CAP_RENEWAL);
	assert_int_equal(scep_caps_cipher(caps), SCEP_AES128_CBC);
	assert_int_equal(scep_caps_parse((const uint8_t *)"SCEPStandard", 12,
	    &caps), KW_OK);
	assert_true(caps & SCEP_CAP_AES);
	assert_true(caps & SCEP_CAP_POST);
	assert_int_equal(scep_caps_parse((const uint8_t *)"DES3\n", 5, &caps),
	    KW_OK);
	assert_int_equal(scep_caps_cipher(caps), SCEP_DES3_CBC);
	assert_int_equal(scep_caps_parse((const uint8_t *)"", 0, &caps), KW_OK);
	assert_int_equal(caps, 0);
	assert_int_equal(scep_caps_cipher(caps), SCEP_DES_CBC);
	assert_string_equal(scep_failinfo_name(1), "badMessageCheck");
	assert_string_equal(scep_failinfo_name(4), "badCertId");
	assert_string_equal(scep_failinfo_name(9), "unknown");
}

/* The transient certificate: self-signed by the key, over its public key,
 * with the CSR's subject. */
static void
test_selfsigned(void **state)
{
	struct fx *f = *state;
	struct kw_der_cert ci;
	struct kw_der name;
	WOLFSSL_CERT_MANAGER *cm;

	assert_int_equal(kw_der_cert(f->cert, f->cert_len, &ci), KW_OK);
	assert_int_equal(scep_csr_subject(f->csr, f->csr_len, &name), KW_OK);
	assert_int_equal(kw_der_eq(&name, ci.subject.p, ci.subject.len), 1);
	assert_int_equal(kw_der_eq(&ci.issuer, ci.subject.p, ci.subject.len),
	    1);
	assert_int_equal(kw_csr_cert_matches_key(f->cert, f->cert_len, f->key),
	    KW_OK);
	cm = wolfSSL_CertManagerNew();
	assert_non_null(cm);
	/* self-signed: its own anchor verifies its signature */
	assert_int_equal(wolfSSL_CertManagerLoadCABuffer(cm, f->cert,
	    (long)f->cert_len, WOLFSSL_FILETYPE_ASN1), WOLFSSL_SUCCESS);
	wolfSSL_CertManagerFree(cm);
}

static int
make_msg(struct fx *f, enum scep_msg_type type, const uint8_t *content,
    size_t content_len, const uint8_t *rnonce, enum scep_status st,
    int fail, uint8_t **der, size_t *len)
{
	static const uint8_t nonce[SCEP_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
	    9, 10, 11, 12, 13, 14, 15, 16 };
	struct scep_out m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.transaction_id = "ABCDEF0123";
	m.sender_nonce = nonce;
	m.content = content;
	m.content_len = content_len;
	m.hash = KW_HASH_SHA256;
	m.recipient_nonce = rnonce;
	m.status = st;
	m.fail_info = fail;
	if (rnonce != NULL) {		/* a CertRep: from the CA */
		m.signer_cert = f->ca_cert;
		m.signer_cert_len = f->ca_cert_len;
		m.key = f->ca_key;
	} else {
		m.signer_cert = f->cert;
		m.signer_cert_len = f->cert_len;
		m.key = f->key;
	}
	return scep_pkimsg_make(&m, der, len);
}

/* wolfCrypt's PKCS#7 verifier accepts our SignedData and reads our
 * attributes back. */
static void
test_pkimsg_verified_by_wolfcrypt(void **state)
{
	static const uint8_t tid_oid[] = { 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8,
	    0x45, 0x01, 0x09, 0x07 };
	static const uint8_t type_oid[] = { 0x60, 0x86, 0x48, 0x01, 0x86, 0xf8,
	    0x45, 0x01, 0x09, 0x02 };
	struct fx *f = *state;
	uint8_t *env = NULL, *msg = NULL, val[64];
	size_t env_len, msg_len;
	word32 vl;
	PKCS7 *p7;
	int n;

	assert_int_equal(scep_envelope_make(f->ca_cert, f->ca_cert_len,
	    SCEP_AES128_CBC, f->csr, f->csr_len, &env, &env_len), KW_OK);
	assert_int_equal(make_msg(f, SCEP_PKCS_REQ, env, env_len, NULL, 0, -1,
	    &msg, &msg_len), KW_OK);
	p7 = wc_PKCS7_New(NULL, INVALID_DEVID);
	assert_non_null(p7);
	assert_int_equal(wc_PKCS7_InitWithCert(p7, NULL, 0), 0);
	assert_int_equal(wc_PKCS7_VerifySignedData(p7, msg, (word32)msg_len),
	    0);
	assert_int_equal(p7->contentSz, env_len);
	assert_memory_equal(p7->content, env, env_len);
	vl = sizeof(val);
	n = wc_PKCS7_GetAttributeValue(p7, tid_oid, sizeof(tid_oid), val, &vl);
	assert_int_equal(n, 2 + 10);	/* PrintableString, whole */
	assert_memory_equal(val, "\x13\x0a" "ABCDEF0123", 12);
	vl = sizeof(val);
	n = wc_PKCS7_GetAttributeValue(p7, type_oid, sizeof(type_oid), val,
	    &vl);
	assert_int_equal(n, 4);
	assert_memory_equal(val, "\x13\x02" "19", 4);
	wc_PKCS7_Free(p7);
	/* a flipped byte in the signed content: wolfCrypt refuses */
	msg[msg_len - 300] ^= 1;
	p7 = wc_PKCS7_New(NULL, INVALID_DEVID);
	assert_int_equal(wc_PKCS7_InitWithCert(p7, NULL, 0), 0);
	assert_int_not_equal(wc_PKCS7_VerifySignedData(p7, msg,
	    (word32)msg_len), 0);
	wc_PKCS7_Free(p7);
	free(env);
	free(msg);
}

/* wolfSSL's envelope to the device's certificate, opened by the key. */
static void
test_envelope_roundtrip(void **state)
{
	static const enum scep_cipher ciphers[] = { SCEP_AES128_CBC,
	    SCEP_AES256_CBC, SCEP_DES3_CBC };
	struct fx *f = *state;
	struct scep_envelope e;
	uint8_t *env = NULL, *plain = NULL;
	size_t env_len, plain_len, i;

	for (i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		assert_int_equal(scep_envelope_make(f->cert, f->cert_len,
		    ciphers[i], f->csr, f->csr_len, &env, &env_len), KW_OK);
		assert_int_equal(scep_envelope_parse(env, env_len, &e), KW_OK);
		assert_int_equal(e.cipher, ciphers[i]);
		assert_int_equal(scep_envelope_open(f->key, &e, &plain,
		    &plain_len), KW_OK);
		assert_int_equal(plain_len, f->csr_len);
		assert_memory_equal(plain, f->csr, f->csr_len);
		free(plain);
		/* another key: one answer, whatever went wrong */
		assert_int_equal(scep_envelope_open(f->ca_key, &e, &plain,
		    &plain_len), KW_ERR_CRYPTO);
		assert_null(plain);
		/* the last block damaged: padding wrong or not, the same */
		e.ciphertext[e.ciphertext_len - 1] ^= 0x55;
		assert_int_equal(scep_envelope_open(f->key, &e, &plain,
		    &plain_len), KW_ERR_CRYPTO);
		scep_envelope_clear(&e);
		/* truncated: refused by the reader */
		assert_int_equal(scep_envelope_parse(env, env_len - 1, &e),
		    KW_ERR_PARSE);
		free(env);
	}
}

static void
test_certrep(void **state)
{
	static const uint8_t rn[SCEP_NONCE_LEN] = { 9, 9, 9 };
	struct fx *f = *state;
	struct est_certs signers, wrong;
	struct scep_certrep cr;
	uint8_t *env = NULL, *msg = NULL, *big;
	size_t env_len, msg_len, n;

	memset(&signers, 0, sizeof(signers));
	memset(&wrong, 0, sizeof(wrong));
	assert_int_equal(est_certs_add(&wrong, f->cert, f->cert_len), KW_OK);
	assert_int_equal(est_certs_add(&signers, f->cert, f->cert_len), KW_OK);
	assert_int_equal(est_certs_add(&signers, f->ca_cert, f->ca_cert_len),
	    KW_OK);
	assert_int_equal(scep_envelope_make(f->cert, f->cert_len,
	    SCEP_AES128_CBC, f->csr, f->csr_len, &env, &env_len), KW_OK);
	assert_int_equal(make_msg(f, SCEP_CERTREP, env, env_len, rn,
	    SCEP_SUCCESS, -1, &msg, &msg_len), KW_OK);
	assert_int_equal(scep_certrep_parse(msg, msg_len, &signers, &cr),
	    KW_OK);
	assert_int_equal(cr.type, SCEP_CERTREP);
	assert_int_equal(cr.status, SCEP_SUCCESS);
	assert_int_equal(cr.fail_info, -1);
	assert_int_equal(cr.signer, 1);
	assert_int_equal(cr.digest, SCEP_DIGEST_SHA256);
	assert_string_equal(cr.transaction_id, "ABCDEF0123");
	assert_true(cr.has_recipient_nonce);
	assert_memory_equal(cr.recipient_nonce, rn, SCEP_NONCE_LEN);
	assert_int_equal(cr.envelope.len, env_len);
	/* signed by a certificate that is not among the signers */
	assert_int_equal(scep_certrep_parse(msg, msg_len, &wrong, &cr),
	    KW_ERR_PEER_VERIFY);
	/* every truncation and trailing garbage: refused */
	for (n = 0; n < msg_len; n += 7)
		assert_int_not_equal(scep_certrep_parse(msg, n, &signers, &cr),
		    KW_OK);
	big = malloc(msg_len + 1);
	memcpy(big, msg, msg_len);
	big[msg_len] = 0;
	assert_int_equal(scep_certrep_parse(big, msg_len + 1, &signers, &cr),
	    KW_ERR_PARSE);
	/* the content changed: messageDigest no longer matches */
	big[msg_len - 400] ^= 1;
	assert_int_not_equal(scep_certrep_parse(big, msg_len, &signers, &cr),
	    KW_OK);
	/* the signature changed */
	memcpy(big, msg, msg_len);
	big[msg_len - 1] ^= 1;
	assert_int_equal(scep_certrep_parse(big, msg_len, &signers, &cr),
	    KW_ERR_PEER_VERIFY);
	free(big);
	free(msg);
	/* FAILURE with its failInfo */
	assert_int_equal(make_msg(f, SCEP_CERTREP, env, env_len, rn,
	    SCEP_FAILURE, 2, &msg, &msg_len), KW_OK);
	assert_int_equal(scep_certrep_parse(msg, msg_len, &signers, &cr),
	    KW_OK);
	assert_int_equal(cr.status, SCEP_FAILURE);
	assert_int_equal(cr.fail_info, 2);
	free(msg);
	/* our own request is no CertRep: no pkiStatus */
	assert_int_equal(make_msg(f, SCEP_PKCS_REQ, env, env_len, NULL, 0, -1,
	    &msg, &msg_len), KW_OK);
	assert_int_equal(scep_certrep_parse(msg, msg_len, &signers, &cr),
	    KW_ERR_PARSE);
	free(msg);
	free(env);
	est_certs_clear(&signers);
	est_certs_clear(&wrong);
}

static void
test_issuer_and_subject(void **state)
{
	struct fx *f = *state;
	struct kw_der d, v, name;
	struct kw_der_cert ci;
	uint8_t *der;
	size_t len;

	assert_int_equal(scep_issuer_and_subject(f->ca_cert, f->ca_cert_len,
	    f->csr, f->csr_len, &der, &len), KW_OK);
	assert_int_equal(kw_der_only(der, len, 0x30, &d), KW_OK);
	assert_int_equal(kw_der_cert(f->ca_cert, f->ca_cert_len, &ci), KW_OK);
	assert_int_equal(kw_der_get(&d, 0x30, NULL, &v), KW_OK);
	assert_int_equal(kw_der_eq(&v, ci.subject.p, ci.subject.len), 1);
	assert_int_equal(scep_csr_subject(f->csr, f->csr_len, &name), KW_OK);
	assert_int_equal(kw_der_get(&d, 0x30, NULL, &v), KW_OK);
	assert_int_equal(kw_der_eq(&v, name.p, name.len), 1);
	assert_int_equal(d.len, 0);
	free(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_selfsigned),
		cmocka_unit_test(test_pkimsg_verified_by_wolfcrypt),
		cmocka_unit_test(test_envelope_roundtrip),
		cmocka_unit_test(test_certrep),
		cmocka_unit_test(test_issuer_and_subject),
	};

	wolfSSL_Init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
