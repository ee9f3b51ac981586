/* Unit tests for the wolfSSL crypto-callback device (common/kw_wolf.c) and
 * TLS contexts (common/kw_tls.c): real TLS 1.3 and 1.2 handshakes between a
 * wolfSSL client and server in this process over a socketpair, both signing
 * through the device with software test keys (tests/unit/soft_key.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <sys/socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "soft_key.h"

struct fixture {
	char dir[64];
	char ca_file[96];
	char other_ca_file[96];
	struct kw_key *ca_key, *other_ca_key;
	struct soft_key *ca_sk, *other_ca_sk;
	uint8_t ca_der[2048];
	int ca_len;
	uint8_t other_ca_der[2048];
	int other_ca_len;
	struct kw_key *keys[5];		/* by enum kw_key_alg */
	struct soft_key *sks[5];
};

/* A certificate for key (or a self-signed CA when ca_sk is NULL). */
static int
make_cert(struct soft_key *ca_sk, const uint8_t *ca_der, int ca_len,
    struct soft_key *sk, const char *cn, int days, int is_ca,
    uint8_t *out, size_t out_size)
{
	Cert c;
	int n, type;
	void *k;

	if (wc_InitCert(&c) != 0)
		return -1;
	snprintf(c.subject.commonName, CTC_NAME_SIZE, "%s", cn);
	snprintf(c.subject.org, CTC_NAME_SIZE, "keyward tests");
	c.daysValid = days;
	c.isCA = is_ca;
	c.sigType = CTC_SHA256wECDSA;
	if (ca_sk != NULL && wc_SetIssuerBuffer(&c, ca_der, ca_len) != 0)
		return -1;
	if (soft_key_rsa(sk) != NULL) {
		type = RSA_TYPE;
		k = soft_key_rsa(sk);
	} else {
		type = ECC_TYPE;
		k = soft_key_ecc(sk);
	}
	if (ca_sk == NULL)
		ca_sk = sk;
	n = wc_MakeCert_ex(&c, out, (word32)out_size, type, k,
	    soft_key_rng(sk));
	if (n <= 0)
		return -1;
	return wc_SignCert_ex(c.bodySz, c.sigType, out, (word32)out_size,
	    ECC_TYPE, soft_key_ecc(ca_sk), soft_key_rng(ca_sk));
}

static int
write_pem(const char *path, const uint8_t *der, int len)
{
	uint8_t pem[4096];
	FILE *f;
	int n;

	n = wc_DerToPem(der, (word32)len, pem, sizeof(pem), CERT_TYPE);
	if (n <= 0 || (f = fopen(path, "w")) == NULL)
		return -1;
	fwrite(pem, 1, (size_t)n, f);
	fclose(f);
	return 0;
}

static int
setup(void **state)
{
	static const enum kw_key_alg algs[] = { KW_ALG_EC_P256,
	    KW_ALG_EC_P384, KW_ALG_RSA2048, KW_ALG_RSA3072 };
	struct fixture *fx = calloc(1, sizeof(*fx));
	size_t i;

	if (getenv("KW_TEST_DEBUG") != NULL)
		kw_log_setup(KW_LOG_DEBUG, 0);
	assert_int_equal(kw_wolf_init(), KW_OK);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kw-wolf-tls.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->ca_file, sizeof(fx->ca_file), "%s/ca.pem", fx->dir);
	snprintf(fx->other_ca_file, sizeof(fx->other_ca_file), "%s/other.pem",
	    fx->dir);
	assert_int_equal(soft_key_new(KW_ALG_EC_P256, &fx->ca_key, &fx->ca_sk),
	    KW_OK);
	fx->ca_len = make_cert(NULL, NULL, 0, fx->ca_sk, "test CA", 30, 1,
	    fx->ca_der, sizeof(fx->ca_der));
	assert_true(fx->ca_len > 0);
	assert_int_equal(write_pem(fx->ca_file, fx->ca_der, fx->ca_len), 0);
	assert_int_equal(soft_key_new(KW_ALG_EC_P256, &fx->other_ca_key,
	    &fx->other_ca_sk), KW_OK);
	fx->other_ca_len = make_cert(NULL, NULL, 0, fx->other_ca_sk,
	    "other CA", 30, 1, fx->other_ca_der, sizeof(fx->other_ca_der));
	assert_true(fx->other_ca_len > 0);
	assert_int_equal(write_pem(fx->other_ca_file, fx->other_ca_der,
	    fx->other_ca_len), 0);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		assert_int_equal(soft_key_new(algs[i], &fx->keys[algs[i]],
		    &fx->sks[algs[i]]), KW_OK);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];
	size_t i;

	for (i = 0; i < 5; i++)
		kw_key_close(fx->keys[i]);
	kw_key_close(fx->ca_key);
	kw_key_close(fx->other_ca_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	kw_wolf_cleanup();
	return 0;
}

