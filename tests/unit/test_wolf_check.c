/* Unit tests for the wolfSSL start-up self-check (common/kw_wolf_check.c):
 * the comparison logic on made-up facts, and the real probes against the
 * library this test is linked with (Debian's or a private build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_wolf.h"
#include "kw_wolf_check.h"

/* What Debian 12's libwolfssl 5.5.4 and the private AES-NI build look like
 * (sizes measured on x86_64). */
static const struct kw_wolf_facts debian = {
	"5.5.4", 0x05005004, 0, 0, 184, 1,
};
static const struct kw_wolf_facts private_build = {
	"5.5.4", 0x05005004, 1, 1, 784, 1,
};

static void
test_same_build_passes(void **state)
{
	char why[512];

	(void)state;
	assert_int_equal(kw_wolf_check_compare(&debian, &debian, why,
	    sizeof(why)), KW_OK);
	assert_string_equal(why, "");
	assert_int_equal(kw_wolf_check_compare(&private_build, &private_build,
	    why, sizeof(why)), KW_OK);
}

static void
test_unknown_runtime_options_are_not_held_against(void **state)
{
	struct kw_wolf_facts run = private_build;
	char why[512];

	(void)state;
	run.aesni = -1;		/* CPU without AES-NI: cannot tell */
	run.intelasm = -1;	/* never measurable at run time */
	assert_int_equal(kw_wolf_check_compare(&private_build, &run, why,
	    sizeof(why)), KW_OK);
}

static void
test_debian_headers_with_private_library(void **state)
{
	struct kw_wolf_facts run = private_build;
	char why[512];

	(void)state;
	run.intelasm = -1;
	assert_int_equal(kw_wolf_check_compare(&debian, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "compiled against wolfSSL 5.5.4"));
	assert_non_null(strstr(why, "184 bytes"));
	assert_non_null(strstr(why, "runs with wolfSSL 5.5.4"));
	assert_non_null(strstr(why, "784 bytes"));
	assert_non_null(strstr(why, "struct layouts differ"));
	assert_non_null(strstr(why, "rebuild keyward"));
	assert_non_null(strstr(why, "do not mix"));
}

static void
test_private_headers_with_debian_library(void **state)
{
	struct kw_wolf_facts run = debian;
	char why[512];

	(void)state;
	run.aesni = 0;
	run.intelasm = -1;
	assert_int_equal(kw_wolf_check_compare(&private_build, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "AES-NI yes"));
	assert_non_null(strstr(why, "AES-NI no"));
}

static void
test_aesni_only_difference(void **state)
{
	struct kw_wolf_facts run = private_build;
	char why[512];

	(void)state;
	run.aesni = 0;
	assert_int_equal(kw_wolf_check_compare(&private_build, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "(AES-NI)"));
}

static void
test_version_difference(void **state)
{
	struct kw_wolf_facts run = debian;
	char why[512];

	(void)state;
	run.version = "5.6.0";
	run.version_hex = 0x05006000;
	assert_int_equal(kw_wolf_check_compare(&debian, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "runs with wolfSSL 5.6.0"));
	assert_non_null(strstr(why, "different version"));
	run.version = NULL;
	assert_int_equal(kw_wolf_check_compare(&debian, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "wolfSSL unknown"));
}

