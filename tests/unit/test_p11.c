/* Unit tests for pkcs11/: the RFC 7512 URI parser (with a mutation run),
 * the CK_RV translator, and the hand-written DER (SPKI, certificates). */
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
#include "pkcs11/p11_internal.h"

/* A self-signed EC P-256 certificate (openssl req -x509) and its SPKI. */
static const uint8_t test_cert[] = {
	0x30, 0x82, 0x01, 0x6d, 0x30, 0x82, 0x01, 0x13, 0xa0, 0x03, 0x02, 0x01,
	0x02, 0x02, 0x14, 0x62, 0x4b, 0x9d, 0xd7, 0xd2, 0xfe, 0x99, 0xfd, 0x77,
	0xe3, 0x1d, 0x01, 0x7b, 0x49, 0xd0, 0x4e, 0x75, 0x6d, 0xcd, 0xf9, 0x30,
	0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30,
	0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01,
	0x74, 0x30, 0x1e, 0x17, 0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x34, 0x31,
	0x30, 0x35, 0x34, 0x30, 0x34, 0x5a, 0x17, 0x0d, 0x32, 0x36, 0x31, 0x31,
	0x32, 0x35, 0x31, 0x30, 0x35, 0x34, 0x30, 0x34, 0x5a, 0x30, 0x0c, 0x31,
	0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, 0x74, 0x30,
	0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42,
	0x00, 0x04, 0x25, 0x34, 0x3a, 0x4b, 0x8f, 0x41, 0xef, 0x1d, 0x8c, 0x8b,
	0x0f, 0x2b, 0xa4, 0x1c, 0x01, 0x01, 0x19, 0xe4, 0x6d, 0xaa, 0x11, 0x82,
	0x8a, 0x08, 0xca, 0x78, 0x54, 0xda, 0xc9, 0xcb, 0x87, 0xc4, 0x4d, 0x39,
	0x9c, 0x83, 0xce, 0xe2, 0xd8, 0xcc, 0xbf, 0x89, 0xf9, 0x4c, 0x92, 0x8f,
	0xb0, 0x58, 0xf6, 0x37, 0xd2, 0xb1, 0xab, 0xe0, 0xa0, 0x67, 0x00, 0xcc,
	0x86, 0xd8, 0x2e, 0x02, 0xc8, 0x2f, 0xa3, 0x53, 0x30, 0x51, 0x30, 0x1d,
	0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0xee, 0xa3, 0xf1,
	0xb2, 0x07, 0xb2, 0x2d, 0x10, 0x7e, 0x3c, 0x5b, 0xcf, 0x45, 0x5e, 0x08,
	0x73, 0x9b, 0x9c, 0xc7, 0x4a, 0x30, 0x1f, 0x06, 0x03, 0x55, 0x1d, 0x23,
	0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0xee, 0xa3, 0xf1, 0xb2, 0x07, 0xb2,
	0x2d, 0x10, 0x7e, 0x3c, 0x5b, 0xcf, 0x45, 0x5e, 0x08, 0x73, 0x9b, 0x9c,
	0xc7, 0x4a, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff,
	0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff, 0x30, 0x0a, 0x06, 0x08, 0x2a,
	0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03, 0x48, 0x00, 0x30, 0x45,
	0x02, 0x21, 0x00, 0xbd, 0x12, 0xbf, 0xbd, 0xda, 0x0d, 0x69, 0xaf, 0xc7,
	0xe4, 0x83, 0x6d, 0xab, 0xc9, 0x21, 0x80, 0x9b, 0x1b, 0x38, 0x86, 0x60,
	0x57, 0x01, 0x6e, 0x7e, 0x17, 0x76, 0xdf, 0x6e, 0x1b, 0x6b, 0x48, 0x02,
	0x20, 0x2c, 0xe8, 0xa8, 0x02, 0x29, 0x8a, 0x24, 0xb5, 0xcf, 0x45, 0xfc,
	0x5c, 0x9c, 0x7c, 0xd2, 0x16, 0x21, 0x81, 0x09, 0xdf, 0x62, 0xa7, 0xd8,
	0xf4, 0xdf, 0xf5, 0x81, 0x20, 0xf8, 0x5f, 0x2e, 0xc8,
};
static const uint8_t test_spki[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
	0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
	0x42, 0x00, 0x04, 0x25, 0x34, 0x3a, 0x4b, 0x8f, 0x41, 0xef, 0x1d, 0x8c,
	0x8b, 0x0f, 0x2b, 0xa4, 0x1c, 0x01, 0x01, 0x19, 0xe4, 0x6d, 0xaa, 0x11,
	0x82, 0x8a, 0x08, 0xca, 0x78, 0x54, 0xda, 0xc9, 0xcb, 0x87, 0xc4, 0x4d,
	0x39, 0x9c, 0x83, 0xce, 0xe2, 0xd8, 0xcc, 0xbf, 0x89, 0xf9, 0x4c, 0x92,
	0x8f, 0xb0, 0x58, 0xf6, 0x37, 0xd2, 0xb1, 0xab, 0xe0, 0xa0, 0x67, 0x00,
	0xcc, 0x86, 0xd8, 0x2e, 0x02, 0xc8, 0x2f,
};