/* A context for key with a certificate from the test CA. */
static int
make_ctx_cache(struct fixture *fx, enum kw_tls_side side, enum kw_key_alg alg,
    int min_v, int max_v, const char *ca_file, int cache,
    struct kw_tls_ctx **out)
{
	struct kw_tls_conf conf;
	uint8_t der[4096];
	int n;

	n = make_cert(fx->ca_sk, fx->ca_der, fx->ca_len, fx->sks[alg],
	    "localhost", 2, 0, der, sizeof(der));
	assert_true(n > 0);
	memset(&conf, 0, sizeof(conf));
	conf.side = side;
	conf.key = fx->keys[alg];
	conf.cert_der = der;
	conf.cert_der_len = (size_t)n;
	conf.ca_file = ca_file ? ca_file : fx->ca_file;
	conf.min_version = min_v;
	conf.max_version = max_v;
	conf.require_client_cert = 1;
	conf.session_cache = cache;
	return kw_tls_ctx_new(&conf, out);
}

static int
make_ctx(struct fixture *fx, enum kw_tls_side side, enum kw_key_alg alg,
    int min_v, int max_v, const char *ca_file, struct kw_tls_ctx **out)
{
	return make_ctx_cache(fx, side, alg, min_v, max_v, ca_file, 1, out);
}

struct conn {
	WOLFSSL *c, *s;
	int fds[2];
	int cret, sret;		/* KW_* result of each side */
};

