/* Unit tests for the DER toolkit (common/kw_der.c): what the reader
 * refuses, what the writer writes (long-form lengths, INTEGER signs), the
 * SPKI encoders against openssl's encoding, and certificate fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kw_der.h"
#include "kw_error.h"
#include "tests/enroll/vectors.h"

static void
test_reader_refuses(void **state)
{
	static const struct {
		const char *what;
		const uint8_t *p;
		size_t len;
	} bad[] = {
		{ "empty", (const uint8_t *)"", 0 },
		{ "truncated", (const uint8_t *)"\x04\x03\x01\x02", 4 },
		{ "indefinite", (const uint8_t *)"\x30\x80\x00\x00", 4 },
		{ "long form below 128", (const uint8_t *)"\x04\x81\x01\x00", 4 },
		{ "leading zero length", (const uint8_t *)"\x04\x82\x00\x81", 4 },
		{ "five length octets",
		  (const uint8_t *)"\x04\x85\x01\x00\x00\x00\x00", 7 },
		{ "high tag number", (const uint8_t *)"\x1f\x01\x00", 3 },
		{ "trailing byte", (const uint8_t *)"\x04\x01\x00\x00", 4 },
		{ "wrong tag", (const uint8_t *)"\x02\x01\x00", 3 },
	};
	struct kw_der v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i].what);
		assert_int_equal(kw_der_only(bad[i].p, bad[i].len, 0x04, &v),
		    KW_ERR_PARSE);
	}
	assert_int_equal(kw_der_only((const uint8_t *)"\x04\x01\x07", 3, 0x04,
	    &v), KW_OK);
	assert_int_equal(v.len, 1);
	assert_int_equal(v.p[0], 7);
}

static void
test_uint32(void **state)
{
	static const struct {
		const char *der;
		size_t len;
		int ok;
		uint32_t v;
	} t[] = {
		{ "\x02\x01\x00", 3, 1, 0 },
		{ "\x02\x02\x00\x80", 4, 1, 0x80 },
		{ "\x02\x05\x00\xff\xff\xff\xff", 7, 1, 0xffffffffu },
		{ "\x02\x01\x80", 3, 0, 0 },			/* negative */
		{ "\x02\x02\x00\x01", 4, 0, 0 },		/* not minimal */
		{ "\x02\x05\x01\x00\x00\x00\x00", 7, 0, 0 },	/* 33 bits */
		{ "\x02\x00", 2, 0, 0 },
	};
	struct kw_der d;
	uint32_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		d.p = (const uint8_t *)t[i].der;
		d.len = t[i].len;
		assert_int_equal(kw_der_uint32(&d, &v),
		    t[i].ok ? KW_OK : KW_ERR_PARSE);
		if (t[i].ok) {
			assert_int_equal(v, t[i].v);
			assert_int_equal(d.len, 0);
		} else
			assert_int_equal(d.len, t[i].len);	/* untouched */
	}
}

static void
test_writer(void **state)
{
	uint8_t buf[400], body[300];
	struct kw_der_w w;
	size_t len, mark;

	(void)state;
	memset(body, 0xab, sizeof(body));
	/* lengths 127, 128, 255 and 256: short form, then 0x81, 0x82 */
	kw_der_w_init(&w, buf, sizeof(buf));
	kw_der_put(&w, 0x04, body, 127);
	assert_int_equal(kw_der_w_end(&w, &len), KW_OK);
	assert_int_equal(len, 129);
	assert_memory_equal(buf, "\x04\x7f", 2);
	kw_der_w_init(&w, buf, sizeof(buf));
	kw_der_put(&w, 0x04, body, 128);
	assert_int_equal(kw_der_w_end(&w, &len), KW_OK);
	assert_int_equal(len, 131);
	assert_memory_equal(buf, "\x04\x81\x80\xab", 4);
	kw_der_w_init(&w, buf, sizeof(buf));
	mark = kw_der_open(&w, 0x30);
	kw_der_put(&w, 0x04, body, 252);		/* 255 bytes inside */
	kw_der_close(&w, mark);
	assert_int_equal(kw_der_w_end(&w, &len), KW_OK);
	assert_int_equal(len, 258);
	assert_memory_equal(buf, "\x30\x81\xff\x04\x81\xfc\xab", 7);
	kw_der_w_init(&w, buf, sizeof(buf));
	kw_der_put(&w, 0x04, body, 256);
	assert_int_equal(kw_der_w_end(&w, &len), KW_OK);
	assert_int_equal(len, 260);
	assert_memory_equal(buf, "\x04\x82\x01\x00\xab", 5);
	/* INTEGERs: leading zeros dropped, a zero added before a set top bit */
	kw_der_w_init(&w, buf, sizeof(buf));
	kw_der_put_uint(&w, (const uint8_t *)"\x00\x00\x80\x01", 4);
	kw_der_put_uint(&w, (const uint8_t *)"\x00\x00", 2);
	kw_der_put_uint(&w, (const uint8_t *)"\x01\x00\x01", 3);
	assert_int_equal(kw_der_w_end(&w, &len), KW_OK);
	assert_int_equal(len, 13);
	assert_memory_equal(buf, "\x02\x03\x00\x80\x01\x02\x01\x00"
	    "\x02\x03\x01\x00\x01", 13);
	/* out of room: remembered, reported once */
	kw_der_w_init(&w, buf, 130);
	kw_der_put(&w, 0x04, body, 128);
	kw_der_put(&w, 0x04, body, 1);
	assert_int_equal(kw_der_w_end(&w, &len), KW_ERR_SPACE);
	assert_int_equal(len, 0);
}

