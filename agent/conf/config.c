/* The daemon's configuration file (see config.h and keyward.conf(5)).
 *
 * libinih splits lines into key = value; our reader hands it one source
 * line at a time, so we always know the line number, see section headers
 * ourselves (to catch duplicates and empty sections) and reject lines
 * inih would silently mangle (too long, NUL bytes, no '='). */
#include <ini.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/conf/config.h"
#include "agent/identity/renew.h"

#define KW_CONF_MAX_FILE	(1024 * 1024)
#define KW_CONF_MAX_LINE	4000	/* bytes, newline excluded */
#define KW_CONF_MAX_ERRORS	20
#define KW_CONF_MAX_LIST	256
#define KW_CONF_MAX_TUNNELS	1024

enum kw_conf_type {
	KW_CT_STR,
	KW_CT_BOOL,
	KW_CT_SECONDS_MS,	/* seconds in the file, ms in the struct */
	KW_CT_SECONDS,
	KW_CT_COUNT,
	KW_CT_UINT,		/* 0 allowed */
	KW_CT_ADDR,
	KW_CT_LIST,
	KW_CT_MODE,
	KW_CT_TLSVER,
	KW_CT_CRLMODE,
	KW_CT_LOGLEVEL,
	KW_CT_OCSP,
	KW_CT_THREADS,		/* auto, or 0 to max */
};

struct kw_conf_key {
	const char *name;
	enum kw_conf_type type;
	size_t off;
	unsigned max;		/* numbers: upper bound */
};

#define T(f)	offsetof(struct kw_tunnel_conf, f)
#define G(f)	offsetof(struct kw_config, f)

static const struct kw_conf_key kw_tunnel_keys[] = {
	{ "mode", KW_CT_MODE, T(mode), 0 },
	{ "listen", KW_CT_ADDR, T(listen), 0 },
	{ "target", KW_CT_ADDR, T(target), 0 },
	{ "servername", KW_CT_STR, T(servername), 0 },
	{ "identity", KW_CT_STR, T(identity), 0 },
	{ "key", KW_CT_STR, T(key), 0 },
	{ "cert", KW_CT_STR, T(cert), 0 },
	{ "ca", KW_CT_STR, T(ca), 0 },
	{ "crl", KW_CT_STR, T(crl), 0 },
	{ "crl-check", KW_CT_CRLMODE, T(crl_hard_fail), 0 },
	{ "ocsp-stapling", KW_CT_OCSP, T(ocsp_stapling), 0 },
	{ "tls-min", KW_CT_TLSVER, T(tls_min), 0 },
	{ "tls-max", KW_CT_TLSVER, T(tls_max), 0 },
	{ "ciphers", KW_CT_STR, T(ciphers), 0 },
	{ "resume", KW_CT_BOOL, T(resume), 0 },
	{ "connect-timeout", KW_CT_SECONDS_MS, T(connect_timeout_ms), 3600 },
	{ "handshake-timeout", KW_CT_SECONDS_MS, T(handshake_timeout_ms), 3600 },
	{ "idle-timeout", KW_CT_SECONDS, T(idle_timeout_s), 7 * 86400 },
	{ "max-connections", KW_CT_COUNT, T(max_conns), 1000000 },
	{ "handshake-threads", KW_CT_THREADS, T(handshake_threads), 64 },
	{ "max-pending-per-source", KW_CT_COUNT, T(max_pending_per_source),
	    1000000 },
	{ "max-signing-per-source", KW_CT_COUNT, T(max_signing_per_source),
	    1000000 },
	{ "max-signing", KW_CT_COUNT, T(max_signing), 1000000 },
	{ "tcti", KW_CT_STR, T(tcti), 0 },
	{ "module", KW_CT_STR, T(module), 0 },
	{ "auth-file", KW_CT_STR, T(auth_file), 0 },
	{ "allow-exportable-key", KW_CT_BOOL, T(allow_exportable), 0 },
	{ "allow-cn", KW_CT_LIST, T(allow_cn), 0 },
	{ "allow-san-dns", KW_CT_LIST, T(allow_san_dns), 0 },
	{ "allow-san-uri", KW_CT_LIST, T(allow_san_uri), 0 },
	{ "allow-ou", KW_CT_LIST, T(allow_ou), 0 },
	{ "allow-all", KW_CT_BOOL, T(allow_all), 0 },
	{ "ak", KW_CT_STR, T(ak), 0 },
	{ "event-log", KW_CT_STR, T(event_log), 0 },
	{ "require-posture", KW_CT_STR, T(require_posture), 0 },
};

