/* How much of a ClientHello has arrived (see tunnel_hello.h). */
#include "agent/tunnel/tunnel_hello.h"

#define KW_REC_HANDSHAKE	22
#define KW_HS_CLIENT_HELLO	1
#define KW_REC_MAX		16384	/* TLSPlaintext.length */

int
kw_hello_need(const unsigned char *b, size_t len, size_t *need)
{
	unsigned char hh[4];
	size_t off = 0, rec, take, i, hhn = 0, have = 0, total = 0;

	*need = 0;
	for (;;) {
		if (len - off < 5) {
			*need = 5 - (len - off);
			return 1;
		}
		if (b[off] != KW_REC_HANDSHAKE || b[off + 1] != 3)
			return -1;
		rec = (size_t)b[off + 3] << 8 | b[off + 4];
		if (rec == 0 || rec > KW_REC_MAX)
			return -1;
		off += 5;
		take = len - off < rec ? len - off : rec;
		/* the handshake header may itself span records */
		for (i = 0; i < take && hhn < 4; i++)
			hh[hhn++] = b[off + i];
		have += take;
		if (hhn == 4 && total == 0) {
			if (hh[0] != KW_HS_CLIENT_HELLO)
				return -1;
			total = 4 + ((size_t)hh[1] << 16 |
			    (size_t)hh[2] << 8 | hh[3]);
			if (total > KW_HELLO_MAX)
				return -1;
		}
		if (total != 0 && have >= total)
			return 0;
		if (take < rec) {
			*need = rec - take;
			return 1;
		}
		off += rec;
	}
}
