/* The EST client (RFC 7030), see est.h.
 *
 * Trust, in order:
 *  - --ca FILE: the TLS server is verified against FILE; the /cacerts it
 *    then sends over that authenticated channel become the EST CA
 *    certificates (RFC 7030 4.1.3) that issued certificates must chain to.
 *  - --ca-fingerprint: first contact (RFC 7030 4.1.1 bootstrap).  /cacerts
 *    is fetched over a provisional TLS connection that carries nothing
 *    else (no password, no client certificate); one certificate in it must
 *    have the pinned SHA-256 fingerprint, it becomes the trust anchor, and
 *    every later connection (csrattrs, enroll) verifies the server against
 *    it.  Nothing is trusted on first use without the pin.
 * Basic credentials and client certificates are only ever sent over a
 * verified connection. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "est.h"
#include "est_http.h"

#define EST_DEFAULT_TIMEOUT_MS	30000

struct est_client {
	struct est_url url;
	char *ca_file;
	char pin[65];			/* pinned fingerprint, or "" */
	char *user;
	char *password;
	struct kw_key *client_key;
	char *client_cert_file;
	uint8_t *client_cert_der;	/* or this (from a token) */
	size_t client_cert_der_len;
	int timeout_ms;			/* bounds each whole exchange */
	const struct kw_cancel *cancel;	/* fired: stop now */
	int trusted;			/* anchors established */
	struct est_certs anchors;	/* EST CA certificates */
	struct kw_tls_ctx *tls;		/* verified context (lazily) */
};

/* ---- fingerprints ------------------------------------------------------- */

