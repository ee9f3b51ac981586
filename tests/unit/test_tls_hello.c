/* Unit tests for the ServerHello watcher (common/kw_tls_hello.c): TLS 1.3
 * ServerHellos with and without a key share, after a HelloRetryRequest,
 * split across records and reads, TLS 1.2, and malformed or random bytes
 * (run under ASan in the sanitizer build).  The real server that resumes
 * with psk_ke is in tests/tls/psk.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kw_tls_hello.h"

#define EXT_SUPPORTED_VERSIONS	43
#define EXT_PRE_SHARED_KEY	41
#define EXT_KEY_SHARE		51

static const uint8_t hrr_random[32] = { 0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a,
    0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2,
    0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
    0x33, 0x9c };

struct buf {
	uint8_t b[2048];
	size_t n;
};

static void
put(struct buf *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void
put16(struct buf *o, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, 2);
}

/* A ServerHello handshake message (header included). */
static void
server_hello(struct buf *o, int tls13, int psk, int key_share, int hrr)
{
	struct buf body = { .n = 0 }, ext = { .n = 0 };
	uint8_t r[32], hdr[4];

	memset(r, 0x5a, sizeof(r));
	put16(&body, 0x0303);
	put(&body, hrr ? hrr_random : r, 32);
	put(&body, "\x20", 1);
	put(&body, r, 32);			/* legacy session id */
	put16(&body, 0x1301);
	put(&body, "\x00", 1);
	if (tls13) {
		put16(&ext, EXT_SUPPORTED_VERSIONS);
		put16(&ext, 2);
		put16(&ext, 0x0304);
	}
	if (key_share) {
		put16(&ext, EXT_KEY_SHARE);
		put16(&ext, hrr ? 2 : 36);
		put16(&ext, 0x001d);
		if (!hrr) {
			put16(&ext, 32);
			put(&ext, r, 32);
		}
	}
	if (psk) {
		put16(&ext, EXT_PRE_SHARED_KEY);
		put16(&ext, 2);
		put16(&ext, 0);
	}
	put16(&body, (unsigned)ext.n);
	put(&body, ext.b, ext.n);
	hdr[0] = 2;
	hdr[1] = (uint8_t)(body.n >> 16);
	hdr[2] = (uint8_t)(body.n >> 8);
	hdr[3] = (uint8_t)body.n;
	put(o, hdr, 4);
	put(o, body.b, body.n);
}

/* Wrap handshake bytes in records of at most max bytes each. */
static void
records(struct buf *o, uint8_t type, const struct buf *hs, size_t max)
{
	size_t off, n;
	uint8_t hdr[5] = { type, 3, 3, 0, 0 };

	for (off = 0; off < hs->n; off += n) {
		n = hs->n - off < max ? hs->n - off : max;
		hdr[3] = (uint8_t)(n >> 8);
		hdr[4] = (uint8_t)n;
		put(o, hdr, 5);
		put(o, hs->b + off, n);
	}
}

/* Feed in reads of `step` bytes; the first 1 returned, or 0. */
static int
scan(const struct buf *in, size_t step)
{
	struct kw_hello_scan sc;
	size_t off, n;
	int hit = 0;

	memset(&sc, 0, sizeof(sc));
	for (off = 0; off < in->n && !hit; off += n) {
		n = in->n - off < step ? in->n - off : step;
		hit = kw_hello_scan_feed(&sc, in->b + off, n);
	}
	return hit;
}

static int
scan_hello(int tls13, int psk, int ks, size_t rec_max, size_t step)
{
	struct buf hs = { .n = 0 }, in = { .n = 0 };

	server_hello(&hs, tls13, psk, ks, 0);
	records(&in, 22, &hs, rec_max);
	return scan(&in, step);
}

static void
test_psk_ke_refused(void **state)
{
	static const size_t steps[] = { 1, 2, 5, 7, 64, 4096 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(scan_hello(1, 1, 0, 16384, steps[i]), 1);
		assert_int_equal(scan_hello(1, 1, 0, 3, steps[i]), 1);
	}
}

