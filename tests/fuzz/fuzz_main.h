/* The plain runner shared by the fuzz harnesses in tests/fuzz/: included
 * once, at the end of a harness, after its LLVMFuzzerTestOneInput and
 * FUZZ_NAME ("http": the corpus is tests/fuzz/corpus/http/).
 *
 * Built with -DKW_LIBFUZZER this file is empty: libFuzzer brings main().
 * Otherwise (the check program `make check` runs):
 *   fuzz_NAME FILE...   each file through the harness (a crash reproducer)
 *   fuzz_NAME           every file of $srcdir/tests/fuzz/corpus/NAME, then
 *                       a fixed-seed mutation run over them (bit flips,
 *                       byte sets, cuts, splices): the same inputs on every
 *                       run, a few seconds at most. */
#ifndef KW_LIBFUZZER
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"

#ifndef FUZZ_ITERATIONS
#define FUZZ_ITERATIONS	20000
#endif
#define FUZZ_MAX_SEEDS	64
#define FUZZ_MAX_LEN	16384

struct fuzz_seeds {
	uint8_t *p[FUZZ_MAX_SEEDS];
	size_t len[FUZZ_MAX_SEEDS];
	size_t n;
};

static uint32_t
fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Read every regular file of dir (sorted: the run is reproducible). */
static int
fuzz_load(const char *dir, struct fuzz_seeds *sd)
{
	struct dirent **ents = NULL;
	char path[4096];
	int count, n, i, r = KW_OK;

	if ((count = scandir(dir, &ents, NULL, alphasort)) < 0) {
		fprintf(stderr, "fuzz_%s: cannot read the corpus %s\n",
		    FUZZ_NAME, dir);
		return KW_ERR_IO;
	}
	for (i = 0; i < count; i++) {
		if (ents[i]->d_name[0] != '.' && sd->n < FUZZ_MAX_SEEDS &&
		    r == KW_OK) {
			n = snprintf(path, sizeof(path), "%s/%s", dir,
			    ents[i]->d_name);
			r = n < 0 || (size_t)n >= sizeof(path) ? KW_ERR_SPACE :
			    kw_file_read(path, FUZZ_MAX_LEN, &sd->p[sd->n],
			    &sd->len[sd->n]);
			if (r == KW_OK)
				sd->n++;
			else
				fprintf(stderr, "fuzz_%s: cannot read %s\n",
				    FUZZ_NAME, path);
		}
		free(ents[i]);
	}
	free(ents);
	return r;
}

int
main(int argc, char **argv)
{
	static uint8_t m[2 * FUZZ_MAX_LEN];
	struct fuzz_seeds sd;
	const char *srcdir = getenv("srcdir");
	char dir[4096];
	uint32_t seed = 0x4b57u;
	size_t len, k, n, i, j;
	uint8_t *buf;
	int bad = 0, it;

	memset(&sd, 0, sizeof(sd));
	kw_log_setup(KW_LOG_ERROR, 0);
	if (argc > 1) {
		for (it = 1; it < argc; it++) {
			if (kw_file_read(argv[it], 1u << 20, &buf, &len) !=
			    KW_OK) {
				fprintf(stderr, "fuzz_%s: cannot read %s\n",
				    FUZZ_NAME, argv[it]);
				bad = 1;
				continue;
			}
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
		}
		return bad;
	}
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
	    srcdir != NULL ? srcdir : ".", FUZZ_NAME);
	if (fuzz_load(dir, &sd) != KW_OK || sd.n == 0) {
		fprintf(stderr, "fuzz_%s: no seed in %s\n", FUZZ_NAME, dir);
		bad = 1;
		goto out;
	}
	/* the parsers log every refusal: keep the test log readable */
	if (freopen("/dev/null", "w", stderr) == NULL) {
		bad = 1;
		goto out;
	}
	for (i = 0; i < sd.n; i++)
		LLVMFuzzerTestOneInput(sd.p[i], sd.len[i]);
	for (it = 0; it < FUZZ_ITERATIONS; it++) {
		i = fuzz_rand(&seed) % sd.n;
		len = sd.len[i];
		memcpy(m, sd.p[i], len);
		n = 1 + fuzz_rand(&seed) % 4;
		for (k = 0; k < n && len > 0; k++) {
			size_t at = fuzz_rand(&seed) % len;

			if (fuzz_rand(&seed) % 2)
				m[at] ^= (uint8_t)(1u << (fuzz_rand(&seed) % 8));
			else
				m[at] = (uint8_t)fuzz_rand(&seed);
		}
		switch (fuzz_rand(&seed) % 6) {
		case 0:		/* cut */
			len = fuzz_rand(&seed) % (len + 1);
			break;
		case 1:		/* splice in the tail of another seed */
			j = fuzz_rand(&seed) % sd.n;
			k = sd.len[j] > 0 ? fuzz_rand(&seed) % sd.len[j] : 0;
			len = len > 0 ? fuzz_rand(&seed) % len : 0;
			memcpy(m + len, sd.p[j] + k, sd.len[j] - k);
			len += sd.len[j] - k;
			break;
		default:
			break;
		}
		LLVMFuzzerTestOneInput(m, len);
	}
	printf("fuzz_%s: %zu seeds and %d mutated inputs, no crash\n",
	    FUZZ_NAME, sd.n, FUZZ_ITERATIONS);
out:
	for (i = 0; i < sd.n; i++)
		free(sd.p[i]);
	return bad;
}
#endif
