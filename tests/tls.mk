# Tests for the wolfSSL device, TLS contexts, CSRs and `keyward csr/connect`.
# tests/unit/soft_key.c is a software key for unit tests only: it is never
# part of the keyward binary.
check_PROGRAMS += tests/unit/test_wolf_tls
TESTS += tests/unit/test_wolf_tls
tests_unit_test_wolf_tls_SOURCES = tests/unit/test_wolf_tls.c \
	tests/unit/soft_key.c tests/unit/soft_key.h
tests_unit_test_wolf_tls_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wolf_tls_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# The server-name matcher on its own (common/kw_tls_name.c).
check_PROGRAMS += tests/unit/test_tls_name
TESTS += tests/unit/test_tls_name
tests_unit_test_tls_name_SOURCES = tests/unit/test_tls_name.c
tests_unit_test_tls_name_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tls_name_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# The ServerHello watcher on its own (common/kw_tls_hello.c).
check_PROGRAMS += tests/unit/test_tls_hello
TESTS += tests/unit/test_tls_hello
tests_unit_test_tls_hello_SOURCES = tests/unit/test_tls_hello.c
tests_unit_test_tls_hello_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tls_hello_LDADD = $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_csr
TESTS += tests/unit/test_csr
tests_unit_test_csr_SOURCES = tests/unit/test_csr.c \
	tests/unit/soft_key.c tests/unit/soft_key.h
tests_unit_test_csr_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_csr_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# Integration against swtpm and openssl s_server.
EXTRA_DIST += tests/tls
TESTS += tests/tls/connect.sh

# Handshake-rate measurement (built by make check, not run as a test):
# tests/tls/bench.sh.
check_PROGRAMS += tests/tls/hs_bench
tests_tls_hs_bench_SOURCES = tests/tls/hs_bench.c \
	tests/tls/hs_lib.c tests/tls/hs_lib.h \
	tests/unit/soft_key.c tests/unit/soft_key.h
tests_tls_hs_bench_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(TSS2_CFLAGS)
tests_tls_hs_bench_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS)

# Strict verification (issue 9): names (names.sh); signature algorithms,
# groups, renegotiation, refusal messages (strict.sh); against openssl,
# gnutls, hostile peers (sigalg_peer.py) and a plain wolfSSL peer
# (tests/tls/wolf_peer.c, software keys, test-only).
check_PROGRAMS += tests/tls/wolf_peer
tests_tls_wolf_peer_SOURCES = tests/tls/wolf_peer.c
tests_tls_wolf_peer_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS)
tests_tls_wolf_peer_LDADD = $(WOLFSSL_LIBS)
TESTS += tests/tls/names.sh tests/tls/strict.sh
# A server that stalls the handshake (tests/tls/stall_server.py).
TESTS += tests/tls/stall.sh
# TLS 1.3 resumption without (EC)DHE refused (gnutls-serv preferring psk_ke).
TESTS += tests/tls/psk.sh

# Fuzz harness for the ServerHello watcher and the name matcher: a
# mutation run here; a libFuzzer binary with `make fuzz-tls-hello` (clang).
check_PROGRAMS += tests/fuzz/fuzz_tls_hello
TESTS += tests/fuzz/fuzz_tls_hello
tests_fuzz_fuzz_tls_hello_SOURCES = tests/fuzz/fuzz_tls_hello.c
tests_fuzz_fuzz_tls_hello_LDADD = $(KW_COMMON_LIBS)

fuzz-tls-hello: $(KW_COMMON_LIBS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER \
		$(DEFAULT_INCLUDES) $(AM_CPPFLAGS) \
		$(top_srcdir)/tests/fuzz/fuzz_tls_hello.c \
		$(top_srcdir)/common/kw_tls_hello.c \
		$(top_srcdir)/common/kw_tls_name.c \
		$(KW_COMMON_LIBS) $(WOLFSSL_LIBS) -o tests/fuzz/fuzz_tls_hello_libfuzzer
.PHONY: fuzz-tls-hello
CLEANFILES += tests/fuzz/fuzz_tls_hello_libfuzzer
