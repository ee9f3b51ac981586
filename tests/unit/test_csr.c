/* Unit tests for enroll/csr.c: the subject and SAN parsers, and requests
 * signed through the wolfSSL device by software test keys, checked with
 * `openssl req -verify`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_wolf.h"
#include "enroll/csr.h"
#include "soft_key.h"

static int
check(const char *subject, const char *san)
{
	struct kw_csr_req req;
	const char *sans[1];

	sans[0] = san;
	memset(&req, 0, sizeof(req));
	req.subject = subject;
	req.sans = sans;
	req.nsans = san ? 1 : 0;
	return kw_csr_check(&req);
}

static void
test_subject_ok(void **state)
{
	(void)state;
	assert_int_equal(check("CN=laptop-42", NULL), KW_OK);
	assert_int_equal(check("CN=a,O=Example Corp,OU=IT,C=DE,L=Berlin,"
	    "ST=Berlin", NULL), KW_OK);
	assert_int_equal(check("cn=x, o=y", NULL), KW_OK);
	assert_int_equal(check("CN=Smith\\, John,O=A\\+B", NULL), KW_OK);
	assert_int_equal(check("CN=caf\\C3\\A9", NULL), KW_OK);
	assert_int_equal(check("CN=x\\=y\\\\z\\#", NULL), KW_OK);
}

static void
test_subject_errors(void **state)
{
	char longv[80];

	(void)state;
	assert_int_equal(check("", NULL), KW_ERR_PARSE);
	assert_int_equal(check("O=no common name", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=x,FOO=bar", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=x,emailAddress=a@b", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=x,CN=y", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=x,", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=x,,O=y", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN", NULL), KW_ERR_PARSE);
	assert_int_equal(check("=x", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a+O=b", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a=b", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a\\qb", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a\\", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a\\4", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a\\00", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a,C=DEU", NULL), KW_ERR_PARSE);
	assert_int_equal(check("CN=a,C=1x", NULL), KW_ERR_PARSE);
	memset(longv, 'x', sizeof(longv));
	memcpy(longv, "CN=", 3);
	longv[3 + 63] = '\0';
	assert_int_equal(check(longv, NULL), KW_OK);
	longv[3 + 63] = 'x';
	longv[3 + 64] = '\0';
	assert_int_equal(check(longv, NULL), KW_ERR_PARSE);
}

static void
test_san(void **state)
{
	(void)state;
	assert_int_equal(check("CN=x", "dns:host.example.com"), KW_OK);
	assert_int_equal(check("CN=x", "dns:*.example.com"), KW_OK);
	assert_int_equal(check("CN=x", "dns:localhost"), KW_OK);
	assert_int_equal(check("CN=x", "uri:spiffe://example.org/laptop/42"),
	    KW_OK);
	assert_int_equal(check("CN=x", "email:it@example.com"), KW_OK);
	assert_int_equal(check("CN=x", "ip:192.0.2.7"), KW_OK);
	assert_int_equal(check("CN=x", "ip:2001:db8::1"), KW_OK);

	assert_int_equal(check("CN=x", "host.example.com"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "DNS:host"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "dns:"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "dns:bad_name.example"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "dns:-lead.example"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "dns:a..b"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "dns:a.*.b"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "uri:no-scheme"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "uri:http://a b"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "email:nobody"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "email:a@b@c"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "ip:300.1.1.1"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "ip:192.0.2"), KW_ERR_PARSE);
	assert_int_equal(check("CN=x", "ip:2001:db8:::1"), KW_ERR_PARSE);
}

/* openssl's verdict on a PEM request, and its text form. */
static int
openssl_req(const char *pem, char *text, size_t text_len)
{
	char path[] = "/tmp/kw-csr-test.XXXXXX", cmd[256];
	FILE *f;
	size_t n;
	int fd, st;

	if ((fd = mkstemp(path)) < 0)
		return -1;
	if (write(fd, pem, strlen(pem)) != (ssize_t)strlen(pem)) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "openssl req -in %s -verify -noout -text "
	    "2>&1", path);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	n = fread(text, 1, text_len - 1, f);
	text[n] = '\0';
	st = pclose(f);
	unlink(path);
	return st;
}

