# Tests for attest/'s event-log side (issue 12): the UEFI event log parser
# and replay, the posture policy file and claim checks, the OS facts
# (cmocka, logs from tests/tpm/make_eventlog.py); the replay against a
# swtpm's PCRs and `keyward posture` (tests/tpm/eventlog_swtpm.sh); the
# parsers' fuzz harnesses (tests/fuzz/fuzz_eventlog.c, fuzz_policy.c).
check_PROGRAMS += tests/unit/test_eventlog
TESTS += tests/unit/test_eventlog
tests_unit_test_eventlog_SOURCES = tests/unit/test_eventlog.c
tests_unit_test_eventlog_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_eventlog_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS) \
	$(CMOCKA_LIBS)

TESTS += tests/tpm/eventlog_swtpm.sh
# keyward posture --ak: EK identity, a checked quote, the log against it
TESTS += tests/tpm/posture_tpm.sh

# The parsers' fuzz harnesses: corpus + mutation runners under make check,
# libFuzzer binaries with `make fuzz-build` (tests/fuzz.mk).
check_PROGRAMS += tests/fuzz/fuzz_eventlog tests/fuzz/fuzz_policy
TESTS += tests/fuzz/fuzz_eventlog tests/fuzz/fuzz_policy
tests_fuzz_fuzz_eventlog_SOURCES = tests/fuzz/fuzz_eventlog.c \
	tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_eventlog_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS)
tests_fuzz_fuzz_policy_SOURCES = tests/fuzz/fuzz_policy.c \
	tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_policy_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS)
