/* What the handshake benchmarks share (tests/tls/hs_bench.c,
 * bench/signer_hs.c): certificates from a software CA, TLS contexts, one
 * full handshake over a socketpair in this one thread. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_tls.h"
#include "tests/tls/hs_lib.h"

void
hs_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
	exit(1);
}

int
hs_cert_for(struct kw_key *key, struct soft_key *ca, const uint8_t *ca_der,
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
		hs_die("no public key");
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
		hs_die("cannot make a certificate");
	return wc_SignCert_ex(c.bodySz, c.sigType, out, (word32)size, ECC_TYPE,
	    soft_key_ecc(ca), soft_key_rng(ca));
}

struct kw_tls_ctx *
hs_ctx_for(enum kw_tls_side side, struct kw_key *key, struct soft_key *ca,
    const uint8_t *ca_der, int ca_len, const char *ca_file, int min_v,
    int max_v)
{
	struct kw_tls_conf conf;
	struct kw_tls_ctx *ctx;
	uint8_t der[4096];
	int n = hs_cert_for(key, ca, ca_der, ca_len, der, sizeof(der));

	memset(&conf, 0, sizeof(conf));
	conf.side = side;
	conf.key = key;
	conf.cert_der = der;
	conf.cert_der_len = (size_t)n;
	conf.ca_file = ca_file;
	conf.min_version = min_v;
	conf.max_version = max_v;
	conf.require_client_cert = 1;
	if (kw_tls_ctx_new(&conf, &ctx) != KW_OK)
		hs_die("cannot make a TLS context");
	return ctx;
}

void
hs_handshake(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx)
{
	WOLFSSL *c, *s;
	int fds[2], cd = 0, sd = 0, w, i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		hs_die("socketpair");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	if (kw_tls_ssl_new(cctx, fds[0], "localhost", &c) != KW_OK ||
	    kw_tls_ssl_new(sctx, fds[1], NULL, &s) != KW_OK)
		hs_die("ssl_new");
	for (i = 0; i < 1000 && (!cd || !sd); i++) {
		if (!cd && (w = wolfSSL_connect(c)) == WOLFSSL_SUCCESS)
			cd = kw_tls_handshake_done(cctx, c) == KW_OK ? 1 : -1;
		else if (!cd && (w = wolfSSL_get_error(c, w)) !=
		    WOLFSSL_ERROR_WANT_READ && w != WOLFSSL_ERROR_WANT_WRITE)
			hs_die("client handshake failed");
		if (!sd && (w = wolfSSL_accept(s)) == WOLFSSL_SUCCESS)
			sd = kw_tls_handshake_done(sctx, s) == KW_OK ? 1 : -1;
		else if (!sd && (w = wolfSSL_get_error(s, w)) !=
		    WOLFSSL_ERROR_WANT_READ && w != WOLFSSL_ERROR_WANT_WRITE)
			hs_die("server handshake failed");
	}
	if (cd != 1 || sd != 1)
		hs_die("handshake did not finish");
	wolfSSL_free(c);
	wolfSSL_free(s);
	close(fds[0]);
	close(fds[1]);
}
