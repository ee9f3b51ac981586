/* Handshake rate of a wolfSSL client signing through the kw_dev device:
 *   hs_bench soft|TPMKEYFILE [COUNT] [12|13]
 * Client and server (a software P-256 key, wolfSSL) run in this one thread
 * over a socketpair, so the figure includes the server's work too; every
 * handshake is a full one (no session cache).  TPMKEYFILE is a key made by
 * `keyward keygen`, the TCTI comes from TPM2TOOLS_TCTI.  Not a test: run
 * by tests/tls/bench.sh and reported by hand. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <sys/socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "tests/unit/soft_key.h"
#include "tpm/tpm_key.h"

static void
die(const char *what)
{
	fprintf(stderr, "hs_bench: %s\n", what);
	exit(1);
}

/* A certificate for key signed by the CA key (self-signed if ca NULL). */
static int
cert_for(struct kw_key *key, struct soft_key *ca, const uint8_t *ca_der,
    int ca_len, uint8_t *out, size_t size)
{
	uint8_t pub[KW_MAX_PUBKEY_DER];
	size_t pub_len = sizeof(pub);
	word32 idx = 0;
	ecc_key ecc;
	RsaKey rsa;
	Cert c;
	int n, rsa_key = kw_alg_is_rsa(kw_key_alg(key));

	if (kw_key_public_der(key, pub, &pub_len) != KW_OK)
		die("no public key");
	wc_InitCert(&c);
	snprintf(c.subject.commonName, CTC_NAME_SIZE, "localhost");
	c.daysValid = 2;
	c.isCA = ca_der == NULL;
	c.sigType = CTC_SHA256wECDSA;
	if (ca_der != NULL)
		wc_SetIssuerBuffer(&c, ca_der, ca_len);
	if (rsa_key) {
		wc_InitRsaKey(&rsa, NULL);
		wc_RsaPublicKeyDecode(pub, &idx, &rsa, (word32)pub_len);
		n = wc_MakeCert_ex(&c, out, (word32)size, RSA_TYPE, &rsa,
		    soft_key_rng(ca));
		wc_FreeRsaKey(&rsa);
	} else {
		wc_ecc_init(&ecc);
		wc_EccPublicKeyDecode(pub, &idx, &ecc, (word32)pub_len);
		n = wc_MakeCert_ex(&c, out, (word32)size, ECC_TYPE, &ecc,
		    soft_key_rng(ca));
		wc_ecc_free(&ecc);
	}
	if (n <= 0)
		die("cannot make a certificate");
	return wc_SignCert_ex(c.bodySz, c.sigType, out, (word32)size, ECC_TYPE,
	    soft_key_ecc(ca), soft_key_rng(ca));
}

static struct kw_tls_ctx *
ctx_for(enum kw_tls_side side, struct kw_key *key, struct soft_key *ca,
    const uint8_t *ca_der, int ca_len, const char *ca_file, int max_v)
{
	struct kw_tls_conf conf;
	struct kw_tls_ctx *ctx;
	uint8_t der[4096];
	int n = cert_for(key, ca, ca_der, ca_len, der, sizeof(der));

	memset(&conf, 0, sizeof(conf));
	conf.side = side;
	conf.key = key;
	conf.cert_der = der;
	conf.cert_der_len = (size_t)n;
	conf.ca_file = ca_file;
	conf.min_version = 12;
	conf.max_version = max_v;
	conf.require_client_cert = 1;
	if (kw_tls_ctx_new(&conf, &ctx) != KW_OK)
		die("cannot make a TLS context");
	return ctx;
}

