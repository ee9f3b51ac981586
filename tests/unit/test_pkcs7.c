/* Unit tests for enroll/est_der.c and the issued-certificate checks:
 * strict base64, PKCS#7 certs-only, certificate fields, csrattrs, and
 * every malformed input we can think of refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "kw_error.h"
#include "enroll/est.h"
#include "enroll/est_der.h"
#include "tests/enroll/vectors.h"

static void
test_b64_roundtrip(void **state)
{
	uint8_t in[300], *dec = NULL;
	char *enc = NULL;
	size_t i, n, el, dl;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	for (n = 1; n < sizeof(in); n += 37) {
		assert_int_equal(est_b64_encode(in, n, &enc, &el), KW_OK);
		assert_int_equal(est_b64_decode(enc, el, &dec, &dl), KW_OK);
		assert_int_equal(dl, n);
		assert_memory_equal(dec, in, n);
		free(enc);
		free(dec);
	}
}

static void
test_b64_strict(void **state)
{
	static const char *bad[] = {
		"", "\n", "QQ", "QQ=", "Q===", "QQ==QQ==", "QQ==x", "QR==",
		"QUI", "QU!=", "QUJD\x01", "=QUJD", "QUJD=", "QQ== =",
	};
	static const char *good[] = {
		"QQ==", "QUI=", "QUJD", " QU\r\nJD\n", "QQ==\r\n",
	};
	uint8_t *out;
	size_t i, ol;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(est_b64_decode(bad[i], strlen(bad[i]), &out,
		    &ol), KW_ERR_PARSE);
		assert_null(out);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(est_b64_decode(good[i], strlen(good[i]), &out,
		    &ol), KW_OK);
		free(out);
	}
}

/* Some EST servers end a base64 body with a NUL byte or white space
 * (issue 9, item 20): tolerated at the very end, nowhere else. */
static void
test_b64_trailing_nul(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		int ok;
	} v[] = {
		{ "QUJD\0", 5, 1 },
		{ "QUJD\0\0\0", 7, 1 },
		{ "QQ==\0", 5, 1 },
		{ "QQ==\r\n\0", 7, 1 },
		{ "QUJD\n\0 \t\0", 8, 1 },
		{ "QU\0JD", 5, 0 },		/* NUL inside */
		{ "QUJD\0QUJD", 9, 0 },	/* data after a NUL */
		{ "QQ==\0=", 6, 0 },
		{ "\0", 1, 0 },		/* nothing but NUL */
		{ "QUJD\0\x01", 6, 0 },
	};
	uint8_t *out;
	size_t i, ol;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(est_b64_decode(v[i].s, v[i].len, &out, &ol),
		    v[i].ok ? KW_OK : KW_ERR_PARSE);
		if (v[i].ok) {
			assert_int_equal(ol, v[i].s[2] == '=' ? 1 : 3);
			assert_memory_equal(out, "ABC", ol);
		} else
			assert_null(out);
		free(out);
	}
}

static void
test_pkcs7_good(void **state)
{
	struct est_certs certs;
	struct est_cert_info ci;

	(void)state;
	assert_int_equal(est_pkcs7_certs(p7_der, p7_der_len, &certs), KW_OK);
	assert_int_equal(certs.n, 2);
	assert_int_equal(est_cert_info(certs.c[0].der, certs.c[0].len, &ci), KW_OK);
	assert_false(ci.is_ca);
	assert_int_equal(ci.spki_len, leaf_spki_len);
	assert_memory_equal(ci.spki, leaf_spki, leaf_spki_len);
	assert_true(ci.not_after > ci.not_before);
	assert_int_equal(est_cert_info(certs.c[1].der, certs.c[1].len, &ci), KW_OK);
	assert_true(ci.is_ca);
	assert_int_equal(certs.c[1].len, ca_der_len);
	assert_memory_equal(certs.c[1].der, ca_der, ca_der_len);
	est_certs_clear(&certs);
}

