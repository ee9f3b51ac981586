# What enroll/ owns and what it may include: getting a certificate for a
# hardware key.  Building and signing CSRs (csr.c), the EST client (RFC
# 7030: cacerts, simpleenroll, simplereenroll, csrattrs; est_client.c,
# est_http.c), the ACME client (RFC 8555: acme_client.c, acme_jws.c, the
# http-01 and tls-alpn-01 responders), the SCEP client (RFC 8894:
# scep_msg.c builds and reads the messages, scep_client.c speaks HTTP),
# the DER/PKCS#7 answers (est_der.c)
# and when to renew (est_sched.c).  Keys only through the key interface; it
# never knows which backend signs.
# May include: common/ (kw_key, kw_tls, kw_wolf, ...), wolfSSL, http-parser,
# jansson.  Not tpm/ or pkcs11/ (that is agent/keys/), not agent/.
noinst_LIBRARIES += enroll/libkwenroll.a
enroll_libkwenroll_a_SOURCES = \
	enroll/csr.c enroll/csr.h \
	enroll/acme.h enroll/acme_client.c enroll/acme_jws.c enroll/acme_ari.c \
	enroll/acme_http01.c enroll/acme_tlsalpn.c enroll/acme_srv.c \
	enroll/est.h enroll/est_client.c \
	enroll/est_der.c enroll/est_der.h \
	enroll/est_http.c enroll/est_http.h \
	enroll/est_sched.c enroll/est_sched.h \
	enroll/scep.h enroll/scep_msg.c enroll/scep_client.c
enroll_libkwenroll_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(JANSSON_CFLAGS)
KW_ENROLL_LIBS = enroll/libkwenroll.a $(HTTP_PARSER_LIBS) $(JANSSON_LIBS)
