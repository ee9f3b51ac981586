# Fuzz harnesses for the parsers of untrusted input (tests/fuzz/).  Each
# builds two ways:
# - a check program that `make check` runs: its corpus
#   (tests/fuzz/corpus/NAME/) then a fixed-seed mutation run, a few
#   seconds (tests/fuzz/fuzz_main.h);
# - a libFuzzer binary, all of them with `make fuzz-build` (clang; best in
#   a build tree configured with CC=clang and -fsanitize=fuzzer-no-link so
#   the libraries are instrumented too: scripts/fuzz does that in
#   _build/fuzz and runs them).
# The older harnesses (fuzz_der, fuzz_config, tests/enroll/fuzz_est,
# tests/tpm/fuzz_keyfile) are listed with their areas; fuzz-build builds
# them too.
check_PROGRAMS += tests/fuzz/fuzz_http tests/fuzz/fuzz_acme \
	tests/fuzz/fuzz_p11uri tests/fuzz/fuzz_hello tests/fuzz/fuzz_scep \
	tests/fuzz/fuzz_posture tests/fuzz/fuzz_signer
TESTS += tests/fuzz/fuzz_http tests/fuzz/fuzz_acme \
	tests/fuzz/fuzz_p11uri tests/fuzz/fuzz_hello tests/fuzz/fuzz_scep \
	tests/fuzz/fuzz_posture tests/fuzz/fuzz_signer
tests_fuzz_fuzz_posture_SOURCES = tests/fuzz/fuzz_posture.c \
	tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_posture_LDADD = $(KW_ATTEST_LIBS) $(KW_COMMON_LIBS)
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_http_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS)
tests_fuzz_fuzz_acme_SOURCES = tests/fuzz/fuzz_acme.c tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_acme_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS)
tests_fuzz_fuzz_acme_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS)
tests_fuzz_fuzz_scep_SOURCES = tests/fuzz/fuzz_scep.c tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_scep_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS)
tests_fuzz_fuzz_scep_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS)
tests_fuzz_fuzz_p11uri_SOURCES = tests/fuzz/fuzz_p11uri.c \
	tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_p11uri_LDADD = $(KW_P11_LIBS) $(KW_COMMON_LIBS) $(LIBS)
tests_fuzz_fuzz_hello_SOURCES = tests/fuzz/fuzz_hello.c \
	tests/fuzz/fuzz_main.h agent/tunnel/tunnel_hello.c
tests_fuzz_fuzz_hello_LDADD = $(KW_COMMON_LIBS)
tests_fuzz_fuzz_signer_SOURCES = tests/fuzz/fuzz_signer.c tests/fuzz/fuzz_main.h
tests_fuzz_fuzz_signer_LDADD = $(KW_COMMON_LIBS)

# libFuzzer binaries: tests/fuzz/lf/NAME.
FUZZ_CC = clang
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_CPP = -DKW_LIBFUZZER $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) \
	$(WOLFSSL_CFLAGS) $(TSS2_CFLAGS) $(INIH_CFLAGS) $(P11KIT_CFLAGS)
FUZZ_LINK = $(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_CPP)
FUZZ_TARGETS = der config est keyfile http acme p11uri hello attest scep \
	eventlog policy posture signer
fuzz-build: $(KW_ATTEST_LIBS) $(KW_ENROLL_LIBS) $(KW_TPM_LIBS) $(KW_P11_LIBS) $(KW_COMMON_LIBS)
	@mkdir -p tests/fuzz/lf
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_der.c \
		$(KW_COMMON_LIBS) -o tests/fuzz/lf/der
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_config.c \
		$(top_srcdir)/agent/conf/config.c \
		$(top_srcdir)/agent/identity/identity_conf.c \
		$(top_srcdir)/tests/unit/config_stubs.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(INIH_LIBS) -o tests/fuzz/lf/config
	$(FUZZ_LINK) $(top_srcdir)/tests/enroll/fuzz_est.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/est
	$(FUZZ_LINK) $(top_srcdir)/tests/tpm/fuzz_keyfile.c \
		$(KW_TPM_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/keyfile
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_http.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/http
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_acme.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/acme
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_p11uri.c \
		$(KW_P11_LIBS) $(KW_COMMON_LIBS) $(LIBS) -o tests/fuzz/lf/p11uri
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_hello.c \
		$(top_srcdir)/agent/tunnel/tunnel_hello.c \
		$(KW_COMMON_LIBS) -o tests/fuzz/lf/hello
	$(FUZZ_LINK) $(TSS2_CFLAGS) $(CBOR_CFLAGS) \
		$(top_srcdir)/tests/fuzz/fuzz_attest.c \
		$(KW_ATTEST_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/attest
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_scep.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/scep
	$(FUZZ_LINK) $(CBOR_CFLAGS) $(top_srcdir)/tests/fuzz/fuzz_posture.c \
		$(top_srcdir)/attest/posture_msg.c \
		$(KW_COMMON_LIBS) $(CBOR_LIBS) -o tests/fuzz/lf/posture
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_eventlog.c \
		$(KW_ATTEST_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/eventlog
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_policy.c \
		$(KW_ATTEST_LIBS) $(KW_COMMON_LIBS) -o tests/fuzz/lf/policy
	$(FUZZ_LINK) $(top_srcdir)/tests/fuzz/fuzz_signer.c \
		$(KW_COMMON_LIBS) -o tests/fuzz/lf/signer
.PHONY: fuzz-build
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/lf
.PHONY: clean-fuzz
