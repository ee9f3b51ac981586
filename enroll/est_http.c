/* HTTP/1.1 requests and strict response parsing (see est_http.h). */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "est_der.h"
#include "est_http.h"

/* ---- URL ---------------------------------------------------------------- */

int
est_url_parse(const char *url, struct est_url *out)
{
	struct http_parser_url u;
	size_t hl, pl;
	const char *path = "";
	int n;

	memset(out, 0, sizeof(*out));
	http_parser_url_init(&u);
	if (url == NULL || strlen(url) > 1000 ||
	    http_parser_parse_url(url, strlen(url), 0, &u) != 0)
		goto bad;
	if (!(u.field_set & (1 << UF_SCHEMA)) ||
	    u.field_data[UF_SCHEMA].len != 5 ||
	    strncasecmp(url + u.field_data[UF_SCHEMA].off, "https", 5) != 0) {
		kw_err("EST server URL '%s' must start with https://", url);
		return KW_ERR_ARG;
	}
	if (!(u.field_set & (1 << UF_HOST)) ||
	    (u.field_set & ((1 << UF_USERINFO) | (1 << UF_QUERY) |
	    (1 << UF_FRAGMENT))))
		goto bad;
	hl = u.field_data[UF_HOST].len;
	if (hl == 0 || hl >= sizeof(out->host))
		goto bad;
	memcpy(out->host, url + u.field_data[UF_HOST].off, hl);
	out->port = (u.field_set & (1 << UF_PORT)) ? u.port : 443;
	if (out->port == 0)
		goto bad;
	if (u.field_set & (1 << UF_PATH)) {
		path = url + u.field_data[UF_PATH].off;
		pl = u.field_data[UF_PATH].len;
	} else
		pl = 0;
	while (pl > 0 && path[pl - 1] == '/')
		pl--;
	if (pl == 0)
		n = snprintf(out->path, sizeof(out->path), "/.well-known/est");
	else
		n = snprintf(out->path, sizeof(out->path), "%.*s", (int)pl, path);
	if (n < 0 || (size_t)n >= sizeof(out->path))
		goto bad;
	if (strncmp(out->path, "/.well-known/est", 16) != 0 ||
	    (out->path[16] != '\0' && (out->path[16] != '/' ||
	    strchr(out->path + 17, '/') != NULL || out->path[17] == '\0'))) {
		kw_err("EST server URL '%s': the path must be /.well-known/est "
		    "or /.well-known/est/LABEL (RFC 7030 3.2.2)", url);
		return KW_ERR_ARG;
	}
	n = snprintf(out->hostport, sizeof(out->hostport),
	    strchr(out->host, ':') ? "[%s]:%u" : "%s:%u", out->host, out->port);
	if (n < 0 || (size_t)n >= sizeof(out->hostport))
		goto bad;
	return KW_OK;
bad:
	kw_err("EST server URL '%s' is not a valid https://HOST[:PORT]"
	    "[/.well-known/est[/LABEL]] URL", url ? url : "");
	memset(out, 0, sizeof(*out));
	return KW_ERR_ARG;
}

/* ---- requests ----------------------------------------------------------- */