static struct p11_uri *
parse_ok(const char *s)
{
	struct p11_uri *u = NULL;
	char err[256];
	int r = p11_uri_parse(s, &u, err, sizeof(err));

	if (r != KW_OK)
		fail_msg("'%s' rejected: %s", s, err);
	assert_non_null(u);
	return u;
}

/* The URI is refused and the message names want. */
static void
parse_bad(const char *s, const char *want)
{
	struct p11_uri *u = (struct p11_uri *)1;
	char err[256];

	assert_int_equal(p11_uri_parse(s, &u, err, sizeof(err)), KW_ERR_PARSE);
	assert_null(u);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", s, err, want);
}

static void
test_uri_basic(void **state)
{
	struct p11_uri *u;

	(void)state;
	u = parse_ok("pkcs11:token=Dev;object=device");
	assert_string_equal(u->token, "Dev");
	assert_string_equal(u->object, "device");
	assert_false(u->has_id);
	assert_int_equal(u->type, P11_URI_TYPE_NONE);
	assert_null(u->module_path);
	p11_uri_free(u);

	u = parse_ok("pkcs11:");
	assert_null(u->token);
	p11_uri_free(u);

	u = parse_ok("pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
	    "serial=0325;token=My%20Token;id=%01%02%FF%00;object=a%3Bb%2Fc;"
	    "type=private;slot-id=17;slot-description=S%20D;"
	    "slot-manufacturer=M;library-manufacturer=L;"
	    "library-description=D;library-version=2.6");
	assert_string_equal(u->model, "SoftHSM v2");
	assert_string_equal(u->manufacturer, "SoftHSM project");
	assert_string_equal(u->serial, "0325");
	assert_string_equal(u->token, "My Token");
	assert_true(u->has_id);
	assert_int_equal(u->id_len, 4);
	assert_memory_equal(u->id, "\x01\x02\xff\x00", 4);
	assert_string_equal(u->object, "a;b/c");
	assert_int_equal(u->type, CKO_PRIVATE_KEY);
	assert_true(u->has_slot_id);
	assert_int_equal(u->slot_id, 17);
	assert_string_equal(u->slot_description, "S D");
	assert_int_equal(u->lib_ver_major, 2);
	assert_int_equal(u->lib_ver_minor, 6);
	p11_uri_free(u);

	u = parse_ok("pkcs11:type=cert;library-version=3");
	assert_int_equal(u->type, CKO_CERTIFICATE);
	assert_int_equal(u->lib_ver_major, 3);
	assert_int_equal(u->lib_ver_minor, 0);
	p11_uri_free(u);

	/* '&' is fine in the path, ';' is fine (encoded) anywhere */
	u = parse_ok("pkcs11:token=R&D;object=x");
	assert_string_equal(u->token, "R&D");
	p11_uri_free(u);
}

