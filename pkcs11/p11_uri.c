/* RFC 7512 PKCS#11 URI parser and writer (see p11_uri.h). */
#include <p11-kit/pkcs11.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_hex.h"
#include "kw_mem.h"
#include "p11_uri.h"

/* Character classes of RFC 7512 section 2.3. */
#define P11_UNRESERVED \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
#define P11_RES_AVAIL	":[]@!$'()*+,="
#define P11_PATH_EXTRA	"&"
#define P11_QUERY_EXTRA	"/?|"

enum p11_attr_kind { P11_STR, P11_ID, P11_TYPE, P11_SLOT_ID, P11_LIBVER };

struct p11_attr_def {
	const char *name;
	enum p11_attr_kind kind;
	size_t off;		/* offset of the char * field (P11_STR) */
	size_t max;		/* longest value the PKCS#11 field can hold */
};

#define P11_OFF(f) offsetof(struct p11_uri, f)

static const struct p11_attr_def p11_path_attrs[] = {
	{ "token", P11_STR, P11_OFF(token), 32 },
	{ "manufacturer", P11_STR, P11_OFF(manufacturer), 32 },
	{ "model", P11_STR, P11_OFF(model), 16 },
	{ "serial", P11_STR, P11_OFF(serial), 16 },
	{ "object", P11_STR, P11_OFF(object), 4096 },
	{ "id", P11_ID, 0, 4096 },
	{ "type", P11_TYPE, 0, 0 },
	{ "slot-id", P11_SLOT_ID, 0, 0 },
	{ "slot-description", P11_STR, P11_OFF(slot_description), 64 },
	{ "slot-manufacturer", P11_STR, P11_OFF(slot_manufacturer), 32 },
	{ "library-manufacturer", P11_STR, P11_OFF(lib_manufacturer), 32 },
	{ "library-description", P11_STR, P11_OFF(lib_description), 32 },
	{ "library-version", P11_LIBVER, 0, 0 },
};

static const struct p11_attr_def p11_query_attrs[] = {
	{ "module-path", P11_STR, P11_OFF(module_path), 4096 },
	{ "module-name", P11_STR, P11_OFF(module_name), 255 },
	{ "pin-source", P11_STR, P11_OFF(pin_source), 4096 },
	{ "pin-value", P11_STR, P11_OFF(pin_value), 255 },
};

static const struct {
	const char *name;
	long cko;
} p11_types[] = {
	{ "private", CKO_PRIVATE_KEY },
	{ "public", CKO_PUBLIC_KEY },
	{ "cert", CKO_CERTIFICATE },
	{ "secret-key", CKO_SECRET_KEY },
	{ "data", CKO_DATA },
};

/* Parser state: the URI being read and where errors go. */
struct p11_parse {
	const char *uri;
	char *errbuf;
	size_t errlen;
};

static int
p11_perr(struct p11_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
p11_perr(struct p11_parse *p, const char *fmt, ...)
{
	va_list ap;
	char *c;

	if (p->errbuf != NULL && p->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(p->errbuf, p->errlen, fmt, ap);
		va_end(ap);
		/* one line: the URI's own bytes are quoted in it */
		for (c = p->errbuf; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return KW_ERR_PARSE;
}

/* Percent-decode s[0..n) into a fresh buffer (NUL-terminated, *out_len
 * excludes the NUL), checking every raw character against the class. */
static int
p11_decode(struct p11_parse *p, const char *name, const char *s, size_t n,
    const char *extra, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	size_t i, j = 0;
	int hi, lo;

	*out = NULL;
	*out_len = 0;
	if ((buf = malloc(n + 1)) == NULL)
		return KW_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= n ||
			    (hi = kw_hex_digit(s[i + 1])) < 0 ||
			    (lo = kw_hex_digit(s[i + 2])) < 0) {
				kw_freezero(buf, n + 1);
				return p11_perr(p, "PKCS#11 URI attribute '%s': "
				    "bad percent-encoding at '%.3s' (use %%XX "
				    "with two hex digits)", name, s + i);
			}
			buf[j++] = (uint8_t)(hi << 4 | lo);
			i += 2;
			continue;
		}
		if (c < 0x80 && c != '\0' &&
		    (strchr(P11_UNRESERVED, c) != NULL ||
		    strchr(P11_RES_AVAIL, c) != NULL ||
		    strchr(extra, c) != NULL)) {
			buf[j++] = c;
			continue;
		}
		kw_freezero(buf, n + 1);
		if (c >= 0x21 && c < 0x7f)
			return p11_perr(p, "PKCS#11 URI attribute '%s': "
			    "character '%c' must be written as %%%02X",
			    name, c, c);
		return p11_perr(p, "PKCS#11 URI attribute '%s': byte 0x%02x "
		    "must be percent-encoded as %%%02X (spaces as %%20)",
		    name, c, c);
	}
	buf[j] = '\0';
	*out = buf;
	*out_len = j;
	return KW_OK;
}

