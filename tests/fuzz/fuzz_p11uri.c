/* Fuzz harness for the PKCS#11 URI parser (pkcs11/p11_uri.c, RFC 7512):
 * URIs come from configuration files and the command line.
 *
 * What must hold for every input:
 * - a refusal leaves *out NULL and a one-line message in errbuf (no
 *   control character: the URI's bytes are quoted in it);
 * - an accepted URI's id and object, written back with p11_uri_append
 *   (every byte percent-encoded) and parsed again, are the same bytes;
 * - p11_uri_pin_file either names a path or says why not.
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/p11uri/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "pkcs11/p11_uri.h"

#define FUZZ_NAME	"p11uri"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p11_uri *u = NULL, *v = NULL;
	char err[256], *s, *w = NULL;
	const char *path;
	size_t wl, used;
	int r;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	err[0] = '\0';
	if (p11_uri_parse(s, &u, err, sizeof(err)) != KW_OK) {
		if (u != NULL || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		for (wl = 0; err[wl] != '\0'; wl++)
			if ((unsigned char)err[wl] < 0x20 || err[wl] == 0x7f)
				abort();	/* not one line */
		goto out;
	}
	if (u == NULL)
		abort();
	r = p11_uri_pin_file(u, &path, err, sizeof(err));
	if ((r == KW_OK) != (path != NULL))
		abort();
	/* id and object written back, every byte encoded, read back */
	wl = 32 + 3 * (u->id_len + (u->object ? strlen(u->object) : 0));
	if ((w = malloc(wl)) == NULL)
		goto out;
	strcpy(w, "pkcs11:");
	used = strlen(w);
	if (u->has_id && p11_uri_append(w, wl, &used, "id", u->id, u->id_len,
	    1) != KW_OK)
		abort();
	if (u->object != NULL && p11_uri_append(w, wl, &used, "object",
	    (const uint8_t *)u->object, strlen(u->object), 1) != KW_OK)
		abort();
	if (p11_uri_parse(w, &v, err, sizeof(err)) != KW_OK ||
	    v->has_id != u->has_id || v->id_len != u->id_len ||
	    (u->id_len > 0 && memcmp(v->id, u->id, u->id_len) != 0) ||
	    (u->object == NULL) != (v->object == NULL) ||
	    (u->object != NULL && strcmp(u->object, v->object) != 0))
		abort();
out:
	p11_uri_free(v);
	p11_uri_free(u);
	free(w);
	free(s);
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