static void
conn_open(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx,
    const char *name, struct conn *cn)
{
	memset(cn, 0, sizeof(*cn));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, cn->fds), 0);
	assert_int_equal(fcntl(cn->fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(cn->fds[1], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(kw_tls_ssl_new(cctx, cn->fds[0], name, &cn->c), KW_OK);
	assert_int_equal(kw_tls_ssl_new(sctx, cn->fds[1], NULL, &cn->s), KW_OK);
}

/* Drive both sides until each finished or failed. */
static void
conn_handshake(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx,
    struct conn *cn)
{
	int cdone = 0, sdone = 0, i, w, e;

	for (i = 0; i < 2000 && (cdone == 0 || sdone == 0); i++) {
		if (cdone == 0) {
			if ((w = wolfSSL_connect(cn->c)) == WOLFSSL_SUCCESS) {
				cdone = 1;
				cn->cret = kw_tls_handshake_done(cctx, cn->c);
			} else if ((e = wolfSSL_get_error(cn->c, w)) !=
			    WOLFSSL_ERROR_WANT_READ &&
			    e != WOLFSSL_ERROR_WANT_WRITE) {
				cdone = -1;
				cn->cret = kw_tls_explain(cctx, cn->c, w,
				    "test server");
				shutdown(cn->fds[0], SHUT_RDWR);
			}
		}
		if (sdone == 0) {
			if ((w = wolfSSL_accept(cn->s)) == WOLFSSL_SUCCESS) {
				sdone = 1;
				cn->sret = kw_tls_handshake_done(sctx, cn->s);
			} else if ((e = wolfSSL_get_error(cn->s, w)) !=
			    WOLFSSL_ERROR_WANT_READ &&
			    e != WOLFSSL_ERROR_WANT_WRITE) {
				sdone = -1;
				cn->sret = kw_tls_explain(sctx, cn->s, w,
				    "test client");
				shutdown(cn->fds[1], SHUT_RDWR);
			}
		}
	}
	if (cdone == 0)
		cn->cret = KW_ERR_TIMEOUT;
	if (sdone == 0)
		cn->sret = KW_ERR_TIMEOUT;
}

/* Application data both ways (the client also reads any TLS 1.3 ticket). */
static void
conn_exchange(struct conn *cn)
{
	char buf[32];
	int i, n = -1;

	assert_int_equal(wolfSSL_write(cn->s, "from server", 11), 11);
	for (i = 0; i < 1000 && n <= 0; i++)
		n = wolfSSL_read(cn->c, buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "from server", 11);
	assert_int_equal(wolfSSL_write(cn->c, "from client", 11), 11);
	n = -1;
	for (i = 0; i < 1000 && n <= 0; i++)
		n = wolfSSL_read(cn->s, buf, sizeof(buf));
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "from client", 11);
}

static void
conn_close(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx, struct conn *cn)
{
	kw_tls_ssl_free(cctx, cn->c);
	kw_tls_ssl_free(sctx, cn->s);
	close(cn->fds[0]);
	close(cn->fds[1]);
}

/* n full handshakes client alg <-> server alg at TLS max_v; returns the
 * version string of the last one. */
static void
run_handshakes(struct fixture *fx, enum kw_key_alg calg, enum kw_key_alg salg,
    int max_v, int n, const char *want_version)
{
	struct kw_tls_ctx *cctx = NULL, *sctx = NULL;
	uint64_t c0 = kw_key_sign_count(fx->keys[calg]);
	uint64_t s0 = kw_key_sign_count(fx->keys[salg]);
	struct conn cn;
	int i;

	assert_int_equal(make_ctx_cache(fx, KW_TLS_CLIENT, calg, 12, max_v,
	    NULL, 0, &cctx), KW_OK);
	assert_int_equal(make_ctx(fx, KW_TLS_SERVER, salg, 12, 13, NULL,
	    &sctx), KW_OK);
	for (i = 0; i < n; i++) {
		/* a fresh SSL without the cached session: full handshakes */
		conn_open(cctx, sctx, "localhost", &cn);
		conn_handshake(cctx, sctx, &cn);
		assert_int_equal(cn.cret, KW_OK);
		assert_int_equal(cn.sret, KW_OK);
		assert_string_equal(wolfSSL_get_version(cn.c), want_version);
		assert_false(wolfSSL_session_reused(cn.c));
		conn_exchange(&cn);
		wolfSSL_free(cn.c);
		wolfSSL_free(cn.s);
		close(cn.fds[0]);
		close(cn.fds[1]);
	}
	/* one signature per full handshake on each side */
	assert_int_equal(kw_key_sign_count(fx->keys[calg]) - c0,
	    (uint64_t)n * (calg == salg ? 2 : 1));
	if (calg != salg)
		assert_int_equal(kw_key_sign_count(fx->keys[salg]) - s0,
		    (uint64_t)n);
	assert_int_equal(kw_tls_full_handshakes(cctx), (uint64_t)n);
	assert_int_equal(kw_tls_full_handshakes(sctx), (uint64_t)n);
	kw_tls_ctx_free(cctx);
	kw_tls_ctx_free(sctx);
}

static void
test_ec_p256_tls13(void **state)
{
	run_handshakes(*state, KW_ALG_EC_P256, KW_ALG_EC_P384, 13, 3,
	    "TLSv1.3");
}

static void
test_ec_p256_tls12(void **state)
{
	run_handshakes(*state, KW_ALG_EC_P256, KW_ALG_EC_P384, 12, 2,
	    "TLSv1.2");
}

static void
test_ec_p384_tls13(void **state)
{
	run_handshakes(*state, KW_ALG_EC_P384, KW_ALG_EC_P256, 13, 2,
	    "TLSv1.3");
}

static void
test_ec_p384_tls12(void **state)
{
	run_handshakes(*state, KW_ALG_EC_P384, KW_ALG_EC_P256, 12, 2,
	    "TLSv1.2");
}

/* RSA in TLS 1.3: CertificateVerify is RSA-PSS through the PK callback. */
static void
test_rsa2048_tls13_pss(void **state)
{
	struct fixture *fx = *state;
	struct soft_key *sk = fx->sks[KW_ALG_RSA2048];
	unsigned pss0 = soft_key_count(sk, KW_SIG_RSA_PSS);
	unsigned pkcs0 = soft_key_count(sk, KW_SIG_RSA_PKCS1);

	run_handshakes(fx, KW_ALG_RSA2048, KW_ALG_EC_P256, 13, 3, "TLSv1.3");
	assert_int_equal(soft_key_count(sk, KW_SIG_RSA_PSS) - pss0, 3);
	assert_int_equal(soft_key_count(sk, KW_SIG_RSA_PKCS1) - pkcs0, 0);
}

/* RSA server in TLS 1.3 and 1.2 (the server signs with the device). */
static void
test_rsa2048_server(void **state)
{
	run_handshakes(*state, KW_ALG_EC_P256, KW_ALG_RSA2048, 13, 1,
	    "TLSv1.3");
	run_handshakes(*state, KW_ALG_EC_P256, KW_ALG_RSA2048, 12, 1,
	    "TLSv1.2");
}

/* RSA in TLS 1.2 from a token without PSS: PKCS#1 v1.5 through the padded
 * block the crypto callback parses. */
static void
test_rsa2048_tls12_pkcs1(void **state)
{
	struct fixture *fx = *state;
	struct soft_key *sk = fx->sks[KW_ALG_RSA2048];
	unsigned pss0 = soft_key_count(sk, KW_SIG_RSA_PSS);
	unsigned pkcs0 = soft_key_count(sk, KW_SIG_RSA_PKCS1);
	struct kw_tls_ctx *cctx = NULL;

	soft_key_set_no_pss(sk, 1);
	/* TLS 1.3 required: refused clearly at set-up */
	assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_RSA2048, 13, 13,
	    NULL, &cctx), KW_ERR_UNSUPPORTED);
	assert_null(cctx);
	/* 1.3 preferred: limited to 1.2 */
	assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_RSA2048, 12, 13,
	    NULL, &cctx), KW_OK);
	assert_int_equal(kw_tls_ctx_max_version(cctx), 12);
	kw_tls_ctx_free(cctx);
	run_handshakes(fx, KW_ALG_RSA2048, KW_ALG_EC_P256, 13, 2, "TLSv1.2");
	soft_key_set_no_pss(sk, 0);
	assert_int_equal(soft_key_count(sk, KW_SIG_RSA_PKCS1) - pkcs0, 2);
	assert_int_equal(soft_key_count(sk, KW_SIG_RSA_PSS) - pss0, 0);
}

