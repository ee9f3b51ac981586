/* Unit tests for tpm/: the TSS2 PRIVATE KEY parser and writer (on malformed
 * input: KW_ERR_PARSE, never a crash or an out-of-bounds read; run under
 * ASan to see the latter), SubjectPublicKeyInfo encoding and the TSS2_RC
 * translator's mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "tpm/tpm_int.h"

/* A plausible ECC P-256 key blob (the TPM is not needed to parse one). */
static void
make_blob(struct tpm_keyblob *kb, uint32_t parent, int empty_auth)
{
	TPMT_PUBLIC *p;
	size_t i;

	memset(kb, 0, sizeof(*kb));
	kb->empty_auth = empty_auth;
	kb->parent = parent;
	assert_int_equal(tpm_pub_key_template(KW_ALG_EC_P256, !empty_auth,
	    &kb->pub), KW_OK);
	p = &kb->pub.publicArea;
	p->unique.ecc.x.size = 32;
	p->unique.ecc.y.size = 32;
	for (i = 0; i < 32; i++) {
		p->unique.ecc.x.buffer[i] = (uint8_t)(i + 1);
		p->unique.ecc.y.buffer[i] = (uint8_t)(0x80 + i);
	}
	kb->priv.size = 126;
	for (i = 0; i < kb->priv.size; i++)
		kb->priv.buffer[i] = (uint8_t)(i * 7);
}

/* The DER inside a PEM we wrote (strict base64 decoding by hand). */
static size_t
pem_to_der(const char *pem, uint8_t *der, size_t max)
{
	static const char *b64 =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(pem, '\n') + 1, *e = strstr(pem, "-----END");
	uint32_t acc = 0;
	size_t n = 0, o = 0;

	for (; p < e; p++) {
		const char *c;

		if (*p == '\n')
			continue;
		if (*p == '=') {
			acc <<= 6;
			n++;
		} else {
			c = strchr(b64, *p);
			acc = (acc << 6) | (uint32_t)(c - b64);
			n++;
		}
		if (n % 4 == 0) {
			assert_true(o + 3 <= max);
			der[o++] = (uint8_t)(acc >> 16);
			der[o++] = (uint8_t)(acc >> 8);
			der[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	while (e > pem && e[-1] == '\n')
		e--;
	if (e[-1] == '=')
		o--;
	if (e[-2] == '=')
		o--;
	return o;
}

static void
make_der(uint32_t parent, int empty_auth, uint8_t *der, size_t *len,
    char **pem_out)
{
	struct tpm_keyblob kb;
	char *pem = NULL;
	size_t pem_len = 0;

	make_blob(&kb, parent, empty_auth);
	assert_int_equal(tpm_keyfile_to_pem(&kb, &pem, &pem_len), KW_OK);
	assert_int_equal(strlen(pem), pem_len);
	*len = pem_to_der(pem, der, *len);
	if (pem_out != NULL)
		*pem_out = pem;
	else
		free(pem);
}

static void
test_roundtrip(void **state)
{
	struct tpm_keyblob kb, back;
	char *pem = NULL;
	size_t pem_len = 0;
	static const uint32_t parents[] = { 0x40000001, 0x81000001,
	    0x81000100 };
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		make_blob(&kb, parents[i % 3], (int)(i & 1));
		assert_int_equal(tpm_keyfile_to_pem(&kb, &pem, &pem_len),
		    KW_OK);
		assert_non_null(strstr(pem,
		    "-----BEGIN TSS2 PRIVATE KEY-----\n"));
		assert_non_null(strstr(pem,
		    "-----END TSS2 PRIVATE KEY-----\n"));
		assert_int_equal(tpm_keyfile_from_pem((uint8_t *)pem, pem_len,
		    &back), KW_OK);
		assert_int_equal(back.parent, kb.parent);
		assert_int_equal(back.empty_auth, kb.empty_auth);
		assert_memory_equal(&back.pub.publicArea, &kb.pub.publicArea,
		    sizeof(kb.pub.publicArea));
		assert_int_equal(back.priv.size, kb.priv.size);
		assert_memory_equal(back.priv.buffer, kb.priv.buffer,
		    kb.priv.size);
		free(pem);
	}
}

static void
test_der_header_and_oid(void **state)
{
	uint8_t der[2048];
	size_t len = sizeof(der);
	static const uint8_t head[] = { 0x06, 0x06, 0x67, 0x81, 0x05, 0x0a,
	    0x01, 0x03, 0xa0, 0x03, 0x01, 0x01, 0xff, 0x02, 0x04, 0x40, 0x00,
	    0x00, 0x01 };

	(void)state;
	make_der(0x40000001, 1, der, &len, NULL);
	/* SEQUENCE, long-form length, then exactly what the format says */
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x81);
	assert_int_equal(der[2], len - 3);
	assert_memory_equal(der + 3, head, sizeof(head));
	assert_int_equal(der[3 + sizeof(head)], 0x04);
}

static void
test_every_truncation_fails(void **state)
{
	struct tpm_keyblob kb;
	uint8_t der[2048], *copy;
	size_t len = sizeof(der), n;

	(void)state;
	make_der(0x81000001, 0, der, &len, NULL);
	assert_int_equal(tpm_keyfile_from_der(der, len, &kb), KW_OK);
	for (n = 0; n < len; n++) {
		/* exact-size heap copy: ASan catches any read past n */
		copy = malloc(n ? n : 1);
		memcpy(copy, der, n);
		assert_int_equal(tpm_keyfile_from_der(copy, n, &kb),
		    KW_ERR_PARSE);
		free(copy);
	}
}

static void
test_trailing_garbage(void **state)
{
	struct tpm_keyblob kb;
	uint8_t der[2048];
	size_t len = sizeof(der) - 1;
	char *pem = NULL, *bad;

	(void)state;
	make_der(0x40000001, 1, der, &len, &pem);
	der[len] = 0;
	assert_int_equal(tpm_keyfile_from_der(der, len + 1, &kb), KW_ERR_PARSE);
	/* PEM: white space after the armour is fine, anything else is not */
	assert_int_equal(asprintf(&bad, "\n%s\n\n", pem) > 0, 1);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)bad, strlen(bad), &kb),
	    KW_OK);
	free(bad);
	assert_int_equal(asprintf(&bad, "%sjunk\n", pem) > 0, 1);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)bad, strlen(bad), &kb),
	    KW_ERR_PARSE);
	free(bad);
	assert_int_equal(asprintf(&bad, "junk\n%s", pem) > 0, 1);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)bad, strlen(bad), &kb),
	    KW_ERR_PARSE);
	free(bad);
	free(pem);
}

