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
 * Without libFuzzer (the build's check program): each file named on the
 * command line is run through the parsers; with no argument, a fixed-seed
 * mutation run over the test vectors (tests/enroll/vectors.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "enroll/est_der.h"
#include "enroll/est_http.h"

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

#ifndef KW_LIBFUZZER
#include "tests/enroll/vectors.h"

static uint32_t
fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int
main(int argc, char **argv)
{
	static const char http[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime\r\n"
	    "Transfer-Encoding: chunked\r\nRetry-After: 5\r\n\r\n"
	    "5\r\nQUJD\n\r\n0\r\n\r\n";
	const struct {
		const uint8_t *p;
		size_t len;
	} seeds[] = {
		{ p7_der, sizeof(p7_der) },
		{ csrattrs_der, sizeof(csrattrs_der) },
		{ ca_der, sizeof(ca_der) },
		{ (const uint8_t *)http, sizeof(http) - 1 },
	};
	uint8_t *buf, m[4096];
	uint32_t seed = 0x4b57u;
	size_t len, i, k, n;
	int bad = 0, it;

	kw_log_setup(KW_LOG_ERROR, 0);
	if (argc > 1) {
		for (it = 1; it < argc; it++) {
			if (kw_file_read(argv[it], 1u << 20, &buf, &len) != KW_OK) {
				fprintf(stderr, "fuzz_est: cannot read %s\n", argv[it]);
				bad = 1;
				continue;
			}
			LLVMFuzzerTestOneInput(buf, len);
			free(buf);
		}
		return bad;
	}
	/* the parsers log every refusal: keep the test log readable */
	if (freopen("/dev/null", "w", stderr) == NULL)
		return 1;
	for (it = 0; it < 20000; it++) {
		i = fuzz_rand(&seed) % (sizeof(seeds) / sizeof(seeds[0]));
		len = seeds[i].len;
		memcpy(m, seeds[i].p, len);
		n = 1 + fuzz_rand(&seed) % 4;
		for (k = 0; k < n; k++)
			m[fuzz_rand(&seed) % len] ^= (uint8_t)(1u << (fuzz_rand(&seed) % 8));
		if (fuzz_rand(&seed) % 4 == 0)
			len = fuzz_rand(&seed) % (len + 1);
		LLVMFuzzerTestOneInput(m, len);
	}
	printf("fuzz_est: 20000 mutated inputs, no crash\n");
	return 0;
}
#endif