static const struct kw_conf_key kw_global_keys[] = {
	{ "control-socket", KW_CT_STR, G(control_socket), 0 },
	{ "metrics", KW_CT_ADDR, G(metrics), 0 },
	{ "metrics-public", KW_CT_BOOL, G(metrics_public), 0 },
	{ "log-level", KW_CT_LOGLEVEL, G(log_level), 0 },
	{ "watch-interval", KW_CT_SECONDS, G(watch_interval_s), 86400 },
	{ "tcti", KW_CT_STR, G(tcti), 0 },
	{ "module", KW_CT_STR, G(module), 0 },
	{ "auth-file", KW_CT_STR, G(auth_file), 0 },
	{ "sign-rate", KW_CT_UINT, G(sign_rate), 10000000 },
	{ "sandbox", KW_CT_BOOL, G(sandbox), 0 },
	{ "workers", KW_CT_COUNT, G(workers), KW_MAX_WORKERS },
};

#undef T
#undef G

#define KW_NKEYS(a)	(sizeof(a) / sizeof((a)[0]))

enum kw_sect { KW_SECT_NONE, KW_SECT_GLOBAL, KW_SECT_TUNNEL,
    KW_SECT_IDENTITY, KW_SECT_BAD };

/* Parser state: one per kw_config_parse call. */
struct kw_conf_parse {
	const char *file;
	const char *text;
	size_t len, pos;
	int line;
	int errors;
	struct kw_config *conf;
	enum kw_sect sect;
	struct kw_tunnel_conf *tunnel;		/* current [tunnel] */
	struct kw_identity_conf *ident;		/* current [identity] */
	int sect_keys;				/* keys seen in it */
	int sect_line;
	char seen_keys[64];			/* tunnel/global keys set */
};

static void
kw_conf_err(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
kw_conf_err(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (file != NULL)
		kw_err("%s:%d: %s", file, line, msg);
	else
		kw_err("%s", msg);
}

static void
kw_conf_warn(struct kw_config *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
kw_conf_warn(struct kw_config *c, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kw_warn("%s:%d: %s", c->file, line, msg);
	c->warnings++;
}

int
kw_addr_parse(const char *s, struct kw_addr *a)
{
	const char *colon, *h = s, *p;
	size_t n;
	char *end;
	unsigned long port;

	memset(a, 0, sizeof(*a));
	if (s == NULL || strlen(s) >= sizeof(a->text))
		return KW_ERR_PARSE;
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (strncmp(s, "unix:", 5) == 0) {
		p = s + 5;
		if (*p == '\0' || strlen(p) >= sizeof(a->path) || *p != '/')
			return KW_ERR_PARSE;
		a->is_unix = 1;
		snprintf(a->path, sizeof(a->path), "%s", p);
		return KW_OK;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return KW_ERR_PARSE;
		h = s + 1;
		n = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return KW_ERR_PARSE;
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL)
			return KW_ERR_PARSE;	/* v6 needs brackets */
	}
	if (n == 0 || n >= sizeof(a->host))
		return KW_ERR_PARSE;
	for (p = h; p < h + n; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:*", *p) == NULL)
			return KW_ERR_PARSE;
	p = colon + 1;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 5)
		return KW_ERR_PARSE;
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno != 0 || port == 0 || port > 65535)
		return KW_ERR_PARSE;
	memcpy(a->host, h, n);
	a->host[n] = '\0';
	snprintf(a->port, sizeof(a->port), "%lu", port);
	return KW_OK;
}

static int
kw_parse_bool(const char *v, int *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return KW_ERR_PARSE;
	return KW_OK;
}

static int
kw_parse_uint(const char *v, unsigned max, unsigned *out)
{
	unsigned long n;
	char *end;

	if (*v == '\0' || strspn(v, "0123456789") != strlen(v) ||
	    strlen(v) > 10)
		return KW_ERR_PARSE;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return KW_ERR_PARSE;
	*out = (unsigned)n;
	return KW_OK;
}

static int
kw_list_add(struct kw_strlist *l, const char *v)
{
	char **nv, *s;

	if (l->n >= KW_CONF_MAX_LIST)
		return KW_ERR_SPACE;
	if ((s = strdup(v)) == NULL)
		return KW_ERR_NOMEM;
	if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL) {
		free(s);
		return KW_ERR_NOMEM;
	}
	l->v = nv;
	l->v[l->n++] = s;
	return KW_OK;
}

static void
kw_list_free(struct kw_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The words of the keyword types that take one of a few words. */
struct kw_conf_word {
	const char *word;
	int value;
};

struct kw_conf_words {
	enum kw_conf_type type;
	const char *choices;		/* for the message */
	struct kw_conf_word w[5];	/* a NULL word ends a shorter list */
};

static const struct kw_conf_words kw_conf_word_types[] = {
	{ KW_CT_MODE, "client or server", {
	    { "client", KW_TUNNEL_CLIENT }, { "server", KW_TUNNEL_SERVER },
	    { NULL, 0 } } },
	{ KW_CT_TLSVER, "1.2 or 1.3", {
	    { "1.2", 12 }, { "1.3", 13 }, { NULL, 0 } } },
	{ KW_CT_CRLMODE, "hard or soft", {
	    { "hard", 1 }, { "soft", 0 }, { NULL, 0 } } },
	{ KW_CT_OCSP, "off, request or require", {
	    { "off", KW_OCSP_OFF }, { "request", KW_OCSP_REQUEST },
	    { "require", KW_OCSP_REQUIRE }, { NULL, 0 } } },
	{ KW_CT_LOGLEVEL, "error, warn, info or debug", {
	    { "error", KW_LOG_ERROR }, { "warn", KW_LOG_WARN },
	    { "warning", KW_LOG_WARN }, { "info", KW_LOG_INFO },
	    { "debug", KW_LOG_DEBUG } } },
};

/* The table entry for key, or NULL (*idx: its index). */
static const struct kw_conf_key *
kw_conf_find(const struct kw_conf_key *keys, size_t nkeys, const char *key,
    size_t *idx)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, key) == 0) {
			*idx = i;
			return &keys[i];
		}
	return NULL;
}

