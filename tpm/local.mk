# tpm/: the TPM 2.0 key backend (tpm2-tss ESAPI).  Knows nothing of TLS.
noinst_LIBRARIES += tpm/libkwtpm.a
tpm_libkwtpm_a_SOURCES = \
	tpm/tpm_key.c tpm/tpm_key.h tpm/tpm_int.h \
	tpm/tpm_keyfile.c tpm/tpm_pubkey.c tpm/tpm_rc.c
tpm_libkwtpm_a_CFLAGS = $(AM_CFLAGS) $(TSS2_CFLAGS)
KW_TPM_LIBS = tpm/libkwtpm.a $(TSS2_LIBS)
