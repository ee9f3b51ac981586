/* The signer protocol's codec (common/kw_signer_proto.c): every op
 * round-trips in both directions, and what an op may not carry is
 * refused by the decoder (and by the encoder, so neither side sends it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "kw_cancel.h"
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
	m.status = KW_ERR_TPM;			/* with the backend's words */
	m.str = "the TPM refused to sign";
	m.str_len = strlen(m.str);
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
	m = req(KW_SGN_OP_SIGN | KW_SGN_REPLY);	/* an error: no data */
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

/* Waiting without sleeping: the time is kept when nothing comes, a reply
 * already there is seen at once and left to read, and so is an ended peer. */
static void
test_spin(void **state)
{
	uint8_t buf[KW_SGN_MAX_FRAME], in[KW_SGN_MAX_FRAME];
	struct kw_sgn_msg m;
	uint64_t t0, t;
	size_t n, got;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t0 = kw_now_usec();
	assert_int_equal(kw_sgn_spin_readable(sv[1], 3000), 0);
	t = kw_now_usec() - t0;
	assert_true(t >= 3000);
	m = req(KW_SGN_OP_LIST);
	assert_int_equal(kw_sgn_encode(&m, buf, sizeof(buf), &n), KW_OK);
	assert_int_equal(kw_sgn_write_frame(sv[0], buf, n), KW_OK);
	t0 = kw_now_usec();
	assert_int_equal(kw_sgn_spin_readable(sv[1], 5000000), 1);
	assert_true(kw_now_usec() - t0 < 1000000);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 1000, &got),
	    KW_OK);
	assert_int_equal(got, n - 4);
	close(sv[0]);
	assert_int_equal(kw_sgn_spin_readable(sv[1], 5000000), 1);
	assert_int_equal(kw_sgn_read_frame(sv[1], in, sizeof(in), 1000, &got),
	    KW_ERR_IO);
	close(sv[1]);
}

/* ---- the client backend against a scripted signer ---- */

struct fake {
	int fd;
	uint8_t spki[91];
	/* shared with the test's thread through atomics: a signer end
	 * passed over SCM_RIGHTS is a descriptor ThreadSanitizer cannot
	 * pair with its peer, so it sees no order in the socket's messages */
	int busy;		/* answer SIGN with KW_ERR_BUSY */
	int opens;
};

/* Serve requests on f->fd until it closes: OPEN answers handle 5 with
 * f->spki, SIGN a 64-byte signature (or BUSY). */
static void *
fake_serve(void *arg)
{
	struct fake *f = arg;
	uint8_t in[KW_SGN_MAX_FRAME], out[KW_SGN_MAX_FRAME], sig[64];
	struct kw_sgn_msg q, r;
	size_t n;

	memset(sig, 0x5a, sizeof(sig));
	while (kw_sgn_read_frame(f->fd, in, sizeof(in), 5000, &n) == KW_OK &&
	    kw_sgn_decode(in, n, 0, &q) == KW_OK) {
		memset(&r, 0, sizeof(r));
		r.op = q.op | KW_SGN_REPLY;
		if (q.op == KW_SGN_OP_OPEN) {
			__atomic_fetch_add(&f->opens, 1, __ATOMIC_SEQ_CST);
			r.handle = 5;
			r.a = KW_ALG_EC_P256;
			r.b = kw_sgn_scheme_bit(KW_SIG_ECDSA, KW_HASH_SHA256);
			r.str = "fake key";
			r.str_len = 8;
			r.data = f->spki;
			r.data_len = sizeof(f->spki);
		} else if (q.op == KW_SGN_OP_SIGN && q.handle == 5 &&
		    !__atomic_load_n(&f->busy, __ATOMIC_SEQ_CST)) {
			r.data = sig;
			r.data_len = sizeof(sig);
		} else
			r.status = q.op == KW_SGN_OP_SIGN &&
			    __atomic_load_n(&f->busy, __ATOMIC_SEQ_CST) ?
			    KW_ERR_BUSY : KW_ERR_NOT_FOUND;
		if (kw_sgn_encode(&r, out, sizeof(out), &n) != KW_OK ||
		    kw_sgn_write_frame(f->fd, out, n) != KW_OK)
			break;
	}
	close(f->fd);
	return NULL;
}