static int
kw_conf_set_str(char **field, const char *key, const char *value,
    const char *file, int line)
{
	char *dup;

	if (*value == '\0') {
		kw_conf_err(file, line, "'%s' needs a value", key);
		return KW_ERR_CONFIG;
	}
	if ((dup = strdup(value)) == NULL)
		return KW_ERR_NOMEM;
	free(*field);
	*field = dup;
	return KW_OK;
}

/* Seconds, seconds stored as ms, counts (at least 1), plain numbers. */
static int
kw_conf_set_number(const struct kw_conf_key *k, unsigned *field,
    const char *value, const char *file, int line)
{
	unsigned u;

	if (kw_parse_uint(value, k->max, &u) != KW_OK) {
		kw_conf_err(file, line, "'%s' must be a whole number %s%d to "
		    "%u, not '%s'", k->name, k->type == KW_CT_COUNT ||
		    k->type == KW_CT_UINT ? "" : "of seconds ",
		    k->type == KW_CT_COUNT ? 1 : 0, k->max, value);
		return KW_ERR_CONFIG;
	}
	if (k->type == KW_CT_COUNT && u == 0) {
		kw_conf_err(file, line, "'%s' must be at least 1", k->name);
		return KW_ERR_CONFIG;
	}
	if (k->type == KW_CT_SECONDS_MS && u == 0) {
		kw_conf_err(file, line, "'%s' must be at least 1 second",
		    k->name);
		return KW_ERR_CONFIG;
	}
	*field = k->type == KW_CT_SECONDS_MS ? u * 1000 : u;
	return KW_OK;
}

static int
kw_conf_set_addr(struct kw_addr *field, const char *key, const char *value,
    const char *file, int line)
{
	if (kw_addr_parse(value, field) != KW_OK) {
		kw_conf_err(file, line, "bad address '%s' for '%s': use "
		    "HOST:PORT, [IPv6]:PORT or unix:/PATH", value, key);
		return KW_ERR_CONFIG;
	}
	return KW_OK;
}

/* One of a few words (mode, tls-min, crl-check, ...) into *out. */
static int
kw_conf_set_word(enum kw_conf_type type, const char *key, const char *value,
    const char *file, int line, int *out)
{
	const struct kw_conf_words *t = NULL;
	size_t i;

	for (i = 0; i < KW_NKEYS(kw_conf_word_types); i++)
		if (kw_conf_word_types[i].type == type)
			t = &kw_conf_word_types[i];
	if (t == NULL)
		return KW_ERR_ARG;
	for (i = 0; i < KW_NKEYS(t->w) && t->w[i].word != NULL; i++)
		if (strcmp(value, t->w[i].word) == 0) {
			*out = t->w[i].value;
			return KW_OK;
		}
	kw_conf_err(file, line, "'%s' must be %s, not '%s'", key, t->choices,
	    value);
	return KW_ERR_CONFIG;
}

/* Store a parsed value in the field at p, by the key's type. */
static int
kw_conf_set(const struct kw_conf_key *k, char *p, const char *value,
    const char *file, int line)
{
	int b, r;

	switch (k->type) {
	case KW_CT_STR:
		return kw_conf_set_str((char **)(void *)p, k->name, value,
		    file, line);
	case KW_CT_BOOL:
		if (kw_parse_bool(value, &b) != KW_OK) {
			kw_conf_err(file, line, "'%s' must be yes or no, not "
			    "'%s'", k->name, value);
			return KW_ERR_CONFIG;
		}
		*(int *)(void *)p = b;
		return KW_OK;
	case KW_CT_THREADS:
		if (strcmp(value, "auto") == 0) {
			*(unsigned *)(void *)p = KW_HS_AUTO;
			return KW_OK;
		}
		if (kw_parse_uint(value, k->max, (unsigned *)(void *)p) !=
		    KW_OK) {
			kw_conf_err(file, line, "'%s' must be auto or a whole "
			    "number 0 to %u, not '%s'", k->name, k->max,
			    value);
			return KW_ERR_CONFIG;
		}
		return KW_OK;
	case KW_CT_SECONDS_MS:
	case KW_CT_SECONDS:
	case KW_CT_COUNT:
	case KW_CT_UINT:
		return kw_conf_set_number(k, (unsigned *)(void *)p, value,
		    file, line);
	case KW_CT_ADDR:
		return kw_conf_set_addr((struct kw_addr *)(void *)p, k->name,
		    value, file, line);
	case KW_CT_LIST:
		r = kw_list_add((struct kw_strlist *)(void *)p, value);
		if (r == KW_ERR_SPACE)
			kw_conf_err(file, line, "too many '%s' entries (at "
			    "most %d)", k->name, KW_CONF_MAX_LIST);
		return r == KW_ERR_SPACE ? KW_ERR_CONFIG : r;
	case KW_CT_MODE:
		if ((r = kw_conf_set_word(k->type, k->name, value, file, line,
		    &b)) == KW_OK)
			*(enum kw_tunnel_mode *)(void *)p =
			    (enum kw_tunnel_mode)b;
		return r;
	case KW_CT_TLSVER:
	case KW_CT_CRLMODE:
	case KW_CT_OCSP:
	case KW_CT_LOGLEVEL:
		return kw_conf_set_word(k->type, k->name, value, file, line,
		    (int *)(void *)p);
	}
	return KW_ERR_ARG;
}

