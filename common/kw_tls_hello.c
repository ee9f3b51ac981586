/* The ServerHello watcher of a resuming kw_tls client (kw_tls_hello.h). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kw_tls_hello.h"

/* The extensions of a complete ServerHello msg[0..len): 1 for a TLS 1.3
 * one that takes a PSK without a key share. */
static int
kw_hello_is_psk_ke(const uint8_t *m, size_t len)
{
	size_t i = 4 + 2 + 32, end, ext_end, type, elen;
	int tls13 = 0, psk = 0, ks = 0;

	if (i + 1 > len || (i += 1 + m[i]) + 3 + 2 > len)
		return 0;
	i += 3;				/* cipher suite, compression */
	ext_end = i + 2 + ((size_t)m[i] << 8 | m[i + 1]);
	if (ext_end > len)
		return 0;
	for (i += 2; i + 4 <= ext_end; i = end) {
		type = (size_t)m[i] << 8 | m[i + 1];
		elen = (size_t)m[i + 2] << 8 | m[i + 3];
		if ((end = i + 4 + elen) > ext_end)
			return 0;
		if (type == 43 && elen == 2 && m[i + 4] == 3 && m[i + 5] == 4)
			tls13 = 1;
		else if (type == 41)
			psk = 1;
		else if (type == 51)
			ks = 1;
	}
	return tls13 && psk && !ks;
}

/* A HelloRetryRequest: a ServerHello with this random (RFC 8446 4.1.3). */
static int
kw_hello_is_hrr(const uint8_t *m, size_t len)
{
	static const uint8_t hrr[32] = { 0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a,
	    0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2,
	    0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
	    0xc8, 0xa8, 0x33, 0x9c };

	return len >= 4 + 2 + 32 && memcmp(m + 6, hrr, sizeof(hrr)) == 0;
}

int
kw_hello_scan_feed(struct kw_hello_scan *sc, const uint8_t *p, size_t n)
{
	size_t take, need;

	while (n > 0 && !sc->done) {
		if (sc->rec_left == 0) {
			sc->hdr[sc->hdr_have++] = *p++;
			n--;
			if (sc->hdr_have < sizeof(sc->hdr))
				continue;
			sc->hdr_have = 0;
			sc->rec_left = (size_t)sc->hdr[3] << 8 | sc->hdr[4];
			/* handshake records and middlebox-compatibility
			 * ChangeCipherSpec only: anything else ends it */
			if (sc->hdr[0] != 22 && sc->hdr[0] != 20)
				sc->done = 1;
			continue;
		}
		take = n < sc->rec_left ? n : sc->rec_left;
		if (sc->hdr[0] == 22) {
			/* no more than fits: a record may hold more
			 * messages than the ServerHello, and the verdict
			 * must not depend on how the bytes are cut */
			if (take > sizeof(sc->msg) - sc->msg_have)
				take = sizeof(sc->msg) - sc->msg_have;
			memcpy(sc->msg + sc->msg_have, p, take);
			sc->msg_have += take;
		}
		p += take;
		n -= take;
		sc->rec_left -= take;
		while (!sc->done && sc->msg_have >= 4 && sc->msg_have >= (need =
		    4 + ((size_t)sc->msg[1] << 16 | (size_t)sc->msg[2] << 8 |
		    sc->msg[3]))) {
			if (sc->msg[0] != 2) {
				sc->done = 1;
				break;
			}
			if (!kw_hello_is_hrr(sc->msg, need)) {
				sc->done = 1;
				return kw_hello_is_psk_ke(sc->msg, need);
			}
			memmove(sc->msg, sc->msg + need, sc->msg_have - need);
			sc->msg_have -= need;
		}
		if (sc->msg_have == sizeof(sc->msg))
			sc->done = 1;	/* no ServerHello is this big */
	}
	return 0;
}

