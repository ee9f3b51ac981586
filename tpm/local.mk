# tpm/: the TPM 2.0 key backend (tpm2-tss ESAPI).  Owns creating keys
# inside the TPM (keygen), the TSS2 PRIVATE KEY file format (tpm_keyfile.c),
# reading public keys, signing digests, and translating every TSS2_RC in
# one place (tpm_rc.c).  Offers itself to the rest only as a kw_key backend
# (tpm_key.h) and, for attestation (issue 12), as tpm_attest.h: EK
# certificates and the EK, the attestation key, Certify, Quote and
# ActivateCredential, in the TPM's wire formats (also on a TPM key's own
# connection: tpm_attest_with_key).  Every connection goes through a TCTI
# that counts the commands sent (tpm_tcti_count.c).  tpm_int.h is for tpm/
# alone.
# May include: common/ (kw_error, kw_log, kw_mem, kw_key) and tpm2-tss.  Not
# wolfSSL or TLS, not pkcs11/, enroll/ or agent/.
noinst_LIBRARIES += tpm/libkwtpm.a
tpm_libkwtpm_a_SOURCES = \
	tpm/tpm_key.c tpm/tpm_key.h tpm/tpm_int.h \
	tpm/tpm_keyfile.c tpm/tpm_pubkey.c tpm/tpm_rc.c tpm/tpm_tcti_count.c \
	tpm/tpm_attest.c tpm/tpm_attest.h
tpm_libkwtpm_a_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
KW_TPM_LIBS = tpm/libkwtpm.a $(TSS2_LIBS)