static void
make_and_verify(enum kw_key_alg alg, const char *sig_alg)
{
	static const char *const sans[] = { "dns:laptop.example.com",
	    "uri:spiffe://example.org/laptop", "email:it@example.com",
	    "ip:192.0.2.7", "ip:2001:db8::1" };
	struct kw_csr_req req;
	struct kw_key *key = NULL;
	struct soft_key *sk;
	uint8_t *der = NULL;
	size_t der_len = 0;
	char *pem = NULL, text[8192];

	assert_int_equal(soft_key_new(alg, &key, &sk), KW_OK);
	memset(&req, 0, sizeof(req));
	req.subject = "CN=laptop-42,O=Example\\, Inc,OU=IT,C=DE,L=Berlin,"
	    "ST=Berlin";
	req.sans = sans;
	req.nsans = sizeof(sans) / sizeof(sans[0]);
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_OK);
	assert_int_equal(kw_key_sign_count(key), 1);
	assert_int_equal(kw_csr_pem(der, der_len, &pem), KW_OK);
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
	if (access("/usr/bin/openssl", X_OK) == 0) {
		assert_int_equal(openssl_req(pem, text, sizeof(text)), 0);
		assert_non_null(strstr(text, "verify OK"));
		assert_non_null(strstr(text, sig_alg));
		assert_non_null(strstr(text, "CN = laptop-42"));
		assert_non_null(strstr(text, "O = \"Example, Inc\""));
		assert_non_null(strstr(text, "DNS:laptop.example.com"));
		assert_non_null(strstr(text,
		    "URI:spiffe://example.org/laptop"));
		assert_non_null(strstr(text, "email:it@example.com"));
		assert_non_null(strstr(text, "IP Address:192.0.2.7"));
		assert_non_null(strstr(text, "IP Address:2001:DB8:0:0:0:0:0:1"));
	}
	free(pem);
	free(der);
	kw_key_close(key);
}

static void
test_csr_p256(void **state)
{
	(void)state;
	make_and_verify(KW_ALG_EC_P256, "ecdsa-with-SHA256");
}

static void
test_csr_p384(void **state)
{
	(void)state;
	make_and_verify(KW_ALG_EC_P384, "ecdsa-with-SHA384");
}

static void
test_csr_rsa2048(void **state)
{
	(void)state;
	make_and_verify(KW_ALG_RSA2048, "sha256WithRSAEncryption");
}

static void
test_csr_rsa3072(void **state)
{
	(void)state;
	make_and_verify(KW_ALG_RSA3072, "sha256WithRSAEncryption");
}

/* A key that cannot sign: no request, the key's error comes back. */
static void
test_csr_key_fails(void **state)
{
	struct kw_csr_req req;
	struct kw_key *key = NULL;
	struct soft_key *sk;
	uint8_t *der = NULL;
	size_t der_len = 0;

	(void)state;
	assert_int_equal(soft_key_new(KW_ALG_EC_P256, &key, &sk), KW_OK);
	soft_key_set_fail(sk, KW_ERR_TOKEN_ABSENT);
	memset(&req, 0, sizeof(req));
	req.subject = "CN=x";
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len),
	    KW_ERR_TOKEN_ABSENT);
	assert_null(der);
	assert_int_equal(der_len, 0);
	/* and a bad subject is refused before anything is signed */
	soft_key_set_fail(sk, KW_OK);
	req.subject = "CN=x,XX=y";
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_ERR_PARSE);
	assert_int_equal(kw_key_sign_count(key), 0);
	kw_key_close(key);
}

/* The challengePassword (proof-of-possession linking, RFC 7030 3.5) is in
 * the signed request as a PrintableString; anything that is not printable
 * or too long is refused before the key is asked to sign. */