/* Apply one keyword of a table to the struct at base.  *seen tracks keys
 * already set (a repeated key is an error, except for lists). */
static int
kw_conf_apply(const struct kw_conf_key *keys, size_t nkeys, void *base,
    char *seen, const char *key, const char *value, const char *file,
    int line, const char *where)
{
	const struct kw_conf_key *k;
	size_t i = 0;
	int r;

	if ((k = kw_conf_find(keys, nkeys, key, &i)) == NULL) {
		kw_conf_err(file, line, "unknown key '%s' in %s", key, where);
		return KW_ERR_CONFIG;
	}
	if (k->type != KW_CT_LIST && seen != NULL) {
		if (seen[i]) {
			kw_conf_err(file, line, "'%s' given twice in %s", key,
			    where);
			return KW_ERR_CONFIG;
		}
		seen[i] = 1;
	}
	if (*value == '\0' && k->type != KW_CT_STR) {
		kw_conf_err(file, line, "'%s' needs a value", key);
		return KW_ERR_CONFIG;
	}
	if ((r = kw_conf_set(k, (char *)base + k->off, value, file, line)) !=
	    KW_OK)
		return r;
	if (keys == kw_global_keys &&
	    k->off == offsetof(struct kw_config, metrics)) {
		((struct kw_config *)base)->has_metrics = 1;
		((struct kw_config *)base)->metrics_line = line;
		if (((struct kw_config *)base)->metrics.is_unix) {
			kw_conf_err(file, line, "'metrics' must be a TCP "
			    "address (HOST:PORT)");
			return KW_ERR_CONFIG;
		}
	}
	if (keys == kw_global_keys &&
	    k->off == offsetof(struct kw_config, control_socket))
		((struct kw_config *)base)->control_socket_line = line;
	if (keys == kw_global_keys &&
	    k->off == offsetof(struct kw_config, workers))
		((struct kw_config *)base)->workers_line = line;
	return KW_OK;
}

int
kw_tunnel_conf_new(const char *name, enum kw_tunnel_mode mode,
    struct kw_tunnel_conf **out)
{
	struct kw_tunnel_conf *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return KW_ERR_NOMEM;
	if ((t->name = strdup(name)) == NULL) {
		free(t);
		return KW_ERR_NOMEM;
	}
	t->mode = mode;
	t->crl_hard_fail = 1;
	t->ocsp_stapling = KW_OCSP_REQUEST;
	t->resume = 1;
	t->connect_timeout_ms = KW_DEF_CONNECT_TIMEOUT_MS;
	t->handshake_timeout_ms = KW_DEF_HANDSHAKE_TIMEOUT_MS;
	t->idle_timeout_s = KW_DEF_IDLE_TIMEOUT_S;
	t->handshake_threads = KW_DEF_HS_THREADS;
	t->max_conns = KW_DEF_MAX_CONNS;
	t->max_pending_per_source = KW_DEF_MAX_PENDING_PER_SOURCE;
	t->max_signing_per_source = KW_DEF_MAX_SIGNING_PER_SOURCE;
	t->max_signing = KW_DEF_MAX_SIGNING;
	*out = t;
	return KW_OK;
}

void
kw_tunnel_conf_free(struct kw_tunnel_conf *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->servername);
	free(t->identity);
	free(t->key);
	free(t->cert);
	free(t->ca);
	free(t->crl);
	free(t->ciphers);
	free(t->tcti);
	free(t->module);
	free(t->auth_file);
	free(t->ak);
	free(t->event_log);
	free(t->require_posture);
	kw_list_free(&t->allow_cn);
	kw_list_free(&t->allow_san_dns);
	kw_list_free(&t->allow_san_uri);
	kw_list_free(&t->allow_ou);
	free(t);
}

static int
kw_list_dup(const struct kw_strlist *from, struct kw_strlist *to)
{
	size_t i;
	int r;

	memset(to, 0, sizeof(*to));
	for (i = 0; i < from->n; i++)
		if ((r = kw_list_add(to, from->v[i])) != KW_OK)
			return r;
	return KW_OK;
}

