/* Identity state files (JSON, jansson) and their crash recovery.
 *
 * The state file is the single source of truth: which key and which
 * certificate form the identity right now.  Every change is one atomic
 * replace (temp + fsync + rename, 0600), so after a SIGKILL the file
 * names either the old identity or the new one, never a mix. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "agent/identity/identity.h"
#include "agent/keys/keyref.h"
#include "agent/identity/renew.h"
#include "enroll/est_der.h"

#define KW_STATE_VERSION	1

static int kw_identity_lock_quiet(const struct kw_identity *id, int *fd_out);
#define KW_STATE_MAX		(64 * 1024)

int
kw_identity_set(char **field, const char *value)
{
	char *v = NULL;

	if (value != NULL && (v = strdup(value)) == NULL)
		return KW_ERR_NOMEM;
	free(*field);
	*field = v;
	return KW_OK;
}

int
kw_identity_abspath(const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (len > 0)
		out[0] = '\0';
	if (path[0] == '/')
		n = snprintf(out, len, "%s", path);
	else {
		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			kw_err("cannot make %s absolute: the current directory "
			    "is unknown: %s", path, strerror(errno));
			return KW_ERR_IO;
		}
		while (path[0] == '.' && path[1] == '/')
			path += 2;
		n = snprintf(out, len, "%s/%s", strcmp(cwd, "/") == 0 ? "" :
		    cwd, path);
	}
	if (n < 0 || (size_t)n >= len) {
		kw_err("path %s is too long", path);
		if (len > 0)
			out[0] = '\0';
		return KW_ERR_SPACE;
	}
	return KW_OK;
}

int
kw_identity_set_path(char **field, const char *path)
{
	char abs[PATH_MAX];
	int r;

	if (path == NULL)
		return kw_identity_set(field, NULL);
	if ((r = kw_identity_abspath(path, abs, sizeof(abs))) != KW_OK)
		return r;
	return kw_identity_set(field, abs);
}

/* A pkcs11: URI whose pin-source names a file by a relative path, with
 * that path made absolute (the directory percent-encoded, RFC 7512). */
static int
kw_uri_abs_pin_source(const char *ref, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *q, *v, *rel;
	char cwd[PATH_MAX];
	size_t n, i;

	if ((q = strchr(ref, '?')) == NULL)
		return snprintf(out, len, "%s", ref) < (int)len ? KW_OK :
		    KW_ERR_SPACE;
	for (v = q; v != NULL; v = strchr(v + 1, '&'))
		if (strncmp(v + 1, "pin-source=", 11) == 0)
			break;
	rel = v == NULL ? NULL : v + 12;
	if (rel != NULL && strncmp(rel, "file:", 5) == 0)
		rel += 5;
	if (rel == NULL || *rel == '/' || *rel == '|' || *rel == '&' ||
	    *rel == '\0' || strcspn(rel, ":&") < strcspn(rel, "&"))
		return snprintf(out, len, "%s", ref) < (int)len ? KW_OK :
		    KW_ERR_SPACE;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		kw_err("cannot make the pin-source of %s absolute: the current "
		    "directory is unknown", ref);
		return KW_ERR_IO;
	}
	n = (size_t)(v + 12 - ref);
	if (n + 5 >= len)
		return KW_ERR_SPACE;
	memcpy(out, ref, n);
	memcpy(out + n, "file:", 5);
	n += 5;
	for (i = 0; cwd[i] != '\0' && strcmp(cwd, "/") != 0; i++) {
		if (n + 4 >= len)
			return KW_ERR_SPACE;
		if (isalnum((unsigned char)cwd[i]) ||
		    strchr("/-._~", cwd[i]) != NULL)
			out[n++] = cwd[i];
		else {
			out[n++] = '%';
			out[n++] = hex[(unsigned char)cwd[i] >> 4];
			out[n++] = hex[(unsigned char)cwd[i] & 15];
		}
	}
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	return snprintf(out + n, len - n, "/%s", rel) < (int)(len - n) ?
	    KW_OK : KW_ERR_SPACE;
}

