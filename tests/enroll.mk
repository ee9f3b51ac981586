# Tests for enroll/ (EST client, parsers, renewal scheduling) and the
# enrollment/renewal commands.  The EST test server is
# tests/enroll/est_server.py (python3 stdlib + the openssl CLI).
KW_EST_UNIT_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
KW_EST_UNIT_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)

check_PROGRAMS += tests/unit/test_pkcs7 tests/unit/test_http \
	tests/unit/test_est_sched
TESTS += tests/unit/test_pkcs7 tests/unit/test_http tests/unit/test_est_sched
tests_unit_test_pkcs7_SOURCES = tests/unit/test_pkcs7.c tests/enroll/vectors.h
tests_unit_test_pkcs7_CFLAGS = $(KW_EST_UNIT_CFLAGS)
tests_unit_test_pkcs7_LDADD = $(KW_EST_UNIT_LDADD)
tests_unit_test_http_SOURCES = tests/unit/test_http.c
tests_unit_test_http_CFLAGS = $(KW_EST_UNIT_CFLAGS)
tests_unit_test_http_LDADD = $(KW_EST_UNIT_LDADD)
tests_unit_test_est_sched_SOURCES = tests/unit/test_est_sched.c
tests_unit_test_est_sched_CFLAGS = $(KW_EST_UNIT_CFLAGS)
tests_unit_test_est_sched_LDADD = $(KW_EST_UNIT_LDADD)

# Identity state files and config sections (agent/identity*.c): linked
# with the agent's key references, hence with both backends.
check_PROGRAMS += tests/unit/test_est_identity
TESTS += tests/unit/test_est_identity
tests_unit_test_est_identity_SOURCES = tests/unit/test_est_identity.c \
	agent/identity/identity.c agent/identity/identity_conf.c \
	agent/identity/identity_enroll.c agent/identity/identity_acme.c \
	agent/identity/identity_scep.c \
	agent/identity/identity_runner.c \
	agent/identity/renew.c agent/identity/test_hooks.c \
	agent/keys/keyref.c agent/keys/pin.c
tests_unit_test_est_identity_CFLAGS = $(KW_EST_UNIT_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_est_identity_LDADD = $(KW_ENROLL_LIBS) $(KW_TPM_LIBS) \
	$(KW_P11_LIBS) $(KW_COMMON_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS) $(LIBS)

# The parsers' fuzz harness (a fixed-seed mutation run unless built with
# libFuzzer: see the file).
check_PROGRAMS += tests/enroll/fuzz_est
TESTS += tests/enroll/fuzz_est
tests_enroll_fuzz_est_SOURCES = tests/enroll/fuzz_est.c tests/fuzz/fuzz_main.h
tests_enroll_fuzz_est_CFLAGS = $(AM_CFLAGS)
tests_enroll_fuzz_est_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS)

EXTRA_DIST += tests/enroll

TESTS += tests/enroll/est_enroll.sh tests/enroll/est_softhsm.sh \
	tests/enroll/est_renew_watch.sh tests/enroll/est_daemon.sh \
	tests/enroll/est_cancel.sh tests/enroll/est_deadline.sh
TESTS += tests/enroll/est_quirks.sh
# Faults during renewal in the daemon: the CA down, answering garbage, slow.
TESTS += tests/enroll/renew_ca_faults.sh
# The disk full (a small tmpfs) while the daemon renews.
TESTS += tests/enroll/renew_disk_full.sh
# SIGKILL at every step of a renewal in the daemon, twice over.
TESTS += tests/enroll/renew_kill_loop.sh
# Proof-of-possession linking, re-enrollment with HTTP Basic, absolute
# paths in identity state files (issue 9: 21-23).
TESTS += tests/enroll/est_pop.sh tests/enroll/est_reenroll_auth.sh \
	tests/enroll/est_paths.sh
# Key attestation in the CSR (issue 12, at enrollment).
TESTS += tests/enroll/est_attest.sh

# ACME against pebble.
TESTS += tests/enroll/acme_pebble.sh tests/enroll/acme_http01.sh \
	tests/enroll/acme_hostile.sh

# SCEP against micromdm's scepserver and a hostile server (private network
# namespace: scepserver binds every address).
TESTS += tests/enroll/scep_enroll.sh tests/enroll/scep_hostile.sh \
	tests/enroll/scep_daemon.sh

# SCEP's messages: our SignedData checked by wolfCrypt's PKCS#7 verifier,
# envelopes both ways, the CertRep reader's refusals.
check_PROGRAMS += tests/unit/test_scep
TESTS += tests/unit/test_scep
tests_unit_test_scep_SOURCES = tests/unit/test_scep.c \
	tests/unit/soft_key.c tests/unit/soft_key.h
tests_unit_test_scep_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_scep_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# ACME's JWS, JWK and base64url, checked with wolfCrypt's verifiers.
check_PROGRAMS += tests/unit/test_acme
TESTS += tests/unit/test_acme
tests_unit_test_acme_SOURCES = tests/unit/test_acme.c \
	tests/unit/soft_key.c tests/unit/soft_key.h
tests_unit_test_acme_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(CMOCKA_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_unit_test_acme_LDADD = $(KW_ENROLL_LIBS) $(KW_COMMON_LIBS) \
	$(JANSSON_LIBS) $(CMOCKA_LIBS)
