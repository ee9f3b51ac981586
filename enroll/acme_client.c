/* The ACME client (RFC 8555) over common/kw_tls: every request is a fresh
 * verified TLS connection (the server is checked against --ca), every POST
 * a JWS signed by the hardware account key, answers parsed with jansson
 * under size limits, problem documents reported in one line. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kw_cancel.h"
#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_tls.h"
#include "kw_wolf.h"
#include "acme.h"
#include "est.h"
#include "est_http.h"

#define ACME_MAX_BODY		(256 * 1024)
#define ACME_NONCE_RETRIES	5
#define ACME_MAX_AUTHZ		16

struct acme_client {
	struct kw_tls_ctx *tls;
	struct kw_key *key;
	char *dir_url;
	char *new_nonce, *new_account, *new_order, *key_change;
	char *renewal_info;		/* RFC 9773 (optional) */
	char *replaces;			/* CertID the next order renews */
	int eab_required;
	char *kid;			/* account URL */
	char *nonce;
	char *eab_kid;
	uint8_t *eab_hmac;
	size_t eab_hmac_len;
	char **contacts;
	size_t ncontacts;
	int timeout_ms;
	unsigned wait_s;
	const struct kw_cancel *cancel;
};

/* One parsed answer. */
struct acme_resp {
	int status;
	char *location;
	json_t *json;			/* when the body is JSON */
	char *body;			/* raw body, NUL-terminated */
	size_t body_len;
	unsigned retry_after;
	char ctype[96];
};

static void
acme_resp_clear(struct acme_resp *r)
{
	free(r->location);
	json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* ---- transport ---------------------------------------------------------- */

struct acme_url {
	char host[256];
	char port[8];
	char hostport[300];
	char hosthdr[300];
	char path[2048];
};

static int
acme_url_parse(const char *url, struct acme_url *u)
{
	struct http_parser_url pu;
	size_t n;

	memset(u, 0, sizeof(*u));
	http_parser_url_init(&pu);
	if (http_parser_parse_url(url, strlen(url), 0, &pu) != 0 ||
	    !(pu.field_set & (1 << UF_SCHEMA)) ||
	    pu.field_data[UF_SCHEMA].len != 5 ||
	    strncasecmp(url + pu.field_data[UF_SCHEMA].off, "https", 5) != 0 ||
	    !(pu.field_set & (1 << UF_HOST)))
		goto bad;
	n = pu.field_data[UF_HOST].len;
	if (n == 0 || n >= sizeof(u->host))
		goto bad;
	memcpy(u->host, url + pu.field_data[UF_HOST].off, n);
	snprintf(u->port, sizeof(u->port), "%u", (pu.field_set &
	    (1 << UF_PORT)) ? pu.port : 443u);
	snprintf(u->hostport, sizeof(u->hostport), strchr(u->host, ':') ?
	    "[%s]:%s" : "%s:%s", u->host, u->port);
	if (strcmp(u->port, "443") == 0)
		snprintf(u->hosthdr, sizeof(u->hosthdr), strchr(u->host, ':') ?
		    "[%s]" : "%s", u->host);
	else
		snprintf(u->hosthdr, sizeof(u->hosthdr), "%s", u->hostport);
	if (pu.field_set & (1 << UF_PATH)) {
		n = strlen(url + pu.field_data[UF_PATH].off);
		if (n >= sizeof(u->path))
			goto bad;
		memcpy(u->path, url + pu.field_data[UF_PATH].off, n);
	} else
		strcpy(u->path, "/");
	return KW_OK;
bad:
	kw_err("not an https URL: %s", url);
	return KW_ERR_PARSE;
}

static void
acme_take_header(const struct est_http_resp *h, const char *name, char **out)
{
	const char *v = est_http_resp_header(h, name);

	free(*out);
	*out = v != NULL ? strdup(v) : NULL;
}

/* One HTTP exchange on a fresh verified connection, through EST's
 * transport: one deadline (--timeout) for connect, TLS, request and
 * answer, and cancellable (a daemon's reload or shutdown). */
static int
acme_http(struct acme_client *c, const char *method, const char *url,
    const char *body, struct acme_resp *out)
{
	struct est_http_req req;
	struct est_http_resp *h = NULL;
	struct acme_url u;
	struct est_url eu;
	const uint8_t *b;
	char *raw = NULL;
	size_t raw_len = 0, blen;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = acme_url_parse(url, &u)) != KW_OK)
		return r;
	memset(&eu, 0, sizeof(eu));
	snprintf(eu.host, sizeof(eu.host), "%s", u.host);
	snprintf(eu.hostport, sizeof(eu.hostport), "%s", u.hostport);
	eu.port = (unsigned)strtoul(u.port, NULL, 10);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.host = u.hosthdr;
	req.path = u.path;
	if (body != NULL) {
		req.content_type = "application/jose+json";
		req.body = (const uint8_t *)body;
		req.body_len = strlen(body);
	}
	if ((r = est_http_req_build(&req, &raw, &raw_len)) != KW_OK)
		goto out;
	kw_debug("ACME: %s %s", method, url);
	if ((r = est_https_exchange(c->tls, &eu, "ACME", c->timeout_ms,
	    c->cancel, raw, raw_len, ACME_MAX_BODY, &h)) != KW_OK)
		goto out;
	out->status = est_http_resp_status(h);
	kw_debug("ACME: %s", est_http_resp_status_line(h));
	acme_take_header(h, "Location", &out->location);
	acme_take_header(h, "Replay-Nonce", &c->nonce);
	out->retry_after = est_http_retry_after(h, 0);
	(void)est_http_media_type(h, out->ctype, sizeof(out->ctype));
	b = est_http_resp_body(h, &blen);
	if ((out->body = malloc(blen + 1)) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	memcpy(out->body, b, blen);
	out->body[blen] = '\0';
	out->body_len = blen;
	if (strcmp(out->ctype, "application/json") == 0 ||
	    strcmp(out->ctype, "application/problem+json") == 0) {
		json_error_t je;

		out->json = json_loadb(out->body, blen, JSON_REJECT_DUPLICATES,
		    &je);
		if (out->json == NULL) {
			kw_err("ACME server %s sent malformed JSON (%s at "
			    "offset %d)", u.hostport, je.text, je.position);
			r = KW_ERR_PROTOCOL;
			goto out;
		}
	}
	r = KW_OK;
out:
	est_http_resp_free(h);
	if (raw != NULL)
		kw_freezero(raw, raw_len + 1);
	if (r != KW_OK)
		acme_resp_clear(out);
	return r;
}

