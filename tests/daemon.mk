# Tests for the daemon (agent/daemon, agent/conf): control socket, the
# warnings of `keyward run --check`.  Shared set-up in tests/daemon/lib.sh.
EXTRA_DIST += tests/daemon
TESTS += tests/daemon/control_leak.sh tests/daemon/check_warnings.sh \
	tests/daemon/no_test_hooks.sh tests/daemon/signer.sh \
	tests/daemon/signer_soak.sh tests/daemon/sign_rate_log.sh \
	tests/daemon/landlock.sh tests/daemon/workers.sh

# Benchmark (built by make check, not run as a test): bench/signer.
check_PROGRAMS += bench/signer_hs
bench_signer_hs_SOURCES = bench/signer_hs.c agent/identity/test_hooks.c \
	tests/tls/hs_lib.c tests/tls/hs_lib.h \
	tests/unit/soft_key.c tests/unit/soft_key.h
bench_signer_hs_CFLAGS = $(KW_AGENT_CFLAGS)
bench_signer_hs_LDADD = $(KW_AGENT_LDADD)
