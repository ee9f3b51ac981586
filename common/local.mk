# common/: what every module shares (errors, logging, secure memory, the key
# interface, the DER toolkit, the wolfSSL device and TLS contexts).
noinst_LIBRARIES += common/libkwcommon.a
common_libkwcommon_a_SOURCES = \
	common/kw_error.c common/kw_error.h \
	common/kw_log.c common/kw_log.h \
	common/kw_mem.c common/kw_mem.h \
	common/kw_secret.c common/kw_secret.h \
	common/kw_key.c common/kw_key.h \
	common/kw_der.c common/kw_der.h \
	common/kw_wolf.c common/kw_wolf.h \
	common/kw_wolf_check.c common/kw_wolf_check.h \
	common/kw_tls.c common/kw_tls.h \
	common/kw_cancel.c common/kw_cancel.h \
	common/kw_tls_name.c common/kw_tls_name.h \
	common/kw_tls_hello.c common/kw_tls_hello.h
common_libkwcommon_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(SYSTEMD_CFLAGS)
KW_COMMON_LIBS = common/libkwcommon.a $(WOLFSSL_LIBS) $(SYSTEMD_LIBS)
