/* Fuzz harness for the two readers of a TLS peer's first bytes: the
 * server tunnels' ClientHello reader (agent/tunnel/tunnel_hello.c) and the
 * client's ServerHello scanner (common/kw_tls_hello.c).
 *
 * What must hold for every input:
 * - reading as kw_hello_need says (never more than it asks for, and
 *   stopping as the tunnel does past KW_HELLO_MAX), each step asks for at
 *   least one byte: the reader always moves forward or ends;
 * - the scanner gives the same verdict whether the bytes come at once or
 *   cut into chunks (the first byte seeds the cuts).
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/hello/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_tls_hello.h"
#include "agent/tunnel/tunnel_hello.h"

#define FUZZ_NAME	"hello"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when some feed said "PSK without key share"; *done as it ends. */
static int
fuzz_scan(const uint8_t *data, size_t size, uint32_t s, int *done)
{
	static struct kw_hello_scan sc;
	size_t off = 0, n;
	int hit = 0, r;

	memset(&sc, 0, sizeof(sc));
	sc.fd = -1;
	while (off < size) {
		if (s == 0)
			n = size;
		else {
			s ^= s << 13;
			s ^= s >> 17;
			s ^= s << 5;
			n = 1 + s % 32;
		}
		if (n > size - off)
			n = size - off;
		r = kw_hello_scan_feed(&sc, data + off, n);
		if (r != 0 && r != 1)
			abort();
		hit |= r;
		off += n;
	}
	*done = sc.done;
	return hit;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t have = 0, need;
	int r, d1, d2, h1, h2;

	if (size < 1)
		return 0;
	/* the ClientHello reader, as the tunnel drives it */
	for (;;) {
		need = 0;
		r = kw_hello_need(data + 1, have, &need);
		if (r == 0 || r < 0)
			break;
		if (r != 1 || need == 0)
			abort();
		if (have + need > KW_HELLO_MAX)
			break;		/* the tunnel refuses it */
		if (have + need > size - 1)
			break;		/* the peer stops sending */
		have += need;
	}
	/* the ServerHello scanner: at once vs in chunks */
	h1 = fuzz_scan(data + 1, size - 1, 0, &d1);
	h2 = fuzz_scan(data + 1, size - 1, 0x2545f491u ^ data[0], &d2);
	if (h1 != h2 || d1 != d2)
		abort();
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