int
est_fingerprint(const uint8_t *der, size_t len, char out[65])
{
	uint8_t h[32];
	size_t i;

	out[0] = '\0';
	if (wc_Sha256Hash(der, (word32)len, h) != 0)
		return KW_ERR_CRYPTO;
	for (i = 0; i < sizeof(h); i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
	return KW_OK;
}

int
est_fingerprint_parse(const char *in, char out[65])
{
	size_t n = 0;
	const char *p = in;

	out[0] = '\0';
	if (strncasecmp(p, "sha256:", 7) == 0 || strncasecmp(p, "sha256=", 7) == 0)
		p += 7;
	for (; *p != '\0'; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F')) || n >= 64)
			goto bad;
		out[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	}
	if (n != 64)
		goto bad;
	out[64] = '\0';
	return KW_OK;
bad:
	kw_err("CA fingerprint '%s' is not a SHA-256 fingerprint (64 hex "
	    "digits, ':' allowed)", in);
	out[0] = '\0';
	return KW_ERR_ARG;
}

/* ---- certificate checks (wolfSSL cert manager) -------------------------- */

/* Load anchors, then any CA certificate of extra that chains to what is
 * loaded (repeatedly, so intermediates may come in any order). */
static int
est_cm_build(const struct est_certs *anchors, const struct est_certs *extra,
    WOLFSSL_CERT_MANAGER **out)
{
	WOLFSSL_CERT_MANAGER *cm;
	struct est_cert_info ci;
	int loaded[EST_MAX_CERTS] = { 0 };
	size_t i, nloaded = 0;
	int progress, r;

	*out = NULL;
	if ((cm = wolfSSL_CertManagerNew()) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < anchors->n; i++) {
		if ((r = wolfSSL_CertManagerLoadCABuffer(cm, anchors->c[i].der,
		    (long)anchors->c[i].len, WOLFSSL_FILETYPE_ASN1)) !=
		    WOLFSSL_SUCCESS) {
			kw_warn("EST CA certificate %zu could not be loaded as a "
			    "trust anchor (wolfSSL error %d)", i + 1, r);
			continue;
		}
		nloaded++;
	}
	if (nloaded == 0) {
		wolfSSL_CertManagerFree(cm);
		kw_err("no usable EST CA certificate");
		return KW_ERR_CERT;
	}
	do {
		progress = 0;
		for (i = 0; extra != NULL && i < extra->n; i++) {
			if (loaded[i] ||
			    est_cert_info(extra->c[i].der, extra->c[i].len, &ci) != 0 ||
			    !ci.is_ca)
				continue;
			if (wolfSSL_CertManagerVerifyBuffer(cm, extra->c[i].der,
			    (long)extra->c[i].len, WOLFSSL_FILETYPE_ASN1) !=
			    WOLFSSL_SUCCESS)
				continue;
			if (wolfSSL_CertManagerLoadCABuffer(cm, extra->c[i].der,
			    (long)extra->c[i].len, WOLFSSL_FILETYPE_ASN1) ==
			    WOLFSSL_SUCCESS) {
				loaded[i] = 1;
				progress = 1;
			}
		}
	} while (progress);
	*out = cm;
	return KW_OK;
}

int
est_verify_issued(const struct est_certs *anchors, struct est_certs *certs,
    const uint8_t *spki, size_t spki_len)
{
	WOLFSSL_CERT_MANAGER *cm = NULL;
	struct est_cert_info ci;
	uint8_t *tder;
	size_t i, tlen, leaf = (size_t)-1;
	int r, w;

	for (i = 0; i < certs->n; i++) {
		if (est_cert_info(certs->c[i].der, certs->c[i].len, &ci) != 0)
			continue;
		if (ci.spki_len == spki_len &&
		    memcmp(ci.spki, spki, spki_len) == 0 && !ci.is_ca) {
			leaf = i;
			break;
		}
	}
	if (leaf == (size_t)-1) {
		kw_err("the CA issued a certificate for a different public key "
		    "than the hardware key's: rejected, nothing stored");
		r = KW_ERR_KEY_MISMATCH;
		goto out;
	}
	if (leaf != 0) {		/* leaf first */
		tder = certs->c[0].der;
		tlen = certs->c[0].len;
		certs->c[0] = certs->c[leaf];
		certs->c[leaf].der = tder;
		certs->c[leaf].len = tlen;
	}
	if ((r = est_cm_build(anchors, certs, &cm)) != 0)
		goto out;
	if ((w = wolfSSL_CertManagerVerifyBuffer(cm, certs->c[0].der,
	    (long)certs->c[0].len, WOLFSSL_FILETYPE_ASN1)) != WOLFSSL_SUCCESS) {
		kw_err("the certificate the CA issued does not chain to the "
		    "CA's certificates (or is not valid now: wolfSSL error "
		    "%d): rejected, nothing stored", w);
		r = KW_ERR_PEER_VERIFY;
		goto out;
	}
	r = KW_OK;
out:
	if (cm != NULL)
		wolfSSL_CertManagerFree(cm);
	return r;
}

/* ---- transports --------------------------------------------------------- */

struct est_conn {
	WOLFSSL_CTX *prov_ctx;		/* provisional only */
	WOLFSSL *ssl;
	int fd;				/* non-blocking */
	int64_t deadline;		/* kw_now_ms() at which we give up */
	int timeout_ms;			/* for the message */
	const struct kw_cancel *cancel;
	const char *peer;		/* "host:port" */
	const char *what;		/* "EST", "ACME": for messages */
};

/* Wait for the socket within the exchange's deadline (--timeout bounds
 * connect, TLS, request and response together, so a server that trickles
 * or answers "100 Continue" forever cannot hold us) or until cancelled. */
static int
est_conn_wait(struct est_conn *c, short events)
{
	int r;

	r = kw_cancel_wait(c->cancel, c->fd, events, c->deadline);
	if (r == KW_ERR_TIMEOUT)
		kw_err("%s server %s timed out: the exchange (connect, TLS, "
		    "request and answer) did not finish within %d s", c->what,
		    c->peer, (c->timeout_ms + 999) / 1000);
	else if (r == KW_ERR_CANCELLED)
		kw_info("%s exchange with %s cancelled", c->what, c->peer);
	return r;
}

/* KW_OK to retry the wolfSSL call after waiting, else a KW_ERR_*. */
static int
est_conn_retry(struct est_conn *c, int e)
{
	if (e == WOLFSSL_ERROR_WANT_READ)
		return est_conn_wait(c, POLLIN);
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		return est_conn_wait(c, POLLOUT);
	return KW_ERR_IO;
}

/* Plain HTTP (SCEP's usual transport): the same deadline and cancel. */
static long
est_plain_read(struct est_conn *c, uint8_t *buf, size_t len)
{
	ssize_t n;
	int r;

	for (;;) {
		n = recv(c->fd, buf, len > 65536 ? 65536 : len, 0);
		if (n >= 0)
			return (long)n;
		if (errno == ECONNRESET)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return KW_ERR_IO;
		if ((r = est_conn_wait(c, POLLIN)) != KW_OK)
			return r;
	}
}

static long
est_plain_write(struct est_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t n;
	int r;

	for (;;) {
		n = send(c->fd, buf, len > 65536 ? 65536 : len, MSG_NOSIGNAL);
		if (n > 0)
			return (long)n;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return KW_ERR_IO;
		if ((r = est_conn_wait(c, POLLOUT)) != KW_OK)
			return r;
	}
}

static long
est_conn_read(void *arg, uint8_t *buf, size_t len)
{
	struct est_conn *c = arg;
	int n, e, r;

	if (c->ssl == NULL)
		return est_plain_read(c, buf, len);
	for (;;) {
		n = wolfSSL_read(c->ssl, buf, (int)(len > 65536 ? 65536 : len));
		if (n > 0)
			return n;
		e = wolfSSL_get_error(c->ssl, n);
		if (e == WOLFSSL_ERROR_ZERO_RETURN || e == SOCKET_PEER_CLOSED_E ||
		    e == WOLFSSL_ERROR_SYSCALL)
			return 0; /* EOF: the HTTP parser decides if complete */
		if ((r = est_conn_retry(c, e)) == KW_ERR_IO)
			return kw_wolf_err(e, "reading from the server");
		if (r != KW_OK)
			return r;
	}
}

static long
est_conn_write(void *arg, const uint8_t *buf, size_t len)
{
	struct est_conn *c = arg;
	int n, e, r;

	if (c->ssl == NULL)
		return est_plain_write(c, buf, len);
	for (;;) {
		n = wolfSSL_write(c->ssl, buf, (int)(len > 65536 ? 65536 : len));
		if (n > 0)
			return n;
		e = wolfSSL_get_error(c->ssl, n);
		if ((r = est_conn_retry(c, e)) == KW_ERR_IO)
			return kw_wolf_err(e, "writing to the server");
		if (r != KW_OK)
			return r;
	}
}

/* The TLS handshake on the non-blocking socket, within the deadline.
 * KW_OK, KW_ERR_TIMEOUT, KW_ERR_CANCELLED, or KW_ERR_HANDSHAKE with *w
 * the failed wolfSSL_connect's return. */
static int
est_conn_handshake(struct est_conn *c, int *w)
{
	int r, e;

	for (;;) {
		if ((*w = wolfSSL_connect(c->ssl)) == WOLFSSL_SUCCESS)
			return KW_OK;
		e = wolfSSL_get_error(c->ssl, *w);
		if ((r = est_conn_retry(c, e)) == KW_ERR_IO)
			return KW_ERR_HANDSHAKE;
		if (r != KW_OK)
			return r;
	}
}

static void
est_conn_close(struct est_conn *c)
{
	if (c->ssl != NULL) {
		(void)wolfSSL_shutdown(c->ssl);	/* non-blocking: best effort */
		wolfSSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	if (c->prov_ctx != NULL)
		wolfSSL_CTX_free(c->prov_ctx);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* A fresh connection's bounds: one deadline for the whole exchange. */
static void
est_conn_init(struct est_conn *c, const struct est_url *u, int timeout_ms,
    const struct kw_cancel *cancel)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->deadline = kw_deadline(timeout_ms);
	c->cancel = cancel;
	c->peer = u->hostport;
	c->what = "EST";
}

/* TCP connect (non-blocking; the socket stays so) within c's deadline. */
static int
est_tcp_connect(const struct est_url *u, struct est_conn *c)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	socklen_t sl;
	int fd = -1, r = KW_ERR_NETWORK, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", u->port);
	if ((r = kw_cancel_getaddrinfo(c->cancel, u->host, port, &hints,
	    c->deadline, &res, &err)) != KW_OK) {
		if (r == KW_ERR_NETWORK)
			kw_err("cannot resolve %s server %s: %s", c->what,
			    u->host, gai_strerror(err));
		else if (r == KW_ERR_TIMEOUT)
			kw_err("%s server %s timed out: no address for %s "
			    "within %d s", c->what, u->hostport, u->host,
			    (c->timeout_ms + 999) / 1000);
		return r;
	}
	r = KW_ERR_NETWORK;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol)) < 0)
			continue;
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			r = KW_OK;
			break;
		}
		err = 0;
		sl = sizeof(err);
		if (errno == EINPROGRESS &&
		    (r = est_conn_wait(c, POLLOUT)) == KW_OK &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 &&
		    err == 0)
			break;
		close(fd);
		c->fd = fd = -1;
		if (r == KW_ERR_TIMEOUT || r == KW_ERR_CANCELLED)
			break;
		r = KW_ERR_NETWORK;
	}
	freeaddrinfo(res);
	if (r == KW_ERR_NETWORK)
		kw_err("cannot connect to %s server %s", c->what, u->hostport);
	return r;
}