static void
test_pkcs7_truncated(void **state)
{
	struct est_certs certs;
	size_t n;

	(void)state;
	/* every strict prefix is refused */
	for (n = 0; n < p7_der_len; n++) {
		assert_int_equal(est_pkcs7_certs(p7_der, n, &certs), KW_ERR_PARSE);
		assert_int_equal(certs.n, 0);
	}
}

static void
test_pkcs7_mutations(void **state)
{
	struct est_certs certs;
	uint8_t *m;
	size_t i;
	int r, accepted = 0;

	(void)state;
	m = malloc(p7_der_len + 1);
	assert_non_null(m);
	/* trailing byte */
	memcpy(m, p7_der, p7_der_len);
	m[p7_der_len] = 0;
	assert_int_equal(est_pkcs7_certs(m, p7_der_len + 1, &certs), KW_ERR_PARSE);
	/* flipping any byte of the structure (not inside certificate bodies'
	 * signatures) must never crash; most are refused */
	for (i = 0; i < p7_der_len; i++) {
		memcpy(m, p7_der, p7_der_len);
		m[i] ^= 0x55;
		r = est_pkcs7_certs(m, p7_der_len, &certs);
		if (r == KW_OK)
			accepted++;
		est_certs_clear(&certs);
	}
	/* header bytes of the ContentInfo/SignedData are all checked */
	for (i = 0; i < 40; i++) {
		memcpy(m, p7_der, p7_der_len);
		m[i] ^= 0x55;
		assert_int_equal(est_pkcs7_certs(m, p7_der_len, &certs),
		    KW_ERR_PARSE);
	}
	/* indefinite length is not DER */
	memcpy(m, p7_der, p7_der_len);
	m[1] = 0x80;
	assert_int_equal(est_pkcs7_certs(m, p7_der_len, &certs), KW_ERR_PARSE);
	free(m);
	(void)accepted;
}

static void
test_pkcs7_not_p7(void **state)
{
	struct est_certs certs;
	/* SignedData without certificates [0] */
	static const uint8_t nocerts[] = {
		0x30, 0x23, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
		0x01, 0x07, 0x02, 0xa0, 0x16, 0x30, 0x14, 0x02, 0x01, 0x01,
		0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
		0xf7, 0x0d, 0x01, 0x07, 0x01, 0x31, 0x00,
	};

	(void)state;
	/* a bare certificate is not a PKCS#7 */
	assert_int_equal(est_pkcs7_certs(ca_der, ca_der_len, &certs), KW_ERR_PARSE);
	assert_int_equal(est_pkcs7_certs(nocerts, sizeof(nocerts), &certs),
	    KW_ERR_PARSE);
	assert_int_equal(est_pkcs7_certs((const uint8_t *)"", 0, &certs),
	    KW_ERR_PARSE);
}

static void
test_cert_time(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(est_der_time(0x17, (const uint8_t *)"700101000000Z",
	    13, &t), KW_OK);
	assert_int_equal(t, 0);
	assert_int_equal(est_der_time(0x18, (const uint8_t *)"20380119031408Z",
	    15, &t), KW_OK);
	assert_int_equal((long long)t, 2147483648LL);
	assert_int_equal(est_der_time(0x17, (const uint8_t *)"491231235959Z",
	    13, &t), KW_OK);
	assert_int_equal((long long)t, 2524607999LL);
	assert_int_equal(est_der_time(0x17, (const uint8_t *)"701301000000Z",
	    13, &t), KW_ERR_PARSE);
	assert_int_equal(est_der_time(0x17, (const uint8_t *)"700101000000+",
	    13, &t), KW_ERR_PARSE);
	assert_int_equal(est_der_time(0x18, (const uint8_t *)"700101000000Z",
	    13, &t), KW_ERR_PARSE);
}