int
kw_identity_set_keyref(char **field, const char *ref)
{
	char abs[3 * PATH_MAX + 4096];
	int r;

	if (ref != NULL && strncmp(ref, "pkcs11:", 7) == 0) {
		if ((r = kw_uri_abs_pin_source(ref, abs, sizeof(abs))) != KW_OK) {
			if (r == KW_ERR_SPACE)
				kw_err("key reference %s is too long", ref);
			return r;
		}
		return kw_identity_set(field, abs);
	}
	if (ref == NULL || strncmp(ref, "tpm:", 4) != 0 ||
	    strncasecmp(ref + 4, "0x", 2) == 0)
		return kw_identity_set(field, ref);
	memcpy(abs, "tpm:", 4);
	if ((r = kw_identity_abspath(ref + 4, abs + 4, sizeof(abs) - 4)) != KW_OK)
		return r;
	return kw_identity_set(field, abs);
}

int
kw_acme_id_copy(struct kw_acme_id *dst, const struct kw_acme_id *src)
{
	if (kw_identity_set(&dst->account_key_ref, src->account_key_ref) ||
	    kw_identity_set(&dst->challenge, src->challenge) ||
	    kw_identity_set(&dst->eab_kid, src->eab_kid) ||
	    kw_identity_set(&dst->eab_hmac_file, src->eab_hmac_file) ||
	    kw_identity_set(&dst->issuer_ca, src->issuer_ca) ||
	    kw_identity_set(&dst->contact, src->contact))
		return KW_ERR_NOMEM;
	return KW_OK;
}

void
kw_acme_id_clear(struct kw_acme_id *a)
{
	free(a->account_key_ref);
	free(a->challenge);
	free(a->eab_kid);
	free(a->eab_hmac_file);
	free(a->issuer_ca);
	free(a->contact);
	memset(a, 0, sizeof(*a));
}

void
kw_scep_id_clear(struct kw_scep_id *s)
{
	free(s->challenge_file);
	memset(s, 0, sizeof(*s));
}

void
kw_enroll_res_clear(struct kw_enroll_res *res)
{
	est_certs_clear(&res->certs);
	est_certs_clear(&res->cacerts);
	free(res->csr_b64);
	memset(res, 0, sizeof(*res));
}

int
kw_identity_new(struct kw_identity **out)
{
	struct kw_identity *id;

	*out = NULL;
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return KW_ERR_NOMEM;
	id->renew_at_pct = 66;
	id->alarm_at_pct = 90;
	id->rekey = 1;
	id->grace = KW_ID_DEFAULT_GRACE;
	*out = id;
	return KW_OK;
}

void
kw_identity_free(struct kw_identity *id)
{
	size_t i;

	if (id == NULL)
		return;
	free(id->path);
	free(id->protocol);
	kw_acme_id_clear(&id->acme);
	kw_scep_id_clear(&id->scep);
	free(id->server);
	free(id->ca_file);
	free(id->key_ref);
	free(id->cert_file);
	free(id->cert_out);
	free(id->chain_file);
	free(id->subject);
	for (i = 0; i < id->nsans; i++)
		free(id->sans[i]);
	free(id->tcti);
	free(id->module);
	free(id->auth_file);
	free(id->auth_method);
	free(id->last_error);
	free(id->pending_csr);
	free(id->new_key_ref);
	free(id->new_csr);
	for (i = 0; i < id->nold; i++)
		free(id->old[i].key_ref);
	free(id);
}

const char *
kw_identity_key_ref(const struct kw_identity *id)
{
	return id->key_ref;
}

const char *
kw_identity_cert_file(const struct kw_identity *id)
{
	return id->cert_file;
}