int
est_http_req_build(const struct est_http_req *req, char **out,
    size_t *out_len)
{
	char *cred = NULL, *cred64 = NULL, *buf = NULL, *auth = NULL;
	size_t cl = 0, c64l = 0, cap, n, authl = 0;
	int r, k;

	*out = NULL;
	*out_len = 0;
	if (req->method == NULL || req->host == NULL || req->path == NULL ||
	    (req->user == NULL) != (req->password == NULL) ||
	    strpbrk(req->host, "\r\n") != NULL ||
	    strpbrk(req->path, "\r\n ") != NULL)
		return KW_ERR_ARG;
	if (req->user != NULL) {
		if (strchr(req->user, ':') != NULL ||
		    strpbrk(req->user, "\r\n") != NULL) {
			kw_err("HTTP Basic user name must not contain ':'");
			return KW_ERR_ARG;
		}
		cl = strlen(req->user) + 1 + strlen(req->password);
		if ((cred = malloc(cl + 1)) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		snprintf(cred, cl + 1, "%s:%s", req->user, req->password);
		if ((r = est_b64_encode((const uint8_t *)cred, cl, &cred64,
		    &c64l)) != 0)
			goto out;
		/* one line: drop the encoder's line breaks */
		for (n = 0, k = 0; cred64[n] != '\0'; n++)
			if (cred64[n] != '\n')
				cred64[k++] = cred64[n];
		cred64[k] = '\0';
		authl = (size_t)k + 32;
		if ((auth = malloc(authl)) == NULL) {
			r = KW_ERR_NOMEM;
			goto out;
		}
		snprintf(auth, authl, "Authorization: Basic %s\r\n", cred64);
	}
	/* +1: NUL-terminated for callers' convenience (not sent) */
	cap = 512 + strlen(req->host) + strlen(req->path) + authl +
	    req->body_len + 1;
	if ((buf = malloc(cap)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	k = snprintf(buf, cap,
	    "%s %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: keyward/" PACKAGE_VERSION "\r\n"
	    "Accept: */*\r\n"
	    "Connection: close\r\n"
	    "%s",
	    req->method, req->path, req->host, auth ? auth : "");
	if (k < 0 || (size_t)k >= cap) {
		r = KW_ERR_SPACE;
		goto out;
	}
	n = (size_t)k;
	if (req->body != NULL || strcmp(req->method, "POST") == 0) {
		k = snprintf(buf + n, cap - n, "%s%s%s%sContent-Length: %zu\r\n",
		    req->content_type ? "Content-Type: " : "",
		    req->content_type ? req->content_type : "",
		    req->content_type ? "\r\n" : "",
		    req->base64_body ? "Content-Transfer-Encoding: base64\r\n" : "",
		    req->body_len);
		if (k < 0 || (size_t)k >= cap - n) {
			r = KW_ERR_SPACE;
			goto out;
		}
		n += (size_t)k;
	}
	if (n + 2 + req->body_len + 1 > cap) {
		r = KW_ERR_SPACE;
		goto out;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	if (req->body_len > 0)
		memcpy(buf + n, req->body, req->body_len);
	n += req->body_len;
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	buf = NULL;
	r = KW_OK;
out:
	if (cred != NULL)
		kw_freezero(cred, cl);
	if (cred64 != NULL)
		kw_freezero(cred64, c64l);
	if (auth != NULL)
		kw_freezero(auth, authl);
	if (buf != NULL)
		kw_freezero(buf, cap);
	return r;
}

/* ---- responses ---------------------------------------------------------- */

struct est_http_hdr {
	size_t name;		/* offsets into head[] */
	size_t value;
};

struct est_http_resp {
	http_parser parser;
	http_parser_settings settings;
	char head[EST_HTTP_MAX_HEAD];
	size_t head_used;
	struct est_http_hdr hdrs[EST_HTTP_MAX_HEADERS];
	size_t nhdrs;
	int in_value;		/* last callback was a header value */
	char reason[128];
	size_t reason_len;
	char status_line[192];
	int status;
	uint8_t *body;
	size_t body_len;
	size_t body_cap;
	size_t max_body;
	int too_big;
	int bad_version;
	unsigned interim;	/* 1xx answers skipped so far */
	int done;
};

static int
est_head_append(struct est_http_resp *r, const char *at, size_t len)
{
	if (len >= sizeof(r->head) - r->head_used) {
		r->too_big = 1;
		return -1;
	}
	memcpy(r->head + r->head_used, at, len);
	r->head_used += len;
	return 0;
}

static int
est_on_status(http_parser *p, const char *at, size_t len)
{
	struct est_http_resp *r = p->data;
	size_t i;

	for (i = 0; i < len && r->reason_len < sizeof(r->reason) - 1; i++)
		r->reason[r->reason_len++] =
		    isprint((unsigned char)at[i]) ? at[i] : '?';
	r->reason[r->reason_len] = '\0';
	return 0;
}

static int
est_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct est_http_resp *r = p->data;

	if (r->nhdrs == 0 || r->in_value) {
		/* a new header: terminate the previous value */
		if (r->nhdrs > 0 && est_head_append(r, "", 1) != 0)
			return -1;
		if (r->nhdrs >= EST_HTTP_MAX_HEADERS) {
			r->too_big = 1;
			return -1;
		}
		r->hdrs[r->nhdrs].name = r->head_used;
		r->hdrs[r->nhdrs].value = 0;
		r->nhdrs++;
		r->in_value = 0;
	}
	return est_head_append(r, at, len);
}

static int
est_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct est_http_resp *r = p->data;

	if (r->nhdrs == 0)
		return -1;
	if (!r->in_value) {
		if (est_head_append(r, "", 1) != 0)
			return -1;
		r->hdrs[r->nhdrs - 1].value = r->head_used;
		r->in_value = 1;
	}
	return est_head_append(r, at, len);
}

static int
est_on_headers_complete(http_parser *p)
{
	struct est_http_resp *r = p->data;

	if (r->nhdrs > 0 && est_head_append(r, "", 1) != 0)
		return -1;
	if (r->nhdrs > 0 && !r->in_value) {	/* name without value */
		r->hdrs[r->nhdrs - 1].value = r->head_used - 1;
	}
	if (p->http_major != 1) {
		r->bad_version = 1;
		return -1;
	}
	r->status = (int)p->status_code;
	snprintf(r->status_line, sizeof(r->status_line), "HTTP/%u.%u %d %s",
	    p->http_major, p->http_minor, r->status, r->reason);
	if (p->content_length != ULLONG_MAX && p->content_length > r->max_body) {
		r->too_big = 1;
		return -1;
	}
	return 0;
}

static int
est_on_body(http_parser *p, const char *at, size_t len)
{
	struct est_http_resp *r = p->data;
	size_t cap;
	uint8_t *nb;

	if (len > r->max_body - r->body_len) {
		r->too_big = 1;
		return -1;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		cap = r->body_cap ? r->body_cap : 4096;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > r->max_body + 1)
			cap = r->max_body + 1;
		if ((nb = realloc(r->body, cap)) == NULL)
			return -1;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, at, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static int
est_on_message_complete(http_parser *p)
{
	struct est_http_resp *r = p->data;

	if (p->status_code >= 100 && p->status_code < 200) {
		/* interim response (100 Continue): forget it, keep going;
		 * a server that sends nothing else is cut short */
		if (++r->interim > EST_HTTP_MAX_INTERIM)
			return -1;
		r->head_used = 0;
		r->nhdrs = 0;
		r->in_value = 0;
		r->reason_len = 0;
		r->reason[0] = '\0';
		r->body_len = 0;
		return 0;
	}
	/* the answer is whole: what follows it in the same read (another
	 * "response", junk) must not be parsed into it */
	r->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

int
est_http_resp_new(size_t max_body, struct est_http_resp **out)
{
	struct est_http_resp *r;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return KW_ERR_NOMEM;
	r->max_body = max_body ? max_body : EST_HTTP_MAX_BODY;
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	http_parser_settings_init(&r->settings);
	r->settings.on_status = est_on_status;
	r->settings.on_header_field = est_on_header_field;
	r->settings.on_header_value = est_on_header_value;
	r->settings.on_headers_complete = est_on_headers_complete;
	r->settings.on_body = est_on_body;
	r->settings.on_message_complete = est_on_message_complete;
	*out = r;
	return KW_OK;
}

void
est_http_resp_free(struct est_http_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

int
est_http_resp_feed(struct est_http_resp *r, const uint8_t *data, size_t len,
    int *done)
{
	size_t n;

	*done = r->done;
	if (r->done)
		return KW_OK;
	n = http_parser_execute(&r->parser, &r->settings, (const char *)data,
	    len);
	if (r->too_big) {
		kw_err("HTTP response from the server is too large "
		    "(limits: %d bytes of headers, %zu bytes of body)",
		    EST_HTTP_MAX_HEAD, r->max_body);
		return KW_ERR_PROTOCOL;
	}
	if (r->bad_version) {
		kw_err("the server does not speak HTTP/1.x");
		return KW_ERR_PROTOCOL;
	}
	if (r->interim > EST_HTTP_MAX_INTERIM) {
		kw_err("the server sent more than %d interim (1xx) answers "
		    "and no final one", EST_HTTP_MAX_INTERIM);
		return KW_ERR_PROTOCOL;
	}
	if (r->done) {
		*done = 1;
		return KW_OK;
	}
	if (HTTP_PARSER_ERRNO(&r->parser) != HPE_OK || n != len ||
	    r->parser.upgrade) {
		kw_err("malformed HTTP response from the server: %s",
		    http_errno_description(HTTP_PARSER_ERRNO(&r->parser)));
		return KW_ERR_PROTOCOL;
	}
	if (len == 0) {
		kw_err("the server closed the connection before a "
		    "complete HTTP response");
		return KW_ERR_PROTOCOL;
	}
	return KW_OK;
}

int
est_http_resp_status(const struct est_http_resp *r)
{
	return r->status;
}

const char *
est_http_resp_status_line(const struct est_http_resp *r)
{
	return r->status_line;
}

const char *
est_http_resp_header(const struct est_http_resp *r, const char *name)
{
	size_t i;

	if (!r->done)
		return NULL;
	for (i = 0; i < r->nhdrs; i++)
		if (strcasecmp(r->head + r->hdrs[i].name, name) == 0)
			return r->head + r->hdrs[i].value;
	return NULL;
}

const uint8_t *
est_http_resp_body(const struct est_http_resp *r, size_t *len)
{
	*len = r->body_len;
	return r->body != NULL ? r->body : (const uint8_t *)"";
}

unsigned
est_http_retry_after(const struct est_http_resp *r, unsigned def)
{
	const char *v = est_http_resp_header(r, "Retry-After");
	unsigned long long s = 0;
	struct tm tm;
	time_t t, now;
	const char *e;
	size_t i;

	if (v == NULL)
		return def;
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		for (i = 0; isdigit((unsigned char)v[i]) && i < 12; i++)
			s = s * 10 + (unsigned)(v[i] - '0');
		e = v + i;
		while (*e == ' ' || *e == '\t')
			e++;
		if (*e != '\0')
			return def;
	} else {
		memset(&tm, 0, sizeof(tm));
		e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (e == NULL || *e != '\0')
			return def;
		t = timegm(&tm);
		now = time(NULL);
		s = t > now ? (unsigned long long)(t - now) : 1;
	}
	if (s < 1)
		s = 1;
	if (s > EST_HTTP_MAX_RETRY)
		s = EST_HTTP_MAX_RETRY;
	return (unsigned)s;
}

int
est_http_media_type(const struct est_http_resp *r, char *buf, size_t len)
{
	const char *v = est_http_resp_header(r, "Content-Type");
	size_t n = 0;

	if (len == 0)
		return KW_ERR_SPACE;
	buf[0] = '\0';
	if (v == NULL)
		return KW_OK;
	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v != '\0' && *v != ';' && *v != ' ' && *v != '\t'; v++) {
		if (n + 1 >= len)
			return KW_ERR_SPACE;
		buf[n++] = (char)tolower((unsigned char)*v);
	}
	buf[n] = '\0';
	return KW_OK;
}

int
est_http_exchange(const struct est_io *io, const char *req, size_t req_len,
    size_t max_body, struct est_http_resp **out)
{
	struct est_http_resp *resp = NULL;
	uint8_t buf[4096];
	size_t off = 0;
	long n;
	int r, done = 0;

	*out = NULL;
	if ((r = est_http_resp_new(max_body, &resp)) != 0)
		goto out;
	while (off < req_len) {
		if ((n = io->write(io->arg, (const uint8_t *)req + off,
		    req_len - off)) <= 0) {
			r = n < 0 ? (int)n : KW_ERR_IO;
			goto out;
		}
		off += (size_t)n;
	}
	while (!done) {
		if ((n = io->read(io->arg, buf, sizeof(buf))) < 0) {
			r = (int)n;
			goto out;
		}
		if ((r = est_http_resp_feed(resp, buf, (size_t)n, &done)) != 0)
			goto out;
	}
	*out = resp;
	resp = NULL;
	r = KW_OK;
out:
	est_http_resp_free(resp);
	return r;
}

/* The first line of a text/plain error body, printable ASCII only (the
 * rest as '?'), at most len - 1 bytes: what the server says went wrong,
 * e.g. a CA policy's refusal.  "" when there is none. */
static void
est_http_reason_text(const struct est_http_resp *r, char *out, size_t len)
{
	char mt[96];
	size_t i, n = 0;

	out[0] = '\0';
	if (r->body == NULL || r->body_len == 0 ||
	    est_http_media_type(r, mt, sizeof(mt)) != 0 ||
	    strcmp(mt, "text/plain") != 0)
		return;
	for (i = 0; i < r->body_len && n + 1 < len; i++) {
		uint8_t c = r->body[i];

		if (c == '\n' || c == '\r')
			break;
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[n] = '\0';
}

int
est_http_status_err(const struct est_http_resp *r, const char *what)
{
	char text[201];

	switch (r->status) {
	case 200:
		return KW_OK;
	case 202:
		return KW_ERR_PENDING;
	case 401:
	case 403:
		kw_err("%s: the EST server refused our credentials (%s)", what,
		    r->status_line);
		return KW_ERR_AUTH;
	default:
		est_http_reason_text(r, text, sizeof(text));
		kw_err("%s: the EST server answered %s%s%s", what,
		    r->status_line, text[0] != '\0' ? ": " : "", text);
		return KW_ERR_PROTOCOL;
	}
}
