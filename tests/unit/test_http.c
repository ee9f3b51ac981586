/* Unit tests for enroll/est_http.c: URL parsing, request building, and
 * response parsing (Content-Length, chunked, split at every byte, limits,
 * truncation, status mapping, Retry-After). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kw_error.h"
#include "kw_mem.h"
#include "enroll/est_http.h"

/* Feed a whole response, optionally in pieces of step bytes, then EOF. */
static int
feed(const char *raw, size_t step, size_t max_body, struct est_http_resp **out)
{
	struct est_http_resp *r;
	size_t len = strlen(raw), off = 0, n;
	int done = 0, rc;

	assert_int_equal(est_http_resp_new(max_body, &r), KW_OK);
	while (off < len && !done) {
		n = step == 0 || len - off < step ? len - off : step;
		if ((rc = est_http_resp_feed(r, (const uint8_t *)raw + off, n,
		    &done)) != 0)
			goto fail;
		off += n;
	}
	if (!done && (rc = est_http_resp_feed(r, NULL, 0, &done)) != 0)
		goto fail;
	if (!done) {
		rc = KW_ERR_PROTOCOL;
		goto fail;
	}
	*out = r;
	return KW_OK;
fail:
	est_http_resp_free(r);
	*out = NULL;
	return rc;
}

static const char resp_cl[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "QUJD\r\nREVG\r\n";

static const char resp_chunked[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/pkcs7-mime\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nQUJD\r\r\n"
    "7;ext=1\r\n\nREVG\r\n\r\n"
    "0\r\n"
    "X-Trailer: yes\r\n"
    "\r\n";

static void
test_content_length(void **state)
{
	struct est_http_resp *r;
	const uint8_t *b;
	char mt[64];
	size_t bl, step;

	(void)state;
	for (step = 0; step < 20; step++) {
		assert_int_equal(feed(resp_cl, step, 0, &r), KW_OK);
		assert_int_equal(est_http_resp_status(r), 200);
		assert_string_equal(est_http_resp_header(r,
		    "content-transfer-encoding"), "base64");
		assert_int_equal(est_http_media_type(r, mt, sizeof(mt)), KW_OK);
		assert_string_equal(mt, "application/pkcs7-mime");
		b = est_http_resp_body(r, &bl);
		assert_int_equal(bl, 12);
		assert_memory_equal(b, "QUJD\r\nREVG\r\n", 12);
		assert_int_equal(est_http_status_err(r, "t"), KW_OK);
		est_http_resp_free(r);
	}
}

static void
test_chunked(void **state)
{
	struct est_http_resp *r;
	const uint8_t *b;
	size_t bl, step;

	(void)state;
	for (step = 0; step < 30; step++) {
		assert_int_equal(feed(resp_chunked, step, 0, &r), KW_OK);
		b = est_http_resp_body(r, &bl);
		assert_int_equal(bl, 12);
		assert_memory_equal(b, "QUJD\r\nREVG\r\n", 12);
		est_http_resp_free(r);
	}
}

static void
test_truncated(void **state)
{
	struct est_http_resp *r;
	char buf[512];
	size_t n;

	(void)state;
	/* every prefix of a framed response is refused at EOF */
	for (n = 0; n < strlen(resp_cl); n++) {
		memcpy(buf, resp_cl, n);
		buf[n] = '\0';
		assert_int_equal(feed(buf, 0, 0, &r), KW_ERR_PROTOCOL);
	}
	for (n = 0; n < strlen(resp_chunked) - 2; n++) {
		memcpy(buf, resp_chunked, n);
		buf[n] = '\0';
		assert_int_equal(feed(buf, 0, 0, &r), KW_ERR_PROTOCOL);
	}
}

static void
test_malformed(void **state)
{
	static const char *bad[] = {
		"HTTP/1.1 2OO OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"garbage\r\n\r\n",
	};
	struct est_http_resp *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(feed(bad[i], 0, 0, &r), KW_ERR_PROTOCOL);
}

static void
test_limits(void **state)
{
	struct est_http_resp *r;
	char *big;
	size_t i, n;

	(void)state;
	/* body over the limit (Content-Length announced) */
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	    0, 10, &r), KW_ERR_PROTOCOL);
	/* chunked body over the limit */
	assert_int_equal(feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 0, 10, &r),
	    KW_ERR_PROTOCOL);
	/* headers over the limit */
	n = EST_HTTP_MAX_HEAD + 100;
	big = malloc(n + 64);
	assert_non_null(big);
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	for (i = strlen(big); i < n; i++)
		big[i] = 'a';
	strcpy(big + n, "\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(feed(big, 0, 0, &r), KW_ERR_PROTOCOL);
	/* too many header lines */
	big[0] = '\0';
	strcat(big, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < EST_HTTP_MAX_HEADERS + 1; i++)
		strcat(big, "A: b\r\n");
	strcat(big, "Content-Length: 0\r\n\r\n");
	assert_int_equal(feed(big, 0, 0, &r), KW_ERR_PROTOCOL);
	free(big);
}