const char *
kw_identity_chain_file(const struct kw_identity *id)
{
	return id->chain_file;
}

time_t
kw_identity_not_after(const struct kw_identity *id)
{
	return id->not_after;
}

void
kw_identity_keyopts(const struct kw_identity *id, struct kw_keyref_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->tcti = id->tcti;
	opts->module = id->module;
	opts->auth_file = id->auth_file;
	opts->allow_exportable = id->allow_exportable;
	/* SCEP: the CA encrypts its answer to the key (renewal rekeys) */
	if (id->protocol != NULL && strcmp(id->protocol, "scep") == 0)
		opts->usage = KW_USAGE_SIGN | KW_USAGE_DECRYPT;
}

const char *
kw_time_str(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
	return buf;
}

/* ---- JSON --------------------------------------------------------------- */

static int
kw_js_set_str(json_t *o, const char *k, const char *v)
{
	if (v == NULL)
		return 0;
	return json_object_set_new(o, k, json_string(v));
}

static int
kw_js_set_int(json_t *o, const char *k, long long v)
{
	return json_object_set_new(o, k, json_integer(v));
}

static const char *
kw_phase_name(enum kw_renew_phase p)
{
	switch (p) {
	case KW_PHASE_INTENT:
		return "intent";
	case KW_PHASE_PENDING:
		return "pending";
	default:
		return NULL;
	}
}