static void
test_rsa3072(void **state)
{
	run_handshakes(*state, KW_ALG_RSA3072, KW_ALG_EC_P256, 13, 1,
	    "TLSv1.3");
	run_handshakes(*state, KW_ALG_RSA3072, KW_ALG_EC_P256, 12, 1,
	    "TLSv1.2");
}

/* A reconnect resumes the session: no new signature from the key. */
static void
test_resumption(void **state)
{
	struct fixture *fx = *state;
	struct kw_tls_ctx *cctx = NULL, *sctx = NULL;
	struct conn cn;
	uint64_t c0;
	int v;

	for (v = 12; v <= 13; v++) {
		assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_EC_P256,
		    12, v, NULL, &cctx), KW_OK);
		assert_int_equal(make_ctx(fx, KW_TLS_SERVER, KW_ALG_EC_P384,
		    12, 13, NULL, &sctx), KW_OK);
		conn_open(cctx, sctx, "localhost", &cn);
		conn_handshake(cctx, sctx, &cn);
		assert_int_equal(cn.cret, KW_OK);
		conn_exchange(&cn);
		conn_close(cctx, sctx, &cn);
		c0 = kw_key_sign_count(fx->keys[KW_ALG_EC_P256]);
		conn_open(cctx, sctx, "localhost", &cn);
		conn_handshake(cctx, sctx, &cn);
		assert_int_equal(cn.cret, KW_OK);
		assert_int_equal(cn.sret, KW_OK);
		assert_true(wolfSSL_session_reused(cn.c));
		conn_exchange(&cn);
		conn_close(cctx, sctx, &cn);
		assert_int_equal(kw_key_sign_count(fx->keys[KW_ALG_EC_P256]),
		    c0);
		assert_int_equal(kw_tls_full_handshakes(cctx), 1);
		assert_int_equal(kw_tls_resumed_handshakes(cctx), 1);
		kw_tls_ctx_free(cctx);
		kw_tls_ctx_free(sctx);
	}
}

