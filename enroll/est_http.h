/* A minimal HTTP/1.1 client layer for EST and ACME: one request per connection
 * ("Connection: close"), responses parsed by Debian's http-parser with
 * strict limits.  The transport is a pair of callbacks so the parser can
 * be tested without TLS; est_client.c plugs wolfSSL in. */
#ifndef EST_HTTP_H
#define EST_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define EST_HTTP_MAX_HEADERS	48		/* header lines kept */
#define EST_HTTP_MAX_HEAD	(16 * 1024)	/* status line + headers */
#define EST_HTTP_MAX_BODY	(256 * 1024)	/* default body limit */
#define EST_HTTP_MAX_RETRY	86400		/* Retry-After cap, seconds */
#define EST_HTTP_MAX_INTERIM	8		/* 1xx answers before the final */

/* An https URL split up (http_parser_parse_url): host, port (default 443)
 * and path ("/.well-known/est" appended when absent). */
struct est_url {
	char host[256];
	unsigned port;
	char path[512];			/* base: ".../.well-known/est[/label]" */
	char hostport[300];		/* "host:port" ([v6]:port) */
};
int est_url_parse(const char *url, struct est_url *out);

/* Build a request.  user/password: HTTP Basic (both or neither).  The
 * buffer may hold the password (base64): free it with kw_freezero(*out,
 * *out_len + 1); it is NUL-terminated after *out_len bytes. */
struct est_http_req {
	const char *method;		/* "GET", "POST" */
	const char *host;		/* Host: header (host[:port]) */
	const char *path;
	const char *user;
	const char *password;
	const char *content_type;	/* POST: e.g. "application/pkcs10" */
	int base64_body;		/* add Content-Transfer-Encoding: base64 */
	const uint8_t *body;
	size_t body_len;
};
int est_http_req_build(const struct est_http_req *req, char **out,
    size_t *out_len);

struct est_http_resp;

/* A response parser with a body limit (0: EST_HTTP_MAX_BODY). */
int est_http_resp_new(size_t max_body, struct est_http_resp **out);
void est_http_resp_free(struct est_http_resp *r);
/* Feed bytes; len 0 means the peer closed the connection.  *done is set
 * once a complete final response was parsed.  Errors: KW_ERR_PROTOCOL
 * (malformed HTTP, too large, truncated). */
int est_http_resp_feed(struct est_http_resp *r, const uint8_t *data,
    size_t len, int *done);
int est_http_resp_status(const struct est_http_resp *r);
/* "HTTP/1.1 404 Not Found" style summary, printable. */
const char *est_http_resp_status_line(const struct est_http_resp *r);
/* First header with this name (case-insensitive), or NULL. */
const char *est_http_resp_header(const struct est_http_resp *r,
    const char *name);
const uint8_t *est_http_resp_body(const struct est_http_resp *r, size_t *len);
/* Retry-After as seconds (delta-seconds or HTTP-date relative to now),
 * clamped to [1, EST_HTTP_MAX_RETRY]; def when absent or unparsable. */
unsigned est_http_retry_after(const struct est_http_resp *r, unsigned def);
/* Media type without parameters, lower-cased, e.g. "application/pkcs7-mime"
 * (empty string when absent). */
int est_http_media_type(const struct est_http_resp *r, char *buf, size_t len);

/* Transport: read returns bytes read (0 at EOF) or a negative KW_ERR_*. */
struct est_io {
	long (*read)(void *arg, uint8_t *buf, size_t len);
	long (*write)(void *arg, const uint8_t *buf, size_t len);
	void *arg;
};
/* Send req, read a whole response into a fresh *out. */
int est_http_exchange(const struct est_io *io, const char *req, size_t req_len,
    size_t max_body, struct est_http_resp **out);

/* Map a final status to an error: 200 OK, 202 KW_ERR_PENDING, 401/403
 * KW_ERR_AUTH, other KW_ERR_PROTOCOL (the status line is logged with
 * what). */
int est_http_status_err(const struct est_http_resp *r, const char *what);

#endif
