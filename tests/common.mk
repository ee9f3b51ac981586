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

# The DER toolkit (common/kw_der.c).
check_PROGRAMS += tests/unit/test_der
TESTS += tests/unit/test_der
tests_unit_test_der_SOURCES = tests/unit/test_der.c tests/enroll/vectors.h
tests_unit_test_der_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_der_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# The DER toolkit's fuzz harness (issue 10): its corpus and a fixed-seed
# mutation run here (tests/fuzz/fuzz_main.h);
# a libFuzzer binary with `make fuzz-der` (needs clang).
check_PROGRAMS += tests/fuzz/fuzz_der
TESTS += tests/fuzz/fuzz_der
tests_fuzz_fuzz_der_SOURCES = tests/fuzz/fuzz_der.c tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_der_LDADD = $(KW_COMMON_LIBS)

fuzz-der: $(KW_COMMON_LIBS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER \
		$(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(WOLFSSL_CFLAGS) \
		$(top_srcdir)/tests/fuzz/fuzz_der.c \
		$(top_srcdir)/common/kw_der.c \
		$(KW_COMMON_LIBS) -o tests/fuzz/fuzz_der_libfuzzer
.PHONY: fuzz-der
CLEANFILES += tests/fuzz/fuzz_der_libfuzzer

# Cancellation and deadlines (common/kw_cancel.c).
check_PROGRAMS += tests/unit/test_cancel
TESTS += tests/unit/test_cancel
tests_unit_test_cancel_SOURCES = tests/unit/test_cancel.c
tests_unit_test_cancel_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_cancel_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# The signer protocol's codec (issue 13).
check_PROGRAMS += tests/unit/test_signer
TESTS += tests/unit/test_signer
tests_unit_test_signer_SOURCES = tests/unit/test_signer.c
tests_unit_test_signer_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_signer_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
