/* The ServerHello watcher of a resuming kw_tls client: resumption without
 * forward secrecy.  A resuming wolfSSL 5.5.4 client lists psk_ke (PSK only,
 * no (EC)DHE) next to psk_dhe_ke in its psk_key_exchange_modes and cannot
 * be told not to (wolfSSL_only_dhe_psk came later).  So kw_tls reads the
 * server's first records through this scanner: a TLS 1.3 ServerHello that
 * takes the PSK (pre_shared_key) without a key_share is refused right
 * there, before anything is derived from it.  A parser of untrusted bytes
 * kept apart from kw_tls.c so it can be tested on its own. */
#ifndef KW_TLS_HELLO_H
#define KW_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

/* Zero it before use; fd is for kw_tls's receive callback. */
struct kw_hello_scan {
	int fd;
	int done;			/* ServerHello seen, or not a TLS 1.3 one */
	size_t hdr_have;		/* record header bytes so far */
	uint8_t hdr[5];
	size_t rec_left;		/* body bytes left in this record */
	size_t msg_have;		/* handshake bytes so far */
	uint8_t msg[1024];
};

/* Feed the next n bytes the server sent (records from the start of the
 * connection, in order, split anyhow).  1 when they complete a TLS 1.3
 * ServerHello (after any HelloRetryRequest) that takes a PSK without a key
 * share; 0 otherwise, and from then on once that ServerHello, or something
 * that is not one, has been seen (sc->done). */
int kw_hello_scan_feed(struct kw_hello_scan *sc, const uint8_t *p, size_t n);

#endif