int
kw_tunnel_conf_dup(const struct kw_tunnel_conf *t,
    struct kw_tunnel_conf **out)
{
	struct kw_tunnel_conf *d;
	int r = KW_ERR_NOMEM;

	*out = NULL;
	if ((d = malloc(sizeof(*d))) == NULL)
		return KW_ERR_NOMEM;
	*d = *t;
	d->name = d->servername = d->identity = d->key = d->cert = NULL;
	d->ca = d->crl = d->ciphers = d->tcti = d->module = NULL;
	d->auth_file = d->ak = d->event_log = d->require_posture = NULL;
	memset(&d->allow_cn, 0, sizeof(d->allow_cn));
	memset(&d->allow_san_dns, 0, sizeof(d->allow_san_dns));
	memset(&d->allow_san_uri, 0, sizeof(d->allow_san_uri));
	memset(&d->allow_ou, 0, sizeof(d->allow_ou));
#define DUP(f) if (t->f != NULL && (d->f = strdup(t->f)) == NULL) goto out
	DUP(name); DUP(servername); DUP(identity); DUP(key); DUP(cert);
	DUP(ca); DUP(crl); DUP(ciphers); DUP(tcti); DUP(module);
	DUP(auth_file); DUP(ak); DUP(event_log); DUP(require_posture);
#undef DUP
	if ((r = kw_list_dup(&t->allow_cn, &d->allow_cn)) != KW_OK ||
	    (r = kw_list_dup(&t->allow_san_dns, &d->allow_san_dns)) != KW_OK ||
	    (r = kw_list_dup(&t->allow_san_uri, &d->allow_san_uri)) != KW_OK ||
	    (r = kw_list_dup(&t->allow_ou, &d->allow_ou)) != KW_OK)
		goto out;
	*out = d;
	d = NULL;
	r = KW_OK;
out:
	kw_tunnel_conf_free(d);
	return r;
}

int
kw_tunnel_conf_set(struct kw_tunnel_conf *t, const char *key,
    const char *value, const char *file, int line)
{
	char where[160];

	snprintf(where, sizeof(where), "[tunnel %s]", t->name);
	return kw_conf_apply(kw_tunnel_keys, KW_NKEYS(kw_tunnel_keys), t, NULL,
	    key, value, file, line, where);
}

int
kw_tunnel_conf_check(const struct kw_tunnel_conf *t, const char *file)
{
	int line = t->line, bad = 0;
	const char *n = t->name;

#define MISSING(what) do { \
	kw_conf_err(file, line, "tunnel '%s': missing '%s'", n, what); \
	bad = 1; \
} while (0)
	if (t->mode == 0)
		MISSING("mode (client or server)");
	if (t->listen.text[0] == '\0')
		MISSING("listen");
	if (t->target.text[0] == '\0')
		MISSING("target");
	if (t->ca == NULL)
		MISSING("ca");
	if (t->identity != NULL && (t->key != NULL || t->cert != NULL)) {
		kw_conf_err(file, line, "tunnel '%s': give either 'identity' "
		    "or 'key' + 'cert', not both", n);
		bad = 1;
	} else if (t->identity == NULL) {
		if (t->key == NULL)
			MISSING("key (or identity)");
		/* a pkcs11: key's certificate may stay on the token */
		if (t->cert == NULL &&
		    (t->key == NULL || strncmp(t->key, "pkcs11:", 7) != 0))
			MISSING("cert (or identity)");
	}