static int
p11_set_attr(struct p11_parse *p, struct p11_uri *u,
    const struct p11_attr_def *d, const char *extra, const char *val,
    size_t vlen)
{
	uint8_t *v = NULL;
	size_t n = 0, i;
	char **field;
	char *end;
	unsigned long sid;
	long maj, min;
	int r;

	if ((r = p11_decode(p, d->name, val, vlen, extra, &v, &n)) != KW_OK)
		return r;
	switch (d->kind) {
	case P11_ID:
		if (u->has_id) {
			r = p11_perr(p, "PKCS#11 URI: attribute 'id' appears "
			    "twice");
			goto out;
		}
		u->id = v;
		u->id_len = n;
		u->has_id = 1;
		v = NULL;
		goto out;
	case P11_STR:
		field = (char **)(void *)((char *)u + d->off);
		if (*field != NULL) {
			r = p11_perr(p, "PKCS#11 URI: attribute '%s' appears "
			    "twice", d->name);
			goto out;
		}
		if (memchr(v, '\0', n) != NULL) {
			r = p11_perr(p, "PKCS#11 URI attribute '%s': %%00 is "
			    "not allowed in a text value", d->name);
			goto out;
		}
		if (n == 0 && strcmp(d->name, "object") != 0) {
			r = p11_perr(p, "PKCS#11 URI attribute '%s' is empty",
			    d->name);
			goto out;
		}
		if (n > d->max) {
			r = p11_perr(p, "PKCS#11 URI attribute '%s' is %zu "
			    "bytes long; PKCS#11 allows at most %zu", d->name,
			    n, d->max);
			goto out;
		}
		*field = (char *)v;
		v = NULL;
		goto out;
	case P11_TYPE:
		if (u->type != P11_URI_TYPE_NONE) {
			r = p11_perr(p, "PKCS#11 URI: attribute 'type' "
			    "appears twice");
			goto out;
		}
		for (i = 0; i < sizeof(p11_types) / sizeof(p11_types[0]); i++)
			if (strcmp((char *)v, p11_types[i].name) == 0)
				u->type = p11_types[i].cko;
		if (u->type == P11_URI_TYPE_NONE)
			r = p11_perr(p, "PKCS#11 URI: type=%s is not one of "
			    "private, public, cert, secret-key, data",
			    (char *)v);
		goto out;
	case P11_SLOT_ID:
		if (u->has_slot_id) {
			r = p11_perr(p, "PKCS#11 URI: attribute 'slot-id' "
			    "appears twice");
			goto out;
		}
		if (n == 0 || n > 20 || strspn((char *)v, "0123456789") != n) {
			r = p11_perr(p, "PKCS#11 URI: slot-id=%s is not a "
			    "decimal number", (char *)v);
			goto out;
		}
		sid = strtoul((char *)v, &end, 10);
		u->slot_id = sid;
		u->has_slot_id = 1;
		goto out;
	case P11_LIBVER:
		if (u->lib_ver_major >= 0) {
			r = p11_perr(p, "PKCS#11 URI: attribute "
			    "'library-version' appears twice");
			goto out;
		}
		maj = -1;
		min = 0;
		if (n > 0 && n < 8 && strspn((char *)v, "0123456789.") == n &&
		    v[0] != '.') {
			maj = strtol((char *)v, &end, 10);
			if (*end == '.' && end[1] != '\0' &&
			    strchr(end + 1, '.') == NULL)
				min = strtol(end + 1, &end, 10);
			if (*end != '\0' || maj > 255 || min > 255)
				maj = -1;
		}
		if (maj < 0) {
			r = p11_perr(p, "PKCS#11 URI: library-version=%s is "
			    "not MAJOR[.MINOR]", (char *)v);
			goto out;
		}
		u->lib_ver_major = (int)maj;
		u->lib_ver_minor = (int)min;
		goto out;
	}
out:
	if (v != NULL)
		kw_freezero(v, n + 1);
	return r;
}

