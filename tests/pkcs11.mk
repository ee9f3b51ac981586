# Tests for pkcs11/: cmocka unit tests (URI parser, CK_RV translator, DER),
# a test-only shim module over SoftHSM2 for what real tokens cannot do on
# demand (locked PIN, final try, PIN pad, pulled card, counting C_Login),
# and integration scripts against SoftHSM2, OpenSC and tpm2-pkcs11/swtpm.
check_PROGRAMS += tests/unit/test_p11
TESTS += tests/unit/test_p11
tests_unit_test_p11_SOURCES = tests/unit/test_p11.c
tests_unit_test_p11_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(P11KIT_CFLAGS)
tests_unit_test_p11_LDADD = $(KW_P11_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS) $(LIBS)

# A long-running key user for the removal tests.
check_PROGRAMS += tests/pkcs11/p11_probe
tests_pkcs11_p11_probe_SOURCES = tests/pkcs11/p11_probe.c
tests_pkcs11_p11_probe_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
tests_pkcs11_p11_probe_LDADD = $(KW_P11_LIBS) $(KW_COMMON_LIBS) $(LIBS)

# The shim module: a plain shared object, not instrumented, so that any
# process (sanitized or not) can load it.
check_PROGRAMS += tests/pkcs11/libkwshim.so
tests_pkcs11_libkwshim_so_SOURCES = tests/pkcs11/p11_shim.c
tests_pkcs11_libkwshim_so_CFLAGS = -fPIC -Wall -Wextra $(P11KIT_CFLAGS)
tests_pkcs11_libkwshim_so_LDFLAGS = -shared
tests_pkcs11_libkwshim_so_LDADD = $(LIBS)

EXTRA_DIST += tests/pkcs11
TESTS += tests/pkcs11/softhsm.sh tests/pkcs11/tpm2.sh
# The SoftHSM2 token directory moved away under a tunnel daemon and back.
TESTS += tests/pkcs11/softhsm_tokendir.sh
# Review fixes (issue 9): refused PINs, re-login, secrets, certificates on
# the token, token presence.
TESTS += tests/pkcs11/pin_memory.sh tests/pkcs11/secrets.sh tests/pkcs11/token_cert.sh \
	tests/pkcs11/est_token_cert.sh

# Benchmark (built by make check, not run as a test): bench/p11_sign_rate.sh
check_PROGRAMS += bench/p11_sign_rate
bench_p11_sign_rate_SOURCES = bench/p11_sign_rate.c
bench_p11_sign_rate_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
bench_p11_sign_rate_LDADD = $(KW_P11_LIBS) $(KW_COMMON_LIBS) $(LIBS)
# Decryption by the token for SCEP (issue 11; its probe is
# tests/tpm/decrypt_probe, built in tests/tpm.mk).
TESTS += tests/pkcs11/decrypt.sh tests/pkcs11/decrypt_tpm2.sh