/* A key through the backend: public key and describe from the open,
 * signatures; the signer dies (handshakes fail, TOKEN_ABSENT), a new one
 * arrives on ctl and the key is opened again by itself; a new signer
 * with another key under that name is refused; BUSY is counted. */
static void
test_client(void **state)
{
	struct fake f1, f2, f3;
	struct kw_signer *s;
	struct kw_key *key;
	pthread_t t1, t2, t3;
	uint8_t der[KW_MAX_PUBKEY_DER], sig[KW_MAX_SIG];
	size_t len;
	int d1[2], d2[2], d3[2], ctl[2];
	char desc[64];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl), 0);
	memset(&f1, 0, sizeof(f1));
	memset(f1.spki, 0x30, sizeof(f1.spki));
	f1.fd = d1[0];
	assert_int_equal(pthread_create(&t1, NULL, fake_serve, &f1), 0);
	assert_int_equal(kw_signer_new(d1[1], ctl[1], &s), KW_OK);
	assert_int_equal(kw_signer_open(s, "tpm:/k.pem", &key), KW_OK);
	assert_string_equal(kw_key_backend(key), "signer");
	assert_int_equal(kw_key_alg(key), KW_ALG_EC_P256);
	len = sizeof(der);
	assert_int_equal(kw_key_public_der(key, der, &len), KW_OK);
	assert_int_equal(len, sizeof(f1.spki));
	assert_int_equal(kw_key_describe(key, desc, sizeof(desc)), KW_OK);
	assert_string_equal(desc, "fake key");
	assert_int_equal(kw_key_supports(key, KW_SIG_ECDSA, KW_HASH_SHA256),
	    KW_OK);
	assert_int_equal(kw_key_supports(key, KW_SIG_ECDSA, KW_HASH_SHA384),
	    KW_ERR_UNSUPPORTED);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_OK);
	assert_int_equal(len, 64);
	/* the signer dies */
	shutdown(d1[0], SHUT_RDWR);
	assert_int_equal(pthread_join(t1, NULL), 0);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_ERR_TOKEN_ABSENT);
	assert_int_equal(kw_signer_up(s), 0);
	/* it comes back: the key is opened again on first use */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d2), 0);
	f2 = f1;
	f2.opens = 0;
	f2.fd = d2[0];
	assert_int_equal(pthread_create(&t2, NULL, fake_serve, &f2), 0);
	assert_int_equal(kw_sgn_send_fd(ctl[0], d2[1]), KW_OK);
	close(d2[1]);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_OK);
	assert_int_equal(__atomic_load_n(&f2.opens, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(kw_signer_restarts(s), 1);
	/* rate limit: refused and counted */
	__atomic_store_n(&f2.busy, 1, __ATOMIC_SEQ_CST);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_ERR_BUSY);
	assert_int_equal(kw_signer_refused(s), 1);
	shutdown(d2[0], SHUT_RDWR);
	assert_int_equal(pthread_join(t2, NULL), 0);
	/* a signer whose key under that name is another one: refused */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d3), 0);
	f3 = f1;
	f3.fd = d3[0];
	f3.spki[50] ^= 1;
	assert_int_equal(pthread_create(&t3, NULL, fake_serve, &f3), 0);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_ERR_TOKEN_ABSENT);	/* old end */
	assert_int_equal(kw_sgn_send_fd(ctl[0], d3[1]), KW_OK);
	close(d3[1]);
	len = sizeof(sig);
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256,
	    digest, 32, sig, &len), KW_ERR_KEY_MISMATCH);
	kw_key_close(key);
	kw_signer_free(s);
	assert_int_equal(pthread_join(t3, NULL), 0);
	close(ctl[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_spin),
		cmocka_unit_test(test_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