/* One "name=value" element of the path (query = 0) or the query. */
static int
p11_parse_one(struct p11_parse *p, struct p11_uri *u, const char *s,
    size_t n, int query)
{
	const struct p11_attr_def *defs = query ? p11_query_attrs :
	    p11_path_attrs;
	size_t ndefs = query ?
	    sizeof(p11_query_attrs) / sizeof(p11_query_attrs[0]) :
	    sizeof(p11_path_attrs) / sizeof(p11_path_attrs[0]);
	const char *eq = memchr(s, '=', n);
	size_t nlen, i;

	if (n == 0)
		return p11_perr(p, "PKCS#11 URI: empty attribute (doubled "
		    "'%c'?)", query ? '&' : ';');
	if (eq == NULL)
		return p11_perr(p, "PKCS#11 URI: '%.*s' is not NAME=VALUE",
		    (int)(n > 40 ? 40 : n), s);
	nlen = (size_t)(eq - s);
	for (i = 0; i < ndefs; i++)
		if (strlen(defs[i].name) == nlen &&
		    memcmp(defs[i].name, s, nlen) == 0)
			return p11_set_attr(p, u, &defs[i],
			    query ? P11_QUERY_EXTRA : P11_PATH_EXTRA,
			    eq + 1, n - nlen - 1);
	if (query && nlen > 2 && memcmp(s, "x-", 2) == 0)
		return KW_OK;	/* vendor-specific query attribute: ignored */
	/* a query attribute written among the path attributes */
	for (i = 0; !query && i < sizeof(p11_query_attrs) /
	    sizeof(p11_query_attrs[0]); i++)
		if (strlen(p11_query_attrs[i].name) == nlen &&
		    memcmp(p11_query_attrs[i].name, s, nlen) == 0)
			return p11_perr(p, "PKCS#11 URI: %s is a query "
			    "attribute: write it after '?', not after ';' "
			    "(pkcs11:token=T;object=K?%s=...)",
			    p11_query_attrs[i].name, p11_query_attrs[i].name);
	return p11_perr(p, "PKCS#11 URI: unknown %s attribute '%.*s'%s",
	    query ? "query" : "path", (int)(nlen > 40 ? 40 : nlen), s,
	    query ? " (query attributes: module-path, module-name, "
	    "pin-source, pin-value)" : " (path attributes: token, object, "
	    "id, type, serial, model, manufacturer, slot-id, "
	    "slot-description, slot-manufacturer, library-*; put "
	    "module-path and pin-source after '?')");
}

static int
p11_parse_list(struct p11_parse *p, struct p11_uri *u, const char *s,
    size_t n, char sep, int query)
{
	const char *end, *stop = s + n;
	int r;

	if (n == 0)
		return KW_OK;
	for (;;) {
		end = memchr(s, sep, (size_t)(stop - s));
		if (end == NULL)
			end = stop;
		if ((r = p11_parse_one(p, u, s, (size_t)(end - s), query))
		    != KW_OK)
			return r;
		if (end == stop)
			return KW_OK;
		s = end + 1;
	}
}

