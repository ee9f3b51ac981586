# pkcs11/: the PKCS#11 key backend.  Owns loading a module (dlopen, by
# realpath), RFC 7512 pkcs11: URIs, finding tokens and keys, PIN login,
# keygen on the token, certificates stored next to a key, token removal,
# and translating every CK_RV in one place (p11_rv.c).  Offers itself to
# the rest only as a kw_key backend (p11_key.h, p11_uri.h); p11_internal.h
# is for pkcs11/ alone.
# May include: common/ (kw_error, kw_log, kw_mem, kw_key) and p11-kit's
# pkcs11.h.  Not wolfSSL or TLS, not tpm/, enroll/ or agent/.
noinst_LIBRARIES += pkcs11/libkwp11.a
pkcs11_libkwp11_a_SOURCES = \
	pkcs11/p11_key.c pkcs11/p11_key.h \
	pkcs11/p11_internal.h \
	pkcs11/p11_uri.c pkcs11/p11_uri.h \
	pkcs11/p11_module.c pkcs11/p11_rv.c pkcs11/p11_token.c \
	pkcs11/p11_der.c pkcs11/p11_list.c pkcs11/p11_cert.c
pkcs11_libkwp11_a_CFLAGS = $(AM_CFLAGS) $(P11KIT_CFLAGS)
KW_P11_LIBS = pkcs11/libkwp11.a
