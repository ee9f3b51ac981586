/* Unit tests for agent/tunnel/tunnel_hello.c: how much of a ClientHello
 * has arrived, on every prefix of whole, split and hostile ones, and a
 * fixed-seed mutation run (the bytes come from anyone who can connect). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/tunnel/tunnel_hello.h"

/* A ClientHello of body bytes (a handshake header and filler) in
 * records of at most rec payload bytes; returns its length in out. */
static size_t
make_hello(size_t body, size_t rec, unsigned char *out, size_t cap)
{
	unsigned char msg[8192];
	size_t mlen = 4 + body, off = 0, len = 0, n, i;

	assert_true(mlen <= sizeof(msg));
	msg[0] = 1;
	msg[1] = (unsigned char)(body >> 16);
	msg[2] = (unsigned char)(body >> 8);
	msg[3] = (unsigned char)body;
	for (i = 0; i < body; i++)
		msg[4 + i] = (unsigned char)(i * 7);
	while (off < mlen) {
		n = mlen - off < rec ? mlen - off : rec;
		assert_true(len + 5 + n <= cap);
		out[len] = 22;
		out[len + 1] = 3;
		out[len + 2] = 1;
		out[len + 3] = (unsigned char)(n >> 8);
		out[len + 4] = (unsigned char)n;
		memcpy(out + len + 5, msg + off, n);
		len += 5 + n;
		off += n;
	}
	return len;
}

/* Reading exactly what kw_hello_need asks for reaches the whole hello,
 * never past it; every shorter prefix needs more. */
static void
check_reads(const unsigned char *h, size_t hlen)
{
	size_t len = 0, need, reads = 0;

	while (kw_hello_need(h, len, &need) == 1) {
		assert_true(need > 0);
		assert_true(len + need <= hlen);
		len += need;
		assert_true(++reads < 5000);
	}
	assert_int_equal(kw_hello_need(h, len, &need), 0);
	assert_int_equal(len, hlen);
	for (len = 0; len < hlen; len++)
		assert_int_equal(kw_hello_need(h, len, &need), 1);
}

static void
test_whole_hello(void **state)
{
	unsigned char h[8192];

	(void)state;
	check_reads(h, make_hello(508, 16384, h, sizeof(h)));
	check_reads(h, make_hello(0, 16384, h, sizeof(h)));
}

static void
test_hello_across_records(void **state)
{
	unsigned char h[8192];
	size_t rec;

	(void)state;
	/* down to 1-byte records: the handshake header spans four */
	for (rec = 1; rec <= 600; rec += rec < 8 ? 1 : 97)
		check_reads(h, make_hello(512, rec, h, sizeof(h)));
}

static void
test_not_a_hello(void **state)
{
	unsigned char h[8192];
	size_t len, need;

	(void)state;
	len = make_hello(100, 16384, h, sizeof(h));
	h[0] = 23;				/* application data */
	assert_int_equal(kw_hello_need(h, len, &need), -1);
	h[0] = 22;
	h[1] = 2;				/* SSL 2 / garbage */
	assert_int_equal(kw_hello_need(h, len, &need), -1);
	h[1] = 3;
	h[5] = 2;				/* server_hello */
	assert_int_equal(kw_hello_need(h, len, &need), -1);
	h[5] = 1;
	h[3] = h[4] = 0;			/* empty record */
	assert_int_equal(kw_hello_need(h, 5, &need), -1);
	h[3] = 0x40;				/* 16385 bytes */
	h[4] = 0x01;
	assert_int_equal(kw_hello_need(h, 5, &need), -1);
	h[3] = 0;
	h[4] = (unsigned char)(len - 5);
	assert_int_equal(kw_hello_need(h, len, &need), 0);
	/* "HTTP/1.1" to a TLS port */
	assert_int_equal(kw_hello_need((const unsigned char *)"GET / HT",
	    8, &need), -1);
}

static void
test_hello_too_large(void **state)
{
	unsigned char h[8192];
	size_t len, need;

	(void)state;
	len = make_hello(KW_HELLO_MAX - 4, 16384, h, sizeof(h));
	assert_int_equal(kw_hello_need(h, len, &need), 0);
	len = make_hello(KW_HELLO_MAX - 3, 16384, h, sizeof(h));
	assert_int_equal(kw_hello_need(h, 9, &need), -1);
	/* claimed, not sent: refused from the header alone */
	h[6] = 0xff;
	assert_int_equal(kw_hello_need(h, 9, &need), -1);
}

/* Mutations of split hellos: no result may ask to read past what a
 * record can hold, and none may crash (run under ASan in CI). */
static void
test_mutations(void **state)
{
	unsigned char h[8192], m[8192];
	size_t len, need, i, k, cut;
	unsigned seed = 9;
	int r;

	(void)state;
	len = make_hello(700, 300, h, sizeof(h));
	for (i = 0; i < 20000; i++) {
		memcpy(m, h, len);
		for (k = 0; k < 1 + i % 4; k++)
			m[rand_r(&seed) % len] = (unsigned char)rand_r(&seed);
		cut = (size_t)rand_r(&seed) % (len + 1);
		r = kw_hello_need(m, cut, &need);
		assert_true(r >= -1 && r <= 1);
		if (r == 1)
			assert_true(need >= 1 && need <= 16384);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_hello),
		cmocka_unit_test(test_hello_across_records),
		cmocka_unit_test(test_not_a_hello),
		cmocka_unit_test(test_hello_too_large),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
