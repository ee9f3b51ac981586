/* Unit tests for the server-name matcher (common/kw_tls_name.c): RFC 6125
 * wildcards as OpenSSL applies them without partial wildcards.  The
 * certificate side (SANs, CN, IP addresses) is tested against real servers
 * in tests/tls/strict.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kw_tls_name.h"

static int
match(const char *pattern, const char *host)
{
	return kw_dns_name_match(pattern, strlen(pattern), host);
}

static void
test_exact(void **state)
{
	(void)state;
	assert_true(match("www.example.com", "www.example.com"));
	assert_true(match("WWW.Example.COM", "www.example.com"));
	assert_true(match("www.example.com", "www.example.com."));
	assert_true(match("localhost", "localhost"));
	assert_false(match("www.example.com", "example.com"));
	assert_false(match("example.com", "www.example.com"));
	assert_false(match("www.example.com", "www.example.co"));
	assert_false(match("", "example.com"));
	assert_false(match("a..example.com", "a..example.com"));
	assert_false(match(".example.com", ".example.com"));
	assert_false(match("example.com.", "example.com"));
	/* a NUL inside a SAN never matches */
	assert_false(kw_dns_name_match("evil.com\0.example.com", 21,
	    "evil.com"));
}

static void
test_wildcard_good(void **state)
{
	(void)state;
	assert_true(match("*.example.com", "www.example.com"));
	assert_true(match("*.EXAMPLE.com", "WWW.example.com"));
	assert_true(match("*.svc.example", "x.svc.example"));
	assert_true(match("*.example.com", "www.example.com."));
}

static void
test_wildcard_one_label(void **state)
{
	(void)state;
	assert_false(match("*.example.com", "example.com"));
	assert_false(match("*.example.com", "a.b.example.com"));
	assert_false(match("*.example.com", ".example.com"));
}

static void
test_wildcard_refused(void **state)
{
	(void)state;
	/* issue 9, item 7: each of these matched before */
	assert_false(match("*", "localhost"));
	assert_false(match("*", "example.com"));
	assert_false(match("*.com", "example.com"));
	assert_false(match("*.example", "foo.example"));
	assert_false(match("svc.*.example", "svc.a.example"));
	assert_false(match("f*.example", "foo.example"));
	/* and these */
	assert_false(match("f*.example.com", "foo.example.com"));
	assert_false(match("*o.example.com", "foo.example.com"));
	assert_false(match("*.*.example.com", "a.b.example.com"));
	assert_false(match("**.example.com", "a.example.com"));
	assert_false(match("www.example.*", "www.example.com"));
	assert_false(match("*.", "a."));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_wildcard_good),
		cmocka_unit_test(test_wildcard_one_label),
		cmocka_unit_test(test_wildcard_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