#undef MISSING
	if (t->tls_min != 0 && t->tls_max != 0 && t->tls_min > t->tls_max) {
		kw_conf_err(file, line, "tunnel '%s': tls-min is above "
		    "tls-max", n);
		bad = 1;
	}
	if (t->mode == KW_TUNNEL_CLIENT) {
		if (t->target.is_unix) {
			kw_conf_err(file, line, "tunnel '%s': a client "
			    "tunnel's target must be HOST:PORT (TLS goes over "
			    "TCP)", n);
			bad = 1;
		}
		if (t->allow_all || t->allow_cn.n || t->allow_san_dns.n ||
		    t->allow_san_uri.n || t->allow_ou.n) {
			kw_conf_err(file, line, "tunnel '%s': allow-* keys are "
			    "for server tunnels (a client checks the server "
			    "name instead)", n);
			bad = 1;
		}
		if (t->require_posture != NULL) {
			kw_conf_err(file, line, "tunnel '%s': "
			    "'require-posture' is for server tunnels (a client "
			    "answers with 'ak')", n);
			bad = 1;
		}
		if (t->ak != NULL && strncmp(t->ak, "tpm:", 4) != 0) {
			kw_conf_err(file, line, "tunnel '%s': 'ak' must be "
			    "tpm:PATH (made by `keyward attest init`)", n);
			bad = 1;
		}
		if (t->event_log != NULL && t->ak == NULL) {
			kw_conf_err(file, line, "tunnel '%s': 'event-log' "
			    "goes with 'ak'", n);
			bad = 1;
		}
	}
	if (t->mode == KW_TUNNEL_SERVER) {
		if (t->servername != NULL) {
			kw_conf_err(file, line, "tunnel '%s': 'servername' is "
			    "for client tunnels", n);
			bad = 1;
		}
		if (t->ak != NULL || t->event_log != NULL) {
			kw_conf_err(file, line, "tunnel '%s': 'ak' and "
			    "'event-log' are for client tunnels (a server "
			    "asks with 'require-posture')", n);
			bad = 1;
		}
		if (!t->allow_all && t->allow_cn.n == 0 &&
		    t->allow_san_dns.n == 0 && t->allow_san_uri.n == 0 &&
		    t->allow_ou.n == 0) {
			kw_conf_err(file, line, "tunnel '%s': a server tunnel "
			    "needs an allow-list: %s", n, file != NULL ?
			    "allow-cn, allow-san-dns, allow-san-uri, allow-ou, "
			    "or allow-all = yes" : "--allow-cn, --allow-san-dns, "
			    "--allow-san-uri, --allow-ou, or --allow-all");
			bad = 1;
		}
		if (t->allow_all && (t->allow_cn.n || t->allow_san_dns.n ||
		    t->allow_san_uri.n || t->allow_ou.n)) {
			kw_conf_err(file, line, "tunnel '%s': allow-all "
			    "admits every client the CA vouches for; drop the "
			    "other allow-* keys or allow-all", n);
			bad = 1;
		}
	}
	return bad ? KW_ERR_CONFIG : KW_OK;
}

static void
kw_conf_free_sections(struct kw_config *c)
{
	size_t i;

	for (i = 0; i < c->ntunnels; i++)
		kw_tunnel_conf_free(c->tunnels[i]);
	free(c->tunnels);
	for (i = 0; i < c->nids; i++)
		kw_identity_conf_free(c->ids[i]);
	free(c->ids);
}

void
kw_config_free(struct kw_config *c)
{
	if (c == NULL)
		return;
	kw_conf_free_sections(c);
	free(c->file);
	free(c->control_socket);
	free(c->tcti);
	free(c->module);
	free(c->auth_file);
	free(c);
}

static int
kw_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") == n;
}

/* A section header line "[...]" (already trimmed, brackets included). */
static void
kw_conf_section(struct kw_conf_parse *p, char *hdr)
{
	struct kw_config *c = p->conf;
	char *name, *end, *sp;
	void *nv;
	size_t i;
	int r;

	p->sect = KW_SECT_BAD;
	p->tunnel = NULL;
	p->ident = NULL;
	p->sect_keys = 0;
	p->sect_line = p->line;
	memset(p->seen_keys, 0, sizeof(p->seen_keys));
	if ((end = strchr(hdr, ']')) == NULL || end[1] != '\0') {
		kw_conf_err(p->file, p->line, "bad section header: use "
		    "[global], [tunnel NAME] or [identity NAME]");
		p->errors++;
		return;
	}
	*end = '\0';
	name = hdr + 1;
	while (isspace((unsigned char)*name))
		name++;
	for (sp = end; sp > name && isspace((unsigned char)sp[-1]); sp--)
		sp[-1] = '\0';
	if (strcmp(name, "global") == 0) {
		p->sect = KW_SECT_GLOBAL;
		return;
	}
	sp = name + strcspn(name, " \t");
	if (*sp == '\0') {
		kw_conf_err(p->file, p->line, "unknown section [%s]: use "
		    "[global], [tunnel NAME] or [identity NAME]", name);
		p->errors++;
		return;
	}
	*sp++ = '\0';
	while (isspace((unsigned char)*sp))
		sp++;
	if (strcmp(name, "tunnel") != 0 && strcmp(name, "identity") != 0) {
		kw_conf_err(p->file, p->line, "unknown section [%s %s]: use "
		    "[global], [tunnel NAME] or [identity NAME]", name, sp);
		p->errors++;
		return;
	}
	if (!kw_name_ok(sp)) {
		kw_conf_err(p->file, p->line, "bad %s name '%s': use up to 64 "
		    "letters, digits, '-', '_' or '.'", name, sp);
		p->errors++;
		return;
	}
	if (strcmp(name, "tunnel") == 0) {
		for (i = 0; i < c->ntunnels; i++)
			if (strcmp(c->tunnels[i]->name, sp) == 0) {
				kw_conf_err(p->file, p->line, "duplicate tunnel "
				    "name '%s' (first at line %d)", sp,
				    c->tunnels[i]->line);
				p->errors++;
				return;
			}
		if (c->ntunnels >= KW_CONF_MAX_TUNNELS) {
			kw_conf_err(p->file, p->line, "too many tunnels (at "
			    "most %d)", KW_CONF_MAX_TUNNELS);
			p->errors++;
			return;
		}
		if ((nv = realloc(c->tunnels, (c->ntunnels + 1) *
		    sizeof(*c->tunnels))) == NULL) {
			p->errors++;
			return;
		}
		c->tunnels = nv;
		if (kw_tunnel_conf_new(sp, 0, &p->tunnel) != KW_OK) {
			p->errors++;
			return;
		}
		p->tunnel->line = p->line;
		c->tunnels[c->ntunnels++] = p->tunnel;
		p->sect = KW_SECT_TUNNEL;
		return;
	}
	for (i = 0; i < c->nids; i++)
		if (strcmp(kw_identity_conf_name(c->ids[i]), sp) == 0) {
			kw_conf_err(p->file, p->line, "duplicate identity "
			    "name '%s'", sp);
			p->errors++;
			return;
		}
	if (c->nids >= KW_CONF_MAX_TUNNELS || (nv = realloc(c->ids,
	    (c->nids + 1) * sizeof(*c->ids))) == NULL) {
		p->errors++;
		return;
	}
	c->ids = nv;
	if ((r = kw_identity_conf_new(sp, &p->ident)) != KW_OK) {
		p->errors++;
		return;
	}
	c->ids[c->nids++] = p->ident;
	p->sect = KW_SECT_IDENTITY;
}