static void
test_status(void **state)
{
	struct est_http_resp *r;

	(void)state;
	assert_int_equal(feed("HTTP/1.1 202 Accepted\r\nRetry-After: 7\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_status_err(r, "t"), KW_ERR_PENDING);
	assert_int_equal(est_http_retry_after(r, 60), 7);
	est_http_resp_free(r);

	assert_int_equal(feed("HTTP/1.1 202 Accepted\r\nRetry-After: soon\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_retry_after(r, 60), 60);
	est_http_resp_free(r);

	assert_int_equal(feed("HTTP/1.1 202 Accepted\r\nRetry-After: 99999999\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_retry_after(r, 60), EST_HTTP_MAX_RETRY);
	est_http_resp_free(r);

	assert_int_equal(feed("HTTP/1.1 202 Accepted\r\nRetry-After: Wed, 21 "
	    "Oct 2015 07:28:00 GMT\r\nContent-Length: 0\r\n\r\n", 0, 0, &r),
	    KW_OK);
	assert_int_equal(est_http_retry_after(r, 60), 1);	/* past */
	est_http_resp_free(r);

	assert_int_equal(feed("HTTP/1.1 401 Unauthorized\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_status_err(r, "t"), KW_ERR_AUTH);
	est_http_resp_free(r);
	assert_int_equal(feed("HTTP/1.1 403 Forbidden\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_status_err(r, "t"), KW_ERR_AUTH);
	est_http_resp_free(r);
	/* control characters never reach a log line */
	assert_int_equal(feed("HTTP/1.1 500 Internal \x01" "Error\r\n"
	    "Content-Length: 0\r\n\r\n", 0, 0, &r), KW_OK);
	assert_string_equal(est_http_resp_status_line(r),
	    "HTTP/1.1 500 Internal ?Error");
	est_http_resp_free(r);

	assert_int_equal(feed("HTTP/1.1 503 Busy\r\n"
	    "Content-Length: 3\r\n\r\nxyz", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_status_err(r, "t"), KW_ERR_PROTOCOL);
	assert_string_equal(est_http_resp_status_line(r), "HTTP/1.1 503 Busy");
	est_http_resp_free(r);

	/* an interim 100 Continue is skipped */
	assert_int_equal(feed("HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 0, &r), KW_OK);
	assert_int_equal(est_http_resp_status(r), 200);
	est_http_resp_free(r);

	/* a few interim answers are fine, an endless run of them is not */
	{
		char many[64 * 40];
		size_t i;

		many[0] = '\0';
		for (i = 0; i < EST_HTTP_MAX_INTERIM; i++)
			strcat(many, "HTTP/1.1 100 Continue\r\n\r\n");
		strcat(many, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
		assert_int_equal(feed(many, 0, 0, &r), KW_OK);
		assert_int_equal(est_http_resp_status(r), 200);
		est_http_resp_free(r);
		many[0] = '\0';
		for (i = 0; i < 40; i++)
			strcat(many, "HTTP/1.1 100 Continue\r\n\r\n");
		assert_int_equal(feed(many, 7, 0, &r), KW_ERR_PROTOCOL);
		assert_null(r);
	}

	/* body until EOF (no framing) parses; the EST client refuses it */
	assert_int_equal(feed("HTTP/1.0 200 OK\r\n\r\nabc", 0, 0, &r), KW_OK);
	assert_null(est_http_resp_header(r, "Content-Length"));
	est_http_resp_free(r);
}

static void
test_request(void **state)
{
	struct est_http_req q;
	char *out;
	size_t len;

	(void)state;
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.host = "est.example:8443";
	q.path = "/.well-known/est/simpleenroll";
	q.user = "alice";
	q.password = "s3cret";
	q.content_type = "application/pkcs10";
	q.base64_body = 1;
	q.body = (const uint8_t *)"QUJD\n";
	q.body_len = 5;
	assert_int_equal(est_http_req_build(&q, &out, &len), KW_OK);
	assert_non_null(strstr(out, "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"));
	assert_non_null(strstr(out, "Host: est.example:8443\r\n"));
	/* base64("alice:s3cret") */
	assert_non_null(strstr(out, "Authorization: Basic YWxpY2U6czNjcmV0\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/pkcs10\r\n"));
	assert_non_null(strstr(out, "Content-Transfer-Encoding: base64\r\n"));
	assert_non_null(strstr(out, "Content-Length: 5\r\n\r\nQUJD\n"));
	assert_int_equal(len, strlen(out));
	kw_freezero(out, len + 1);

	q.user = "al:ice";
	assert_int_equal(est_http_req_build(&q, &out, &len), KW_ERR_ARG);
	q.user = "alice";
	q.host = "evil\r\nX: y";
	assert_int_equal(est_http_req_build(&q, &out, &len), KW_ERR_ARG);
	q.host = "h";
	q.password = NULL;
	assert_int_equal(est_http_req_build(&q, &out, &len), KW_ERR_ARG);
}

static void
test_url(void **state)
{
	struct est_url u;

	(void)state;
	assert_int_equal(est_url_parse("https://est.example", &u), KW_OK);
	assert_string_equal(u.host, "est.example");
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/.well-known/est");
	assert_string_equal(u.hostport, "est.example:443");
	assert_int_equal(est_url_parse("https://127.0.0.1:8443/.well-known/est/"
	    "laptops/", &u), KW_OK);
	assert_string_equal(u.path, "/.well-known/est/laptops");
	assert_string_equal(u.hostport, "127.0.0.1:8443");
	assert_int_equal(est_url_parse("https://[::1]:9/", &u), KW_OK);
	assert_string_equal(u.hostport, "[::1]:9");
	assert_int_equal(est_url_parse("http://est.example", &u), KW_ERR_ARG);
	assert_int_equal(est_url_parse("https://u:p@est.example", &u), KW_ERR_ARG);
	assert_int_equal(est_url_parse("https://est.example/other", &u),
	    KW_ERR_ARG);
	assert_int_equal(est_url_parse("https://est.example/.well-known/est/a/b",
	    &u), KW_ERR_ARG);
	assert_int_equal(est_url_parse("https://est.example/?q", &u), KW_ERR_ARG);
	assert_int_equal(est_url_parse("est.example", &u), KW_ERR_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