int
kw_identity_save(const struct kw_identity *id)
{
	json_t *o = NULL, *a = NULL, *ren = NULL, *pend = NULL, *old = NULL;
	char *text = NULL;
	size_t i;
	int r = KW_ERR_NOMEM, e = 0;

	if (id->path == NULL)
		return KW_ERR_ARG;
	if ((o = json_object()) == NULL || (a = json_array()) == NULL ||
	    (old = json_array()) == NULL)
		goto out;
	e |= kw_js_set_int(o, "version", KW_STATE_VERSION);
	e |= kw_js_set_str(o, "protocol", id->protocol);
	if (id->acme.account_key_ref != NULL) {
		json_t *ac = json_object();

		if (ac == NULL)
			goto out;
		e |= kw_js_set_str(ac, "account_key", id->acme.account_key_ref);
		e |= kw_js_set_str(ac, "challenge", id->acme.challenge);
		e |= kw_js_set_str(ac, "eab_kid", id->acme.eab_kid);
		e |= kw_js_set_str(ac, "eab_hmac_file", id->acme.eab_hmac_file);
		e |= kw_js_set_str(ac, "issuer_ca", id->acme.issuer_ca);
		e |= kw_js_set_str(ac, "contact", id->acme.contact);
		e |= json_object_set_new(o, "acme", ac);
	}
	if (id->scep.challenge_file != NULL) {
		json_t *sc = json_object();

		if (sc == NULL)
			goto out;
		e |= kw_js_set_str(sc, "challenge_file",
		    id->scep.challenge_file);
		e |= json_object_set_new(o, "scep", sc);
	}
	e |= kw_js_set_str(o, "server", id->server);
	e |= kw_js_set_str(o, "ca", id->ca_file);
	e |= kw_js_set_str(o, "key", id->key_ref);
	e |= kw_js_set_str(o, "cert", id->cert_file);
	e |= kw_js_set_str(o, "cert_out", id->cert_out);
	e |= kw_js_set_str(o, "chain", id->chain_file);
	e |= kw_js_set_str(o, "subject", id->subject);
	for (i = 0; i < id->nsans; i++)
		e |= json_array_append_new(a, json_string(id->sans[i]));
	e |= json_object_set(o, "sans", a);
	e |= kw_js_set_str(o, "tcti", id->tcti);
	e |= kw_js_set_str(o, "module", id->module);
	e |= kw_js_set_str(o, "auth_file", id->auth_file);
	if (id->allow_exportable)
		e |= json_object_set_new(o, "allow_exportable", json_true());
	if (id->pop_linking)
		e |= json_object_set_new(o, "pop_linking", json_true());
	e |= kw_js_set_str(o, "auth", id->auth_method);
	e |= kw_js_set_int(o, "renew_at", id->renew_at_pct);
	e |= kw_js_set_int(o, "alarm_at", id->alarm_at_pct);
	e |= json_object_set_new(o, "rekey", json_boolean(id->rekey));
	e |= kw_js_set_int(o, "grace", id->grace);
	e |= json_object_set_new(o, "store_on_token",
	    json_boolean(id->store_on_token));
	e |= kw_js_set_int(o, "not_before", id->not_before);
	e |= kw_js_set_int(o, "not_after", id->not_after);
	e |= kw_js_set_int(o, "failures", id->failures);
	e |= kw_js_set_int(o, "last_failure", id->last_failure);
	e |= kw_js_set_str(o, "last_error", id->last_error);
	if (id->ari_checked != 0) {
		e |= kw_js_set_int(o, "ari_start", id->ari_start);
		e |= kw_js_set_int(o, "ari_end", id->ari_end);
		e |= kw_js_set_int(o, "ari_at", id->ari_at);
		e |= kw_js_set_int(o, "ari_checked", id->ari_checked);
		e |= kw_js_set_int(o, "ari_next", id->ari_next);
	}
	if (id->pending_csr != NULL) {
		if ((pend = json_object()) == NULL)
			goto out;
		e |= kw_js_set_str(pend, "csr", id->pending_csr);
		e |= kw_js_set_int(pend, "since", id->pending_since);
		e |= json_object_set(o, "pending", pend);
	}
	if (id->phase != KW_PHASE_NONE) {
		if ((ren = json_object()) == NULL)
			goto out;
		e |= kw_js_set_str(ren, "phase", kw_phase_name(id->phase));
		e |= kw_js_set_str(ren, "key", id->new_key_ref);
		e |= kw_js_set_str(ren, "csr", id->new_csr);
		e |= kw_js_set_int(ren, "started", id->renew_started);
		e |= json_object_set(o, "renewing", ren);
	}
	for (i = 0; i < id->nold; i++) {
		json_t *k = json_object();

		if (k == NULL)
			goto out;
		e |= kw_js_set_str(k, "key", id->old[i].key_ref);
		e |= kw_js_set_int(k, "delete_after", id->old[i].delete_after);
		e |= json_array_append_new(old, k);
	}
	e |= json_object_set(o, "old_keys", old);
	if (e != 0 || (text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) ==
	    NULL)
		goto out;
	r = kw_file_write_atomic(id->path, text, strlen(text), 0600, 0);
	if (r != KW_OK)
		kw_err("cannot write identity state %s: %s", id->path,
		    kw_strerror(r));
out:
	free(text);
	json_decref(o);
	json_decref(a);
	json_decref(ren);
	json_decref(pend);
	json_decref(old);
	return r;
}

static int
kw_js_get_str(json_t *o, const char *k, char **out)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return KW_OK;
	if (!json_is_string(v))
		return KW_ERR_PARSE;
	return kw_identity_set(out, json_string_value(v));
}

static int
kw_js_get_int(json_t *o, const char *k, long long lo, long long hi,
    long long *out)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return KW_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return KW_ERR_PARSE;
	*out = json_integer_value(v);
	return KW_OK;
}

/* The ARI record (absent in older state files: none). */
static int
kw_ari_load(json_t *o, struct kw_identity *id)
{
	static const char *const k[] = { "ari_start", "ari_end", "ari_at",
	    "ari_checked", "ari_next" };
	time_t *f[] = { &id->ari_start, &id->ari_end, &id->ari_at,
	    &id->ari_checked, &id->ari_next };
	long long n;
	size_t i;

	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		n = 0;
		if (kw_js_get_int(o, k[i], 0, 1LL << 40, &n) != KW_OK)
			return KW_ERR_PARSE;
		*f[i] = (time_t)n;
	}
	/* a window that ends before it starts: forgotten (asked again) */
	if (id->ari_end != 0 && id->ari_end <= id->ari_start)
		id->ari_start = id->ari_end = id->ari_at = id->ari_next = 0;
	return KW_OK;
}