static void
test_wrong_oid_and_fields(void **state)
{
	struct tpm_keyblob kb;
	uint8_t der[2048], m[2048];
	size_t len = sizeof(der);

	(void)state;
	make_der(0x40000001, 1, der, &len, NULL);
	/* 2.23.133.10.1.4 (importable key) and 2.23.133.10.1.5 (sealed) */
	memcpy(m, der, len);
	m[10] = 0x04;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
	m[10] = 0x05;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
	/* not a SEQUENCE */
	memcpy(m, der, len);
	m[0] = 0x31;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
	/* emptyAuth TRUE as 0x01 (BER; tpm2-openssl writes it) is TRUE */
	memcpy(m, der, len);
	m[3 + 12] = 0x01;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_OK);
	assert_int_equal(kb.empty_auth, 1);
	m[3 + 12] = 0x00;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_OK);
	assert_int_equal(kb.empty_auth, 0);
	/* a BOOLEAN of two bytes is not one */
	m[3 + 9] = 0x04;
	m[3 + 11] = 0x02;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
	/* [0] turned into [1] (policy): valid, but keyward cannot use it */
	memcpy(m, der, len);
	m[3 + 8] = 0xa1;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_UNSUPPORTED);
	/* parent INTEGER turned negative */
	memcpy(m, der, len);
	m[3 + 15] = 0x80;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
	/* parent in the null hierarchy */
	memcpy(m, der, len);
	m[3 + 15] = 0x40;
	m[3 + 18] = 0x07;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_UNSUPPORTED);
	/* pubkey OCTET STRING whose TPM2B size disagrees with it */
	memcpy(m, der, len);
	m[3 + 19 + 3] ^= 0x01;	/* low byte of the TPM2B_PUBLIC size */
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
}

