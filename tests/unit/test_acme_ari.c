/* Unit tests for ACME Renewal Information (enroll/acme_ari.c): the
 * CertID against RFC 9773's example, the strict window reading, the pick
 * inside the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kw_error.h"
#include "enroll/acme.h"

static void
test_certid_rfc(void **state)
{
	/* RFC 9773 section 4.1 */
	static const uint8_t aki[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46,
	    0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE,
	    0x01, 0xC8, 0xD4 };
	static const uint8_t serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
	char *id = NULL;

	(void)state;
	assert_int_equal(acme_ari_certid_raw(aki, sizeof(aki), serial,
	    sizeof(serial), &id), KW_OK);
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	assert_int_equal(acme_ari_certid_raw(aki, 0, serial, sizeof(serial),
	    &id), KW_ERR_ARG);
	assert_null(id);
	/* not a certificate */
	assert_int_not_equal(acme_ari_certid(serial, sizeof(serial), &id),
	    KW_OK);
	assert_null(id);
}

static void
test_time(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(acme_ari_time("2025-01-02T04:00:00Z", &t), KW_OK);
	assert_int_equal(t, 1735790400);
	assert_int_equal(acme_ari_time("2025-01-02T04:00:00.123Z", &t), KW_OK);
	assert_int_equal(t, 1735790400);
	assert_int_equal(acme_ari_time("2025-01-02T06:00:00+02:00", &t),
	    KW_OK);
	assert_int_equal(t, 1735790400);
	assert_int_equal(acme_ari_time("2025-01-02T04:00:00", &t),
	    KW_ERR_PARSE);
	assert_int_equal(acme_ari_time("2025-01-02 04:00:00Z", &t),
	    KW_ERR_PARSE);
	assert_int_equal(acme_ari_time("soon", &t), KW_ERR_PARSE);
	assert_int_equal(acme_ari_time(NULL, &t), KW_ERR_PARSE);
}

#define W(s, e) "{\"suggestedWindow\":{\"start\":\"" s "\",\"end\":\"" e \
	"\"}}"

static void
test_window(void **state)
{
	static const char ok[] = W("2025-01-02T04:00:00Z",
	    "2025-01-03T04:00:00Z");
	static const char rev[] = W("2025-01-03T04:00:00Z",
	    "2025-01-02T04:00:00Z");
	static const char eq[] = W("2025-01-02T04:00:00Z",
	    "2025-01-02T04:00:00Z");
	static const char bad[] = W("yesterday", "2025-01-02T04:00:00Z");
	static const char none[] = "{\"explanationURL\":\"https://x/\"}";
	static const char junk[] = "<html>oops";
	time_t s, e;

	(void)state;
	assert_int_equal(acme_ari_window(ok, strlen(ok), &s, &e), KW_OK);
	assert_int_equal(s, 1735790400);
	assert_int_equal(e, 1735790400 + 86400);
	assert_int_equal(acme_ari_window(rev, strlen(rev), &s, &e),
	    KW_ERR_PARSE);
	assert_int_equal(s, 0);
	assert_int_equal(acme_ari_window(eq, strlen(eq), &s, &e), KW_ERR_PARSE);
	assert_int_equal(acme_ari_window(bad, strlen(bad), &s, &e),
	    KW_ERR_PARSE);
	assert_int_equal(acme_ari_window(none, strlen(none), &s, &e),
	    KW_ERR_PARSE);
	assert_int_equal(acme_ari_window(junk, strlen(junk), &s, &e),
	    KW_ERR_PARSE);
}

static void
test_pick(void **state)
{
	uint32_t r;

	(void)state;
	/* passed: now */
	assert_int_equal(acme_ari_pick(100, 200, 500, 7), 500);
	assert_int_equal(acme_ari_pick(100, 200, 200, 7), 200);
	/* ahead: inside [start, end) */
	for (r = 0; r < 1000; r += 37) {
		time_t t = acme_ari_pick(1000, 2000, 10, r * 7919u);

		assert_true(t >= 1000 && t < 2000);
	}
	/* started: between now and end */
	for (r = 0; r < 1000; r += 37) {
		time_t t = acme_ari_pick(1000, 2000, 1500, r * 7919u);

		assert_true(t >= 1500 && t < 2000);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certid_rfc),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