static void
test_uri_query(void **state)
{
	struct p11_uri *u;
	const char *path;
	char err[128];

	(void)state;
	u = parse_ok("pkcs11:object=k?module-path=/usr/lib/x.so&"
	    "pin-source=file:/run/pin%20file&x-vendor=1");
	assert_string_equal(u->module_path, "/usr/lib/x.so");
	assert_int_equal(p11_uri_pin_file(u, &path, err, sizeof(err)), KW_OK);
	assert_string_equal(path, "/run/pin file");
	p11_uri_free(u);

	u = parse_ok("pkcs11:object=k?pin-source=/etc/pin");
	assert_int_equal(p11_uri_pin_file(u, &path, err, sizeof(err)), KW_OK);
	assert_string_equal(path, "/etc/pin");
	p11_uri_free(u);

	u = parse_ok("pkcs11:object=k?pin-source=file:///etc/pin");
	assert_int_equal(p11_uri_pin_file(u, &path, err, sizeof(err)), KW_OK);
	assert_string_equal(path, "/etc/pin");
	p11_uri_free(u);

	u = parse_ok("pkcs11:object=k?pin-source=|/bin/get-pin");
	assert_int_equal(p11_uri_pin_file(u, &path, err, sizeof(err)),
	    KW_ERR_UNSUPPORTED);
	assert_null(path);
	assert_non_null(strstr(err, "file:PATH"));
	p11_uri_free(u);

	u = parse_ok("pkcs11:object=k?pin-value=1234&module-name=softhsm2");
	assert_string_equal(u->pin_value, "1234");
	assert_string_equal(u->module_name, "softhsm2");
	p11_uri_free(u);
}

static void
test_uri_errors(void **state)
{
	(void)state;
	parse_bad("pkcs12:token=a", "must start with 'pkcs11:'");
	parse_bad("token=a", "must start with 'pkcs11:'");
	parse_bad("pkcs11:foo=bar", "unknown path attribute 'foo'");
	parse_bad("pkcs11:x-foo=bar", "unknown path attribute 'x-foo'");
	parse_bad("pkcs11:module-path=/x.so", "module-path is a query "
	    "attribute: write it after '?'");
	parse_bad("pkcs11:token=a;object=b;pin-source=file:/p", "pin-source "
	    "is a query attribute: write it after '?', not after ';'");
	parse_bad("pkcs11:object=a?token=b", "unknown query attribute 'token'");
	parse_bad("pkcs11:object=a?bogus=1", "unknown query attribute");
	parse_bad("pkcs11:token=a;token=b", "'token' appears twice");
	parse_bad("pkcs11:id=%01;id=%02", "'id' appears twice");
	parse_bad("pkcs11:token=a%zz", "bad percent-encoding");
	parse_bad("pkcs11:token=a%4", "bad percent-encoding");
	parse_bad("pkcs11:token=a%", "bad percent-encoding");
	parse_bad("pkcs11:token=a b", "%20");
	parse_bad("pkcs11:object=a/b", "'/' must be written as %2F");
	parse_bad("pkcs11:object=a\"b", "%22");
	parse_bad("pkcs11:object=\xc3\xa9", "percent-encoded");
	parse_bad("pkcs11:type=bogus", "type=bogus");
	parse_bad("pkcs11:slot-id=12a", "slot-id=12a");
	parse_bad("pkcs11:slot-id=", "slot-id=");
	parse_bad("pkcs11:library-version=1.2.3", "library-version");
	parse_bad("pkcs11:token=a;;object=b", "empty attribute");
	parse_bad("pkcs11:token", "not NAME=VALUE");
	parse_bad("pkcs11:token=", "'token' is empty");
	parse_bad("pkcs11:token=%00x", "%00");
	parse_bad("pkcs11:token=123456789012345678901234567890123",
	    "at most 32");
	parse_bad("pkcs11:object=a?module-path=lib.so", "absolute path");
	parse_bad("pkcs11:object=a?module-name=../x", "without '/'");
	parse_bad("pkcs11:object=a?pin-value=1&pin-source=/p", "not both");
	parse_bad("pkcs11:object=a?pin-value=1&pin-value=2", "twice");
}

static void
test_uri_writer(void **state)
{
	static const uint8_t id[] = { 0x00, 0x7f, 0xff, ';' };
	struct p11_uri *u;
	char buf[256];
	size_t used;

	(void)state;
	strcpy(buf, "pkcs11:");
	used = 7;
	assert_int_equal(p11_uri_append(buf, sizeof(buf), &used, "token",
	    (const uint8_t *)"My Token;1", 10, 0), KW_OK);
	assert_int_equal(p11_uri_append(buf, sizeof(buf), &used, "id", id,
	    sizeof(id), 1), KW_OK);
	assert_string_equal(buf, "pkcs11:token=My%20Token%3B1;id=%00%7F%FF%3B");
	u = parse_ok(buf);
	assert_string_equal(u->token, "My Token;1");
	assert_int_equal(u->id_len, sizeof(id));
	assert_memory_equal(u->id, id, sizeof(id));
	p11_uri_free(u);
	/* too small: an error, not a truncated URI */
	used = 7;
	assert_int_equal(p11_uri_append(buf, 12, &used, "token",
	    (const uint8_t *)"abcdef", 6, 0), KW_ERR_SPACE);
}

