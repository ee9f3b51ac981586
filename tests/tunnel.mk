# Tests for the tunnels and the daemon (agent/conf, agent/tunnel, agent/daemon;
# `keyward tunnel|run|status`).
KW_CONFIG_SRC = agent/conf/config.c agent/conf/config.h \
	agent/identity/identity_conf.c \
	tests/unit/config_stubs.c

check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c $(KW_CONFIG_SRC)
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(INIH_CFLAGS) \
	$(WOLFSSL_CFLAGS) $(TSS2_CFLAGS)
tests_unit_test_config_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) \
	$(INIH_LIBS) $(CMOCKA_LIBS)

# The server tunnels' ClientHello reader (untrusted bytes).
check_PROGRAMS += tests/unit/test_tunnel_hello
TESTS += tests/unit/test_tunnel_hello
tests_unit_test_tunnel_hello_SOURCES = tests/unit/test_tunnel_hello.c \
	agent/tunnel/tunnel_hello.c agent/tunnel/tunnel_hello.h
tests_unit_test_tunnel_hello_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tunnel_hello_LDADD = $(CMOCKA_LIBS)

# The config parser's fuzz harness: a corpus runner here; a libFuzzer
# binary with `make fuzz-config` (needs clang).
check_PROGRAMS += tests/fuzz/fuzz_config
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(KW_CONFIG_SRC)
tests_fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) \
	$(WOLFSSL_CFLAGS) $(TSS2_CFLAGS)
tests_fuzz_fuzz_config_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(INIH_LIBS)

fuzz-config: $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER \
		$(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(WOLFSSL_CFLAGS) \
		$(top_srcdir)/tests/fuzz/fuzz_config.c \
		$(top_srcdir)/agent/conf/config.c \
		$(top_srcdir)/agent/identity/identity_conf.c \
		$(top_srcdir)/tests/unit/config_stubs.c \
		$(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(INIH_LIBS) $(WOLFSSL_LIBS) \
		$(SYSTEMD_LIBS) -o tests/fuzz/fuzz_config_libfuzzer
.PHONY: fuzz-config

EXTRA_DIST += tests/tunnel tests/fuzz

# Integration: nginx, openssl s_server, stunnel, curl as peers; the daemon
# (reload under load, status, metrics, sd_notify, 1000 connections).
TESTS += tests/tunnel/peers.sh tests/tunnel/daemon.sh tests/tunnel/flood.sh \
	tests/tunnel/hs_reload.sh tests/tunnel/idle_memory.sh \
	tests/tunnel/posture.sh tests/tunnel/slow_token.sh
