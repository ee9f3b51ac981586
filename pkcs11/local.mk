# pkcs11/: the PKCS#11 key backend (dlopen'ed module).  Knows nothing of TLS.
noinst_LIBRARIES += pkcs11/libkwp11.a
pkcs11_libkwp11_a_SOURCES = \
	pkcs11/p11_key.c pkcs11/p11_key.h \
	pkcs11/p11_internal.h \
	pkcs11/p11_uri.c pkcs11/p11_uri.h \
	pkcs11/p11_module.c pkcs11/p11_rv.c pkcs11/p11_token.c \
	pkcs11/p11_der.c pkcs11/p11_list.c pkcs11/p11_cert.c
pkcs11_libkwp11_a_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
KW_P11_LIBS = pkcs11/libkwp11.a
