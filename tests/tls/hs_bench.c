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
#include "tests/tls/hs_lib.h"
#include "tests/unit/soft_key.h"
#include "tpm/tpm_key.h"

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
		hs_die("usage: hs_bench soft|TPMKEYFILE [COUNT] [12|13]");
	count = argc > 2 ? atoi(argv[2]) : 200;
	max_v = argc > 3 ? atoi(argv[3]) : 13;
	if (kw_wolf_init() != KW_OK)
		hs_die("wolfSSL init");
	if (soft_key_new(KW_ALG_EC_P256, &ca_key, &ca) != KW_OK ||
	    soft_key_new(KW_ALG_EC_P256, &srv_key, &srv) != KW_OK)
		hs_die("soft keys");
	if (strcmp(argv[1], "soft") == 0) {
		if (soft_key_new(KW_ALG_EC_P256, &cli_key, NULL) != KW_OK)
			hs_die("soft key");
	} else {
		memset(&topts, 0, sizeof(topts));
		if (tpm_key_open(argv[1], &topts, &cli_key) != KW_OK)
			hs_die("cannot open the TPM key");
	}
	ca_len = hs_cert_for(ca_key, ca, NULL, 0, ca_der, sizeof(ca_der));
	n = wc_DerToPem(ca_der, (word32)ca_len, pem, sizeof(pem), CERT_TYPE);
	if ((fd = mkstemp(ca_file)) < 0 || write(fd, pem, (size_t)n) != n)
		hs_die("CA file");
	close(fd);
	cctx = hs_ctx_for(KW_TLS_CLIENT, cli_key, ca, ca_der, ca_len, ca_file,
	    12, max_v);
	sctx = hs_ctx_for(KW_TLS_SERVER, srv_key, ca, ca_der, ca_len, ca_file,
	    12, 13);
	hs_handshake(cctx, sctx);	/* warm-up */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++)
		hs_handshake(cctx, sctx);
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
