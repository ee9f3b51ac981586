# tests/: keyward's test suite, one fragment per area (tests/<area>.mk lists
# that area's TESTS, check_PROGRAMS and EXTRA_DIST).
#   unit/      cmocka unit tests, one per module; mocks (-Wl,--wrap) only
#              for error paths real components cannot produce on demand
#   lib/       fixtures.sh: the one place integration scripts start swtpm,
#              SoftHSM2, test CAs, openssl s_server, nginx, stunnel and
#              keyward (free ports on 127.0.0.1, stopped by PID, a private
#              temp dir removed at exit and nothing else); fixtures_test.sh
#              checks that clean-up
#   <area>/    integration scripts against real components (tpm, pkcs11,
#              tls, enroll, tunnel), an area's lib.sh (its names for the
#              fixtures), hostile peers (python3), test-only programs
#   fuzz/      fuzz harnesses (a corpus runner under make check)
# Tests may include any module's headers (and tests/unit/soft_key.h, a
# software key for unit tests only); nothing outside tests/ includes them.
# A test writes only below its temp dir or the build tree, never the source
# tree (scripts/check fails naming any file one leaves there).
TESTS += tests/lib/fixtures_test.sh

# `make check-quick` (scripts/check --quick): the suite without
# KW_SLOW_TESTS, the tests that wait for real time to pass (certificates
# ageing into renewal, deadlines, handshake timeouts) or take over 20 s;
# for the edit-compile-test loop.  A new test like that goes here too.
KW_SLOW_TESTS = tests/enroll/est_renew_watch.sh tests/enroll/est_daemon.sh \
	tests/enroll/est_deadline.sh tests/tunnel/flood.sh tests/tls/strict.sh \
	tests/tunnel/idle_memory.sh \
	tests/tls/stall.sh tests/enroll/renew_ca_faults.sh \
	tests/enroll/renew_disk_full.sh tests/enroll/renew_kill_loop.sh \
	tests/enroll/scep_daemon.sh \
	tests/tunnel/posture.sh tests/daemon/signer.sh tests/daemon/signer_soak.sh \
	tests/daemon/landlock.sh tests/daemon/workers.sh
check-quick:
	@quick=; for t in $(TESTS); do \
	  case " $(KW_SLOW_TESTS) " in *" $$t "*) ;; *) quick="$$quick $$t" ;; esac; \
	done; \
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$$quick"
.PHONY: check-quick

EXTRA_DIST += tests/lib tests/tsan.supp
include $(srcdir)/tests/common.mk
include $(srcdir)/tests/tpm.mk
include $(srcdir)/tests/attest.mk
include $(srcdir)/tests/eventlog.mk
include $(srcdir)/tests/pkcs11.mk
include $(srcdir)/tests/tls.mk
include $(srcdir)/tests/enroll.mk
include $(srcdir)/tests/tunnel.mk
include $(srcdir)/tests/daemon.mk
include $(srcdir)/tests/fuzz.mk
