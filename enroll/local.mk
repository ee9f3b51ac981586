# enroll/: CSR building and the enrollment clients (EST).  Keys only through
# the key interface.
noinst_LIBRARIES += enroll/libkwenroll.a
enroll_libkwenroll_a_SOURCES = \
	enroll/csr.c enroll/csr.h
enroll_libkwenroll_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS)
KW_ENROLL_LIBS = enroll/libkwenroll.a $(HTTP_PARSER_LIBS) $(JANSSON_LIBS)