/* A section ends: complain if it had no keys. */
static void
kw_conf_section_end(struct kw_conf_parse *p)
{
	if ((p->sect == KW_SECT_TUNNEL || p->sect == KW_SECT_IDENTITY) &&
	    p->sect_keys == 0) {
		kw_conf_err(p->file, p->sect_line, "empty section");
		p->errors++;
	}
}

/* inih's reader: one whole source line per call (so p->line is exact).
 * Lines inih would split or misread are reported and replaced by a
 * comment. */
static char *
kw_conf_reader(char *str, int num, void *stream)
{
	struct kw_conf_parse *p = stream;
	char *t;
	int r;

	if (p->pos >= p->len || num < 3)
		return NULL;
	r = kw_text_line(p->text, p->len, &p->pos, KW_CONF_MAX_LINE, str,
	    (size_t)num, &t);
	p->line++;
	if (r == KW_ERR_PARSE) {
		kw_conf_err(p->file, p->line, "NUL byte in line");
		p->errors++;
		goto comment;
	}
	if (r != KW_OK) {
		kw_conf_err(p->file, p->line, "line too long (at most %d "
		    "bytes)", num - 2 < KW_CONF_MAX_LINE ? num - 2 :
		    KW_CONF_MAX_LINE);
		p->errors++;
		goto comment;
	}
	/* Our own look at the line: sections, and lines without '='. */
	if (*t == '\0' || *t == ';' || *t == '#')
		goto comment;
	if (*t == '[') {
		kw_conf_section_end(p);
		kw_conf_section(p, t);
		goto comment;
	}
	if (t != str) {
		/* inih would take an indented line as the continuation of
		 * the previous value: refuse that. */
		kw_conf_err(p->file, p->line, "indented line: keys start at "
		    "the beginning of the line (no continuation lines)");
		p->errors++;
		goto comment;
	}
	if (strchr(t, '=') == NULL) {
		kw_conf_err(p->file, p->line, "expected 'key = value', got "
		    "'%.40s'", t);
		p->errors++;
		goto comment;
	}
	return str;
comment:
	str[0] = ';';
	str[1] = '\0';
	return str;
}

static int
kw_conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct kw_conf_parse *p = user;
	int r = KW_OK;

	(void)section;
	if (p->errors > KW_CONF_MAX_ERRORS)
		return 1;
	p->sect_keys++;
	switch (p->sect) {
	case KW_SECT_NONE:
		kw_conf_err(p->file, p->line, "'%s' outside a section: put it "
		    "under [global] or a [tunnel NAME]", name);
		r = KW_ERR_CONFIG;
		break;
	case KW_SECT_GLOBAL:
		r = kw_conf_apply(kw_global_keys, KW_NKEYS(kw_global_keys),
		    p->conf, p->seen_keys, name, value, p->file, p->line,
		    "[global]");
		break;
	case KW_SECT_TUNNEL: {
		char where[160];

		snprintf(where, sizeof(where), "[tunnel %s]",
		    p->tunnel->name);
		r = kw_conf_apply(kw_tunnel_keys, KW_NKEYS(kw_tunnel_keys),
		    p->tunnel, p->seen_keys, name, value, p->file, p->line,
		    where);
		break;
	}
	case KW_SECT_IDENTITY:
		r = kw_identity_conf_set(p->ident, name, value, p->file,
		    p->line);
		break;
	case KW_SECT_BAD:
		r = KW_OK;	/* the header was reported */
		break;
	}
	if (r != KW_OK)
		p->errors++;
	return 1;	/* go on: report every problem */
}

/* 1 when only this machine can reach the address (a unix socket, a
 * loopback address or "localhost"); host names are not resolved. */
static int
kw_addr_is_local(const struct kw_addr *a)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (a->is_unix || strcasecmp(a->host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, a->host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a->host, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6);
	return 0;
}

/* Settings that expose the agent beyond this machine, or that the daemon
 * cannot use: warnings, and a refusal of public metrics unless asked.
 * Returns the number of errors. */
