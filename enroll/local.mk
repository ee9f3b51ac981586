# enroll/: CSR building and the enrollment clients (EST, ACME).  Keys only through
# the key interface.
noinst_LIBRARIES += enroll/libkwenroll.a
enroll_libkwenroll_a_SOURCES = \
	enroll/csr.c enroll/csr.h \
	enroll/acme.h enroll/acme_client.c enroll/acme_jws.c \
	enroll/acme_http01.c enroll/acme_tlsalpn.c \
	enroll/est.h enroll/est_client.c \
	enroll/est_der.c enroll/est_der.h \
	enroll/est_http.c enroll/est_http.h \
	enroll/est_sched.c enroll/est_sched.h
enroll_libkwenroll_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(JANSSON_CFLAGS)
KW_ENROLL_LIBS = enroll/libkwenroll.a $(HTTP_PARSER_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += enroll/keyward-renew@.service enroll/keyward-renew@.timer
