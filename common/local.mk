# What common/ owns (one file pair each) and what it may include:
#   kw_error   the one error enum (0 ok, negatives, values only appended)
#              and kw_strerror
#   kw_log     logging (stderr or the journal); secrets never reach it
#   kw_mem     wiping (kw_freezero), constant-time compare, files read
#              with a size bound and written atomically, secrets from files
#   kw_secret  PIN, password and auth-value files, the memory of a secret
#              refused once; kw_redact: secrets in key URIs redacted
#              (pure string work, so the logger can use it)
#   kw_key     the key interface: one const ops table per backend (public
#              key, sign a digest, describe, close); all a backend exports
#   kw_der     the one DER toolkit: strict reader, writer, SPKI, base64,
#              X.509 times and certificate fields (wolfSSL's parser)
#   kw_hex     hex digits: bytes to hex and back
#   kw_cancel  cancellation and monotonic deadlines for blocking work
#   kw_wolf    the wolfSSL crypto-callback device that signs through kw_key,
#              and kw_wolf_check, the start-up check that headers and
#              library are the same wolfSSL
#   kw_tls     TLS contexts (verification, versions, sigalgs) for clients,
#              tunnels and the EST client; kw_tls_name (RFC 6125 names)
#              and kw_tls_hello (the ServerHello watcher) on their own
#   kw_signer  the signer protocol (codec, frames) and the "signer" key
#              backend: keys held by the signer process (agent/signer/)
# May include: system headers, wolfSSL, libsystemd.  Nothing else of
# keyward: every other folder includes common/, never the other way round.
#
# common/: what every module shares (errors, logging, secure memory, the key
# interface, the DER toolkit, the wolfSSL device and TLS contexts).
noinst_LIBRARIES += common/libkwcommon.a
common_libkwcommon_a_SOURCES = \
	common/kw_error.c common/kw_error.h \
	common/kw_log.c common/kw_log.h \
	common/kw_mem.c common/kw_mem.h \
	common/kw_secret.c common/kw_secret.h \
	common/kw_redact.c common/kw_redact.h \
	common/kw_key.c common/kw_key.h \
	common/kw_der.c common/kw_der.h \
	common/kw_wolf.c common/kw_wolf.h \
	common/kw_wolf_check.c common/kw_wolf_check.h \
	common/kw_tls.c common/kw_tls.h \
	common/kw_cancel.c common/kw_cancel.h \
	common/kw_tls_name.c common/kw_tls_name.h \
	common/kw_tls_hello.c common/kw_tls_hello.h \
	common/kw_hex.c common/kw_hex.h \
	common/kw_signer.h common/kw_signer_proto.c common/kw_signer_client.c
common_libkwcommon_a_CFLAGS = $(AM_CFLAGS) $(WOLFSSL_CFLAGS) $(SYSTEMD_CFLAGS)
KW_COMMON_LIBS = common/libkwcommon.a $(WOLFSSL_LIBS) $(SYSTEMD_LIBS)
