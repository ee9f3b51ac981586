# Tests for tpm/: cmocka unit tests (the key file parser; ESAPI error paths
# mocked with -Wl,--wrap) and integration scripts against swtpm.
check_PROGRAMS += tests/tpm/tpm_sign
tests_tpm_tpm_sign_SOURCES = tests/tpm/tpm_sign.c
tests_tpm_tpm_sign_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
tests_tpm_tpm_sign_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS)

# The key file parser's fuzz harness (a corpus runner unless built with
# libFuzzer: see the file).
check_PROGRAMS += tests/tpm/fuzz_keyfile
tests_tpm_fuzz_keyfile_SOURCES = tests/tpm/fuzz_keyfile.c
tests_tpm_fuzz_keyfile_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
tests_tpm_fuzz_keyfile_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS)

EXTRA_DIST += tests/tpm
TESTS += tests/tpm/keygen.sh
# Several keyward processes on one swtpm (3 object slots), then through
# tpm2-abrmd.
TESTS += tests/tpm/shared_tpm.sh
# swtpm killed under a handshake loop and started again: the daemon recovers.
TESTS += tests/tpm/swtpm_restart.sh

check_PROGRAMS += tests/unit/test_tpm_keyfile tests/unit/test_tpm_esys
TESTS += tests/unit/test_tpm_keyfile tests/unit/test_tpm_esys
tests_unit_test_tpm_keyfile_SOURCES = tests/unit/test_tpm_keyfile.c
tests_unit_test_tpm_keyfile_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TSS2_CFLAGS)
tests_unit_test_tpm_keyfile_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# ESAPI mocked: every Esys_* / TCTI loader call tpm/ makes on the paths
# under test is wrapped.  The calls every path makes are faked once, in
# tests/unit/esys_mock.c (KW_ESYS_MOCK); each test adds its own.
KW_ESYS_MOCK = tests/unit/esys_mock.c tests/unit/esys_mock.h
KW_ESYS_MOCK_WRAP = -Wl,--wrap=Tss2_TctiLdr_Initialize \
	-Wl,--wrap=Tss2_TctiLdr_Finalize -Wl,--wrap=Esys_Initialize \
	-Wl,--wrap=Esys_Finalize -Wl,--wrap=Esys_GetCapability \
	-Wl,--wrap=Esys_CreatePrimary -Wl,--wrap=Esys_Load \
	-Wl,--wrap=Esys_FlushContext -Wl,--wrap=Esys_TR_Close \
	-Wl,--wrap=Esys_TR_SetAuth -Wl,--wrap=Esys_ContextSave \
	-Wl,--wrap=Esys_ContextLoad -Wl,--wrap=Esys_TR_GetTpmHandle
KW_TPM_WRAP = $(KW_ESYS_MOCK_WRAP) -Wl,--wrap=Esys_Sign \
	-Wl,--wrap=Esys_TR_FromTPMPublic -Wl,--wrap=Esys_ReadPublic \
	-Wl,--wrap=Esys_StartAuthSession -Wl,--wrap=Esys_TRSess_SetAttributes \
	-Wl,--wrap=Esys_LoadExternal -Wl,--wrap=Esys_RSA_Encrypt \
	-Wl,--wrap=Esys_Hash
tests_unit_test_tpm_esys_SOURCES = tests/unit/test_tpm_esys.c $(KW_ESYS_MOCK)
tests_unit_test_tpm_esys_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TSS2_CFLAGS)
tests_unit_test_tpm_esys_LDFLAGS = $(AM_LDFLAGS) $(KW_TPM_WRAP)
tests_unit_test_tpm_esys_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)

# Decryption by the token (issue 11, SCEP): keygen --usage sign,decrypt in
# swtpm and SoftHSM2, through the key references (agent/keys).
check_PROGRAMS += tests/tpm/decrypt_probe
tests_tpm_decrypt_probe_SOURCES = tests/tpm/decrypt_probe.c
tests_tpm_decrypt_probe_CFLAGS = $(KW_AGENT_CFLAGS)
tests_tpm_decrypt_probe_LDADD = $(KW_AGENT_LDADD)
TESTS += tests/tpm/decrypt.sh

# Attestation (issue 12): keyward attest against a swtpm with EK
# certificates, cross-checked with tpm2-tools and openssl.
check_PROGRAMS += tests/tpm/pcrs_serialize
tests_tpm_pcrs_serialize_SOURCES = tests/tpm/pcrs_serialize.c
tests_tpm_pcrs_serialize_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
TESTS += tests/tpm/attest.sh

# tpm_attest.c's paths swtpm cannot produce on demand (PCRs extended during
# a quote), ESAPI mocked.
check_PROGRAMS += tests/unit/test_tpm_attest
TESTS += tests/unit/test_tpm_attest
tests_unit_test_tpm_attest_SOURCES = tests/unit/test_tpm_attest.c \
	$(KW_ESYS_MOCK)
tests_unit_test_tpm_attest_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(TSS2_CFLAGS)
tests_unit_test_tpm_attest_LDFLAGS = $(AM_LDFLAGS) $(KW_ESYS_MOCK_WRAP) \
	-Wl,--wrap=Esys_PCR_Read -Wl,--wrap=Esys_Quote
tests_unit_test_tpm_attest_LDADD = $(KW_TPM_LIBS) $(KW_COMMON_LIBS) $(CMOCKA_LIBS)
