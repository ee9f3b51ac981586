# attest/: the verifier of TPM 2.0 evidence (issue 12): key attestation
# (TPM2_Certify), posture (TPM2_Quote), EK certificate chains, credential
# activation's verifier half (MakeCredential in software), the AK-to-EK
# binding store and the CBOR evidence message; the UEFI firmware event log
# (eventlog.c: parse, replay into the sha256 bank, claims), the OS facts the
# TPM does not measure (osfacts.c, unattested) and the posture policy file
# with the check of claims against it (policy.c).  See attest/README.md.
# May include: common/ (kw_error, kw_log, kw_mem, kw_der), wolfSSL
# (wolfCrypt, the certificate manager), libtss2-mu, libcbor, libinih (the
# policy file).  Not tpm/ (it verifies; it never talks to a TPM), not
# enroll/ or agent/.
noinst_LIBRARIES += attest/libkwattest.a
attest_libkwattest_a_SOURCES = \
	attest/attest.h attest/attest_int.h \
	attest/attest_tpm.c attest/attest_ek.c attest/attest_cred.c \
	attest/attest_bind.c attest/attest_cbor.c attest/attest_verify.c \
	attest/posture_msg.c attest/posture_msg.h \
	attest/eventlog.c attest/eventlog.h \
	attest/osfacts.c attest/osfacts.h \
	attest/policy.c attest/policy.h
attest_libkwattest_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(TSS2_CFLAGS) \
	$(CBOR_CFLAGS) $(INIH_CFLAGS)
KW_ATTEST_LIBS = attest/libkwattest.a $(TSS2_LIBS) $(CBOR_LIBS) $(INIH_LIBS) \
	$(WOLFSSL_LIBS)
EXTRA_DIST += attest/README.md
dist_man_MANS += man/keyward-attestation.7