/* ---- problem documents (RFC 8555 6.7, RFC 7807) -------------------------- */

static const char *
acme_short_type(const char *t)
{
	static const char pfx[] = "urn:ietf:params:acme:error:";

	return strncmp(t, pfx, sizeof(pfx) - 1) == 0 ? t + sizeof(pfx) - 1 : t;
}

/* One line: "TYPE: detail [sub: id TYPE: detail; ...]". */
static void
acme_problem_line(const json_t *p, char *buf, size_t len)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	const char *detail = json_string_value(json_object_get(p, "detail"));
	const json_t *subs = json_object_get(p, "subproblems"), *s;
	size_t i, off;
	int n;

	n = snprintf(buf, len, "%s: %s", type ? acme_short_type(type) :
	    "(no type)", detail ? detail : "(no detail)");
	off = n > 0 && (size_t)n < len ? (size_t)n : len - 1;
	json_array_foreach(subs, i, s) {
		const char *st = json_string_value(json_object_get(s, "type"));
		const char *sd = json_string_value(json_object_get(s, "detail"));
		const char *id = json_string_value(json_object_get(
		    json_object_get(s, "identifier"), "value"));

		n = snprintf(buf + off, len - off, "%s%s%s%s: %s",
		    i == 0 ? " [" : "; ", id ? id : "", id ? " " : "",
		    st ? acme_short_type(st) : "?", sd ? sd : "");
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (json_array_size(subs) > 0 && off + 2 < len)
		strcpy(buf + off, "]");
	/* the server's text is shown to a user: no control characters */
	for (off = 0; buf[off] != '\0'; off++)
		if ((unsigned char)buf[off] < 0x20 || buf[off] == 0x7f)
			buf[off] = '?';
}

int
acme_problem_format(const char *json, size_t len, char *buf, size_t buflen)
{
	json_t *p;
	int r = KW_ERR_PARSE;

	if (buflen == 0)
		return KW_ERR_SPACE;
	buf[0] = '\0';
	p = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(p)) {
		acme_problem_line(p, buf, buflen);
		r = KW_OK;
	}
	json_decref(p);
	return r;
}

static int
acme_problem_err(const json_t *p)
{
	const char *t = json_string_value(json_object_get(p, "type"));

	if (t == NULL)
		return KW_ERR_PROTOCOL;
	t = acme_short_type(t);
	if (strcmp(t, "unauthorized") == 0 ||
	    strcmp(t, "externalAccountRequired") == 0 ||
	    strcmp(t, "accountDoesNotExist") == 0 ||
	    strcmp(t, "userActionRequired") == 0)
		return KW_ERR_AUTH;
	if (strcmp(t, "rateLimited") == 0)
		return KW_ERR_BUSY;
	return KW_ERR_PROTOCOL;
}

