# attest/: attestation evidence and posture (issue 12).  See README.md.
EXTRA_DIST += attest/README.md
noinst_LIBRARIES += attest/libkwattest.a
attest_libkwattest_a_SOURCES = attest/posture_msg.c attest/posture_msg.h
attest_libkwattest_a_CFLAGS = $(AM_CFLAGS) $(CBOR_CFLAGS)
KW_ATTEST_LIBS = attest/libkwattest.a $(CBOR_LIBS)