static void
test_spki(void **state)
{
	uint8_t der[KW_MAX_PUBKEY_DER], n[256];
	size_t len = sizeof(der);

	(void)state;
	/* leaf_spki is openssl's encoding of a P-256 key: its last 65 bytes
	 * are the point */
	assert_int_equal(kw_der_spki_ec(KW_ALG_EC_P256,
	    leaf_spki + leaf_spki_len - 65, 65, der, &len), KW_OK);
	assert_int_equal(len, leaf_spki_len);
	assert_memory_equal(der, leaf_spki, len);
	assert_int_equal(kw_der_spki_alg(der, len), KW_ALG_EC_P256);
	assert_int_equal(kw_der_spki_alg(der, len - 1), KW_ALG_NONE);
	len = sizeof(der);
	assert_int_equal(kw_der_spki_ec(KW_ALG_EC_P384,
	    leaf_spki + leaf_spki_len - 65, 65, der, &len), KW_ERR_PARSE);
	len = 90;
	assert_int_equal(kw_der_spki_ec(KW_ALG_EC_P256,
	    leaf_spki + leaf_spki_len - 65, 65, der, &len), KW_ERR_SPACE);
	/* RSA-2048: 256-byte modulus with the top bit set */
	memset(n, 0xc3, sizeof(n));
	len = sizeof(der);
	assert_int_equal(kw_der_spki_rsa(n, sizeof(n),
	    (const uint8_t *)"\x00\x01\x00\x01", 4, der, &len), KW_OK);
	assert_int_equal(len, 294);
	assert_memory_equal(der, "\x30\x82\x01\x22\x30\x0d\x06\x09", 8);
	assert_memory_equal(der + len - 5, "\x02\x03\x01\x00\x01", 5);
	assert_int_equal(kw_der_spki_alg(der, len), KW_ALG_RSA2048);
}

static void
test_cert(void **state)
{
	struct kw_der_cert c;
	uint8_t *m;

	(void)state;
	assert_int_equal(kw_der_cert(ca_der, ca_der_len, &c), KW_OK);
	assert_true(c.is_ca);
	assert_int_equal(c.serial.p[0], 0x02);
	assert_int_equal(c.issuer.p[0], 0x30);
	assert_int_equal(c.subject.len, c.issuer.len);	/* self-issued */
	assert_memory_equal(c.subject.p, c.issuer.p, c.issuer.len);
	assert_int_equal(kw_der_spki_alg(c.spki.p, c.spki.len), KW_ALG_EC_P256);
	assert_true(c.not_after > c.not_before);
	/* nothing may trail, nothing may be missing */
	m = malloc(ca_der_len + 1);
	assert_non_null(m);
	memcpy(m, ca_der, ca_der_len);
	m[ca_der_len] = 0;
	assert_int_equal(kw_der_cert(m, ca_der_len + 1, &c), KW_ERR_PARSE);
	assert_null(c.spki.p);
	assert_int_equal(kw_der_cert(m, ca_der_len - 1, &c), KW_ERR_PARSE);
	free(m);
	assert_int_equal(kw_der_cert(leaf_spki, leaf_spki_len, &c),
	    KW_ERR_PARSE);
}

static void
test_b64(void **state)
{
	uint8_t *out;
	char *enc;
	size_t ol, el;

	(void)state;
	assert_int_equal(kw_b64_encode((const uint8_t *)"", 0, &enc, &el),
	    KW_OK);
	assert_int_equal(el, 0);
	assert_string_equal(enc, "");
	free(enc);
	assert_int_equal(kw_b64_encode((const uint8_t *)"ABCD", 4, &enc, &el),
	    KW_OK);
	assert_string_equal(enc, "QUJDRA==\n");
	assert_int_equal(kw_b64_decode(enc, el, &out, &ol), KW_OK);
	assert_int_equal(ol, 4);
	assert_memory_equal(out, "ABCD", 4);
	free(out);
	free(enc);
	/* the shared decoder keeps to the armour: a NUL is an error here
	 * (only EST bodies may end with one, see est_b64_decode) */
	assert_int_equal(kw_b64_decode("QUJD\0", 5, &out, &ol), KW_ERR_PARSE);
	assert_null(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_refuses),
		cmocka_unit_test(test_uint32),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_spki),
		cmocka_unit_test(test_cert),
		cmocka_unit_test(test_b64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
