/* Fuzz harness for kw_tls's parsers of untrusted bytes: the ServerHello
 * watcher (common/kw_tls_hello.c) and the certificate name matcher
 * (common/kw_tls_name.c).
 *
 * Beyond "no crash", it checks what must hold for every input:
 * - the watcher's verdict does not depend on how the bytes are split
 *   into reads: whole, byte by byte and in chunks of 1..16 give the same
 *   answer, and nothing more is flagged once it is done;
 * - a name pattern without '*' matches a host exactly when both are equal
 *   ignoring case (and one trailing dot on the host); a pattern with '*'
 *   matches nothing whose first label is empty or that has fewer labels
 *   than the pattern.
 *
 * libFuzzer (`make fuzz-tls-hello`, needs clang):
 *   ./tests/fuzz/fuzz_tls_hello_libfuzzer -max_len=4096 CORPUS_DIR
 * Without libFuzzer (the build's check program): each file named on the
 * command line is run through the harness; with no argument, a fixed-seed
 * mutation run over ServerHello records (psk_ke, psk_dhe_ke) and name
 * pairs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kw_tls_hello.h"
#include "kw_tls_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
scan_split(const uint8_t *data, size_t size, size_t (*step)(size_t, void *),
    void *arg)
{
	struct kw_hello_scan sc;
	size_t off = 0, n;
	int hit = 0;

	memset(&sc, 0, sizeof(sc));
	while (off < size) {
		n = step(off, arg);
		if (n > size - off)
			n = size - off;
		if (kw_hello_scan_feed(&sc, data + off, n)) {
			if (hit || !sc.done)
				abort();	/* flagged twice, or not done */
			hit = 1;
		}
		off += n;
	}
	return hit;
}

static size_t
step_all(size_t off, void *arg)
{
	(void)off;
	return *(size_t *)arg;
}

struct bytes {
	const uint8_t *p;
	size_t len;
};

/* Chunks of 1..16 bytes, sizes taken from the input itself. */
static size_t
step_var(size_t off, void *arg)
{
	const struct bytes *b = arg;

	return 1 + (b->p[off % b->len] & 15);
}

static void
fuzz_hello(const uint8_t *data, size_t size)
{
	struct bytes in = { data, size };
	size_t whole = size ? size : 1, one = 1;
	int a, b, c;

	a = scan_split(data, size, step_all, &whole);
	b = scan_split(data, size, step_all, &one);
	c = size ? scan_split(data, size, step_var, &in) : a;
	if (a != b || a != c)
		abort();
}

static size_t
labels(const char *s, size_t n)
{
	size_t i, k = 1;

	for (i = 0; i < n; i++)
		k += s[i] == '.';
	return k;
}

/* The input as "pattern\nhost". */
static void
fuzz_name(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char host[256];
	const char *pat = (const char *)data;
	size_t plen, hlen;
	int m;

	if (nl == NULL || (hlen = size - (size_t)(nl - data) - 1) >=
	    sizeof(host))
		return;
	plen = (size_t)(nl - data);
	memcpy(host, nl + 1, hlen);
	host[hlen] = '\0';
	if (memchr(host, '\0', hlen) != NULL)
		return;
	m = kw_dns_name_match(pat, plen, host);
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	if (memchr(pat, '*', plen) == NULL && memchr(pat, '\0', plen) ==
	    NULL && plen > 0 && pat[0] != '.' && pat[plen - 1] != '.' &&
	    memmem(pat, plen, "..", 2) == NULL) {
		if (m != (plen == hlen && strncasecmp(pat, host, plen) == 0))
			abort();
	} else if (m && (host[0] == '.' || labels(host, hlen) !=
	    labels(pat, plen) || labels(pat, plen) < 3))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_hello(data, size);
	fuzz_name(data, size);
	return 0;
}

#ifndef KW_LIBFUZZER
#include "kw_error.h"
#include "kw_mem.h"

/* ServerHello records: TLS 1.3 taking a PSK without, then with, a key
 * share (X25519). */
static const uint8_t sh_psk_ke[] = {
	0x16, 0x03, 0x03, 0x00, 0x38, 0x02, 0x00, 0x00, 0x34, 0x03, 0x03,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x00,
	0x13, 0x01, 0x00, 0x00, 0x0c, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
	0x00, 0x29, 0x00, 0x02, 0x00, 0x00 };
static const uint8_t sh_psk_dhe_ke[] = {
	0x16, 0x03, 0x03, 0x00, 0x60, 0x02, 0x00, 0x00, 0x5c, 0x03, 0x03,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x00,
	0x13, 0x01, 0x00, 0x00, 0x34, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04,
	0x00, 0x29, 0x00, 0x02, 0x00, 0x00, 0x00, 0x33, 0x00, 0x24, 0x00,
	0x1d, 0x00, 0x20, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	0x11, 0x11 };
static const char *names[] = {
	"*.example.com\nwww.example.com", "*.com\nexample.com",
	"f*.example\nfoo.example", "www.EXAMPLE.com\nwww.example.com.",
	"svc.*.example\nsvc.a.example", "*\nlocalhost",
};

static uint32_t
fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int
main(int argc, char **argv)
{
	struct bytes seeds[2 + sizeof(names) / sizeof(names[0])];
	uint8_t *buf, m[512];
	uint32_t seed = 0x4b57u;
	size_t len, i, k, n, nseeds = 0;
	int bad = 0, it;

	if (argc > 1) {
		for (it = 1; it < argc; it++) {
			if (kw_file_read(argv[it], 1u << 20, &buf, &len) !=
			    KW_OK) {
				fprintf(stderr, "fuzz_tls_hello: cannot read "
				    "%s\n", argv[it]);
				bad = 1;
				continue;
			}
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
		}
		return bad;
	}
	/* the watcher must flag the first seed and pass the second */
	if (scan_split(sh_psk_ke, sizeof(sh_psk_ke), step_all,
	    &(size_t){ 1 }) != 1 || scan_split(sh_psk_dhe_ke,
	    sizeof(sh_psk_dhe_ke), step_all, &(size_t){ 1 }) != 0) {
		fprintf(stderr, "fuzz_tls_hello: seeds not judged right\n");
		return 1;
	}
	seeds[nseeds].p = sh_psk_ke;
	seeds[nseeds++].len = sizeof(sh_psk_ke);
	seeds[nseeds].p = sh_psk_dhe_ke;
	seeds[nseeds++].len = sizeof(sh_psk_dhe_ke);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		seeds[nseeds].p = (const uint8_t *)names[i];
		seeds[nseeds++].len = strlen(names[i]);
	}
	for (i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput(seeds[i].p, seeds[i].len);
	for (it = 0; it < 50000; it++) {
		i = fuzz_rand(&seed) % nseeds;
		len = seeds[i].len;
		memcpy(m, seeds[i].p, len);
		n = 1 + fuzz_rand(&seed) % 4;
		for (k = 0; k < n; k++)
			m[fuzz_rand(&seed) % len] ^=
			    (uint8_t)(1u << (fuzz_rand(&seed) % 8));
		if (fuzz_rand(&seed) % 4 == 0)
			len = fuzz_rand(&seed) % (len + 1);
		LLVMFuzzerTestOneInput(m, len);
	}
	printf("fuzz_tls_hello: %zu seeds and 50000 mutations, every property "
	    "held\n", nseeds);
	return 0;
}
#endif
