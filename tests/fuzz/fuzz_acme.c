/* Fuzz harness for what an ACME server sends that keyward parses itself
 * (enroll/acme_client.c, enroll/acme_jws.c): problem documents (the one
 * line shown to a user), the PEM certificate chain, base64url.
 *
 * What must hold for every input:
 * - the problem line is NUL-terminated inside the buffer, whatever its
 *   size, and holds no control character (it goes to a terminal/journal);
 * - a PEM chain accepted holds 1..EST_MAX_CERTS certificates, each one
 *   that est_cert_info reads;
 * - base64url accepted decodes to at most 3/4 of its length, and encoding
 *   the result and decoding it again gives the same bytes.
 * (The JSON itself is read by Debian's jansson.)
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/acme/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "enroll/acme.h"
#include "enroll/est_der.h"

#define FUZZ_NAME	"acme"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_problem(const uint8_t *data, size_t size, size_t buflen)
{
	char *buf;
	size_t i;

	if ((buf = malloc(buflen)) == NULL)
		return;
	if (acme_problem_format((const char *)data, size, buf, buflen) ==
	    KW_OK) {
		for (i = 0; i < buflen && buf[i] != '\0'; i++)
			if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				abort();
		if (i == buflen)
			abort();	/* not terminated */
	} else if (buf[0] != '\0')
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_certs certs;
	struct est_cert_info ci;
	uint8_t *out = NULL, *again = NULL;
	size_t ol, al, i;
	char *s, *enc = NULL;

	fuzz_problem(data, size, 1024);
	fuzz_problem(data, size, 1 + (size > 0 ? data[0] % 48 : 0));

	/* the client's bodies are NUL-terminated copies */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&certs, 0, sizeof(certs));
	if (acme_pem_certs(s, size, &certs) == KW_OK) {
		if (certs.n == 0 || certs.n > EST_MAX_CERTS)
			abort();
		for (i = 0; i < certs.n; i++)
			if (est_cert_info(certs.c[i].der, certs.c[i].len, &ci) !=
			    KW_OK)
				abort();
		est_certs_clear(&certs);
	}
	if (acme_b64url_decode(s, &out, &ol) == KW_OK) {
		if (ol > strlen(s) * 3 / 4 + 1)
			abort();
		if (acme_b64url(out, ol, &enc) != KW_OK ||
		    acme_b64url_decode(enc, &again, &al) != KW_OK ||
		    al != ol || (ol > 0 && memcmp(out, again, ol) != 0))
			abort();
	}
	free(again);
	free(enc);
	free(out);
	free(s);
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