static int
kw_js_get_bool(json_t *o, const char *k, int *out)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return KW_OK;
	if (!json_is_boolean(v))
		return KW_ERR_PARSE;
	*out = json_is_true(v);
	return KW_OK;
}

/* State files written before paths were stored absolute: say so once. */
static void
kw_identity_warn_relative(const struct kw_identity *id)
{
	const char *p[] = { id->ca_file, id->cert_file, id->cert_out,
	    id->chain_file, id->auth_file, NULL };
	const char *k = id->key_ref;
	size_t i;

	if (strncmp(k, "tpm:", 4) == 0 && strncasecmp(k + 4, "0x", 2) != 0)
		p[5] = k + 4;
	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (p[i] != NULL && p[i][0] != '/') {
			kw_warn("%s: holds the relative path %s, which only "
			    "works from the directory it was enrolled in (the "
			    "daemon works in /): enroll again to store absolute "
			    "paths", id->path, p[i]);
			return;
		}
}

int
kw_identity_read(const char *path, struct kw_identity **out)
{
	struct kw_identity *id = NULL;
	json_t *o = NULL, *v, *x;
	json_error_t je;
	uint8_t *data = NULL;
	size_t len, i;
	long long n;
	char *s = NULL;
	int r;

	*out = NULL;
	if ((r = kw_file_read(path, KW_STATE_MAX, &data, &len)) != 0) {
		kw_err("cannot read identity state %s: %s", path, kw_strerror(r));
		goto out;
	}
	if ((o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    &je)) == NULL || !json_is_object(o)) {
		kw_err("%s:%d: identity state is not valid JSON: %s", path,
		    o ? 1 : je.line, o ? "not an object" : je.text);
		r = KW_ERR_PARSE;
		goto out;
	}
	if ((r = kw_identity_new(&id)) != 0 ||
	    (r = kw_identity_set(&id->path, path)) != 0)
		goto out;
	n = 0;
	r = KW_ERR_PARSE;
	if (kw_js_get_int(o, "version", 1, 1, &n) != 0 || n != KW_STATE_VERSION) {
		kw_err("%s: unsupported identity state version", path);
		goto out;
	}
	if ((v = json_object_get(o, "acme")) != NULL &&
	    (!json_is_object(v) ||
	    kw_js_get_str(v, "account_key", &id->acme.account_key_ref) ||
	    kw_js_get_str(v, "challenge", &id->acme.challenge) ||
	    kw_js_get_str(v, "eab_kid", &id->acme.eab_kid) ||
	    kw_js_get_str(v, "eab_hmac_file", &id->acme.eab_hmac_file) ||
	    kw_js_get_str(v, "issuer_ca", &id->acme.issuer_ca) ||
	    kw_js_get_str(v, "contact", &id->acme.contact)))
		goto bad;
	if ((v = json_object_get(o, "scep")) != NULL &&
	    (!json_is_object(v) ||
	    kw_js_get_str(v, "challenge_file", &id->scep.challenge_file)))
		goto bad;
	if (kw_js_get_str(o, "protocol", &id->protocol) ||
	    kw_js_get_str(o, "server", &id->server) ||
	    kw_js_get_str(o, "ca", &id->ca_file) ||
	    kw_js_get_str(o, "key", &id->key_ref) ||
	    kw_js_get_str(o, "cert", &id->cert_file) ||
	    kw_js_get_str(o, "cert_out", &id->cert_out) ||
	    kw_js_get_str(o, "chain", &id->chain_file) ||
	    kw_js_get_str(o, "subject", &id->subject) ||
	    kw_js_get_str(o, "tcti", &id->tcti) ||
	    kw_js_get_str(o, "module", &id->module) ||
	    kw_js_get_str(o, "auth_file", &id->auth_file) ||
	    kw_js_get_bool(o, "allow_exportable", &id->allow_exportable) ||
	    kw_js_get_bool(o, "pop_linking", &id->pop_linking) ||
	    kw_js_get_str(o, "auth", &id->auth_method) ||
	    kw_js_get_bool(o, "rekey", &id->rekey) ||
	    kw_js_get_bool(o, "store_on_token", &id->store_on_token) ||
	    kw_js_get_str(o, "last_error", &id->last_error))
		goto bad;
	if (id->protocol != NULL && strcmp(id->protocol, "est") != 0 &&
	    strcmp(id->protocol, "scep") != 0 &&
	    (strcmp(id->protocol, "acme") != 0 ||
	    id->acme.account_key_ref == NULL))
		goto bad;
	n = id->renew_at_pct;
	if (kw_js_get_int(o, "renew_at", 1, 99, &n))
		goto bad;
	id->renew_at_pct = (unsigned)n;
	n = id->alarm_at_pct;
	if (kw_js_get_int(o, "alarm_at", 1, 99, &n))
		goto bad;
	id->alarm_at_pct = (unsigned)n;
	n = id->grace;
	if (kw_js_get_int(o, "grace", 0, 365LL * 86400, &n))
		goto bad;
	id->grace = (long)n;
	n = 0;
	if (kw_js_get_int(o, "not_before", 0, 1LL << 40, &n))
		goto bad;
	id->not_before = (time_t)n;
	n = 0;
	if (kw_js_get_int(o, "not_after", 0, 1LL << 40, &n))
		goto bad;
	id->not_after = (time_t)n;
	n = 0;
	if (kw_js_get_int(o, "failures", 0, 1000000, &n))
		goto bad;
	id->failures = (unsigned)n;
	n = 0;
	if (kw_js_get_int(o, "last_failure", 0, 1LL << 40, &n))
		goto bad;
	id->last_failure = (time_t)n;
	if (kw_ari_load(o, id) != KW_OK)
		goto bad;
	if ((v = json_object_get(o, "sans")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) > KW_ID_MAX_SANS)
			goto bad;
		json_array_foreach(v, i, x) {
			if (!json_is_string(x) ||
			    (id->sans[id->nsans] = strdup(json_string_value(x))) ==
			    NULL)
				goto bad;
			id->nsans++;
		}
	}
	if ((v = json_object_get(o, "pending")) != NULL) {
		n = 0;
		if (!json_is_object(v) || kw_js_get_str(v, "csr", &id->pending_csr) ||
		    kw_js_get_int(v, "since", 0, 1LL << 40, &n))
			goto bad;
		id->pending_since = (time_t)n;
	}
	if ((v = json_object_get(o, "renewing")) != NULL) {
		n = 0;
		if (!json_is_object(v) || kw_js_get_str(v, "phase", &s) ||
		    kw_js_get_str(v, "key", &id->new_key_ref) ||
		    kw_js_get_str(v, "csr", &id->new_csr) ||
		    kw_js_get_int(v, "started", 0, 1LL << 40, &n) || s == NULL ||
		    id->new_key_ref == NULL)
			goto bad;
		id->renew_started = (time_t)n;
		if (strcmp(s, "intent") == 0)
			id->phase = KW_PHASE_INTENT;
		else if (strcmp(s, "pending") == 0 && id->new_csr != NULL)
			id->phase = KW_PHASE_PENDING;
		else
			goto bad;
	}
	if ((v = json_object_get(o, "old_keys")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) > KW_ID_MAX_OLD)
			goto bad;
		json_array_foreach(v, i, x) {
			n = 0;
			if (!json_is_object(x) ||
			    kw_js_get_str(x, "key", &id->old[id->nold].key_ref) ||
			    id->old[id->nold].key_ref == NULL ||
			    kw_js_get_int(x, "delete_after", 0, 1LL << 40, &n))
				goto bad;
			id->old[id->nold].delete_after = (time_t)n;
			id->nold++;
		}
	}
	if (id->key_ref == NULL || id->cert_file == NULL || id->server == NULL ||
	    id->ca_file == NULL) {
		kw_err("%s: identity state lacks key, cert, server or ca", path);
		goto out;
	}
	kw_identity_warn_relative(id);
	*out = id;
	id = NULL;
	r = KW_OK;
	goto out;
