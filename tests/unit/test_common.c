/* Unit tests for common/: errors, secure files, the key interface. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_mem.h"

static void
test_strerror_covers_every_code(void **state)
{
	int e;

	(void)state;
	for (e = KW_OK; e >= KW_ERR_PERM; e--)
		assert_string_not_equal(kw_strerror(e), "unknown error");
	assert_string_equal(kw_strerror(-9999), "unknown error");
	assert_int_equal(kw_exit_code(KW_ERR_PIN_INCORRECT), KW_EXIT_KEY);
	assert_int_equal(kw_exit_code(KW_ERR_PEER_VERIFY), KW_EXIT_PEER);
	assert_int_equal(kw_exit_code(KW_ERR_CONFIG), KW_EXIT_USAGE);
	assert_int_equal(kw_exit_code(KW_ERR_PENDING), KW_EXIT_PENDING);
}

static void
test_atomic_write(void **state)
{
	char dir[] = "/tmp/kwunit.XXXXXX", path[64];
	uint8_t *buf;
	size_t len;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(kw_file_write_atomic(path, "one", 3, 0600, 1), KW_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* exclusive create refuses an existing file and keeps it intact */
	assert_int_equal(kw_file_write_atomic(path, "two", 3, 0600, 1),
	    KW_ERR_EXISTS);
	assert_int_equal(kw_file_read(path, 100, &buf, &len), KW_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "one", 3);
	free(buf);
	/* replace works and applies the new mode */
	assert_int_equal(kw_file_write_atomic(path, "three", 5, 0644, 0), KW_OK);
	assert_int_equal(kw_file_read(path, 100, &buf, &len), KW_OK);
	assert_int_equal(len, 5);
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* too large for the caller's limit */
	assert_int_equal(kw_file_read(path, 4, &buf, &len), KW_ERR_SPACE);
	assert_null(buf);
	assert_int_equal(kw_file_read("/nonexistent/x", 4, &buf, &len),
	    KW_ERR_NOT_FOUND);
	unlink(path);
	rmdir(dir);
}

static void
test_secret_file(void **state)
{
	char path[] = "/tmp/kwsecret.XXXXXX";
	char *s = NULL;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, "1234\nignored\n", 13), 13);
	close(fd);
	assert_int_equal(kw_secret_from_file(path, &s), KW_OK);
	assert_string_equal(s, "1234");
	kw_free_secret(s);
	/* an empty first line is refused, not taken as an empty PIN */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(kw_secret_from_file(path, &s), KW_ERR_PARSE);
	assert_null(s);
	unlink(path);
	assert_true(kw_memeq_ct("abc", "abc", 3));
	assert_false(kw_memeq_ct("abc", "abd", 3));
}

/* A fake backend: records what the interface passes through. */
struct fake {
	int closed;
	int fail;
	unsigned sleep_us;
	enum kw_sig_scheme last_scheme;
};

static int
fake_sign(void *impl, enum kw_sig_scheme scheme, enum kw_hash hash,
    const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len)
{
	struct fake *f = impl;

	(void)hash;
	(void)digest;
	(void)digest_len;
	f->last_scheme = scheme;
	if (f->sleep_us > 0)
		usleep(f->sleep_us);
	if (f->fail)
		return KW_ERR_TPM;
	memset(sig, 0xab, 64);
	*sig_len = 64;
	return KW_OK;
}

static void
fake_close(void *impl)
{
	((struct fake *)impl)->closed++;
}

static const struct kw_key_ops fake_ops = {
	.name = "fake",
	.sign = fake_sign,
	.close = fake_close,
};

/* n signatures by key, each taking us microseconds in the backend f;
 * the last one's result. */
static int
sign_n(struct kw_key *key, struct fake *f, int n, unsigned us)
{
	uint8_t dg[32] = { 0 }, sig[KW_MAX_SIG];
	size_t sl;
	int i, r = KW_OK;

	f->sleep_us = us;
	for (i = 0; i < n; i++) {
		sl = sizeof(sig);
		r = kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, dg,
		    sizeof(dg), sig, &sl);
	}
	return r;
}

/* How fast a key signs now (handshake-threads = auto): the quickest of
 * its last 8 successful signatures; failures do not count; 0 before the
 * first. */
static void
test_key_recent_speed(void **state)
{
	struct fake f = { 0 };
	struct kw_key *key;

	(void)state;
	assert_int_equal(kw_key_new(&fake_ops, &f, KW_ALG_EC_P256, &key), KW_OK);
	assert_int_equal(kw_key_recent_sign_usec(key), 0);
	/* a slow token */
	assert_int_equal(sign_n(key, &f, 8, 20000), KW_OK);
	assert_true(kw_key_recent_sign_usec(key) >= 20000);
	/* one quick signature among slow ones: the token can be quick */
	assert_int_equal(sign_n(key, &f, 1, 0), KW_OK);
	assert_true(kw_key_recent_sign_usec(key) < 20000);
	/* 8 slow ones push it out: the token turned slow */
	assert_int_equal(sign_n(key, &f, 8, 20000), KW_OK);
	assert_true(kw_key_recent_sign_usec(key) >= 20000);
	/* a failure is no measure of speed */
	f.fail = 1;
	assert_int_equal(sign_n(key, &f, 1, 0), KW_ERR_TPM);
	assert_true(kw_key_recent_sign_usec(key) >= 20000);
	kw_key_close(key);
	assert_int_equal(f.closed, 1);
}