static void
test_huge_and_bad_lengths(void **state)
{
	struct tpm_keyblob kb;
	static const uint8_t huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xf0,
	    0x06 };
	static const uint8_t huge2[] = { 0x30, 0x88, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff };
	static const uint8_t indef[] = { 0x30, 0x80, 0x00, 0x00 };
	static const uint8_t nonmin[] = { 0x30, 0x81, 0x02, 0x05, 0x00 };
	static const uint8_t over[] = { 0x30, 0x82, 0x01, 0x00, 0x06 };
	uint8_t der[2048], m[2048];
	size_t len = sizeof(der);

	(void)state;
	assert_int_equal(tpm_keyfile_from_der(huge, sizeof(huge), &kb),
	    KW_ERR_PARSE);
	assert_int_equal(tpm_keyfile_from_der(huge2, sizeof(huge2), &kb),
	    KW_ERR_PARSE);
	assert_int_equal(tpm_keyfile_from_der(indef, sizeof(indef), &kb),
	    KW_ERR_PARSE);
	assert_int_equal(tpm_keyfile_from_der(nonmin, sizeof(nonmin), &kb),
	    KW_ERR_PARSE);
	assert_int_equal(tpm_keyfile_from_der(over, sizeof(over), &kb),
	    KW_ERR_PARSE);
	assert_int_equal(tpm_keyfile_from_der(NULL, 0, &kb), KW_ERR_ARG);
	/* the pubkey OCTET STRING gets a non-minimal long-form length */
	make_der(0x40000001, 1, der, &len, NULL);
	memcpy(m, der, len);
	m[3 + 19 + 1] = 0x82;
	assert_int_equal(tpm_keyfile_from_der(m, len, &kb), KW_ERR_PARSE);
}

static void
test_pem_armour_and_base64(void **state)
{
	struct tpm_keyblob kb;
	char *pem = NULL, *m;
	uint8_t der[2048];
	size_t len = sizeof(der), n;
	char *big;

	(void)state;
	make_der(0x40000001, 1, der, &len, &pem);
	n = strlen(pem);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)pem, n, &kb), KW_OK);
	/* wrong label */
	m = strdup(pem);
	memcpy(m + 11, "RSA2", 4);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)m, n, &kb),
	    KW_ERR_PARSE);
	free(m);
	/* a character outside base64 */
	m = strdup(pem);
	m[40] = '*';
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)m, n, &kb),
	    KW_ERR_PARSE);
	/* '=' in the middle */
	m[40] = '=';
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)m, n, &kb),
	    KW_ERR_PARSE);
	free(m);
	/* no END line: every prefix of the text fails */
	for (n = 0; n < strlen(pem) - 2; n++) {
		m = malloc(n ? n : 1);
		memcpy(m, pem, n);
		assert_int_equal(tpm_keyfile_from_pem((uint8_t *)m, n, &kb),
		    KW_ERR_PARSE);
		free(m);
	}
	/* empty body */
	m = strdup("-----BEGIN TSS2 PRIVATE KEY-----\n"
	    "-----END TSS2 PRIVATE KEY-----\n");
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)m, strlen(m), &kb),
	    KW_ERR_PARSE);
	free(m);
	/* larger than any key file */
	big = malloc(TPM_KEYFILE_MAX + 10);
	memset(big, 'A', TPM_KEYFILE_MAX + 10);
	memcpy(big, pem, strlen(pem) - 32);
	assert_int_equal(tpm_keyfile_from_pem((uint8_t *)big,
	    TPM_KEYFILE_MAX + 10, &kb), KW_ERR_PARSE);
	free(big);
	free(pem);
}

/* Deterministic mutations of a valid file: any result but a crash. */
static void
test_mutations_never_crash(void **state)
{
	struct tpm_keyblob kb;
	uint8_t der[2048], *m;
	size_t len = sizeof(der), i, pos;
	uint32_t x = 12345;
	int r, ok = 0;

	(void)state;
	make_der(0x40000001, 1, der, &len, NULL);
	for (i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		pos = (x >> 8) % len;
		m = malloc(len);
		memcpy(m, der, len);
		m[pos] ^= (uint8_t)(1u << ((x >> 4) & 7));
		if (i & 1)
			m[(pos * 7) % len] = (uint8_t)(x >> 16);
		r = tpm_keyfile_from_der(m, len, &kb);
		assert_true(r == KW_OK || r == KW_ERR_PARSE ||
		    r == KW_ERR_UNSUPPORTED);
		ok += r == KW_OK;
		free(m);
	}
	/* flips inside the opaque private blob still parse */
	assert_true(ok > 0);
}

