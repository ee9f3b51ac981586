/* Bulk AEAD speed of the wolfSSL this program is linked with: AES-128-GCM
 * and ChaCha20-Poly1305 sealing 16 KiB records (a full TLS record), as TLS
 * does.  bench/bulk builds it twice, against Debian's libwolfssl and against
 * a private build, and prints the ratios.
 *
 * Output, one line per cipher:
 *   NAME MB/s CPU-seconds-per-GiB
 * usage: bulk_crypto [seconds-per-cipher] */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC	16384

static double
now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
report(const char *name, unsigned long long bytes, double wall, double cpu)
{
	printf("%s %.1f %.3f\n", name, (double)bytes / wall / 1e6,
	    cpu * (double)(1u << 30) / (double)bytes);
}

int
main(int argc, char **argv)
{
	static unsigned char in[REC], out[REC];
	unsigned char key[32], iv[12], aad[13], tag[16];
	double secs = argc > 1 ? atof(argv[1]) : 1.0, t0, c0, t;
	unsigned long long bytes;
	Aes aes;
	int rc = 1;

	memset(in, 0x5a, sizeof(in));
	memset(key, 0x11, sizeof(key));
	memset(iv, 0x22, sizeof(iv));
	memset(aad, 0x33, sizeof(aad));
	if (secs <= 0)
		secs = 1.0;

	if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0 ||
	    wc_AesGcmSetKey(&aes, key, 16) != 0) {
		fprintf(stderr, "bulk_crypto: AES-GCM key setup failed\n");
		goto out;
	}
	bytes = 0;
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	do {
		int i;

		for (i = 0; i < 64; i++) {
			iv[11]++;
			if (wc_AesGcmEncrypt(&aes, out, in, REC, iv,
			    sizeof(iv), tag, sizeof(tag), aad,
			    sizeof(aad)) != 0) {
				fprintf(stderr, "bulk_crypto: AES-GCM failed\n");
				wc_AesFree(&aes);
				goto out;
			}
			bytes += REC;
		}
		t = now(CLOCK_MONOTONIC) - t0;
	} while (t < secs);
	report("aes-128-gcm", bytes, t, now(CLOCK_PROCESS_CPUTIME_ID) - c0);
	wc_AesFree(&aes);

	bytes = 0;
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	do {
		int i;

		for (i = 0; i < 64; i++) {
			iv[11]++;
			if (wc_ChaCha20Poly1305_Encrypt(key, iv, aad,
			    sizeof(aad), in, REC, out, tag) != 0) {
				fprintf(stderr, "bulk_crypto: ChaCha20-Poly1305 "
				    "failed\n");
				goto out;
			}
			bytes += REC;
		}
		t = now(CLOCK_MONOTONIC) - t0;
	} while (t < secs);
	report("chacha20-poly1305", bytes, t,
	    now(CLOCK_PROCESS_CPUTIME_ID) - c0);
	rc = 0;
out:
	return rc;
}