/* The key fails to sign: the handshake fails and says why. */
static void
test_failing_key(void **state)
{
	struct fixture *fx = *state;
	struct soft_key *sk = fx->sks[KW_ALG_EC_P256];
	struct kw_tls_ctx *cctx = NULL, *sctx = NULL;
	struct conn cn;
	uint64_t f0 = kw_key_sign_failures(fx->keys[KW_ALG_EC_P256]);
	int v;

	for (v = 12; v <= 13; v++) {
		assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_EC_P256, 12,
		    v, NULL, &cctx), KW_OK);
		assert_int_equal(make_ctx(fx, KW_TLS_SERVER, KW_ALG_EC_P384, 12,
		    13, NULL, &sctx), KW_OK);
		soft_key_set_fail(sk, KW_ERR_PIN_INCORRECT);
		conn_open(cctx, sctx, "localhost", &cn);
		conn_handshake(cctx, sctx, &cn);
		soft_key_set_fail(sk, KW_OK);
		assert_int_equal(cn.cret, KW_ERR_PIN_INCORRECT);
		assert_int_not_equal(cn.sret, KW_OK);
		conn_close(cctx, sctx, &cn);
		assert_int_equal(kw_tls_full_handshakes(cctx), 0);
		kw_tls_ctx_free(cctx);
		kw_tls_ctx_free(sctx);
	}
	assert_int_equal(kw_key_sign_failures(fx->keys[KW_ALG_EC_P256]) - f0, 2);
}