static void
test_csr_challenge(void **state)
{
	static const char b64[] = "q83vEjRWeJq8/+7/AAECAwQFBgcICQoLDA0ODxA=";
	struct kw_csr_req req;
	struct kw_key *key = NULL;
	struct soft_key *sk;
	uint8_t *der = NULL, ps[2 + sizeof(b64) - 1];
	size_t der_len = 0, i;
	char *pem = NULL, text[8192], longv[80];
	int found = 0;

	(void)state;
	assert_int_equal(soft_key_new(KW_ALG_EC_P256, &key, &sk), KW_OK);
	memset(&req, 0, sizeof(req));
	req.subject = "CN=pop";
	req.challenge = b64;
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_OK);
	ps[0] = 0x13;			/* PrintableString */
	ps[1] = (uint8_t)(sizeof(b64) - 1);
	memcpy(ps + 2, b64, sizeof(b64) - 1);
	for (i = 0; i + sizeof(ps) <= der_len && !found; i++)
		found = memcmp(der + i, ps, sizeof(ps)) == 0;
	assert_true(found);
	assert_int_equal(kw_csr_pem(der, der_len, &pem), KW_OK);
	if (access("/usr/bin/openssl", X_OK) == 0) {
		assert_int_equal(openssl_req(pem, text, sizeof(text)), 0);
		assert_non_null(strstr(text, "verify OK"));
		assert_non_null(strstr(text, "challengePassword"));
		assert_non_null(strstr(text, b64));
	}
	free(pem);
	free(der);
	der = NULL;
	req.challenge = "not_printable";
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_ERR_PARSE);
	req.challenge = "";
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_ERR_PARSE);
	memset(longv, 'A', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	req.challenge = longv;
	assert_int_equal(kw_csr_make(key, &req, &der, &der_len), KW_ERR_PARSE);
	assert_int_equal(kw_key_sign_count(key), 1);
	kw_key_close(key);
}

/* A certificate made by openssl with subject subj ("/CN=.../O=..."), as
 * DER in der (at most *len bytes). */
static int
openssl_cert(const char *subj, uint8_t *der, size_t *len)
{
	char cmd[512];
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout /dev/null -days 1 "
	    "-utf8 -subj '%s' -outform DER 2>/dev/null", subj);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	*len = fread(der, 1, *len, f);
	st = pclose(f);
	return st == 0 && *len > 0 ? 0 : -1;
}

/* --renew --cert without --subject: the CSR repeats the certificate's
 * subject, escaped so that the subject parser reads it back. */
static void
test_subject_from_cert(void **state)
{
	uint8_t der[4096];
	size_t len = sizeof(der);
	char out[512];

	(void)state;
	if (access("/usr/bin/openssl", X_OK) != 0)
		skip();
	assert_int_equal(openssl_cert("/C=DE/O=A\\+B; C\\=D/OU=IT/CN=Smith, John",
	    der, &len), 0);
	assert_int_equal(kw_csr_subject_from_cert(der, len, out, sizeof(out)),
	    KW_OK);
	assert_string_equal(out, "C=DE,O=A\\+B\\; C\\=D,OU=IT,"
	    "CN=Smith\\, John");
	assert_int_equal(check(out, NULL), KW_OK);
	/* too small a buffer */
	assert_int_equal(kw_csr_subject_from_cert(der, len, out, 8),
	    KW_ERR_SPACE);
	/* what a CSR here cannot say is refused, not dropped */
	len = sizeof(der);
	assert_int_equal(openssl_cert("/CN=x/emailAddress=a@example.com", der,
	    &len), 0);
	assert_int_equal(kw_csr_subject_from_cert(der, len, out, sizeof(out)),
	    KW_ERR_UNSUPPORTED);
	len = sizeof(der);
	assert_int_equal(openssl_cert("/CN=x/OU=a/OU=b", der, &len), 0);
	assert_int_equal(kw_csr_subject_from_cert(der, len, out, sizeof(out)),
	    KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_csr_subject_from_cert((const uint8_t *)"junk", 4,
	    out, sizeof(out)), KW_ERR_CERT);
}

static int
setup(void **state)
{
	(void)state;
	if (getenv("KW_TEST_DEBUG") != NULL)
		kw_log_setup(KW_LOG_DEBUG, 0);
	return kw_wolf_init() == KW_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	kw_wolf_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_ok),
		cmocka_unit_test(test_subject_errors),
		cmocka_unit_test(test_san),
		cmocka_unit_test(test_csr_p256),
		cmocka_unit_test(test_csr_p384),
		cmocka_unit_test(test_csr_rsa2048),
		cmocka_unit_test(test_csr_rsa3072),
		cmocka_unit_test(test_csr_key_fails),
		cmocka_unit_test(test_csr_challenge),
		cmocka_unit_test(test_subject_from_cert),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