bad:
	kw_err("%s: identity state has a malformed field (rerun "
	    "'keyward enroll est' to recreate it)", path);
	r = KW_ERR_PARSE;
out:
	free(s);
	kw_identity_free(id);
	json_decref(o);
	free(data);
	return r;
}

/* Copy the current certificate to where the user wants it (after a
 * switch the state names "<cert_out>.next" until this is done). */
static int
kw_identity_finish_copy(struct kw_identity *id)
{
	uint8_t *data = NULL;
	size_t len;
	char *old = NULL;
	int r;

	if (id->cert_out == NULL || strcmp(id->cert_out, id->cert_file) == 0)
		return KW_OK;
	if ((r = kw_file_read(id->cert_file, 1024 * 1024, &data, &len)) != 0 ||
	    (r = kw_file_write_atomic(id->cert_out, data, len, 0644, 0)) != 0)
		goto out;
	kw_identity_crash_point("after-copy");
	old = id->cert_file;
	id->cert_file = NULL;
	if ((r = kw_identity_set(&id->cert_file, id->cert_out)) != 0 ||
	    (r = kw_identity_save(id)) != 0) {
		free(id->cert_file);
		id->cert_file = old;
		old = NULL;
		goto out;
	}
	(void)unlink(old);
out:
	free(old);
	free(data);
	return r;
}