/* Verification failures, each with its own code. */
static void
test_peer_verification(void **state)
{
	struct fixture *fx = *state;
	struct kw_tls_ctx *cctx = NULL, *sctx = NULL;
	struct conn cn;

	/* client trusts another CA */
	assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_EC_P256, 12, 13,
	    fx->other_ca_file, &cctx), KW_OK);
	assert_int_equal(make_ctx(fx, KW_TLS_SERVER, KW_ALG_EC_P384, 12, 13,
	    NULL, &sctx), KW_OK);
	conn_open(cctx, sctx, "localhost", &cn);
	conn_handshake(cctx, sctx, &cn);
	assert_int_equal(cn.cret, KW_ERR_PEER_VERIFY);
	conn_close(cctx, sctx, &cn);
	kw_tls_ctx_free(cctx);

	/* wrong server name */
	assert_int_equal(make_ctx(fx, KW_TLS_CLIENT, KW_ALG_EC_P256, 12, 13,
	    NULL, &cctx), KW_OK);
	conn_open(cctx, sctx, "elsewhere.example", &cn);
	conn_handshake(cctx, sctx, &cn);
	assert_int_equal(cn.cret, KW_ERR_PEER_VERIFY);
	conn_close(cctx, sctx, &cn);
	kw_tls_ctx_free(sctx);

	/* server trusts another CA for clients: it refuses our cert */
	assert_int_equal(make_ctx(fx, KW_TLS_SERVER, KW_ALG_EC_P384, 12, 13,
	    fx->other_ca_file, &sctx), KW_OK);
	conn_open(cctx, sctx, "localhost", &cn);
	conn_handshake(cctx, sctx, &cn);
	assert_int_equal(cn.sret, KW_ERR_PEER_VERIFY);
	if (cn.cret == KW_OK) {
		/* TLS 1.3: the client learns on its first read */
		char buf[8];
		int i, w = -1, e = WOLFSSL_ERROR_WANT_READ;

		for (i = 0; i < 100 && e == WOLFSSL_ERROR_WANT_READ; i++) {
			w = wolfSSL_read(cn.c, buf, sizeof(buf));
			e = wolfSSL_get_error(cn.c, w);
		}
		cn.cret = kw_tls_explain(cctx, cn.c, w, "test server");
	}
	assert_int_equal(cn.cret, KW_ERR_AUTH);
	conn_close(cctx, sctx, &cn);
	kw_tls_ctx_free(cctx);
	kw_tls_ctx_free(sctx);
}

/* A certificate for another key is refused when the context is built. */
static void
test_cert_key_mismatch(void **state)
{
	struct fixture *fx = *state;
	struct kw_tls_ctx *ctx = NULL;
	struct kw_tls_conf conf;
	uint8_t der[4096];
	int n;

	n = make_cert(fx->ca_sk, fx->ca_der, fx->ca_len,
	    fx->sks[KW_ALG_EC_P384], "localhost", 2, 0, der, sizeof(der));
	assert_true(n > 0);
	assert_int_equal(kw_cert_matches_key(der, (size_t)n,
	    fx->keys[KW_ALG_EC_P384]), KW_OK);
	assert_int_equal(kw_cert_matches_key(der, (size_t)n,
	    fx->keys[KW_ALG_EC_P256]), KW_ERR_KEY_MISMATCH);
	assert_int_equal(kw_cert_matches_key(der, 10,
	    fx->keys[KW_ALG_EC_P256]), KW_ERR_CERT);
	memset(&conf, 0, sizeof(conf));
	conf.side = KW_TLS_CLIENT;
	conf.key = fx->keys[KW_ALG_EC_P256];
	conf.cert_der = der;
	conf.cert_der_len = (size_t)n;
	conf.ca_file = fx->ca_file;
	assert_int_equal(kw_tls_ctx_new(&conf, &ctx), KW_ERR_KEY_MISMATCH);
	assert_null(ctx);
	/* a missing CA file */
	conf.key = fx->keys[KW_ALG_EC_P384];
	conf.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(kw_tls_ctx_new(&conf, &ctx), KW_ERR_NOT_FOUND);
	/* bad versions */
	conf.ca_file = fx->ca_file;
	conf.min_version = 13;
	conf.max_version = 12;
	assert_int_equal(kw_tls_ctx_new(&conf, &ctx), KW_ERR_CONFIG);
}

/* The PKCS#1 v1.5 block parser accepts exactly type-1 blocks over a SHA-2
 * DigestInfo. */
