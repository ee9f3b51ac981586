/* Full handshakes/s with a client key through the signer process and with
 * the same key opened in this process, alternating, same run:
 *   signer_hs CONFIG REF [COUNT] [ROUNDS]
 * CONFIG is a keyward.conf naming REF in a [tunnel] (the signer opens only
 * what its config names; its module/tcti are used for the in-process key
 * too).  The signer is agent/signer's kw_signer_serve in a forked child
 * (no seccomp), reached over a socketpair as `keyward run` does.  Client
 * and server (software P-256, wolfSSL) run in this one thread over a
 * socketpair, so the figure is CPU-bound and includes the server: the
 * cost the signer adds per handshake shows as a ratio below 1.  Prints
 * the median rate of each and signer / in-process.  bench/signer runs it. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_signer.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "agent/conf/config.h"
#include "agent/keys/keyref.h"
#include "agent/signer/signer.h"
#include "tests/tls/hs_lib.h"
#include "tests/unit/soft_key.h"

static double
rate(struct kw_tls_ctx *cctx, struct kw_tls_ctx *sctx, int count)
{
	struct timespec t0, t1;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++)
		hs_handshake(cctx, sctx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return count / ((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct kw_key *ca_key, *srv_key, *in_key = NULL, *sg_key = NULL;
	struct soft_key *ca, *srv;
	struct kw_tls_ctx *in_c, *sg_c, *sctx;
	struct kw_keyref_opts ko;
	struct kw_config *conf = NULL;
	struct kw_signer *sg = NULL;
	char ca_file[] = "/tmp/signer_hs_ca.XXXXXX";
	uint8_t ca_der[2048], pem[4096];
	double in_r[64], sg_r[64], pr[64];
	int ca_len, n, i, count, rounds, fd, data[2], ctl[2], st;
	pid_t pid;

	if (argc < 3)
		hs_die("usage: signer_hs CONFIG REF [COUNT] [ROUNDS]");
	count = argc > 3 ? atoi(argv[3]) : 150;
	rounds = argc > 4 ? atoi(argv[4]) : 15;
	if (rounds < 1 || rounds > 64 || count < 1)
		hs_die("bad COUNT or ROUNDS");
	if (kw_config_load(argv[1], &conf) != KW_OK || conf->ntunnels == 0)
		hs_die("cannot read CONFIG (a [tunnel] naming REF)");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0)
		hs_die("socketpair");
	if ((pid = fork()) < 0)
		hs_die("fork");
	if (pid == 0) {
		close(data[1]);
		close(ctl[0]);
		_exit(kw_signer_serve(argv[1], data[0], ctl[1], 0) == KW_OK ?
		    0 : 1);
	}
	close(data[0]);
	close(ctl[1]);
	if (kw_signer_new(data[1], ctl[0], &sg) != KW_OK ||
	    kw_signer_open(sg, argv[2], &sg_key) != KW_OK)
		hs_die("the signer could not open REF");
	memset(&ko, 0, sizeof(ko));
	ko.tcti = conf->tunnels[0]->tcti ? conf->tunnels[0]->tcti : conf->tcti;
	ko.module = conf->tunnels[0]->module ? conf->tunnels[0]->module :
	    conf->module;
	if (kw_keyref_open(argv[2], &ko, &in_key) != KW_OK)
		hs_die("cannot open REF in this process");
	if (kw_wolf_init() != KW_OK)
		hs_die("wolfSSL init");
	if (soft_key_new(KW_ALG_EC_P256, &ca_key, &ca) != KW_OK ||
	    soft_key_new(KW_ALG_EC_P256, &srv_key, &srv) != KW_OK)
		hs_die("soft keys");
	ca_len = hs_cert_for(ca_key, ca, NULL, 0, ca_der, sizeof(ca_der));
	n = wc_DerToPem(ca_der, (word32)ca_len, pem, sizeof(pem), CERT_TYPE);
	if ((fd = mkstemp(ca_file)) < 0 || write(fd, pem, (size_t)n) != n)
		hs_die("CA file");
	close(fd);
	in_c = hs_ctx_for(KW_TLS_CLIENT, in_key, ca, ca_der, ca_len,
	    ca_file, 13, 13);
	sg_c = hs_ctx_for(KW_TLS_CLIENT, sg_key, ca, ca_der, ca_len,
	    ca_file, 13, 13);
	sctx = hs_ctx_for(KW_TLS_SERVER, srv_key, ca, ca_der, ca_len,
	    ca_file, 13, 13);
	hs_handshake(in_c, sctx);	/* warm-up */
	hs_handshake(sg_c, sctx);
	/* the bare round trip: PRESENT asks the token's slot */
	{
		struct timespec t0, t1;
		uint8_t dg[32] = { 1 }, sig[KW_MAX_SIG];
		size_t sl;
		double a, b;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 2000; i++)
			(void)kw_key_present(sg_key);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		a = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 2000;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 2000; i++)
			(void)kw_key_present(in_key);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		b = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 2000;
		printf("present(): through the signer %.1f us, in-process "
		    "%.1f us\n", a, b);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 500; i++) {
			sl = sizeof(sig);
			(void)kw_key_sign(sg_key, KW_SIG_ECDSA, KW_HASH_SHA256,
			    dg, 32, sig, &sl);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		a = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 500;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 500; i++) {
			sl = sizeof(sig);
			(void)kw_key_sign(in_key, KW_SIG_ECDSA, KW_HASH_SHA256,
			    dg, 32, sig, &sl);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		b = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / 500;
		printf("sign(): through the signer %.1f us, in-process "
		    "%.1f us\n", a, b);
	}
	for (i = 0; i < rounds; i++) {
		in_r[i] = rate(in_c, sctx, count);
		sg_r[i] = rate(sg_c, sctx, count);
		pr[i] = sg_r[i] / in_r[i];
	}
	qsort(pr, (size_t)rounds, sizeof(double), cmp_d);
	qsort(in_r, (size_t)rounds, sizeof(double), cmp_d);
	qsort(sg_r, (size_t)rounds, sizeof(double), cmp_d);
	printf("%s: full TLS 1.3 handshakes/s (median of %d x %d): in-process "
	    "%.0f, through the signer %.0f, ratio %.3f (median of the %d "
	    "paired rounds' ratios %.3f)\n", argv[2], rounds, count,
	    in_r[rounds / 2], sg_r[rounds / 2],
	    sg_r[rounds / 2] / in_r[rounds / 2], rounds, pr[rounds / 2]);
	unlink(ca_file);
	kw_tls_ctx_free(in_c);
	kw_tls_ctx_free(sg_c);
	kw_tls_ctx_free(sctx);
	kw_key_close(in_key);
	kw_key_close(sg_key);
	kw_key_close(srv_key);
	kw_key_close(ca_key);
	kw_signer_free(sg);	/* the signer sees its peer go and stops */
	(void)waitpid(pid, &st, 0);
	kw_keyref_shutdown();
	kw_config_free(conf);
	kw_wolf_cleanup();
	return 0;
}
