# Tests for attest/ (issue 12): cmocka unit tests (names, refusals, the
# evidence codec, KDFa), the evidence fuzz harness, and the verifier against
# swtpm + tpm2-tools evidence (tests/attest/attest_verify.sh).
check_PROGRAMS += tests/attest/attest_tool
tests_attest_attest_tool_SOURCES = tests/attest/attest_tool.c
tests_attest_attest_tool_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS)

check_PROGRAMS += tests/unit/test_attest
TESTS += tests/unit/test_attest
tests_unit_test_attest_SOURCES = tests/unit/test_attest.c tests/unit/attest_vectors.h
tests_unit_test_attest_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TSS2_CFLAGS)
tests_unit_test_attest_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS) \
	$(CMOCKA_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_attest
TESTS += tests/fuzz/fuzz_attest
tests_fuzz_fuzz_attest_SOURCES = tests/fuzz/fuzz_attest.c \
	tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_attest_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
tests_fuzz_fuzz_attest_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS)

EXTRA_DIST += tests/attest
TESTS += tests/attest/attest_verify.sh