/* A TLS connection whose server is NOT verified: only for fetching
 * /cacerts during the fingerprint bootstrap (nothing secret is sent). */
static int
est_conn_provisional(const struct est_url *u, int timeout_ms,
    const struct kw_cancel *cancel, struct est_conn *c)
{
	int r, w;

	est_conn_init(c, u, timeout_ms, cancel);
	if ((c->prov_ctx = wolfSSL_CTX_new(wolfSSLv23_client_method())) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	wolfSSL_CTX_set_verify(c->prov_ctx, WOLFSSL_VERIFY_NONE, NULL);
	if ((r = est_tcp_connect(u, c)) != 0)
		goto out;
	if ((c->ssl = wolfSSL_new(c->prov_ctx)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	(void)wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, u->host,
	    (unsigned short)strlen(u->host));
	if (wolfSSL_set_fd(c->ssl, c->fd) != WOLFSSL_SUCCESS) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	if ((r = est_conn_handshake(c, &w)) == KW_ERR_HANDSHAKE) {
		(void)kw_wolf_err(wolfSSL_get_error(c->ssl, w),
		    "TLS handshake with the EST server");
		kw_err("TLS handshake with EST server %s failed", u->hostport);
	}
out:
	if (r != KW_OK)
		est_conn_close(c);
	return r;
}

static int
est_write_tmp_pem(const struct est_certs *certs, char *path, size_t pathlen)
{
	const char *dir = getenv("TMPDIR");
	char *pem = NULL;
	size_t len, off = 0;
	ssize_t n;
	int fd = -1, r;

	path[0] = '\0';
	if ((r = est_certs_pem(certs, 0, &pem, &len)) != 0)
		goto out;
	snprintf(path, pathlen, "%s/keyward-est-ca.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		kw_err("cannot create a temporary file in %s", dir ? dir : "/tmp");
		path[0] = '\0';
		r = KW_ERR_IO;
		goto out;
	}
	while (off < len) {
		if ((n = write(fd, pem + off, len - off)) <= 0) {
			r = KW_ERR_IO;
			goto out;
		}
		off += (size_t)n;
	}
	r = KW_OK;
out:
	if (fd >= 0)
		close(fd);
	if (r != KW_OK && path[0] != '\0') {
		unlink(path);
		path[0] = '\0';
	}
	free(pem);
	return r;
}

/* The verified context: server checked against --ca or the pinned CA. */
static int
est_tls_ctx(struct est_client *c)
{
	struct kw_tls_conf tc;
	char tmp[4096] = "";
	int r;

	if (c->tls != NULL)
		return KW_OK;
	memset(&tc, 0, sizeof(tc));
	tc.side = KW_TLS_CLIENT;
	tc.key = c->client_key;
	tc.cert_file = c->client_key ? c->client_cert_file : NULL;
	tc.cert_der = c->client_key ? c->client_cert_der : NULL;
	tc.cert_der_len = c->client_cert_der_len;
	tc.min_version = 12;
	if (c->ca_file != NULL)
		tc.ca_file = c->ca_file;
	else {
		if (!c->trusted)
			return KW_ERR_STATE;
		if ((r = est_write_tmp_pem(&c->anchors, tmp, sizeof(tmp))) != 0)
			return r;
		tc.ca_file = tmp;
	}
	r = kw_tls_ctx_new(&tc, &c->tls);
	if (tmp[0] != '\0')
		unlink(tmp);
	if (r != KW_OK)
		kw_err("cannot set up TLS for the EST server: %s", kw_strerror(r));
	return r;
}

static int
est_conn_verified(struct est_client *c, struct est_conn *conn)
{
	struct WOLFSSL *ssl = NULL;
	int r, w;

	est_conn_init(conn, &c->url, c->timeout_ms, c->cancel);
	if ((r = est_tls_ctx(c)) != 0 ||
	    (r = est_tcp_connect(&c->url, conn)) != 0)
		goto out;
	if ((r = kw_tls_ssl_new(c->tls, conn->fd, c->url.host, &ssl)) != 0)
		goto out;
	conn->ssl = (WOLFSSL *)ssl;
	if ((r = est_conn_handshake(conn, &w)) == KW_ERR_HANDSHAKE)
		r = kw_tls_explain(c->tls, ssl, w, c->url.hostport);
	else if (r == KW_OK)
		r = kw_tls_handshake_done(c->tls, ssl);
out:
	if (r != KW_OK) {
		if (r != KW_ERR_TIMEOUT && r != KW_ERR_CANCELLED)
			kw_err("TLS connection to EST server %s failed: %s",
			    c->url.hostport, kw_strerror(r));
		est_conn_close(conn);
	}
	return r;
}

int
est_https_exchange(struct kw_tls_ctx *tls, const struct est_url *u,
    const char *what, int timeout_ms, const struct kw_cancel *cancel,
    const char *req, size_t req_len, size_t max_body,
    struct est_http_resp **out)
{
	struct est_conn conn;
	struct est_io io = { est_conn_read, est_conn_write, &conn };
	struct WOLFSSL *ssl = NULL;
	int r, w;

	*out = NULL;
	est_conn_init(&conn, u, timeout_ms > 0 ? timeout_ms : 30000, cancel);
	conn.what = what;
	if ((r = est_tcp_connect(u, &conn)) != KW_OK)
		goto out;
	if (tls == NULL) {		/* plain HTTP */
		r = est_http_exchange(&io, req, req_len, max_body, out);
		goto out;
	}
	if ((r = kw_tls_ssl_new(tls, conn.fd, u->host, &ssl)) != KW_OK)
		goto out;
	conn.ssl = (WOLFSSL *)ssl;
	if ((r = est_conn_handshake(&conn, &w)) == KW_ERR_HANDSHAKE)
		r = kw_tls_explain(tls, ssl, w, u->hostport);
	else if (r == KW_OK)
		r = kw_tls_handshake_done(tls, ssl);
	if (r == KW_OK)
		r = est_http_exchange(&io, req, req_len, max_body, out);
out:
	est_conn_close(&conn);
	return r;
}

/* One request on a fresh connection. */
static int
est_request(struct est_client *c, struct est_conn *conn, const char *method,
    const char *op, int send_basic, const uint8_t *body, size_t body_len,
    struct est_http_resp **out)
{
	struct est_http_req req;
	struct est_io io = { est_conn_read, est_conn_write, conn };
	char path[600], host[300], *raw = NULL;
	size_t raw_len = 0;
	int r;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", c->url.path, op);
	if (c->url.port == 443)
		snprintf(host, sizeof(host), strchr(c->url.host, ':') ?
		    "[%s]" : "%s", c->url.host);
	else
		snprintf(host, sizeof(host), "%s", c->url.hostport);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.host = host;
	req.path = path;
	if (send_basic && c->user != NULL) {
		req.user = c->user;
		req.password = c->password;
	}
	if (body != NULL) {
		req.content_type = "application/pkcs10";
		req.base64_body = 1;
		req.body = body;
		req.body_len = body_len;
	}
	if ((r = est_http_req_build(&req, &raw, &raw_len)) != 0)
		goto out;
	kw_debug("EST: %s %s", method, path);
	r = est_http_exchange(&io, raw, raw_len, 0, out);
	if (r == KW_OK)
		kw_debug("EST: %s", est_http_resp_status_line(*out));
out:
	if (raw != NULL)
		kw_freezero(raw, raw_len + 1);
	return r;
}

/* A 200 answer's body as DER: media type checked, framing required,
 * base64 decoded (RFC 7030 / RFC 8951: base64 even without the header). */
static int
est_body_der(const struct est_http_resp *resp, const char *want_type,
    const char *what, uint8_t **der, size_t *der_len)
{
	const char *cte, *te;
	const uint8_t *body;
	char mt[96];
	size_t bl;
	int r;

	*der = NULL;
	*der_len = 0;
	if (est_http_media_type(resp, mt, sizeof(mt)) != 0 ||
	    strcmp(mt, want_type) != 0) {
		kw_err("%s: the EST server answered with Content-Type '%s', "
		    "expected %s", what, mt, want_type);
		return KW_ERR_PROTOCOL;
	}
	te = est_http_resp_header(resp, "Transfer-Encoding");
	if (est_http_resp_header(resp, "Content-Length") == NULL &&
	    (te == NULL || strcasecmp(te, "chunked") != 0)) {
		kw_err("%s: the EST server's answer has no length "
		    "(no Content-Length, not chunked)", what);
		return KW_ERR_PROTOCOL;
	}
	cte = est_http_resp_header(resp, "Content-Transfer-Encoding");
	if (cte != NULL && strcasecmp(cte, "base64") != 0) {
		kw_err("%s: unsupported Content-Transfer-Encoding '%s' "
		    "(RFC 7030 requires base64)", what, cte);
		return KW_ERR_PROTOCOL;
	}
	body = est_http_resp_body(resp, &bl);
	if ((r = est_b64_decode((const char *)body, bl, der, der_len)) != 0) {
		kw_err("%s: the EST server's answer is not valid base64", what);
		return KW_ERR_PROTOCOL;
	}
	return KW_OK;
}

/* ---- the client --------------------------------------------------------- */

int
est_client_new(const struct est_conf *conf, struct est_client **out)
{
	struct est_client *c;
	int r;

	*out = NULL;
	if ((conf->ca_file == NULL) == (conf->ca_fingerprint == NULL)) {
		kw_err("the EST server's CA must be given: --ca FILE, or "
		    "--ca-fingerprint SHA256 for first contact");
		return KW_ERR_ARG;
	}
	if ((conf->user == NULL) != (conf->password == NULL) ||
	    (conf->client_key == NULL) != (conf->client_cert_file == NULL &&
	    conf->client_cert_der == NULL))
		return KW_ERR_ARG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms :
	    EST_DEFAULT_TIMEOUT_MS;
	c->client_key = conf->client_key;
	c->cancel = conf->cancel;
	if ((r = est_url_parse(conf->url, &c->url)) != 0)
		goto out;
	if (conf->ca_fingerprint != NULL &&
	    (r = est_fingerprint_parse(conf->ca_fingerprint, c->pin)) != 0)
		goto out;
	r = KW_ERR_NOMEM;
	if ((conf->ca_file && (c->ca_file = strdup(conf->ca_file)) == NULL) ||
	    (conf->user && (c->user = strdup(conf->user)) == NULL) ||
	    (conf->password && (c->password = strdup(conf->password)) == NULL) ||
	    (conf->client_cert_file &&
	    (c->client_cert_file = strdup(conf->client_cert_file)) == NULL))
		goto out;
	if (conf->client_cert_der != NULL) {
		if ((c->client_cert_der = malloc(conf->client_cert_der_len))
		    == NULL)
			goto out;
		memcpy(c->client_cert_der, conf->client_cert_der,
		    conf->client_cert_der_len);
		c->client_cert_der_len = conf->client_cert_der_len;
	}
	*out = c;
	c = NULL;
	r = KW_OK;
out:
	est_client_free(c);
	return r;
}

void
est_client_free(struct est_client *c)
{
	if (c == NULL)
		return;
	kw_tls_ctx_free(c->tls);
	est_certs_clear(&c->anchors);
	free(c->ca_file);
	free(c->user);
	kw_free_secret(c->password);
	free(c->client_cert_file);
	free(c->client_cert_der);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

const struct est_certs *
est_cacerts(const struct est_client *c)
{
	return c->trusted ? &c->anchors : NULL;
}

static int
est_get_cacerts(struct est_client *c, struct est_conn *conn,
    struct est_certs *out)
{
	struct est_http_resp *resp = NULL;
	uint8_t *der = NULL;
	size_t dl;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = est_request(c, conn, "GET", "cacerts", 0, NULL, 0, &resp)) != 0)
		goto out;
	if ((r = est_http_status_err(resp, "/cacerts")) != 0) {
		if (r == KW_ERR_PENDING)
			r = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((r = est_body_der(resp, "application/pkcs7-mime", "/cacerts",
	    &der, &dl)) != 0)
		goto out;
	if ((r = est_pkcs7_certs(der, dl, out)) != 0) {
		kw_err("/cacerts: the EST server's answer is not a valid "
		    "PKCS#7 certs-only message");
		r = KW_ERR_PROTOCOL;
		goto out;
	}
out:
	free(der);
	est_http_resp_free(resp);
	return r;
}

/* Keep the CA certificates of got that chain to anchor (got[anchor]). */
static int
est_pin_anchor(struct est_certs *got, size_t anchor, struct est_certs *out)
{
	WOLFSSL_CERT_MANAGER *cm = NULL;
	struct est_certs one, rest;
	struct est_cert_info ci;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&one, 0, sizeof(one));
	memset(&rest, 0, sizeof(rest));
	if ((r = est_certs_add(&one, got->c[anchor].der, got->c[anchor].len)) != 0)
		goto out;
	for (i = 0; i < got->n; i++)
		if (i != anchor &&
		    (r = est_certs_add(&rest, got->c[i].der, got->c[i].len)) != 0)
			goto out;
	if ((r = est_cm_build(&one, &rest, &cm)) != 0)
		goto out;
	if ((r = est_certs_add(out, one.c[0].der, one.c[0].len)) != 0)
		goto out;
	for (i = 0; i < rest.n; i++) {
		if (est_cert_info(rest.c[i].der, rest.c[i].len, &ci) == 0 &&
		    ci.is_ca && wolfSSL_CertManagerVerifyBuffer(cm,
		    rest.c[i].der, (long)rest.c[i].len, WOLFSSL_FILETYPE_ASN1) ==
		    WOLFSSL_SUCCESS) {
			if ((r = est_certs_add(out, rest.c[i].der,
			    rest.c[i].len)) != 0)
				goto out;
		} else
			kw_warn("/cacerts: a certificate that does not chain to "
			    "the pinned CA is ignored");
	}
out:
	if (cm != NULL)
		wolfSSL_CertManagerFree(cm);
	if (r != 0)
		est_certs_clear(out);
	est_certs_clear(&one);
	est_certs_clear(&rest);
	return r;
}

int
est_fetch_cacerts(struct est_client *c)
{
	struct est_conn conn = { .fd = -1 };
	struct est_certs got;
	char fp[65];
	size_t i, anchor = (size_t)-1;
	int r;

	memset(&got, 0, sizeof(got));
	if (c->trusted)
		return KW_OK;
	if (c->ca_file != NULL) {
		/* authenticated channel: the answer is the EST CA set */
		if ((r = est_conn_verified(c, &conn)) != 0 ||
		    (r = est_get_cacerts(c, &conn, &got)) != 0)
			goto out;
		c->anchors = got;
		memset(&got, 0, sizeof(got));
		c->trusted = 1;
		kw_info("EST CA certificates: %zu, fetched from %s (server "
		    "verified against %s)", c->anchors.n, c->url.hostport,
		    c->ca_file);
		goto out;
	}
	/* first contact: provisional TLS, then the pin decides */
	if ((r = est_conn_provisional(&c->url, c->timeout_ms, c->cancel,
	    &conn)) != 0 ||
	    (r = est_get_cacerts(c, &conn, &got)) != 0)
		goto out;
	for (i = 0; i < got.n; i++) {
		if ((r = est_fingerprint(got.c[i].der, got.c[i].len, fp)) != 0)
			goto out;
		if (kw_memeq_ct(fp, c->pin, 64)) {
			anchor = i;
			break;
		}
	}
	if (anchor == (size_t)-1) {
		kw_err("the EST server's CA does not match the pinned "
		    "fingerprint %s: refusing to trust it (check the "
		    "fingerprint with your CA's operators; "
		    "'keyward enroll est --server URL --show-ca' lists what "
		    "the server sends)", c->pin);
		r = KW_ERR_PEER_VERIFY;
		goto out;
	}
	if ((r = est_pin_anchor(&got, anchor, &c->anchors)) != 0)
		goto out;
	c->trusted = 1;
	kw_info("EST CA pinned by fingerprint %s (%zu CA certificate(s))",
	    c->pin, c->anchors.n);
out:
	est_conn_close(&conn);
	est_certs_clear(&got);
	return r;
}

int
est_fetch_csrattrs(struct est_client *c, struct est_csrattrs *out, int *found)
{
	struct est_conn conn = { .fd = -1 };
	struct est_http_resp *resp = NULL;
	uint8_t *der = NULL;
	size_t dl;
	int r, st;

	memset(out, 0, sizeof(*out));
	*found = 0;
	if ((r = est_fetch_cacerts(c)) != 0 ||
	    (r = est_conn_verified(c, &conn)) != 0 ||
	    (r = est_request(c, &conn, "GET", "csrattrs", 0, NULL, 0, &resp)) != 0)
		goto out;
	st = est_http_resp_status(resp);
	if (st == 204 || st == 404 || st == 501) {	/* none published */
		r = KW_OK;
		goto out;
	}
	if ((r = est_http_status_err(resp, "/csrattrs")) != 0) {
		if (r == KW_ERR_PENDING)
			r = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((r = est_body_der(resp, "application/csrattrs", "/csrattrs", &der,
	    &dl)) != 0)
		goto out;
	if ((r = est_csrattrs_parse(der, dl, out)) != 0) {
		kw_err("/csrattrs: the EST server's answer is malformed");
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	*found = 1;
out:
	free(der);
	est_http_resp_free(resp);
	est_conn_close(&conn);
	return r;
}

/* A refused enrollment (401/403) in words that say what the server asked
 * for and what to give it. */
static void
est_explain_refusal(const struct est_client *c,
    const struct est_http_resp *resp, int reenroll, const char *what)
{
	const char *h = est_http_resp_header(resp, "WWW-Authenticate");
	char asked[128];
	size_t i;

	for (i = 0; h != NULL && h[i] != '\0' && i < sizeof(asked) - 1; i++)
		asked[i] = (h[i] >= 0x20 && h[i] < 0x7f) ? h[i] : '?';
	asked[i] = '\0';
	if (c->user != NULL)
		kw_err("%s: the EST server refused our credentials (%s%s%s)",
		    what, est_http_resp_status_line(resp),
		    h != NULL ? "; it asks for " : "", asked);
	else if (h != NULL && est_http_resp_status(resp) == 401)
		kw_err("%s: the EST server asks for HTTP authentication "
		    "(WWW-Authenticate: %s)%s; no user name and password were "
		    "given: add --user NAME --password-file FILE", what, asked,
		    c->client_key != NULL ? " on top of the TLS client "
		    "certificate" : "");
	else if (reenroll)
		kw_err("%s: the current certificate was not accepted for "
		    "re-enrollment (%s)", what, est_http_resp_status_line(resp));
	else
		kw_err("%s: the EST server refused the enrollment (%s)", what,
		    est_http_resp_status_line(resp));
}

/* The CSR for a linked enrollment, made on conn. */
static int
est_make_linked_csr(struct est_conn *conn, const struct est_csr_maker *mk,
    uint8_t **csr, size_t *csr_len)
{
	uint8_t cb[KW_TLS_BINDING_MAX];
	size_t cbl = sizeof(cb), bl, i, k;
	const char *type;
	char *b64 = NULL;
	int r;

	if ((r = kw_tls_channel_binding(conn->ssl, cb, &cbl, &type)) != 0)
		goto out;
	if ((r = est_b64_encode(cb, cbl, &b64, &bl)) != 0)
		goto out;
	for (i = 0, k = 0; i < bl; i++)		/* one line */
		if (b64[i] != '\n' && b64[i] != '\r')
			b64[k++] = b64[i];
	b64[k] = '\0';
	kw_debug("EST: CSR linked to the TLS session (%s)", type);
	if ((r = mk->make(mk->arg, b64, csr, csr_len)) != 0)
		goto out;
out:
	explicit_bzero(cb, sizeof(cb));
	if (b64 != NULL)
		kw_freezero(b64, bl);
	return r;
}

/* One enrollment request: the CSR given (csr) or made on the connection
 * (mk, then *made is the CSR sent). */
static int
est_enroll_once(struct est_client *c, int reenroll, const uint8_t *csr,
    size_t csr_len, const struct est_csr_maker *mk, const uint8_t *spki,
    size_t spki_len, struct est_certs *certs, unsigned *retry_after,
    uint8_t **made, size_t *made_len)
{
	struct est_conn conn = { .fd = -1 };
	struct est_http_resp *resp = NULL;
	const char *op = reenroll ? "simplereenroll" : "simpleenroll";
	char *b64 = NULL, what[32];
	uint8_t *der = NULL;
	size_t bl, dl;
	int r, st;

	memset(certs, 0, sizeof(*certs));
	*retry_after = 0;
	snprintf(what, sizeof(what), "/%s", op);
	if (reenroll && c->client_key == NULL)
		return KW_ERR_ARG;
	if ((r = est_fetch_cacerts(c)) != 0 ||
	    (r = est_conn_verified(c, &conn)) != 0)
		goto out;
	if (mk != NULL) {
		if ((r = est_make_linked_csr(&conn, mk, made, made_len)) != 0)
			goto out;
		csr = *made;
		csr_len = *made_len;
	}
	if ((r = est_b64_encode(csr, csr_len, &b64, &bl)) != 0 ||
	    (r = est_request(c, &conn, "POST", op, 1, (const uint8_t *)b64, bl,
	    &resp)) != 0)
		goto out;
	st = est_http_resp_status(resp);
	if (st == 401 || st == 403) {
		est_explain_refusal(c, resp, reenroll, what);
		r = KW_ERR_AUTH;
		goto out;
	}
	if ((r = est_http_status_err(resp, what)) != 0) {
		if (r == KW_ERR_PENDING)
			*retry_after = est_http_retry_after(resp, 60);
		goto out;
	}
	if ((r = est_body_der(resp, "application/pkcs7-mime", what, &der,
	    &dl)) != 0)
		goto out;
	if ((r = est_pkcs7_certs(der, dl, certs)) != 0) {
		kw_err("%s: the EST server's answer is not a valid PKCS#7 "
		    "certs-only message: rejected, nothing stored", what);
		r = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((r = est_verify_issued(&c->anchors, certs, spki, spki_len)) != 0)
		goto out;
out:
	if (r != KW_OK)
		est_certs_clear(certs);
	free(der);
	free(b64);
	est_http_resp_free(resp);
	est_conn_close(&conn);
	return r;
}

int
est_enroll(struct est_client *c, int reenroll, const uint8_t *csr,
    size_t csr_len, const uint8_t *spki, size_t spki_len,
    struct est_certs *certs, unsigned *retry_after)
{
	return est_enroll_once(c, reenroll, csr, csr_len, NULL, spki, spki_len,
	    certs, retry_after, NULL, NULL);
}

int
est_enroll_linked(struct est_client *c, int reenroll,
    const struct est_csr_maker *mk, const uint8_t *spki, size_t spki_len,
    struct est_certs *certs, unsigned *retry_after, uint8_t **csr,
    size_t *csr_len)
{
	*csr = NULL;
	*csr_len = 0;
	if (mk == NULL || mk->make == NULL)
		return KW_ERR_ARG;
	return est_enroll_once(c, reenroll, NULL, 0, mk, spki, spki_len, certs,
	    retry_after, csr, csr_len);
}

static void
est_print_cert(size_t n, const uint8_t *der, size_t len,
    const struct est_cert_info *ci, const char *fp)
{
	WOLFSSL_X509 *x;
	char subj[256] = "?", until[32] = "?";
	struct tm tm;

	if ((x = wolfSSL_X509_load_certificate_buffer(der, (int)len,
	    WOLFSSL_FILETYPE_ASN1)) != NULL) {
		(void)wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(x),
		    subj, sizeof(subj));
		wolfSSL_X509_free(x);
	}
	if (gmtime_r(&ci->not_after, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("  %zu: %s%s\n     valid until %s\n     SHA-256 fingerprint %s\n",
	    n, subj, ci->is_ca ? " (CA)" : "", until, fp);
}

int
est_show_cacerts(const char *url, int timeout_ms)
{
	struct est_client c;
	struct est_conn conn = { .fd = -1 };
	struct est_certs got;
	struct est_cert_info ci;
	char fp[65];
	size_t i;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&got, 0, sizeof(got));
	c.timeout_ms = timeout_ms > 0 ? timeout_ms : EST_DEFAULT_TIMEOUT_MS;
	if ((r = est_url_parse(url, &c.url)) != 0 ||
	    (r = est_conn_provisional(&c.url, c.timeout_ms, NULL, &conn)) != 0 ||
	    (r = est_get_cacerts(&c, &conn, &got)) != 0)
		goto out;
	printf("CA certificates sent by %s (NOT verified: compare the "
	    "fingerprint with the one your CA's operators publish):\n",
	    c.url.hostport);
	for (i = 0; i < got.n; i++) {
		if (est_fingerprint(got.c[i].der, got.c[i].len, fp) != 0 ||
		    est_cert_info(got.c[i].der, got.c[i].len, &ci) != 0)
			continue;
		est_print_cert(i + 1, &got.c[i].der[0], got.c[i].len, &ci, fp);
	}
out:
	est_conn_close(&conn);
	est_certs_clear(&got);
	return r;
}
