# Unit tests for common/ (cmocka).
check_PROGRAMS += tests/unit/test_common
TESTS += tests/unit/test_common
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_common_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
# Secret files, URI redaction, the memory of refused PINs.
check_PROGRAMS += tests/unit/test_secret
TESTS += tests/unit/test_secret
tests_unit_test_secret_SOURCES = tests/unit/test_secret.c
tests_unit_test_secret_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_secret_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
# The wolfSSL self-check (issue 6) and the build's wolfSSL hygiene.
check_PROGRAMS += tests/unit/test_wolf_check
TESTS += tests/unit/test_wolf_check tests/wolf_include_order.sh tests/wolf_private_build.sh
tests_unit_test_wolf_check_SOURCES = tests/unit/test_wolf_check.c
tests_unit_test_wolf_check_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wolf_check_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests/wolf_include_order.sh tests/wolf_private_build.sh
