/* The signer protocol's codec (common/kw_signer_proto.c): every op
 * round-trips in both directions, and what an op may not carry is
 * refused by the decoder (and by the encoder, so neither side sends it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "kw_error.h"
#include "kw_signer.h"

static const uint8_t digest[32] = { 1, 2, 3 };

static void
roundtrip(const struct kw_sgn_msg *m, int reply)
{
	uint8_t buf[KW_SGN_MAX_FRAME + 8];
	struct kw_sgn_msg d;
	size_t n;

	assert_int_equal(kw_sgn_encode(m, buf, sizeof(buf), &n), KW_OK);
	assert_int_equal(buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3],
	    n - 4);
	assert_int_equal(kw_sgn_decode(buf + 4, n - 4, reply, &d), KW_OK);
	assert_int_equal(d.op, m->op);
	assert_int_equal(d.status, m->status);
	assert_int_equal(d.handle, m->handle);
	assert_int_equal(d.a, m->a);
	assert_int_equal(d.b, m->b);
	assert_int_equal(d.c, m->c);
	assert_int_equal(d.str_len, m->str_len);
	assert_int_equal(d.data_len, m->data_len);
	if (m->str_len)
		assert_memory_equal(d.str, m->str, m->str_len);
	if (m->data_len)
		assert_memory_equal(d.data, m->data, m->data_len);
	/* the other direction refuses it; so does any cut */
	assert_int_equal(kw_sgn_decode(buf + 4, n - 4, !reply, &d),
	    KW_ERR_PROTOCOL);
	assert_int_equal(kw_sgn_decode(buf + 4, n - 5, reply, &d),
	    KW_ERR_PROTOCOL);
}

static struct kw_sgn_msg
req(enum kw_sgn_op op)
{
	struct kw_sgn_msg m;

	memset(&m, 0, sizeof(m));
	m.op = op;
	return m;
}

static void
test_requests(void **state)
{
	struct kw_sgn_msg m;
	static const enum kw_sgn_op refops[] = { KW_SGN_OP_OPEN,
	    KW_SGN_OP_EXISTS, KW_SGN_OP_DELETE, KW_SGN_OP_CERT_LOAD };
	size_t i;

	(void)state;
	m = req(KW_SGN_OP_LIST);
	m.a = 3;
	roundtrip(&m, 0);
	for (i = 0; i < 4; i++) {
		m = req(refops[i]);
		m.str = "tpm:/var/lib/keyward/k.pem";
		m.str_len = strlen(m.str);
		roundtrip(&m, 0);
	}
	m = req(KW_SGN_OP_SIGN);
	m.handle = 7;
	m.a = KW_SIG_ECDSA;
	m.b = KW_HASH_SHA256;
	m.c = KW_PURPOSE_HANDSHAKE;
	m.str = "tunnel web, peer 192.0.2.1:443";
	m.str_len = strlen(m.str);
	m.data = digest;
	m.data_len = sizeof(digest);
	roundtrip(&m, 0);
	m = req(KW_SGN_OP_DECRYPT);
	m.handle = 1;
	m.data = digest;
	m.data_len = sizeof(digest);
	roundtrip(&m, 0);
	m = req(KW_SGN_OP_GENERATE);
	m.str = "pkcs11:token=t;object=k-2";
	m.str_len = strlen(m.str);
	m.a = KW_ALG_RSA2048;
	m.b = KW_USAGE_SIGN | KW_USAGE_DECRYPT;
	roundtrip(&m, 0);
	m = req(KW_SGN_OP_STORE_CERT);
	m.str = "pkcs11:token=t;object=k";
	m.str_len = strlen(m.str);
	m.data = digest;
	m.data_len = 10;
	roundtrip(&m, 0);
	m = req(KW_SGN_OP_PRESENT);
	m.handle = 2;
	roundtrip(&m, 0);
}

