/* Test and benchmark driver for the TPM backend alone (tpm/ + common/).
 *
 *   tpm_sign sign KEY ecdsa|pkcs1|pss sha256|sha384|sha512 DIGEST OUT
 *       sign the binary digest in file DIGEST; OUT gets the signature as
 *       openssl pkeyutl -verify wants it (DER for ECDSA, raw for RSA)
 *   tpm_sign sign2 KEY ecdsa|pkcs1|pss HASH DIGEST OUT
 *       sign once, print "signed once", wait for a line on stdin (the test
 *       restarts the TPM meanwhile), then sign like `sign`
 *   tpm_sign supports KEY ecdsa|pkcs1|pss HASH    exit 0, or 3 and the error
 *   tpm_sign bench KEY ecdsa|pkcs1|pss HASH N     N signatures, prints rate
 *   tpm_sign pubkey KEY OUT                       DER SubjectPublicKeyInfo
 *   tpm_sign delete KEY
 *
 * KEY is a key file or 0x81XXXXXX; the TCTI comes from $TPM2TOOLS_TCTI or
 * $TCTI; $KW_TPM_AUTH_FILE names an auth value file; $KW_DEBUG=1 logs debug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kw_error.h"
#include "kw_key.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "tpm/tpm_key.h"

static int
usage(void)
{
	fprintf(stderr, "usage: tpm_sign sign|supports|bench|pubkey|delete "
	    "KEY ...\n");
	return 2;
}

static enum kw_sig_scheme
parse_scheme(const char *s)
{
	if (strcmp(s, "ecdsa") == 0)
		return KW_SIG_ECDSA;
	if (strcmp(s, "pkcs1") == 0)
		return KW_SIG_RSA_PKCS1;
	if (strcmp(s, "pss") == 0)
		return KW_SIG_RSA_PSS;
	return 0;
}

static enum kw_hash
parse_hash(const char *s)
{
	if (strcmp(s, "sha256") == 0)
		return KW_HASH_SHA256;
	if (strcmp(s, "sha384") == 0)
		return KW_HASH_SHA384;
	if (strcmp(s, "sha512") == 0)
		return KW_HASH_SHA512;
	return KW_HASH_NONE;
}

/* DER INTEGER of an unsigned big-endian value. */
static size_t
der_int(uint8_t *out, const uint8_t *v, size_t n)
{
	size_t o = 0;

	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	out[o++] = 0x02;
	out[o++] = (uint8_t)(n + (v[0] & 0x80 ? 1 : 0));
	if (v[0] & 0x80)
		out[o++] = 0;
	memcpy(out + o, v, n);
	return o + n;
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return KW_ERR_IO;
	ok = fwrite(p, 1, n, f) == n;
	ok &= fclose(f) == 0;
	return ok ? KW_OK : KW_ERR_IO;
}

int
main(int argc, char **argv)
{
	struct tpm_opts opts;
	struct kw_key *key = NULL;
	enum kw_sig_scheme scheme = 0;
	enum kw_hash hash = KW_HASH_NONE;
	uint8_t *dig = NULL, sig[KW_MAX_SIG], der[KW_MAX_SIG + 16];
	uint8_t digest[KW_MAX_DIGEST];
	size_t dig_len = 0, sig_len, der_len, half;
	char *auth = NULL, desc[256];
	const char *af;
	struct timespec t0, t1;
	double secs;
	long i, n;
	int r;

	kw_log_setup(getenv("KW_DEBUG") ? KW_LOG_DEBUG : KW_LOG_INFO, 0);
	if (argc < 3)
		return usage();
	memset(&opts, 0, sizeof(opts));
	if ((af = getenv("KW_TPM_AUTH_FILE")) != NULL) {
		if ((r = kw_secret_file_read(af, "auth-value file", &auth)) != KW_OK)
			goto out;
		opts.auth = auth;
	}
	if (strcmp(argv[1], "delete") == 0) {
		r = tpm_key_delete(argv[2], &opts);
		goto out;
	}
	if (argc >= 5) {
		scheme = parse_scheme(argv[3]);
		hash = parse_hash(argv[4]);
		if (scheme == 0 || hash == KW_HASH_NONE)
			return usage();
	}
	if ((r = tpm_key_open(argv[2], &opts, &key)) != KW_OK)
		goto out;
	if (kw_key_describe(key, desc, sizeof(desc)) == KW_OK)
		kw_debug("%s", desc);
	if (strcmp(argv[1], "pubkey") == 0 && argc == 4) {
		der_len = sizeof(der);
		if ((r = kw_key_public_der(key, der, &der_len)) == KW_OK)
			r = write_file(argv[3], der, der_len);
	} else if (strcmp(argv[1], "supports") == 0 && argc == 5) {
		r = kw_key_supports(key, scheme, hash);
	} else if ((strcmp(argv[1], "sign") == 0 ||
	    strcmp(argv[1], "sign2") == 0) && argc == 7) {
		if ((r = kw_file_read(argv[5], KW_MAX_DIGEST, &dig,
		    &dig_len)) != KW_OK)
			goto out;
		if (strcmp(argv[1], "sign2") == 0) {
			sig_len = sizeof(sig);
			if ((r = kw_key_sign(key, scheme, hash, dig, dig_len,
			    sig, &sig_len)) != KW_OK)
				goto out;
			printf("signed once\n");
			fflush(stdout);
			if (fgets(desc, sizeof(desc), stdin) == NULL) {
				r = KW_ERR_IO;
				goto out;
			}
		}
		sig_len = sizeof(sig);
		if ((r = kw_key_sign(key, scheme, hash, dig, dig_len, sig,
		    &sig_len)) != KW_OK)
			goto out;
		if (scheme == KW_SIG_ECDSA) {
			half = sig_len / 2;
			der_len = 2;
			der_len += der_int(der + der_len, sig, half);
			der_len += der_int(der + der_len, sig + half, half);
			der[0] = 0x30;
			der[1] = (uint8_t)(der_len - 2);
			r = write_file(argv[6], der, der_len);
		} else
			r = write_file(argv[6], sig, sig_len);
	} else if (strcmp(argv[1], "bench") == 0 && argc == 6) {
		n = atol(argv[5]);
		memset(digest, 0xa5, sizeof(digest));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < n; i++) {
			sig_len = sizeof(sig);
			digest[0] = (uint8_t)i;
			if ((r = kw_key_sign(key, scheme, hash, digest,
			    kw_hash_len(hash), sig, &sig_len)) != KW_OK)
				goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("%s %s/%s: %ld signatures in %.2f s = %.0f/s\n",
		    kw_alg_name(kw_key_alg(key)), argv[3], argv[4], n, secs,
		    secs > 0 ? (double)n / secs : 0.0);
	} else {
		usage();
		r = KW_ERR_ARG;
	}
out:
	if (r != KW_OK)
		fprintf(stderr, "tpm_sign: %s\n", kw_strerror(r));
	kw_key_close(key);
	free(dig);
	kw_free_secret(auth);
	return kw_exit_code(r);
}
