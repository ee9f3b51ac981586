/* Fuzz harness for what an EST server sends: HTTP responses, base64,
 * PKCS#7 certs-only, certificates, csrattrs (enroll/est_http.c,
 * enroll/est_der.c).
 *
 * libFuzzer, from the top of a configured build tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DKW_LIBFUZZER \
 *     -I$SRC -I$SRC/common -include config.h $SRC/tests/enroll/fuzz_est.c \
 *     $SRC/enroll/est_der.c $SRC/enroll/est_http.c $SRC/common/kw_der.c \
 *     common/libkwcommon.a -lhttp_parser -lwolfssl -lsystemd -o fuzz_est
 *   ./fuzz_est -max_len=8192 CORPUS_DIR
 * (or scripts/fuzz / `make fuzz-build`).  Otherwise a corpus + fixed-seed
 * mutation runner (tests/fuzz/fuzz_main.h) over tests/fuzz/corpus/est/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "enroll/est_der.h"
#include "enroll/est_http.h"

#define FUZZ_NAME	"est"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_certs certs;
	struct est_cert_info ci;
	struct est_csrattrs attrs;
	struct est_http_resp *r = NULL;
	uint8_t *out = NULL;
	size_t ol, i, cut;
	int done = 0;
	char mt[64];

	if (est_pkcs7_certs(data, size, &certs) == KW_OK) {
		if (certs.n == 0 || certs.n > EST_MAX_CERTS)
			abort();
		for (i = 0; i < certs.n; i++)
			if (est_cert_info(certs.c[i].der, certs.c[i].len, &ci) !=
			    KW_OK)
				abort();
		est_certs_clear(&certs);
	}
	(void)est_cert_info(data, size, &ci);
	if (est_csrattrs_parse(data, size, &attrs) == KW_OK) {
		if (attrs.nsans > EST_MAX_SANS || attrs.nunknown > EST_MAX_ATTRS)
			abort();
		est_csrattrs_clear(&attrs);
	}
	if (est_b64_decode((const char *)data, size, &out, &ol) == KW_OK) {
		if (ol > size)
			abort();
		free(out);
	}
	/* HTTP: the first byte picks where the input is split in two feeds */
	if (est_http_resp_new(4096, &r) != KW_OK)
		return 0;
	cut = size > 0 ? data[0] % (size + 1) : 0;
	if (est_http_resp_feed(r, data, cut, &done) == KW_OK && !done &&
	    est_http_resp_feed(r, data + cut, size - cut, &done) == KW_OK &&
	    !done)
		(void)est_http_resp_feed(r, NULL, 0, &done);
	if (done) {
		(void)est_http_resp_body(r, &ol);
		if (ol > 4096)
			abort();
		(void)est_http_retry_after(r, 1);
		(void)est_http_media_type(r, mt, sizeof(mt));
	}
	est_http_resp_free(r);
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