static int
kw_conf_check_exposure(struct kw_config *c)
{
	const struct kw_tunnel_conf *t;
	size_t i;
	int errors = 0;

	if (c->control_socket != NULL && c->control_socket[0] != '/')
		kw_conf_warn(c, c->control_socket_line, "control-socket '%s' "
		    "is not an absolute path: the daemon refuses it (unless "
		    "--socket is given); write it from /", c->control_socket);
	if (c->has_metrics && !kw_addr_is_local(&c->metrics)) {
		if (!c->metrics_public) {
			kw_conf_err(c->file, c->metrics_line, "metrics on %s "
			    "can be reached from the network (tunnel names, "
			    "identities and failures, no authentication): "
			    "listen on 127.0.0.1, or set metrics-public = yes "
			    "if that is meant", c->metrics.text);
			errors++;
		} else
			kw_conf_warn(c, c->metrics_line, "metrics on %s can be "
			    "reached from the network (metrics-public = yes)",
			    c->metrics.text);
	}
	for (i = 0; i < c->ntunnels; i++) {
		t = c->tunnels[i];
		if (t->mode == KW_TUNNEL_CLIENT && !kw_addr_is_local(&t->listen))
			kw_conf_warn(c, t->line, "client tunnel '%s' listens "
			    "on %s: anyone who reaches it connects with this "
			    "machine's identity; listen on 127.0.0.1 unless "
			    "that is meant", t->name, t->listen.text);
	}
	return errors;
}

int
kw_config_parse(const char *text, size_t len, const char *file,
    struct kw_config **out)
{
	struct kw_conf_parse p;
	struct kw_config *c;
	size_t i, j;
	int r, found;

	*out = NULL;
	if (file == NULL)
		file = "(config)";
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KW_ERR_NOMEM;
	c->log_level = -1;
	c->watch_interval_s = KW_DEF_WATCH_INTERVAL_S;
	c->sign_rate = KW_DEF_SIGN_RATE;
	c->sandbox = 1;
	c->workers = 1;
	if ((c->file = strdup(file)) == NULL) {
		free(c);
		return KW_ERR_NOMEM;
	}
	memset(&p, 0, sizeof(p));
	p.file = file;
	p.text = text;
	p.len = len;
	p.conf = c;
	p.sect = KW_SECT_NONE;
	r = ini_parse_stream(kw_conf_reader, &p, kw_conf_handler, &p);
	kw_conf_section_end(&p);
	if (r != 0 && p.errors == 0) {
		kw_conf_err(file, r > 0 ? r : 0, "cannot parse this line");
		p.errors++;
	}
	/* Whole-file checks. */
	for (i = 0; i < c->ntunnels && p.errors <= KW_CONF_MAX_ERRORS; i++) {
		struct kw_tunnel_conf *t = c->tunnels[i];

		if (kw_tunnel_conf_check(t, file) != KW_OK) {
			p.errors++;
			continue;
		}
		if (t->identity != NULL) {
			for (j = 0, found = 0; j < c->nids; j++)
				if (strcmp(kw_identity_conf_name(c->ids[j]),
				    t->identity) == 0)
					found = 1;
			if (!found) {
				kw_conf_err(file, t->line, "tunnel '%s': no "
				    "[identity %s] section", t->name,
				    t->identity);
				p.errors++;
			}
		}
		for (j = 0; j < i; j++)
			if (strcmp(c->tunnels[j]->listen.text,
			    t->listen.text) == 0) {
				kw_conf_err(file, t->line, "tunnel '%s' listens "
				    "on %s like tunnel '%s' (line %d)",
				    t->name, t->listen.text,
				    c->tunnels[j]->name, c->tunnels[j]->line);
				p.errors++;
			}
	}
	if (p.errors == 0)
		p.errors += kw_conf_check_exposure(c);
	if (c->workers > 1 && !c->sandbox) {
		kw_conf_err(file, c->workers_line, "workers = %u needs the "
		    "signer process, which sandbox = no turns off: set "
		    "workers = 1 or remove sandbox = no", c->workers);
		p.errors++;
	}
	if (p.errors == 0 && c->ntunnels == 0 && c->nids == 0) {
		kw_conf_err(file, p.line, "no [tunnel NAME] or [identity "
		    "NAME] section: nothing to run");
		p.errors++;
	}
	if (p.errors > 0) {
		kw_config_free(c);
		return KW_ERR_CONFIG;
	}
	*out = c;
	return KW_OK;
}

int
kw_config_load(const char *path, struct kw_config **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = kw_file_read(path, KW_CONF_MAX_FILE, &buf, &len)) != KW_OK) {
		kw_err("cannot read config file %s: %s", path,
		    r == KW_ERR_NOT_FOUND ? "no such file" : kw_strerror(r));
		return r == KW_ERR_NOT_FOUND ? KW_ERR_CONFIG : r;
	}
	r = kw_config_parse((const char *)buf, len, path, out);
	free(buf);
	return r;
}
