# enroll/: CSR building and the enrollment clients (EST).  Keys only through
# the key interface.
noinst_LIBRARIES += enroll/libkwenroll.a
enroll_libkwenroll_a_SOURCES = \
	enroll/csr.c enroll/csr.h \
	enroll/est.h enroll/est_client.c \
	enroll/est_der.c enroll/est_der.h \
	enroll/est_http.c enroll/est_http.h \
	enroll/est_sched.c enroll/est_sched.h
enroll_libkwenroll_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS)
KW_ENROLL_LIBS = enroll/libkwenroll.a $(HTTP_PARSER_LIBS) $(JANSSON_LIBS)