static void
handshake(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx)
{
	WOLFSSL *c, *s;
	int fds[2], cd = 0, sd = 0, w, i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		die("socketpair");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	if (kw_tls_ssl_new(cctx, fds[0], "localhost", &c) != KW_OK ||
	    kw_tls_ssl_new(sctx, fds[1], NULL, &s) != KW_OK)
		die("ssl_new");
	for (i = 0; i < 1000 && (!cd || !sd); i++) {
		if (!cd && (w = wolfSSL_connect(c)) == WOLFSSL_SUCCESS)
			cd = kw_tls_handshake_done(cctx, c) == KW_OK ? 1 : -1;
		else if (!cd && (w = wolfSSL_get_error(c, w)) !=
		    WOLFSSL_ERROR_WANT_READ && w != WOLFSSL_ERROR_WANT_WRITE)
			die("client handshake failed");
		if (!sd && (w = wolfSSL_accept(s)) == WOLFSSL_SUCCESS)
			sd = kw_tls_handshake_done(sctx, s) == KW_OK ? 1 : -1;
		else if (!sd && (w = wolfSSL_get_error(s, w)) !=
		    WOLFSSL_ERROR_WANT_READ && w != WOLFSSL_ERROR_WANT_WRITE)
			die("server handshake failed");
	}
	if (cd != 1 || sd != 1)
		die("handshake did not finish");
	wolfSSL_free(c);
	wolfSSL_free(s);
	close(fds[0]);
	close(fds[1]);
}

int
main(int argc, char **argv)
{
	struct kw_key *ca_key, *srv_key, *cli_key;
	struct soft_key *ca, *srv;
	struct kw_tls_ctx *cctx, *sctx;
	struct timespec t0, t1;
	struct tpm_opts topts;
	char ca_file[] = "/tmp/hs_bench_ca.XXXXXX";
	uint8_t ca_der[2048], pem[4096];
	int ca_len, n, i, count, max_v, fd;
	double secs;

	if (argc < 2)
		die("usage: hs_bench soft|TPMKEYFILE [COUNT] [12|13]");
	count = argc > 2 ? atoi(argv[2]) : 200;
	max_v = argc > 3 ? atoi(argv[3]) : 13;
	if (kw_wolf_init() != KW_OK)
		die("wolfSSL init");
	if (soft_key_new(KW_ALG_EC_P256, &ca_key, &ca) != KW_OK ||
	    soft_key_new(KW_ALG_EC_P256, &srv_key, &srv) != KW_OK)
		die("soft keys");
	if (strcmp(argv[1], "soft") == 0) {
		if (soft_key_new(KW_ALG_EC_P256, &cli_key, NULL) != KW_OK)
			die("soft key");
	} else {
		memset(&topts, 0, sizeof(topts));
		if (tpm_key_open(argv[1], &topts, &cli_key) != KW_OK)
			die("cannot open the TPM key");
	}
	ca_len = cert_for(ca_key, ca, NULL, 0, ca_der, sizeof(ca_der));
	n = wc_DerToPem(ca_der, (word32)ca_len, pem, sizeof(pem), CERT_TYPE);
	if ((fd = mkstemp(ca_file)) < 0 || write(fd, pem, (size_t)n) != n)
		die("CA file");
	close(fd);
	cctx = ctx_for(KW_TLS_CLIENT, cli_key, ca, ca_der, ca_len, ca_file,
	    max_v);
	sctx = ctx_for(KW_TLS_SERVER, srv_key, ca, ca_der, ca_len, ca_file,
	    13);
	handshake(cctx, sctx);	/* warm-up */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++)
		handshake(cctx, sctx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s TLS 1.%d: %d full handshakes in %.2f s = %.0f/s; "
	    "client key signatures %llu, mean sign %.0f us\n",
	    kw_key_backend(cli_key), max_v - 10, count, secs, count / secs,
	    (unsigned long long)kw_key_sign_count(cli_key),
	    (double)kw_key_sign_usec(cli_key) /
	    (double)kw_key_sign_count(cli_key));
	unlink(ca_file);
	kw_tls_ctx_free(cctx);
	kw_tls_ctx_free(sctx);
	kw_key_close(cli_key);
	kw_key_close(srv_key);
	kw_key_close(ca_key);
	kw_wolf_cleanup();
	return 0;
}