static void
test_replies(void **state)
{
	uint8_t spki[91] = { 0x30 }, sig[64] = { 9 };
	struct kw_sgn_msg m;

	(void)state;
	m = req(KW_SGN_OP_OPEN | KW_SGN_REPLY);
	m.handle = 1;
	m.a = KW_ALG_EC_P256;
	m.b = kw_sgn_scheme_bit(KW_SIG_ECDSA, KW_HASH_SHA256);
	m.c = KW_SGN_F_PRESENT;
	m.str = "tpm key, ec-p256";
	m.str_len = strlen(m.str);
	m.data = spki;
	m.data_len = sizeof(spki);
	roundtrip(&m, 1);
	m = req(KW_SGN_OP_SIGN | KW_SGN_REPLY);
	m.data = sig;
	m.data_len = sizeof(sig);
	roundtrip(&m, 1);
	m = req(KW_SGN_OP_SIGN | KW_SGN_REPLY);
	m.status = KW_ERR_BUSY;
	roundtrip(&m, 1);
	m = req(KW_SGN_OP_EXISTS | KW_SGN_REPLY);
	m.a = 1;
	roundtrip(&m, 1);
	m = req(KW_SGN_OP_DECRYPT | KW_SGN_REPLY);	/* empty plaintext */
	roundtrip(&m, 1);
}

/* What each op may not carry. */
static void
test_refused(void **state)
{
	uint8_t buf[KW_SGN_MAX_FRAME], big[KW_SGN_MAX_DATA + 1];
	struct kw_sgn_msg m;
	size_t n;

	(void)state;
	memset(big, 0, sizeof(big));
	m = req(KW_SGN_OP_SIGN);		/* no handle */
	m.a = KW_SIG_ECDSA;
	m.b = KW_HASH_SHA256;
	m.data = digest;
	m.data_len = 32;
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m.handle = 1;
	m.a = 9;				/* no such scheme */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m.a = KW_SIG_ECDSA;
	m.data = big;
	m.data_len = 65;			/* digest too long */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m = req(KW_SGN_OP_OPEN);		/* no reference */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m.str = "tpm:a\nb";			/* a newline: log injection */
	m.str_len = 7;
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m.str = "tpm:k";
	m.str_len = 5;
	m.data = digest;			/* OPEN carries no data */
	m.data_len = 1;
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m = req(0x55);				/* unknown op */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m = req(KW_SGN_OP_STORE_CERT);
	m.str = "pkcs11:object=k";
	m.str_len = strlen(m.str);
	m.data = big;
	m.data_len = sizeof(big);		/* over the bound */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m = req(KW_SGN_OP_SIGN | KW_SGN_REPLY);	/* an error carries nothing */
	m.status = KW_ERR_BUSY;
	m.data = digest;
	m.data_len = 4;
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	m.status = 5;				/* positive status */
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_ERR_ARG);
	/* a frame shorter than its header */
	assert_int_equal(kw_sgn_decode(buf, 10, 0, &m), KW_ERR_PROTOCOL);
	/* encode into a buffer too small */
	m = req(KW_SGN_OP_LIST);
	assert_int_equal(kw_sgn_encode(&m, buf, 8, &n), KW_ERR_SPACE);
}

/* Frames over a socket: whole, and a length beyond the bound refused. */
static void
test_frames(void **state)
{
	uint8_t buf[KW_SGN_MAX_FRAME], in[KW_SGN_MAX_FRAME];
	const uint8_t huge[4] = { 0, 1, 0, 0 };
	struct kw_sgn_msg m, d;
	size_t n, got;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	m = req(KW_SGN_OP_OPEN);
	m.str = "tpm:k.pem";
	m.str_len = strlen(m.str);
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_OK);
	assert_int_equal(kw_sgn_write_frame(sv[0], buf, n), KW_OK);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 1000, &got),
	    KW_OK);
	assert_int_equal(got, n - 4);
	assert_int_equal(kw_sgn_decode(in, got, 0, &d), KW_OK);
	assert_int_equal(write(sv[0], huge, 4), 4);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 1000, &got),
	    KW_ERR_PROTOCOL);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 50, &got),
	    KW_ERR_TIMEOUT);
	close(sv[0]);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 1000, &got),
	    KW_ERR_IO);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