static void
test_verify_issued(void **state)
{
	struct est_certs certs, anchors, wrong;
	uint8_t spki[128];

	(void)state;
	assert_int_equal(wolfSSL_Init(), WOLFSSL_SUCCESS);
	memset(&anchors, 0, sizeof(anchors));
	memset(&wrong, 0, sizeof(wrong));
	assert_int_equal(est_certs_add(&anchors, ca_der, ca_der_len), KW_OK);
	assert_int_equal(est_certs_add(&wrong, wrong_ca_der, wrong_ca_der_len),
	    KW_OK);

	/* right key, right CA */
	assert_int_equal(est_pkcs7_certs(p7_der, p7_der_len, &certs), KW_OK);
	assert_int_equal(est_verify_issued(&anchors, &certs, leaf_spki,
	    leaf_spki_len), KW_OK);
	est_certs_clear(&certs);

	/* another CA with the same name: does not chain */
	assert_int_equal(est_pkcs7_certs(p7_der, p7_der_len, &certs), KW_OK);
	assert_int_equal(est_verify_issued(&wrong, &certs, leaf_spki,
	    leaf_spki_len), KW_ERR_PEER_VERIFY);
	est_certs_clear(&certs);

	/* another key */
	memcpy(spki, leaf_spki, leaf_spki_len);
	spki[leaf_spki_len - 1] ^= 1;
	assert_int_equal(est_pkcs7_certs(p7_der, p7_der_len, &certs), KW_OK);
	assert_int_equal(est_verify_issued(&anchors, &certs, spki,
	    leaf_spki_len), KW_ERR_KEY_MISMATCH);
	est_certs_clear(&certs);
	est_certs_clear(&anchors);
	est_certs_clear(&wrong);
	wolfSSL_Cleanup();
}

static void
test_fingerprint(void **state)
{
	char a[65], b[65];

	(void)state;
	assert_int_equal(est_fingerprint(ca_der, ca_der_len, a), KW_OK);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(est_fingerprint_parse(a, b), KW_OK);
	assert_string_equal(a, b);
	assert_int_equal(est_fingerprint_parse("SHA256:AB:CD", b), KW_ERR_ARG);
	assert_int_equal(est_fingerprint_parse(
	    "sha256:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
	    "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff", b), KW_OK);
	assert_string_equal(b,
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	assert_int_equal(est_fingerprint_parse(
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg",
	    b), KW_ERR_ARG);
}

static void
test_csrattrs(void **state)
{
	struct est_csrattrs a;
	size_t n;

	(void)state;
	assert_int_equal(est_csrattrs_parse(csrattrs_der, csrattrs_der_len, &a),
	    KW_OK);
	assert_true(a.want_challenge_password);
	assert_true(a.want_sha384);
	assert_int_equal(a.nsans, 2);
	assert_string_equal(a.sans[0], "dns:a.example");
	assert_string_equal(a.sans[1], "ip:10.0.0.1");
	assert_int_equal(a.nunknown, 2);
	assert_string_equal(a.unknown[0], "1.2.3.4");
	assert_string_equal(a.unknown[1], "1.2.840.10045.2.1 (attribute)");
	est_csrattrs_clear(&a);
	for (n = 0; n < csrattrs_der_len; n++) {
		assert_int_equal(est_csrattrs_parse(csrattrs_der, n, &a),
		    KW_ERR_PARSE);
		assert_int_equal(a.nsans, 0);
	}
	/* empty sequence: nothing asked */
	assert_int_equal(est_csrattrs_parse((const uint8_t *)"\x30\x00", 2, &a),
	    KW_OK);
	assert_int_equal(a.nunknown + a.nsans, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_roundtrip),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_b64_trailing_nul),
		cmocka_unit_test(test_pkcs7_good),
		cmocka_unit_test(test_pkcs7_truncated),
		cmocka_unit_test(test_pkcs7_mutations),
		cmocka_unit_test(test_pkcs7_not_p7),
		cmocka_unit_test(test_cert_time),
		cmocka_unit_test(test_verify_issued),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_csrattrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
