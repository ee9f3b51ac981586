/* Fuzz harness for the HTTP response parser (enroll/est_http.c), which
 * reads what EST and ACME servers send.
 *
 * The first byte of the input seeds how the rest is cut into chunks (1 to
 * 64 bytes, or one byte at a time); the answer is parsed twice, in one
 * feed and chunk by chunk, and the two parses must agree: same outcome,
 * same status, same body byte for byte (a server cannot steer the parser
 * by how TCP splits its answer).  The body never exceeds the limit.
 *
 * libFuzzer: scripts/fuzz (or `make fuzz-build` in a clang build tree).
 * Otherwise a corpus + fixed-seed mutation runner (tests/fuzz/fuzz_main.h)
 * over tests/fuzz/corpus/http/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "enroll/est_http.h"

#define FUZZ_NAME	"http"
#define FUZZ_MAX_BODY	4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_http_out {
	int rc;
	int done;
	int status;
	size_t body_len;
	uint8_t body[FUZZ_MAX_BODY];
	char mt[64];
	unsigned retry;
};

/* Parse data cut into chunks (mode 0: all at once), then EOF. */
static void
fuzz_http_parse(const uint8_t *data, size_t size, uint8_t mode,
    struct fuzz_http_out *o)
{
	struct est_http_resp *r = NULL;
	const uint8_t *b;
	uint32_t s = 0x9e3779b9u ^ mode;
	size_t off = 0, n;

	memset(o, 0, sizeof(*o));
	if ((o->rc = est_http_resp_new(FUZZ_MAX_BODY, &r)) != KW_OK)
		return;
	while (off < size && o->rc == KW_OK && !o->done) {
		if (mode == 0)
			n = size;
		else if (mode == 1)
			n = 1;
		else {
			s ^= s << 13;
			s ^= s >> 17;
			s ^= s << 5;
			n = 1 + s % 64;
		}
		if (n > size - off)
			n = size - off;
		o->rc = est_http_resp_feed(r, data + off, n, &o->done);
		off += n;
	}
	if (o->rc == KW_OK && !o->done)
		o->rc = est_http_resp_feed(r, NULL, 0, &o->done);
	if (o->rc == KW_OK && o->done) {
		o->status = est_http_resp_status(r);
		if ((b = est_http_resp_body(r, &o->body_len)) == NULL &&
		    o->body_len != 0)
			abort();
		if (o->body_len > FUZZ_MAX_BODY)
			abort();
		if (o->body_len > 0)
			memcpy(o->body, b, o->body_len);
		if (est_http_resp_status_line(r) == NULL)
			abort();
		(void)est_http_resp_header(r, "location");
		o->retry = est_http_retry_after(r, 7);
		if (o->retry < 1 || o->retry > EST_HTTP_MAX_RETRY)
			abort();
		if (est_http_media_type(r, o->mt, sizeof(o->mt)) != KW_OK)
			o->mt[0] = '\0';
		(void)est_http_status_err(r, "fuzz");
	}
	est_http_resp_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_http_out whole, cut;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = (uint8_t)(data[0] % 4 == 0 ? 1 : 2 + data[0]);
	data++;
	size--;
	fuzz_http_parse(data, size, 0, &whole);
	fuzz_http_parse(data, size, mode, &cut);
	if ((whole.rc == KW_OK) != (cut.rc == KW_OK) || whole.done != cut.done)
		abort();
	if (whole.rc == KW_OK && whole.done &&
	    (whole.status != cut.status || whole.body_len != cut.body_len ||
	    memcmp(whole.body, cut.body, whole.body_len) != 0 ||
	    strcmp(whole.mt, cut.mt) != 0))
		abort();
	return 0;
}

#include "tests/fuzz/fuzz_main.h"