/* A non-2xx answer: log the problem document (or the status) and map it. */
static int
acme_fail(const struct acme_resp *r, const char *what)
{
	char line[1024];

	if (r->json != NULL && strcmp(r->ctype, "application/problem+json") ==
	    0 && acme_problem_format(r->body, r->body_len, line, sizeof(line)) ==
	    KW_OK) {
		kw_err("ACME %s refused: %s", what, line);
		return acme_problem_err(r->json);
	}
	kw_err("ACME %s failed: HTTP %d", what, r->status);
	return r->status == 401 || r->status == 403 ? KW_ERR_AUTH :
	    KW_ERR_PROTOCOL;
}

static int
acme_is_bad_nonce(const struct acme_resp *r)
{
	const char *t;

	if (r->status != 400 || r->json == NULL)
		return 0;
	t = json_string_value(json_object_get(r->json, "type"));
	return t != NULL && strcmp(t, "urn:ietf:params:acme:error:badNonce") ==
	    0;
}

/* ---- requests ----------------------------------------------------------- */

static int
acme_get_nonce(struct acme_client *c)
{
	struct acme_resp r;
	int rc;

	if (c->nonce != NULL)
		return KW_OK;
	if ((rc = acme_http(c, "GET", c->new_nonce, NULL, &r)) != KW_OK)
		return rc;
	if (c->nonce == NULL) {
		kw_err("ACME server sent no Replay-Nonce from %s",
		    c->new_nonce);
		rc = KW_ERR_PROTOCOL;
	}
	acme_resp_clear(&r);
	return rc;
}

/* A signed POST (payload NULL: POST-as-GET), retried on badNonce with the
 * fresh nonce the error carries (RFC 8555 6.5). */
static int
acme_post(struct acme_client *c, const char *url, const char *payload,
    int use_jwk, const char *what, struct acme_resp *out)
{
	char *jws = NULL, *nonce = NULL;
	int r, tries;

	memset(out, 0, sizeof(*out));
	if (c->key == NULL)		/* a client for unauthenticated GETs */
		return KW_ERR_ARG;
	for (tries = 0; tries <= ACME_NONCE_RETRIES; tries++) {
		if ((r = acme_get_nonce(c)) != KW_OK)
			return r;
		nonce = c->nonce;
		c->nonce = NULL;		/* a nonce is used once */
		r = acme_jws(c->key, use_jwk ? NULL : c->kid, nonce, url,
		    payload, &jws);
		free(nonce);
		if (r != KW_OK)
			return r;
		r = acme_http(c, "POST", url, jws, out);
		free(jws);
		jws = NULL;
		if (r != KW_OK)
			return r;
		if (!acme_is_bad_nonce(out))
			break;
		kw_debug("ACME: badNonce on %s, retrying", what);
		acme_resp_clear(out);
	}
	if (tries > ACME_NONCE_RETRIES) {
		kw_err("ACME %s: the server refused %d fresh nonces in a row",
		    what, ACME_NONCE_RETRIES + 1);
		return KW_ERR_PROTOCOL;
	}
	if (out->status < 200 || out->status > 299) {
		r = acme_fail(out, what);
		acme_resp_clear(out);
	}
	return r;
}

static int
acme_dup_url(json_t *o, const char *name, int required, char **out)
{
	const char *v = json_string_value(json_object_get(o, name));

	*out = NULL;
	if (v == NULL) {
		if (required)
			kw_err("the ACME directory has no \"%s\"", name);
		return required ? KW_ERR_PROTOCOL : KW_OK;
	}
	if (strncmp(v, "https://", 8) != 0) {
		kw_err("the ACME directory's \"%s\" is not an https URL", name);
		return KW_ERR_PROTOCOL;
	}
	return (*out = strdup(v)) != NULL ? KW_OK : KW_ERR_NOMEM;
}