static void
test_spki(void **state)
{
	struct tpm_keyblob kb;
	TPM2B_PUBLIC rsa;
	uint8_t der[KW_MAX_PUBKEY_DER];
	size_t len = sizeof(der);
	static const uint8_t ec_head[] = { 0x30, 0x59, 0x30, 0x13, 0x06, 0x07,
	    0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
	    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04 };
	static const uint8_t rsa_tail[] = { 0x02, 0x03, 0x01, 0x00, 0x01 };

	(void)state;
	make_blob(&kb, 0x40000001, 1);
	/* a short x coordinate is left-padded to the field size */
	kb.pub.publicArea.unique.ecc.x.size = 31;
	assert_int_equal(tpm_pub_spki(&kb.pub.publicArea, der, &len), KW_OK);
	assert_int_equal(len, 91);
	assert_memory_equal(der, ec_head, sizeof(ec_head));
	assert_int_equal(der[27], 0);
	assert_int_equal(der[28], 1);
	assert_int_equal(der[59], 0x80);
	/* too small a buffer */
	len = 50;
	assert_int_equal(tpm_pub_spki(&kb.pub.publicArea, der, &len),
	    KW_ERR_SPACE);

	assert_int_equal(tpm_pub_key_template(KW_ALG_RSA2048, 0, &rsa), KW_OK);
	rsa.publicArea.unique.rsa.size = 256;
	memset(rsa.publicArea.unique.rsa.buffer, 0xc3, 256);
	len = sizeof(der);
	assert_int_equal(tpm_pub_spki(&rsa.publicArea, der, &len), KW_OK);
	assert_int_equal(len, 294);	/* the usual RSA-2048 SPKI */
	/* exponent 0 means 65537 */
	assert_memory_equal(der + len - 5, rsa_tail, sizeof(rsa_tail));
	assert_int_equal(tpm_pub_alg(&rsa.publicArea), KW_ALG_RSA2048);
	assert_int_equal(tpm_pub_alg(&kb.pub.publicArea), KW_ALG_EC_P256);
}

static void
test_templates(void **state)
{
	TPM2B_PUBLIC t;
	TPMA_OBJECT must = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_SIGN_ENCRYPT;
	enum kw_key_alg a;

	(void)state;
	for (a = KW_ALG_EC_P256; a <= KW_ALG_RSA3072; a++) {
		assert_int_equal(tpm_pub_key_template(a, 1, &t), KW_OK);
		assert_int_equal(t.publicArea.objectAttributes, must);
		assert_int_equal(tpm_pub_alg(&t.publicArea), a);
		assert_int_equal(tpm_pub_key_template(a, 0, &t), KW_OK);
		assert_int_equal(t.publicArea.objectAttributes,
		    must | TPMA_OBJECT_NODA);
	}
	tpm_pub_srk_template(&t);
	assert_true(tpm_pub_is_srk_template(&t.publicArea));
	t.publicArea.parameters.eccDetail.symmetric.keyBits.aes = 256;
	assert_false(tpm_pub_is_srk_template(&t.publicArea));
}

static void
test_rc_map(void **state)
{
	(void)state;
	assert_int_equal(tpm_rc_map(0), KW_OK);
	assert_int_equal(tpm_rc_map(0x1df), KW_ERR_WRONG_TPM);	/* swtpm */
	assert_int_equal(tpm_rc_map(0x98e), KW_ERR_PIN_INCORRECT);
	assert_int_equal(tpm_rc_map(0x9a2), KW_ERR_PIN_INCORRECT);
	assert_int_equal(tpm_rc_map(0x921), KW_ERR_PIN_LOCKED);
	assert_int_equal(tpm_rc_map(0x18b), KW_ERR_NOT_FOUND);
	assert_int_equal(tpm_rc_map(0x14c), KW_ERR_EXISTS);
	assert_int_equal(tpm_rc_map(0x902), KW_ERR_TPM);
	assert_int_equal(tpm_rc_map(0xa000a), KW_ERR_TOKEN_ABSENT);
	assert_int_equal(tpm_rc_map(0xa0015), KW_ERR_CONFIG);
	assert_int_equal(tpm_rc_map(0x70017), KW_ERR_NOMEM);
	/* the same TPM codes relayed by a resource manager */
	assert_int_equal(tpm_rc_map(0xc0921), KW_ERR_PIN_LOCKED);
	assert_true(tpm_rc_is_key_lost(0xa000a));
	assert_true(tpm_rc_is_key_lost(0x910));
	assert_false(tpm_rc_is_key_lost(0x921));
	assert_false(tpm_rc_is_key_lost(0x98e));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_der_header_and_oid),
		cmocka_unit_test(test_every_truncation_fails),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_wrong_oid_and_fields),
		cmocka_unit_test(test_huge_and_bad_lengths),
		cmocka_unit_test(test_pem_armour_and_base64),
		cmocka_unit_test(test_mutations_never_crash),
		cmocka_unit_test(test_spki),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_rc_map),
	};

	kw_log_setup(KW_LOG_ERROR, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