static void
test_others_pass(void **state)
{
	(void)state;
	assert_int_equal(scan_hello(1, 1, 1, 16384, 7), 0);	/* psk_dhe_ke */
	assert_int_equal(scan_hello(1, 0, 1, 16384, 7), 0);	/* full */
	assert_int_equal(scan_hello(0, 1, 0, 16384, 7), 0);	/* TLS 1.2 */
	assert_int_equal(scan_hello(0, 0, 0, 16384, 1), 0);
}

static void
test_after_hrr(void **state)
{
	struct buf hs1 = { .n = 0 }, hs2 = { .n = 0 }, in = { .n = 0 };
	struct buf ccs = { .b = { 1 }, .n = 1 };

	(void)state;
	server_hello(&hs1, 1, 0, 1, 1);		/* HelloRetryRequest */
	server_hello(&hs2, 1, 1, 0, 0);		/* then psk_ke */
	records(&in, 22, &hs1, 16384);
	records(&in, 20, &ccs, 16384);		/* middlebox compatibility */
	records(&in, 22, &hs2, 16384);
	assert_int_equal(scan(&in, 1), 1);
	assert_int_equal(scan(&in, 4096), 1);
	/* the same with a key share after the HRR passes */
	memset(&hs2, 0, sizeof(hs2));
	memset(&in, 0, sizeof(in));
	server_hello(&hs2, 1, 1, 1, 0);
	records(&in, 22, &hs1, 16384);
	records(&in, 22, &hs2, 16384);
	assert_int_equal(scan(&in, 3), 0);
}

static void
test_done_after_hello(void **state)
{
	struct buf hs = { .n = 0 }, in = { .n = 0 };

	(void)state;
	/* a full handshake's ServerHello, then a psk_ke one: scanning ended
	 * with the first */
	server_hello(&hs, 1, 0, 1, 0);
	server_hello(&hs, 1, 1, 0, 0);
	records(&in, 22, &hs, 16384);
	assert_int_equal(scan(&in, 4096), 0);
	/* an alert first: nothing to scan */
	memset(&in, 0, sizeof(in));
	put(&in, "\x15\x03\x03\x00\x02\x02\x28", 7);
	memset(&hs, 0, sizeof(hs));
	server_hello(&hs, 1, 1, 0, 0);
	records(&in, 22, &hs, 16384);
	assert_int_equal(scan(&in, 4096), 0);
}

static void
test_malformed(void **state)
{
	struct buf hs = { .n = 0 }, in;
	struct kw_hello_scan sc;
	size_t cut, i, k;
	uint8_t junk[600];

	(void)state;
	server_hello(&hs, 1, 1, 0, 0);
	/* every truncation of the message, claimed whole: no hit, no overread */
	for (cut = 0; cut < hs.n; cut++) {
		struct buf m = { .n = 0 };

		put(&m, hs.b, hs.n);
		m.b[1] = 0;
		m.b[2] = (uint8_t)((cut > 4 ? cut - 4 : 0) >> 8);
		m.b[3] = (uint8_t)(cut > 4 ? cut - 4 : 0);
		m.n = cut > 4 ? cut : 4;
		memset(&in, 0, sizeof(in));
		records(&in, 22, &m, 16384);
		assert_int_equal(scan(&in, 1), 0);
	}
	/* random bytes */
	srand(9);
	for (k = 0; k < 2000; k++) {
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		if (k % 2 == 0) {
			junk[0] = 22;
			junk[5] = 2;
		}
		memset(&sc, 0, sizeof(sc));
		(void)kw_hello_scan_feed(&sc, junk, sizeof(junk));
	}
	/* a ServerHello larger than the scanner keeps: given up, no hit */
	memset(&in, 0, sizeof(in));
	put(&in, "\x16\x03\x03\x40\x00\x02\x00\x3f\xfc", 9);
	memset(junk, 0, sizeof(junk));
	put(&in, junk, sizeof(junk));
	put(&in, junk, sizeof(junk));
	assert_int_equal(scan(&in, 4096), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psk_ke_refused),
		cmocka_unit_test(test_others_pass),
		cmocka_unit_test(test_after_hrr),
		cmocka_unit_test(test_done_after_hello),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