static void
test_key_interface(void **state)
{
	struct fake f = { 0 };
	struct kw_key *key;
	uint8_t dg[32] = { 0 }, sig[KW_MAX_SIG], der[8];
	size_t sl = sizeof(sig), dl = sizeof(der);
	char desc[16];

	(void)state;
	assert_int_equal(kw_key_new(&fake_ops, &f, KW_ALG_EC_P256, &key), KW_OK);
	assert_string_equal(kw_key_backend(key), "fake");
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, dg,
	    sizeof(dg), sig, &sl), KW_OK);
	assert_int_equal(sl, 64);
	assert_int_equal(kw_key_sign_count(key), 1);
	/* an RSA scheme on an EC key never reaches the backend */
	f.last_scheme = 0;
	assert_int_equal(kw_key_sign(key, KW_SIG_RSA_PSS, KW_HASH_SHA256, dg,
	    sizeof(dg), sig, &sl), KW_ERR_UNSUPPORTED);
	assert_int_equal(f.last_scheme, 0);
	/* a digest of the wrong length for the hash is refused */
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA384, dg, 0,
	    sig, &sl), KW_ERR_ARG);
	f.fail = 1;
	assert_int_equal(kw_key_sign(key, KW_SIG_ECDSA, KW_HASH_SHA256, dg,
	    sizeof(dg), sig, &sl), KW_ERR_TPM);
	assert_int_equal(kw_key_sign_count(key), 1);
	assert_int_equal(kw_key_sign_failures(key), 1);
	/* missing optional slots say "unsupported" */
	assert_int_equal(kw_key_public_der(key, der, &dl), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_key_describe(key, desc, sizeof(desc)),
	    KW_ERR_UNSUPPORTED);
	kw_key_close(key);
	assert_int_equal(f.closed, 1);
	assert_int_equal(kw_alg_from_name("rsa3072"), KW_ALG_RSA3072);
	assert_int_equal(kw_alg_from_name("dsa"), KW_ALG_NONE);
	assert_int_equal(kw_alg_bits(KW_ALG_EC_P384), 384);
}

/* A backend that decrypts to `plain_len` bytes of 0x42 (or fails). */
struct fake_dec {
	size_t plain_len;
	int fail;
	int calls;
};

static int
fake_dec_decrypt(void *impl, const uint8_t *in, size_t in_len, uint8_t *out,
    size_t *out_len)
{
	struct fake_dec *f = impl;

	(void)in_len;
	if (in == NULL)
		return KW_OK;
	f->calls++;
	if (f->fail)
		return f->fail;
	memset(out, 0x42, f->plain_len);
	*out_len = f->plain_len;
	return KW_OK;
}

static void
fake_dec_close(void *impl)
{
	(void)impl;
}

static const struct kw_key_ops fake_dec_ops = {
	.name = "fakedec",
	.close = fake_dec_close,
	.decrypt = fake_dec_decrypt,
};

/* kw_key_decrypt's own checks: what no real backend can be made to do on
 * demand (a backend without the slot; a plaintext larger than the buffer). */
static void
test_key_decrypt(void **state)
{
	struct fake f = { 0 };
	struct fake_dec d = { 32, 0, 0 };
	struct kw_key *key;
	uint8_t ct[256] = { 0 }, pt[64];
	size_t pl = sizeof(pt);

	(void)state;
	/* a backend without decrypt, and an EC key: unsupported, not counted */
	assert_int_equal(kw_key_new(&fake_ops, &f, KW_ALG_RSA2048, &key), KW_OK);
	assert_int_equal(kw_key_can_decrypt(key), KW_ERR_UNSUPPORTED);
	assert_int_equal(kw_key_decrypt(key, ct, sizeof(ct), pt, &pl),
	    KW_ERR_UNSUPPORTED);
	assert_int_equal(pl, 0);
	assert_int_equal(kw_key_decrypt_failures(key), 0);
	kw_key_close(key);
	assert_int_equal(kw_key_new(&fake_dec_ops, &d, KW_ALG_EC_P256, &key),
	    KW_OK);
	pl = sizeof(pt);
	assert_int_equal(kw_key_decrypt(key, ct, 32, pt, &pl),
	    KW_ERR_UNSUPPORTED);
	assert_int_equal(d.calls, 0);
	kw_key_close(key);

	assert_int_equal(kw_key_new(&fake_dec_ops, &d, KW_ALG_RSA2048, &key),
	    KW_OK);
	assert_int_equal(kw_key_can_decrypt(key), KW_OK);
	assert_int_equal(d.calls, 0);
	/* not the modulus length: refused before the token, counted */
	pl = sizeof(pt);
	assert_int_equal(kw_key_decrypt(key, ct, 255, pt, &pl), KW_ERR_CRYPTO);
	assert_int_equal(d.calls, 0);
	pl = sizeof(pt);
	assert_int_equal(kw_key_decrypt(key, ct, sizeof(ct), pt, &pl), KW_OK);
	assert_int_equal(pl, 32);
	assert_int_equal(pt[31], 0x42);
	/* a plaintext larger than the caller's buffer: nothing written */
	memset(pt, 0, sizeof(pt));
	pl = 16;
	assert_int_equal(kw_key_decrypt(key, ct, sizeof(ct), pt, &pl),
	    KW_ERR_SPACE);
	assert_int_equal(pl, 0);
	assert_int_equal(pt[0], 0);
	d.fail = KW_ERR_CRYPTO;
	pl = sizeof(pt);
	assert_int_equal(kw_key_decrypt(key, ct, sizeof(ct), pt, &pl),
	    KW_ERR_CRYPTO);
	assert_int_equal(kw_key_decrypt_count(key), 1);
	assert_int_equal(kw_key_decrypt_failures(key), 3);
	assert_int_equal(kw_key_sign_count(key), 0);
	kw_key_close(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_covers_every_code),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_key_interface),
		cmocka_unit_test(test_key_recent_speed),
		cmocka_unit_test(test_key_decrypt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