static void
test_failed_known_answer(void **state)
{
	struct kw_wolf_facts run = debian;
	char why[512];

	(void)state;
	run.kat_ok = 0;
	assert_int_equal(kw_wolf_check_compare(&debian, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_non_null(strstr(why, "known-answer"));
}

static void
test_short_buffer_is_terminated(void **state)
{
	struct kw_wolf_facts run = private_build;
	char why[16];

	(void)state;
	assert_int_equal(kw_wolf_check_compare(&debian, &run, why,
	    sizeof(why)), KW_ERR_TLS);
	assert_int_equal(strlen(why), sizeof(why) - 1);
}

/* A dpkg status file in a temp dir; returns its path (static buffer). */
static const char *
status_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/kwwolfstatus.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_debian_version_from_dpkg_status(void **state)
{
	const char *p;
	char v[64];

	(void)state;
	p = status_file(
	    "Package: libfoo1\nStatus: install ok installed\n"
	    "Source: foo\nVersion: 1.0-1\n\n"
	    "Package: libwolfssl-dev\nStatus: deinstall ok config-files\n"
	    "Source: wolfssl\nVersion: 5.5.4-2+deb12u1\n\n"
	    "Package: libwolfssl35\nStatus: install ok installed\n"
	    "Priority: optional\nSource: wolfssl\n"
	    "Version: 5.5.4-2+deb12u4\nDescription: x\n continued\n");
	assert_int_equal(kw_wolf_debian_version(p, v, sizeof(v)), KW_OK);
	assert_string_equal(v, "5.5.4-2+deb12u4");
	unlink(p);

	/* binNMU: the source version is in parentheses. */
	p = status_file("Package: libwolfssl35\nStatus: install ok installed\n"
	    "Source: wolfssl (5.5.4-2+deb12u3)\nVersion: 5.5.4-2+deb12u3+b1\n");
	assert_int_equal(kw_wolf_debian_version(p, v, sizeof(v)), KW_OK);
	assert_string_equal(v, "5.5.4-2+deb12u3");
	unlink(p);

	p = status_file("Package: libfoo1\nStatus: install ok installed\n"
	    "Source: wolfssl-not\nVersion: 1\n");
	assert_int_equal(kw_wolf_debian_version(p, v, sizeof(v)),
	    KW_ERR_NOT_FOUND);
	assert_string_equal(v, "");
	unlink(p);
	assert_int_equal(kw_wolf_debian_version("/nonexistent/status", v,
	    sizeof(v)), KW_ERR_NOT_FOUND);
}

static void
test_private_build_stale_after_security_update(void **state)
{
	const char *p;
	char why[512];

	(void)state;
	p = status_file("Package: libwolfssl35\nStatus: install ok installed\n"
	    "Source: wolfssl\nVersion: 5.5.4-2+deb12u4\n");
	assert_int_equal(kw_wolf_private_stale("5.5.4-2+deb12u3",
	    "/opt/kw/wolfssl", p, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "built from Debian's wolfssl 5.5.4-2+deb12u3"));
	assert_non_null(strstr(why, "5.5.4-2+deb12u4 is installed"));
	assert_non_null(strstr(why, "scripts/build-wolfssl /opt/kw/wolfssl"));
	assert_int_equal(kw_wolf_private_stale("5.5.4-2+deb12u4",
	    "/opt/kw/wolfssl", p, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* The Debian-package build follows Debian by itself. */
	assert_int_equal(kw_wolf_private_stale(NULL, NULL, p, why,
	    sizeof(why)), 0);
	unlink(p);
	/* No wolfssl package installed: nothing to compare with. */
	assert_int_equal(kw_wolf_private_stale("5.5.4-2+deb12u3", NULL,
	    "/nonexistent/status", why, sizeof(why)), 0);
}

/* The probes against the real library this program is linked with: the
 * build under test must be consistent, and the probes must see exactly what
 * the headers say. */
static void
test_real_library_matches(void **state)
{
	struct kw_wolf_facts built, run;

	(void)state;
	kw_wolf_facts_built(&built);
	assert_int_equal(kw_wolf_facts_running(&run), KW_OK);
	assert_string_equal(run.version, LIBWOLFSSL_VERSION_STRING);
	assert_int_equal(run.version_hex, LIBWOLFSSL_VERSION_HEX);
	assert_int_equal(run.aead_size, sizeof(ChaChaPoly_Aead));
	assert_int_equal(built.aead_size, sizeof(ChaChaPoly_Aead));
	assert_true(run.kat_ok);
#ifdef WOLFSSL_AESNI
	assert_int_not_equal(run.aesni, 0);
#else
	assert_int_equal(run.aesni, -1);
#endif
	assert_int_equal(kw_wolf_selfcheck(), KW_OK);
	assert_int_equal(kw_wolf_init(), KW_OK);
	kw_wolf_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_build_passes),
		cmocka_unit_test(test_unknown_runtime_options_are_not_held_against),
		cmocka_unit_test(test_debian_headers_with_private_library),
		cmocka_unit_test(test_private_headers_with_debian_library),
		cmocka_unit_test(test_aesni_only_difference),
		cmocka_unit_test(test_version_difference),
		cmocka_unit_test(test_failed_known_answer),
		cmocka_unit_test(test_short_buffer_is_terminated),
		cmocka_unit_test(test_debian_version_from_dpkg_status),
		cmocka_unit_test(test_private_build_stale_after_security_update),
		cmocka_unit_test(test_real_library_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