int
p11_uri_parse(const char *uri, struct p11_uri **out, char *errbuf,
    size_t errlen)
{
	struct p11_parse p = { uri, errbuf, errlen };
	struct p11_uri *u = NULL;
	const char *q;
	size_t plen;
	int r;

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (uri == NULL || strncmp(uri, "pkcs11:", 7) != 0) {
		r = p11_perr(&p, "not a PKCS#11 URI (must start with "
		    "'pkcs11:')");
		goto out;
	}
	if (strlen(uri) > 16384) {
		r = p11_perr(&p, "PKCS#11 URI is longer than 16384 bytes");
		goto out;
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		r = KW_ERR_NOMEM;
		goto out;
	}
	u->type = P11_URI_TYPE_NONE;
	u->lib_ver_major = -1;
	u->lib_ver_minor = -1;
	uri += 7;
	q = strchr(uri, '?');
	plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	if ((r = p11_parse_list(&p, u, uri, plen, ';', 0)) != KW_OK)
		goto out;
	if (q != NULL && (r = p11_parse_list(&p, u, q + 1, strlen(q + 1),
	    '&', 1)) != KW_OK)
		goto out;
	if (u->module_path != NULL && u->module_path[0] != '/') {
		r = p11_perr(&p, "PKCS#11 URI: module-path=%s must be an "
		    "absolute path", u->module_path);
		goto out;
	}
	if (u->module_name != NULL && strchr(u->module_name, '/') != NULL) {
		r = p11_perr(&p, "PKCS#11 URI: module-name=%s must be a name "
		    "without '/' (use module-path for a path)",
		    u->module_name);
		goto out;
	}
	if (u->pin_source != NULL && u->pin_value != NULL) {
		r = p11_perr(&p, "PKCS#11 URI: give pin-source or pin-value, "
		    "not both");
		goto out;
	}
	*out = u;
	u = NULL;
	r = KW_OK;
out:
	p11_uri_free(u);
	return r;
}

void
p11_uri_free(struct p11_uri *u)
{
	if (u == NULL)
		return;
	free(u->lib_manufacturer);
	free(u->lib_description);
	free(u->slot_description);
	free(u->slot_manufacturer);
	free(u->token);
	free(u->manufacturer);
	free(u->model);
	free(u->serial);
	free(u->object);
	free(u->id);
	free(u->module_path);
	free(u->module_name);
	free(u->pin_source);
	kw_free_secret(u->pin_value);
	free(u);
}

int
p11_uri_pin_file(const struct p11_uri *u, const char **path, char *errbuf,
    size_t errlen)
{
	const char *s = u->pin_source;

	*path = NULL;
	if (s == NULL)
		return KW_ERR_NOT_FOUND;
	if (strncmp(s, "file://", 7) == 0 && s[7] == '/')
		s += 7;
	else if (strncmp(s, "file:", 5) == 0)
		s += 5;
	else if (s[0] == '|' || strchr(s, ':') != NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "pin-source=%s is not "
			    "supported: use file:PATH (a file that holds the "
			    "PIN, mode 0600)", s);
		return KW_ERR_UNSUPPORTED;
	}
	if (*s == '\0') {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "pin-source names no file");
		return KW_ERR_UNSUPPORTED;
	}
	*path = s;
	return KW_OK;
}

void
p11_uri_unpad(char *out, const unsigned char *field, size_t field_len)
{
	size_t n = field_len;

	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	memcpy(out, field, n);
	out[n] = '\0';
}

int
p11_uri_field_eq(const char *want, const unsigned char *field,
    size_t field_len)
{
	size_t n = field_len;

	if (want == NULL)
		return 1;
	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	return strlen(want) == n && memcmp(want, field, n) == 0;
}

int
p11_uri_append(char *buf, size_t len, size_t *used, const char *name,
    const uint8_t *value, size_t value_len, int encode_all)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t u = *used, i;
	int k;

	if (u >= len)
		return KW_ERR_SPACE;
	k = snprintf(buf + u, len - u, "%s%s=",
	    (u > 0 && buf[u - 1] != ':') ? ";" : "", name);
	if (k < 0 || (size_t)k >= len - u)
		return KW_ERR_SPACE;
	u += (size_t)k;
	for (i = 0; i < value_len; i++) {
		unsigned char c = value[i];

		if (!encode_all && c != '\0' && c < 0x80 &&
		    (strchr(P11_UNRESERVED, c) != NULL ||
		    strchr(":[]@!$'()*+,", c) != NULL)) {
			if (u + 1 >= len)
				return KW_ERR_SPACE;
			buf[u++] = (char)c;
		} else {
			if (u + 3 >= len)
				return KW_ERR_SPACE;
			buf[u++] = '%';
			buf[u++] = hex[c >> 4];
			buf[u++] = hex[c & 15];
		}
	}
	buf[u] = '\0';
	*used = u;
	return KW_OK;
}