static void
test_pkcs1_parse(void **state)
{
	static const uint8_t di256[19] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
	    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
	    0x04, 0x20 };
	uint8_t blk[256], bad[256];
	const uint8_t *dig;
	enum kw_hash h;
	size_t i;

	(void)state;
	blk[0] = 0x00;
	blk[1] = 0x01;
	memset(blk + 2, 0xff, 256 - 3 - 19 - 32);
	blk[256 - 19 - 32 - 1] = 0x00;
	memcpy(blk + 256 - 19 - 32, di256, 19);
	for (i = 0; i < 32; i++)
		blk[256 - 32 + i] = (uint8_t)i;
	assert_int_equal(kw_rsa_pkcs1_parse(blk, 256, &h, &dig), KW_OK);
	assert_int_equal(h, KW_HASH_SHA256);
	assert_ptr_equal(dig, blk + 224);

	/* wrong leading bytes, block type 2 */
	memcpy(bad, blk, 256);
	bad[0] = 0x01;
	assert_int_equal(kw_rsa_pkcs1_parse(bad, 256, &h, &dig), KW_ERR_PARSE);
	assert_null(dig);
	memcpy(bad, blk, 256);
	bad[1] = 0x02;
	assert_int_equal(kw_rsa_pkcs1_parse(bad, 256, &h, &dig), KW_ERR_PARSE);
	/* a non-FF byte in the padding */
	memcpy(bad, blk, 256);
	bad[10] = 0xfe;
	assert_int_equal(kw_rsa_pkcs1_parse(bad, 256, &h, &dig), KW_ERR_PARSE);
	/* DigestInfo for SHA-1 (not accepted) */
	memcpy(bad, blk, 256);
	bad[256 - 32 - 19 + 14] = 0x02;	/* OID arc: sha384, length says 32 */
	assert_int_equal(kw_rsa_pkcs1_parse(bad, 256, &h, &dig), KW_ERR_PARSE);
	/* a trailing byte too many (digest one byte short of the block) */
	assert_int_equal(kw_rsa_pkcs1_parse(blk, 255, &h, &dig), KW_ERR_PARSE);
	/* padding shorter than 8 bytes */
	{
		uint8_t shortb[2 + 7 + 1 + 19 + 32];

		shortb[0] = 0;
		shortb[1] = 1;
		memset(shortb + 2, 0xff, 7);
		shortb[9] = 0;
		memcpy(shortb + 10, di256, 19);
		memset(shortb + 29, 0xaa, 32);
		assert_int_equal(kw_rsa_pkcs1_parse(shortb, sizeof(shortb),
		    &h, &dig), KW_ERR_PARSE);
		/* the same with 8 FF bytes is fine */
	}
	/* no zero separator at all */
	memset(bad, 0xff, 256);
	bad[0] = 0;
	bad[1] = 1;
	assert_int_equal(kw_rsa_pkcs1_parse(bad, 256, &h, &dig), KW_ERR_PARSE);
	assert_int_equal(kw_rsa_pkcs1_parse(blk, 3, &h, &dig), KW_ERR_PARSE);
}

/* The device answers only private-key operations; registering two keys
 * gives two distinct devIds. */
static void
test_dev_ids(void **state)
{
	struct fixture *fx = *state;
	struct kw_dev *a = NULL, *b = NULL;
	int la, lb;

	assert_int_equal(kw_dev_new(fx->keys[KW_ALG_EC_P256], &a), KW_OK);
	assert_int_equal(kw_dev_new(fx->keys[KW_ALG_RSA2048], &b), KW_OK);
	assert_int_not_equal(kw_dev_id(a), INVALID_DEVID);
	assert_ptr_equal(kw_dev_key(a), fx->keys[KW_ALG_EC_P256]);
	kw_dev_key_id(a, &la);
	kw_dev_key_id(b, &lb);
	assert_true(la > 0 && la == lb);
	assert_memory_not_equal(kw_dev_key_id(a, &la), kw_dev_key_id(b, &lb),
	    (size_t)la);
	kw_dev_free(a);
	kw_dev_free(b);
	assert_int_equal(kw_dev_new(NULL, &a), KW_ERR_ARG);
	assert_null(a);
}

/* ECDSA through an id-based wolfCrypt key: the device returns DER that
 * verifies with the public key. */