int
kw_identity_recover(struct kw_identity *id, time_t now)
{
	struct kw_keyref_opts opts;
	char next[4096];
	size_t i, j;
	int r, changed = 0;

	kw_identity_keyopts(id, &opts);
	if (id->phase == KW_PHASE_INTENT && id->new_key_ref != NULL) {
		/* a renewal died before its switch: undo it */
		if (strcmp(id->new_key_ref, id->key_ref) != 0) {
			r = kw_keyref_delete(id->new_key_ref, &opts);
			if (r == KW_OK)
				kw_info("identity %s: removed the key of an "
				    "interrupted renewal (%s)", id->path,
				    id->new_key_ref);
			else if (r != KW_ERR_NOT_FOUND)
				kw_warn("identity %s: could not remove the "
				    "orphaned key %s: %s (retried later)",
				    id->path, id->new_key_ref, kw_strerror(r));
			if (r != KW_OK && r != KW_ERR_NOT_FOUND)
				goto copy;
		}
		if (id->cert_out != NULL) {
			snprintf(next, sizeof(next), "%s.next", id->cert_out);
			if (strcmp(next, id->cert_file) != 0)
				(void)unlink(next);
		}
		free(id->new_key_ref);
		id->new_key_ref = NULL;
		free(id->new_csr);
		id->new_csr = NULL;
		id->phase = KW_PHASE_NONE;
		changed = 1;
	}
copy:
	if (changed && (r = kw_identity_save(id)) != 0)
		return r;
	if ((r = kw_identity_finish_copy(id)) != 0)
		kw_warn("identity %s: could not copy the certificate to %s: %s",
		    id->path, id->cert_out, kw_strerror(r));
	/* old keys past their grace period */
	changed = 0;
	for (i = 0; i < id->nold; ) {
		if (id->old[i].delete_after > now ||
		    strcmp(id->old[i].key_ref, id->key_ref) == 0) {
			i++;
			continue;
		}
		r = kw_keyref_delete(id->old[i].key_ref, &opts);
		if (r != KW_OK && r != KW_ERR_NOT_FOUND) {
			kw_warn("identity %s: could not delete the old key %s: "
			    "%s (retried later)", id->path, id->old[i].key_ref,
			    kw_strerror(r));
			i++;
			continue;
		}
		kw_info("identity %s: deleted the old key %s", id->path,
		    id->old[i].key_ref);
		free(id->old[i].key_ref);
		for (j = i + 1; j < id->nold; j++)
			id->old[j - 1] = id->old[j];
		id->nold--;
		changed = 1;
	}
	if (changed && (r = kw_identity_save(id)) != 0)
		return r;
	return KW_OK;
}

