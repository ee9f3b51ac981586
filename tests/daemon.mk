# Tests for the daemon (agent/daemon, agent/conf): control socket, the
# warnings of `keyward run --check`.  Shared set-up in tests/daemon/lib.sh.
EXTRA_DIST += tests/daemon
TESTS += tests/daemon/control_leak.sh tests/daemon/check_warnings.sh \
	tests/daemon/no_test_hooks.sh tests/daemon/signer.sh