static int
acme_directory(struct acme_client *c)
{
	struct acme_resp r;
	json_t *meta;
	int rc;

	if (c->new_account != NULL)
		return KW_OK;
	if ((rc = acme_http(c, "GET", c->dir_url, NULL, &r)) != KW_OK)
		return rc;
	if (r.status != 200 || !json_is_object(r.json)) {
		rc = r.status != 200 ? acme_fail(&r, "directory") :
		    KW_ERR_PROTOCOL;
		if (r.status == 200)
			kw_err("%s is not an ACME directory (no JSON object)",
			    c->dir_url);
		goto out;
	}
	if ((rc = acme_dup_url(r.json, "newNonce", 1, &c->new_nonce)) != 0 ||
	    (rc = acme_dup_url(r.json, "newAccount", 1, &c->new_account)) ||
	    (rc = acme_dup_url(r.json, "newOrder", 1, &c->new_order)) != 0 ||
	    (rc = acme_dup_url(r.json, "keyChange", 0, &c->key_change)) != 0 ||
	    (rc = acme_dup_url(r.json, "renewalInfo", 0, &c->renewal_info)) !=
	    0)
		goto out;
	meta = json_object_get(r.json, "meta");
	c->eab_required = json_is_true(json_object_get(meta,
	    "externalAccountRequired"));
out:
	acme_resp_clear(&r);
	return rc;
}