static void
test_uri_fields(void **state)
{
	unsigned char field[16];
	char out[17];

	(void)state;
	memset(field, ' ', sizeof(field));
	memcpy(field, "kwtest", 6);
	assert_true(p11_uri_field_eq("kwtest", field, sizeof(field)));
	assert_false(p11_uri_field_eq("kwtes", field, sizeof(field)));
	assert_false(p11_uri_field_eq("kwtest2", field, sizeof(field)));
	assert_true(p11_uri_field_eq(NULL, field, sizeof(field)));
	p11_uri_unpad(out, field, sizeof(field));
	assert_string_equal(out, "kwtest");
}

/* Random mutations of valid URIs: the parser must never crash, leak or
 * read out of bounds (run under ASan), only accept or refuse. */
static void
test_uri_mutations(void **state)
{
	static const char *seeds[] = {
		"pkcs11:token=Dev;object=device;id=%01%02?pin-source=file:/p",
		"pkcs11:model=M;serial=1;slot-id=3;type=private;"
		    "library-version=1.2?module-path=/a.so&x-y=z",
		"pkcs11:object=a%20b?pin-value=1234",
	};
	static const char alphabet[] = "%;?&=:/0aZ\xff\x00-x";
	char buf[160], err[256];
	struct p11_uri *u;
	unsigned int seed = 12345, i, j, n;
	size_t len;

	(void)state;
	for (i = 0; i < 30000; i++) {
		snprintf(buf, sizeof(buf), "%s", seeds[i % 3]);
		len = strlen(buf);
		n = 1 + rand_r(&seed) % 4;
		for (j = 0; j < n && len > 8; j++) {
			size_t pos = 7 + (size_t)rand_r(&seed) % (len - 7);

			switch (rand_r(&seed) % 3) {
			case 0:	/* replace */
				buf[pos] = alphabet[rand_r(&seed) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:	/* truncate */
				buf[pos] = '\0';
				break;
			default: /* delete */
				memmove(buf + pos, buf + pos + 1, len - pos);
				break;
			}
			len = strlen(buf);
		}
		u = NULL;
		if (p11_uri_parse(buf, &u, err, sizeof(err)) == KW_OK)
			assert_non_null(u);
		else {
			assert_null(u);
			assert_true(strlen(err) > 0);
		}
		p11_uri_free(u);
	}
}

static void
test_rv_translator(void **state)
{
	(void)state;
	assert_int_equal(p11_rv_err(CKR_OK, "t"), KW_OK);
	assert_int_equal(p11_rv_err(CKR_PIN_INCORRECT, "t"),
	    KW_ERR_PIN_INCORRECT);
	assert_int_equal(p11_rv_err(CKR_PIN_LOCKED, "t"), KW_ERR_PIN_LOCKED);
	assert_int_equal(p11_rv_err(CKR_DEVICE_REMOVED, "t"),
	    KW_ERR_TOKEN_ABSENT);
	assert_int_equal(p11_rv_err(CKR_TOKEN_NOT_PRESENT, "t"),
	    KW_ERR_TOKEN_ABSENT);
	assert_int_equal(p11_rv_err(CKR_SESSION_HANDLE_INVALID, "t"),
	    KW_ERR_TOKEN_ABSENT);
	assert_int_equal(p11_rv_err(CKR_SESSION_CLOSED, "t"),
	    KW_ERR_TOKEN_ABSENT);
	assert_int_equal(p11_rv_err(CKR_USER_ALREADY_LOGGED_IN, "t"), KW_OK);
	assert_int_equal(p11_rv_err(CKR_MECHANISM_INVALID, "t"),
	    KW_ERR_UNSUPPORTED);
	assert_int_equal(p11_rv_err(CKR_HOST_MEMORY, "t"), KW_ERR_NOMEM);
	assert_int_equal(p11_rv_err(CKR_GENERAL_ERROR, "t"), KW_ERR_PKCS11);
	assert_int_equal(p11_rv_err(0x7777UL, "t"), KW_ERR_PKCS11);
	assert_int_equal(p11_rv_err(CKR_VENDOR_DEFINED | 5, "t"),
	    KW_ERR_PKCS11);
	assert_string_equal(p11_rv_name(CKR_PIN_INCORRECT),
	    "CKR_PIN_INCORRECT");
	assert_string_equal(p11_rv_name(CKR_DEVICE_REMOVED),
	    "CKR_DEVICE_REMOVED");
	assert_string_equal(p11_rv_name(0x7777UL), "CKR_?");
	assert_true(p11_rv_gone(CKR_DEVICE_REMOVED));
	assert_true(p11_rv_gone(CKR_SESSION_CLOSED));
	assert_false(p11_rv_gone(CKR_PIN_INCORRECT));
	assert_false(p11_rv_gone(CKR_OK));
}

static void
test_der(void **state)
{
	struct p11_cert_parts cp;
	uint8_t der[KW_MAX_PUBKEY_DER], wrapped[67], n[256], e[3] =
	    { 1, 0, 1 };
	size_t len = sizeof(der);
	const uint8_t *point = test_spki + sizeof(test_spki) - 65;

	(void)state;
	/* certificate fields */
	assert_int_equal(p11_cert_parse(test_cert, sizeof(test_cert), &cp),
	    KW_OK);
	assert_int_equal(cp.spki_len, sizeof(test_spki));
	assert_memory_equal(cp.spki, test_spki, sizeof(test_spki));
	assert_int_equal(cp.subject[0], 0x30);
	assert_int_equal(cp.serial[0], 0x02);
	assert_int_equal(p11_cert_parse(test_cert, sizeof(test_cert) - 1, &cp),
	    KW_ERR_CERT);
	assert_int_equal(p11_spki_alg(test_spki, sizeof(test_spki)),
	    KW_ALG_EC_P256);
	/* EC SPKI from a raw point and from CKA_EC_POINT's OCTET STRING */
	assert_int_equal(p11_spki_ec(KW_ALG_EC_P256, point, 65, der, &len),
	    KW_OK);
	assert_int_equal(len, sizeof(test_spki));
	assert_memory_equal(der, test_spki, len);
	wrapped[0] = 0x04;
	wrapped[1] = 65;
	memcpy(wrapped + 2, point, 65);
	len = sizeof(der);
	assert_int_equal(p11_spki_ec(KW_ALG_EC_P256, wrapped, 67, der, &len),
	    KW_OK);
	assert_memory_equal(der, test_spki, len);
	len = sizeof(der);
	assert_int_equal(p11_spki_ec(KW_ALG_EC_P384, wrapped, 67, der, &len),
	    KW_ERR_PARSE);
	len = 40;
	assert_int_equal(p11_spki_ec(KW_ALG_EC_P256, point, 65, der, &len),
	    KW_ERR_SPACE);
	/* RSA: a 2048-bit modulus with the top bit set (needs a 00) */
	memset(n, 0xc5, sizeof(n));
	len = sizeof(der);
	assert_int_equal(p11_spki_rsa(n, sizeof(n), e, sizeof(e), der, &len),
	    KW_OK);
	assert_int_equal(len, 294);	/* the size of every RSA-2048 SPKI */
	assert_int_equal(p11_spki_alg(der, len), KW_ALG_RSA2048);
	/* curves */
	{
		const uint8_t *p;
		size_t pl;

		p = p11_ec_params(KW_ALG_EC_P384, &pl);
		assert_int_equal(p11_ec_alg(p, pl), KW_ALG_EC_P384);
		assert_null(p11_ec_params(KW_ALG_RSA2048, &pl));
	}
	{
		size_t dl;

		assert_non_null(p11_digest_info(KW_HASH_SHA256, &dl));
		assert_int_equal(dl, 19);
		assert_null(p11_digest_info(KW_HASH_NONE, &dl));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_basic),
		cmocka_unit_test(test_uri_query),
		cmocka_unit_test(test_uri_errors),
		cmocka_unit_test(test_uri_writer),
		cmocka_unit_test(test_uri_fields),
		cmocka_unit_test(test_uri_mutations),
		cmocka_unit_test(test_rv_translator),
		cmocka_unit_test(test_der),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
