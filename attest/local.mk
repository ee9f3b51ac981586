# attest/: device posture and key attestation (issue 12).  This fragment
# lists the event-log side: the UEFI firmware event log (eventlog.c:
# parse, replay into the sha256 bank, claims), the OS facts the TPM does
# not measure (osfacts.c, unattested) and the posture policy file with the
# check of claims against it (policy.c).
# May include: common/ only; links wolfSSL (SHA-256) and libinih.
EXTRA_DIST += attest/README.md
noinst_LIBRARIES += attest/libkwattest.a
attest_libkwattest_a_SOURCES = \
	attest/eventlog.c attest/eventlog.h \
	attest/osfacts.c attest/osfacts.h \
	attest/policy.c attest/policy.h
attest_libkwattest_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(INIH_CFLAGS)
KW_ATTEST_LIBS = attest/libkwattest.a $(INIH_LIBS) $(WOLFSSL_LIBS)