int
acme_client_new(const struct acme_conf *conf, struct acme_client **out)
{
	struct kw_tls_conf tc;
	struct acme_client *c;
	size_t i;
	int r;

	*out = NULL;
	if (conf->directory_url == NULL || conf->ca_file == NULL ||
	    (conf->eab_kid == NULL) != (conf->eab_hmac == NULL))
		return KW_ERR_ARG;
	if (conf->account_key != NULL &&
	    acme_jws_alg(conf->account_key) == NULL) {
		kw_err("the ACME account key's algorithm has no JWS form");
		return KW_ERR_UNSUPPORTED;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	c->key = conf->account_key;
	c->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 30000;
	c->wait_s = conf->wait_s > 0 ? conf->wait_s : 300;
	c->cancel = conf->cancel;
	if ((c->dir_url = strdup(conf->directory_url)) == NULL)
		goto nomem;
	if (conf->eab_kid != NULL) {
		if ((c->eab_kid = strdup(conf->eab_kid)) == NULL ||
		    (c->eab_hmac = malloc(conf->eab_hmac_len)) == NULL)
			goto nomem;
		memcpy(c->eab_hmac, conf->eab_hmac, conf->eab_hmac_len);
		c->eab_hmac_len = conf->eab_hmac_len;
	}
	if (conf->ncontacts > 0) {
		if ((c->contacts = calloc(conf->ncontacts, sizeof(char *))) ==
		    NULL)
			goto nomem;
		for (i = 0; i < conf->ncontacts; i++)
			if ((c->contacts[c->ncontacts++] =
			    strdup(conf->contacts[i])) == NULL)
				goto nomem;
	}
	memset(&tc, 0, sizeof(tc));
	tc.side = KW_TLS_CLIENT;
	tc.ca_file = conf->ca_file;
	tc.min_version = 12;
	if ((r = kw_tls_ctx_new(&tc, &c->tls)) != KW_OK) {
		kw_err("cannot set up TLS for the ACME server: %s",
		    kw_strerror(r));
		acme_client_free(c);
		return r;
	}
	*out = c;
	return KW_OK;
nomem:
	acme_client_free(c);
	return KW_ERR_NOMEM;
}

void
acme_client_free(struct acme_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	kw_tls_ctx_free(c->tls);
	free(c->dir_url);
	free(c->new_nonce);
	free(c->new_account);
	free(c->new_order);
	free(c->key_change);
	free(c->renewal_info);
	free(c->replaces);
	free(c->kid);
	free(c->nonce);
	free(c->eab_kid);
	if (c->eab_hmac != NULL)
		kw_freezero(c->eab_hmac, c->eab_hmac_len);
	for (i = 0; i < c->ncontacts; i++)
		free(c->contacts[i]);
	free(c->contacts);
	free(c);
}

const char *
acme_account_url(const struct acme_client *c)
{
	return c->kid;
}

static int
acme_account_payload(struct acme_client *c, char **out)
{
	json_t *p = NULL, *ct;
	char *jwk = NULL, *eab = NULL;
	size_t i;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((p = json_pack("{s:b}", "termsOfServiceAgreed", 1)) == NULL)
		goto out;
	if (c->ncontacts > 0) {
		if ((ct = json_array()) == NULL ||
		    json_object_set_new(p, "contact", ct) != 0)
			goto out;
		for (i = 0; i < c->ncontacts; i++)
			if (json_array_append_new(ct,
			    json_string(c->contacts[i])) != 0)
				goto out;
	}
	if (c->eab_kid != NULL) {
		if ((r = acme_jwk(c->key, &jwk)) != KW_OK ||
		    (r = acme_eab_jws(c->eab_kid, c->eab_hmac,
		    c->eab_hmac_len, c->new_account, jwk, &eab)) != KW_OK)
			goto out;
		r = KW_ERR_NOMEM;
		if (json_object_set_new(p, "externalAccountBinding",
		    json_loads(eab, 0, NULL)) != 0)
			goto out;
	}
	if ((*out = json_dumps(p, JSON_COMPACT)) != NULL)
		r = KW_OK;
out:
	json_decref(p);
	free(jwk);
	free(eab);
	return r;
}

int
acme_account(struct acme_client *c)
{
	struct acme_resp r;
	const char *st;
	char *payload = NULL;
	int rc;

	if ((rc = acme_directory(c)) != KW_OK)
		return rc;
	if (c->eab_required && c->eab_kid == NULL) {
		kw_err("the ACME server requires External Account Binding: "
		    "give --eab-kid and --eab-hmac-file from the CA");
		return KW_ERR_AUTH;
	}
	if ((rc = acme_account_payload(c, &payload)) != KW_OK)
		return rc;
	rc = acme_post(c, c->new_account, payload, 1, "account creation", &r);
	free(payload);
	if (rc != KW_OK)
		return rc;
	st = json_string_value(json_object_get(r.json, "status"));
	if (r.location == NULL || st == NULL) {
		kw_err("the ACME server's account answer has no %s",
		    r.location == NULL ? "Location" : "status");
		rc = KW_ERR_PROTOCOL;
	} else if (strcmp(st, "valid") != 0) {
		kw_err("the ACME account %s is %s", r.location, st);
		rc = KW_ERR_AUTH;
	} else {
		kw_info("ACME account %s (%s)", r.location, r.status == 201 ?
		    "created" : "existing");
		free(c->kid);
		c->kid = r.location;
		r.location = NULL;
	}
	acme_resp_clear(&r);
	return rc;
}

int
acme_key_change(struct acme_client *c, struct kw_key *new_key)
{
	struct acme_resp r;
	json_t *p = NULL, *old_jwk = NULL;
	char *jwk = NULL, *payload = NULL, *inner = NULL;
	int rc;

	memset(&r, 0, sizeof(r));
	if (c->kid == NULL && (rc = acme_account(c)) != KW_OK)
		return rc;
	if (c->key_change == NULL) {
		kw_err("the ACME server offers no key change (no keyChange in "
		    "its directory)");
		return KW_ERR_UNSUPPORTED;
	}
	if (acme_jws_alg(new_key) == NULL)
		return KW_ERR_UNSUPPORTED;
	if ((rc = acme_jwk(c->key, &jwk)) != KW_OK)
		goto out;
	rc = KW_ERR_NOMEM;
	if ((old_jwk = json_loads(jwk, 0, NULL)) == NULL ||
	    (p = json_pack("{s:s, s:O}", "account", c->kid, "oldKey",
	    old_jwk)) == NULL || (payload = json_dumps(p, JSON_COMPACT)) ==
	    NULL)
		goto out;
	/* inner: signed by the new key, its jwk, no nonce */
	if ((rc = acme_jws(new_key, NULL, NULL, c->key_change, payload,
	    &inner)) != KW_OK)
		goto out;
	if ((rc = acme_post(c, c->key_change, inner, 0, "account key change",
	    &r)) != KW_OK)
		goto out;
	kw_info("ACME account %s now uses the new key", c->kid);
	c->key = new_key;
out:
	acme_resp_clear(&r);
	json_decref(p);
	json_decref(old_jwk);
	free(jwk);
	free(payload);
	free(inner);
	return rc;
}

int
acme_deactivate(struct acme_client *c)
{
	struct acme_resp r;
	int rc;

	if (c->kid == NULL && (rc = acme_account(c)) != KW_OK)
		return rc;
	rc = acme_post(c, c->kid, "{\"status\":\"deactivated\"}", 0,
	    "account deactivation", &r);
	if (rc == KW_OK)
		kw_info("ACME account %s deactivated", c->kid);
	acme_resp_clear(&r);
	return rc;
}

/* ---- orders ------------------------------------------------------------- */

/* Wait Retry-After (1..10 s) unless cancelled: KW_OK or
 * KW_ERR_CANCELLED. */
static int
acme_sleep(struct acme_client *c, unsigned retry_after, unsigned *waited)
{
	unsigned s = retry_after > 0 ? retry_after : 1;
	int r;

	if (s > 10)
		s = 10;
	r = kw_cancel_wait(c->cancel, -1, 0, kw_deadline((int)s * 1000));
	*waited += s;
	return r == KW_ERR_CANCELLED ? r : KW_OK;
}

/* POST-as-GET url until "status" leaves the pending states. */
static int
acme_poll(struct acme_client *c, const char *url, const char *what,
    const char *const *waiting, struct acme_resp *out)
{
	const char *st;
	unsigned waited = 0;
	size_t i;
	int rc, busy;

	for (;;) {
		if ((rc = acme_post(c, url, NULL, 0, what, out)) != KW_OK)
			return rc;
		st = json_string_value(json_object_get(out->json, "status"));
		if (st == NULL) {
			kw_err("ACME %s has no status", what);
			acme_resp_clear(out);
			return KW_ERR_PROTOCOL;
		}
		for (busy = 0, i = 0; waiting[i] != NULL; i++)
			busy |= strcmp(st, waiting[i]) == 0;
		if (!busy)
			return KW_OK;
		if (waited >= c->wait_s) {
			kw_err("ACME %s still %s after %u s", what, st, waited);
			acme_resp_clear(out);
			return KW_ERR_TIMEOUT;
		}
		rc = acme_sleep(c, out->retry_after, &waited);
		acme_resp_clear(out);
		if (rc != KW_OK) {
			kw_info("ACME %s: waiting cancelled", what);
			return rc;
		}
	}
}

static int
acme_authz(struct acme_client *c, const char *url,
    const struct acme_responder *resp)
{
	static const char *const pending[] = { "pending", NULL };
	struct acme_resp a, ch;
	const json_t *chs, *x, *chosen = NULL;
	const char *st, *token = NULL, *curl, *ident;
	char *ka = NULL, what[400];
	size_t i;
	int rc, published = 0;

	memset(&ch, 0, sizeof(ch));
	if ((rc = acme_post(c, url, NULL, 0, "authorization", &a)) != KW_OK)
		return rc;
	ident = json_string_value(json_object_get(json_object_get(a.json,
	    "identifier"), "value"));
	snprintf(what, sizeof(what), "authorization for %s",
	    ident ? ident : "?");
	st = json_string_value(json_object_get(a.json, "status"));
	if (st != NULL && strcmp(st, "valid") == 0)
		goto out;
	if (st == NULL || strcmp(st, "pending") != 0) {
		kw_err("ACME %s is %s", what, st ? st : "without status");
		rc = KW_ERR_PROTOCOL;
		goto out;
	}
	if (resp == NULL) {
		kw_err("ACME %s needs a challenge answered: give --http-01 "
		    "ADDR or --tls-alpn-01 ADDR", what);
		rc = KW_ERR_CONFIG;
		goto out;
	}
	chs = json_object_get(a.json, "challenges");
	json_array_foreach(chs, i, x) {
		const char *t = json_string_value(json_object_get(x, "type"));

		if (t != NULL && strcmp(t, resp->type) == 0)
			chosen = x;
	}
	if (chosen == NULL) {
		kw_err("ACME %s offers no %s challenge", what, resp->type);
		rc = KW_ERR_UNSUPPORTED;
		goto out;
	}
	token = json_string_value(json_object_get(chosen, "token"));
	curl = json_string_value(json_object_get(chosen, "url"));
	if (ident == NULL || token == NULL || curl == NULL ||
	    strlen(token) < 22 ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != strlen(token)) {
		kw_err("ACME %s: malformed %s challenge", what, resp->type);
		rc = KW_ERR_PROTOCOL;
		goto out;
	}
	if ((rc = acme_keyauth(c->key, token, &ka)) != KW_OK ||
	    (rc = resp->publish(resp->arg, ident, token, ka)) != KW_OK)
		goto out;
	published = 1;
	if ((rc = acme_post(c, curl, "{}", 0, "challenge", &ch)) != KW_OK)
		goto out;
	acme_resp_clear(&ch);
	if ((rc = acme_poll(c, url, what, pending, &ch)) != KW_OK)
		goto out;
	st = json_string_value(json_object_get(ch.json, "status"));
	if (strcmp(st, "valid") != 0) {
		const json_t *err = NULL;
		char line[1024] = "no reason given";

		json_array_foreach(json_object_get(ch.json, "challenges"), i, x)
			if (json_object_get(x, "error") != NULL)
				err = json_object_get(x, "error");
		if (err != NULL)
			acme_problem_line(err, line, sizeof(line));
		kw_err("ACME %s is %s: %s", what, st, line);
		rc = KW_ERR_AUTH;
		goto out;
	}
	kw_info("ACME %s: valid (%s)", what, resp->type);
out:
	if (published)
		resp->withdraw(resp->arg, token);
	free(ka);
	acme_resp_clear(&ch);
	acme_resp_clear(&a);
	return rc;
}

static int
acme_order_payload(const char *const *idents, size_t n, const char *replaces,
    char **out)
{
	json_t *p, *arr;
	size_t i;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((p = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(p, "identifiers", arr) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		const char *type = NULL, *v = idents[i];

		if (strncmp(v, "dns:", 4) == 0)
			type = "dns";
		else if (strncmp(v, "ip:", 3) == 0)
			type = "ip";
		if (type == NULL) {
			kw_err("ACME identifies names by dns: or ip:, not '%s'",
			    v);
			r = KW_ERR_ARG;
			goto out;
		}
		if (json_array_append_new(arr, json_pack("{s:s, s:s}", "type",
		    type, "value", strchr(v, ':') + 1)) != 0)
			goto out;
	}
	if (replaces != NULL && json_object_set_new(p, "replaces",
	    json_string(replaces)) != 0)
		goto out;
	if ((*out = json_dumps(p, JSON_COMPACT)) != NULL)
		r = KW_OK;
out:
	json_decref(p);
	return r;
}

static int
acme_finalize(struct acme_client *c, const char *order_url,
    const char *finalize, const uint8_t *csr, size_t csr_len, char **cert_url)
{
	static const char *const busy[] = { "pending", "ready", "processing",
	    NULL };
	struct acme_resp r;
	const char *st, *cu;
	char *b64 = NULL, *payload = NULL;
	json_t *p = NULL;
	int rc;

	*cert_url = NULL;
	if ((rc = acme_b64url(csr, csr_len, &b64)) != KW_OK)
		return rc;
	p = json_pack("{s:s}", "csr", b64);
	if (p == NULL || (payload = json_dumps(p, JSON_COMPACT)) == NULL) {
		rc = KW_ERR_NOMEM;
		goto out;
	}
	if ((rc = acme_post(c, finalize, payload, 0, "finalize", &r)) != KW_OK)
		goto out;
	acme_resp_clear(&r);
	if ((rc = acme_poll(c, order_url, "order", busy, &r)) != KW_OK)
		goto out;
	st = json_string_value(json_object_get(r.json, "status"));
	cu = json_string_value(json_object_get(r.json, "certificate"));
	if (strcmp(st, "valid") != 0 || cu == NULL) {
		const json_t *err = json_object_get(r.json, "error");
		char line[1024] = "no reason given";

		if (err != NULL)
			acme_problem_line(err, line, sizeof(line));
		kw_err("ACME order is %s: %s", st, line);
		rc = KW_ERR_PROTOCOL;
	} else if ((*cert_url = strdup(cu)) == NULL)
		rc = KW_ERR_NOMEM;
	acme_resp_clear(&r);
out:
	json_decref(p);
	free(payload);
	free(b64);
	return rc;
}

int
acme_order(struct acme_client *c, const char *const *idents, size_t n,
    const struct acme_responder *resp, const uint8_t *csr, size_t csr_len,
    struct est_certs *certs)
{
	struct acme_resp o, cr;
	const json_t *authz, *x;
	const char *fin, *st, *replaces;
	char *payload = NULL, *order_url = NULL, *cert_url = NULL;
	size_t i;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&cr, 0, sizeof(cr));
	est_certs_clear(certs);
	if (c->kid == NULL && (rc = acme_account(c)) != KW_OK)
		return rc;
	replaces = c->renewal_info != NULL ? c->replaces : NULL;
	if ((rc = acme_order_payload(idents, n, replaces, &payload)) != KW_OK)
		return rc;
	rc = acme_post(c, c->new_order, payload, 0, "new order", &o);
	if (rc == KW_ERR_PROTOCOL && replaces != NULL) {
		/* a server may refuse the renewal link (already replaced,
		 * unknown certificate): the order stands on its own */
		kw_warn("ACME: retrying the new order without \"replaces\": "
		    "%s", replaces);
		free(payload);
		payload = NULL;
		if ((rc = acme_order_payload(idents, n, NULL, &payload)) !=
		    KW_OK)
			return rc;
		rc = acme_post(c, c->new_order, payload, 0, "new order", &o);
	}
	if (rc != KW_OK)
		goto out;
	authz = json_object_get(o.json, "authorizations");
	fin = json_string_value(json_object_get(o.json, "finalize"));
	st = json_string_value(json_object_get(o.json, "status"));
	if (o.location == NULL || fin == NULL || st == NULL ||
	    !json_is_array(authz) || json_array_size(authz) > ACME_MAX_AUTHZ) {
		kw_err("the ACME server's order is malformed (Location, "
		    "status, finalize or authorizations missing)");
		rc = KW_ERR_PROTOCOL;
		goto out;
	}
	order_url = o.location;
	o.location = NULL;
	kw_info("ACME order %s: %s, %zu authorization(s)", order_url, st,
	    json_array_size(authz));
	json_array_foreach(authz, i, x) {
		if (!json_is_string(x)) {
			rc = KW_ERR_PROTOCOL;
			goto out;
		}
		if ((rc = acme_authz(c, json_string_value(x), resp)) != KW_OK)
			goto out;
	}
	if ((rc = acme_finalize(c, order_url, fin, csr, csr_len, &cert_url)) !=
	    KW_OK)
		goto out;
	if ((rc = acme_post(c, cert_url, NULL, 0, "certificate download",
	    &cr)) != KW_OK)
		goto out;
	if (strcmp(cr.ctype, "application/pem-certificate-chain") != 0) {
		kw_err("the ACME server sent the certificate as '%s', not "
		    "application/pem-certificate-chain", cr.ctype);
		rc = KW_ERR_PROTOCOL;
		goto out;
	}
	rc = acme_pem_certs(cr.body, cr.body_len, certs);
out:
	acme_resp_clear(&o);
	acme_resp_clear(&cr);
	free(payload);
	free(order_url);
	free(cert_url);
	return rc;
}

/* ---- Renewal Information (RFC 9773) ----------------------------------- */

int
acme_has_ari(const struct acme_client *c)
{
	return c->renewal_info != NULL;
}

int
acme_set_replaces(struct acme_client *c, const char *certid)
{
	free(c->replaces);
	c->replaces = NULL;
	if (certid != NULL && (c->replaces = strdup(certid)) == NULL)
		return KW_ERR_NOMEM;
	return KW_OK;
}

int
acme_renewal_info(struct acme_client *c, const char *certid, time_t *start,
    time_t *end, unsigned *retry_after)
{
	struct acme_resp r;
	char *url = NULL;
	size_t n;
	int rc;

	*start = *end = 0;
	*retry_after = 0;
	memset(&r, 0, sizeof(r));
	if ((rc = acme_directory(c)) != KW_OK)
		return rc;
	if (c->renewal_info == NULL)
		return KW_ERR_UNSUPPORTED;
	n = strlen(c->renewal_info) + strlen(certid) + 2;
	if ((url = malloc(n)) == NULL)
		return KW_ERR_NOMEM;
	/* the base may or may not end in '/' (RFC 9773 4.1) */
	snprintf(url, n, "%s%s%s", c->renewal_info,
	    c->renewal_info[strlen(c->renewal_info) - 1] == '/' ? "" : "/",
	    certid);
	if ((rc = acme_http(c, "GET", url, NULL, &r)) != KW_OK) {
		kw_warn("ACME renewal information %s: %s; renewing on the "
		    "lifetime schedule", url, kw_strerror(rc));
		goto out;
	}
	*retry_after = r.retry_after;
	if (r.status != 200) {
		kw_warn("ACME renewal information %s: HTTP %d; renewing on the "
		    "lifetime schedule", url, r.status);
		rc = KW_ERR_PROTOCOL;
	} else if (acme_ari_window(r.body, r.body_len, start, end) != KW_OK) {
		kw_warn("ACME renewal information %s: no valid suggestedWindow "
		    "(start and end RFC 3339, end after start); renewing on "
		    "the lifetime schedule", url);
		rc = KW_ERR_PROTOCOL;
	}
out:
	acme_resp_clear(&r);
	free(url);
	return rc;
}

/* ---- PEM chains ----------------------------------------------------------- */

int
acme_pem_certs(const char *pem, size_t len, struct est_certs *out)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = pem, *e, *stop = pem + len;
	struct est_cert_info ci;
	uint8_t *der = NULL;
	int n, r = KW_OK;

	est_certs_clear(out);
	if (memchr(pem, '\0', len) != NULL)
		goto bad;
	if ((der = malloc(EST_MAX_CERT)) == NULL)
		return KW_ERR_NOMEM;
	while ((p = strstr(p, begin)) != NULL && p < stop) {
		if ((e = strstr(p, end)) == NULL)
			goto bad;
		e += sizeof(end) - 1;
		n = wc_CertPemToDer((const unsigned char *)p, (int)(e - p), der,
		    EST_MAX_CERT, CERT_TYPE);
		if (n <= 0 || est_cert_info(der, (size_t)n, &ci) != KW_OK ||
		    (r = est_certs_add(out, der, (size_t)n)) != KW_OK)
			goto bad;
		p = e;
	}
	if (out->n == 0)
		goto bad;
	free(der);
	return KW_OK;
bad:
	free(der);
	est_certs_clear(out);
	if (r == KW_OK)
		r = KW_ERR_PARSE;
	kw_err("the ACME certificate chain is not a PEM list of certificates");
	return r;
}