int
kw_identity_load(const char *state_file, struct kw_identity **out)
{
	struct kw_identity *id = NULL;
	int r, fd = -1;

	*out = NULL;
	if ((r = kw_identity_read(state_file, &id)) != 0)
		return r;
	/* Recovery only when no other keyward is renewing this identity:
	 * a renewal in progress elsewhere has a live intent, not a crash. */
	if (kw_identity_lock_quiet(id, &fd) == KW_OK) {
		r = kw_identity_recover(id, time(NULL));
		kw_identity_unlock(fd);
		if (r != KW_OK) {
			kw_identity_free(id);
			return r;
		}
	} else
		kw_debug("identity %s: being renewed by another process; "
		    "recovery left to it", state_file);
	*out = id;
	return KW_OK;
}

/* ---- one renewal at a time, and a fresh view of the state -------------- */

static int
kw_identity_lock_ex(const struct kw_identity *id, int quiet, int *fd_out)
{
	char lock[4096];
	int fd;

	*fd_out = -1;
	snprintf(lock, sizeof(lock), "%s.lock", id->path);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
		kw_err("cannot open %s: %s", lock, strerror(errno));
		return errno == EACCES ? KW_ERR_PERM : KW_ERR_IO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (!quiet)
			kw_warn("identity %s: another keyward is renewing it; "
			    "not now", id->path);
		close(fd);
		return KW_ERR_STATE;
	}
	*fd_out = fd;
	return KW_OK;
}

int
kw_identity_lock(const struct kw_identity *id, int *fd_out)
{
	return kw_identity_lock_ex(id, 0, fd_out);
}

static int
kw_identity_lock_quiet(const struct kw_identity *id, int *fd_out)
{
	return kw_identity_lock_ex(id, 1, fd_out);
}

void
kw_identity_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

int
kw_identity_reload(struct kw_identity *id, time_t now)
{
	struct kw_identity *fresh = NULL, tmp;
	int r;

	if ((r = kw_identity_read(id->path, &fresh)) != 0)
		return r;
	/* the policy may come from the daemon's config: keep it */
	fresh->renew_at_pct = id->renew_at_pct;
	fresh->alarm_at_pct = id->alarm_at_pct;
	fresh->rekey = id->rekey;
	fresh->grace = id->grace;
	tmp = *id;
	*id = *fresh;
	*fresh = tmp;
	kw_identity_free(fresh);
	return kw_identity_recover(id, now);
}

time_t
kw_identity_cleanup_due(const struct kw_identity *id)
{
	time_t t = 0;
	size_t i;

	for (i = 0; i < id->nold; i++)
		if (t == 0 || id->old[i].delete_after < t)
			t = id->old[i].delete_after;
	return t;
}

int
kw_identity_cleanup(struct kw_identity *id, time_t now)
{
	int fd = -1, r;

	if (kw_identity_lock_quiet(id, &fd) != KW_OK)
		return KW_OK;		/* a renewal elsewhere will do it */
	r = kw_identity_reload(id, now);	/* recovery deletes old keys */
	kw_identity_unlock(fd);
	return r;
}