static void
test_ecdsa_via_wolfcrypt(void **state)
{
	struct fixture *fx = *state;
	struct kw_dev *dev = NULL;
	ecc_key idk, pub;
	WC_RNG rng;
	uint8_t hash[48], sig[128], der[KW_MAX_PUBKEY_DER];
	word32 sig_len = sizeof(sig), idx = 0;
	size_t der_len = sizeof(der);
	uint64_t c0 = kw_key_sign_count(fx->keys[KW_ALG_EC_P384]);
	const unsigned char *id;
	int idlen, res = 0;

	memset(hash, 0x5a, sizeof(hash));
	assert_int_equal(kw_dev_new(fx->keys[KW_ALG_EC_P384], &dev), KW_OK);
	assert_int_equal(wc_InitRng(&rng), 0);
	id = kw_dev_key_id(dev, &idlen);
	assert_int_equal(wc_ecc_init_id(&idk, (unsigned char *)id, idlen,
	    NULL, kw_dev_id(dev)), 0);
	assert_int_equal(wc_ecc_sign_hash(hash, sizeof(hash), sig, &sig_len,
	    &rng, &idk), 0);
	assert_int_equal(kw_key_sign_count(fx->keys[KW_ALG_EC_P384]), c0 + 1);
	assert_int_equal(kw_key_public_der(fx->keys[KW_ALG_EC_P384], der,
	    &der_len), KW_OK);
	assert_int_equal(wc_ecc_init(&pub), 0);
	assert_int_equal(wc_EccPublicKeyDecode(der, &idx, &pub,
	    (word32)der_len), 0);
	assert_int_equal(wc_ecc_verify_hash(sig, sig_len, hash, sizeof(hash),
	    &res, &pub), 0);
	assert_int_equal(res, 1);
	/* a digest length that is no SHA-2: refused, not signed */
	sig_len = sizeof(sig);
	assert_int_not_equal(wc_ecc_sign_hash(hash, 20, sig, &sig_len, &rng,
	    &idk), 0);
	assert_int_equal(kw_key_sign_count(fx->keys[KW_ALG_EC_P384]), c0 + 1);
	wc_ecc_free(&pub);
	wc_ecc_free(&idk);
	wc_FreeRng(&rng);
	kw_dev_free(dev);
}

static void
test_wolf_err(void **state)
{
	(void)state;
	assert_int_equal(kw_wolf_err(0, "x"), KW_OK);
	assert_int_equal(kw_wolf_err(MEMORY_E, "x"), KW_ERR_NOMEM);
	assert_int_equal(kw_wolf_err(ASN_NO_SIGNER_E, "x"), KW_ERR_PEER_VERIFY);
	assert_int_equal(kw_wolf_err(DOMAIN_NAME_MISMATCH, "x"),
	    KW_ERR_PEER_VERIFY);
	assert_int_equal(kw_wolf_err(ASN_PARSE_E, "x"), KW_ERR_PARSE);
	assert_int_equal(kw_wolf_err(SOCKET_ERROR_E, "x"), KW_ERR_NETWORK);
	assert_int_equal(kw_wolf_err(-313, "x"), KW_ERR_TLS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkcs1_parse),
		cmocka_unit_test(test_wolf_err),
		cmocka_unit_test(test_dev_ids),
		cmocka_unit_test(test_ecdsa_via_wolfcrypt),
		cmocka_unit_test(test_ec_p256_tls13),
		cmocka_unit_test(test_ec_p256_tls12),
		cmocka_unit_test(test_ec_p384_tls13),
		cmocka_unit_test(test_ec_p384_tls12),
		cmocka_unit_test(test_rsa2048_tls13_pss),
		cmocka_unit_test(test_rsa2048_tls12_pkcs1),
		cmocka_unit_test(test_rsa2048_server),
		cmocka_unit_test(test_rsa3072),
		cmocka_unit_test(test_resumption),
		cmocka_unit_test(test_failing_key),
		cmocka_unit_test(test_peer_verification),
		cmocka_unit_test(test_cert_key_mismatch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
