#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "kw_secret.h"
#include "kw_signer.h"
#include "kw_tls.h"
#include "agent/keys/keyref.h"
#include "agent/keys/pin.h"
#include "tpm/tpm_key.h"
#include "pkcs11/p11_key.h"

enum kw_ref_kind { KW_REF_BAD, KW_REF_TPM, KW_REF_PKCS11 };

/* See kw_keyref_use_signer: set once before threads start. */
static struct kw_signer *kw_keyref_signer_g;

void
kw_keyref_use_signer(struct kw_signer *s)
{
	kw_keyref_signer_g = s;
}

struct kw_signer *
kw_keyref_signer(void)
{
	return kw_keyref_signer_g;
}

static enum kw_ref_kind
kw_ref_kind(const char *ref, const char **rest)
{
	*rest = NULL;
	if (ref == NULL)
		return KW_REF_BAD;
	if (strncmp(ref, "tpm:", 4) == 0 && ref[4] != '\0') {
		*rest = ref + 4;
		return KW_REF_TPM;
	}
	if (strncmp(ref, "pkcs11:", 7) == 0) {
		*rest = ref;
		return KW_REF_PKCS11;
	}
	kw_err("key reference '%s' is not understood: use tpm:PATH, "
	    "tpm:0x81XXXXXX or a pkcs11: URI", ref ? ref : "");
	return KW_REF_BAD;
}

static int
kw_tpm_opts(const struct kw_keyref_opts *opts, struct tpm_opts *t, char **auth)
{
	int r;

	memset(t, 0, sizeof(*t));
	*auth = NULL;
	t->tcti = opts ? opts->tcti : NULL;
	t->usage = opts ? opts->usage : 0;
	if (opts != NULL && opts->auth_file != NULL) {
		if ((r = kw_secret_file_read(opts->auth_file,
		    "auth-value file", auth)) != KW_OK)
			return r;
		t->auth = *auth;
	}
	return KW_OK;
}

/* PKCS#11 options.  The PIN comes from the URI's pin-source, else
 * kw_pin_ask (terminal or systemd-ask-password).  Risking a token's last
 * PIN try is an explicit decision: KEYWARD_RISK_FINAL_PIN_TRY=1 (there is
 * no command-line flag for it in the shared key options yet). */
const char *
kw_keyref_state_dir(char *buf, size_t len)
{
	const char *d = getenv("KEYWARD_STATE_DIR"), *home;
	int k = -1;

	if (d != NULL && d[0] == '/')
		k = snprintf(buf, len, "%s", d);
	else if ((d = getenv("STATE_DIRECTORY")) != NULL && d[0] == '/')
		k = snprintf(buf, len, "%.*s", (int)strcspn(d, ":"), d);
	else if (geteuid() == 0)
		k = snprintf(buf, len, "/var/lib/keyward");
	else if ((d = getenv("XDG_STATE_HOME")) != NULL && d[0] == '/')
		k = snprintf(buf, len, "%s/keyward", d);
	else if ((home = getenv("HOME")) != NULL && home[0] == '/')
		k = snprintf(buf, len, "%s/.local/state/keyward", home);
	if (k < 0 || (size_t)k >= len)
		return NULL;
	return buf;
}

static void
kw_p11_opts(const struct kw_keyref_opts *opts, struct p11_opts *p,
    char *dir, size_t dirlen)
{
	const char *risk = getenv("KEYWARD_RISK_FINAL_PIN_TRY");

	memset(p, 0, sizeof(*p));
	p->state_dir = kw_keyref_state_dir(dir, dirlen);
	p->module = opts ? opts->module : NULL;
	p->allow_exportable = opts ? opts->allow_exportable : 0;
	p->usage = opts ? opts->usage : 0;
	p->risk_final_try = risk != NULL && strcmp(risk, "1") == 0;
	p->pin_fn = kw_pin_ask;
	p->pin_arg = NULL;
}

int
kw_keyref_open(const char *ref, const struct kw_keyref_opts *opts,
    struct kw_key **out)
{
	struct tpm_opts t;
	struct p11_opts p;
	const char *rest;
	char *auth = NULL, dir[4096];
	int r;

	*out = NULL;
	if (kw_keyref_signer_g != NULL)
		return kw_ref_kind(ref, &rest) == KW_REF_BAD ? KW_ERR_ARG :
		    kw_signer_open(kw_keyref_signer_g, ref, out);
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_open(rest, &t, out);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p, dir, sizeof(dir));
		r = p11_key_open(rest, &p, out);
		break;
	default:
		r = KW_ERR_ARG;
	}
	kw_free_secret(auth);
	return r;
}

int
kw_keyref_generate(const char *ref, enum kw_key_alg alg,
    const struct kw_keyref_opts *opts, struct kw_key **out)
{
	struct tpm_opts t;
	struct p11_opts p;
	const char *rest;
	char *auth = NULL, dir[4096];
	int r;

	*out = NULL;
	if (kw_keyref_signer_g != NULL)
		return kw_ref_kind(ref, &rest) == KW_REF_BAD ? KW_ERR_ARG :
		    kw_signer_generate(kw_keyref_signer_g, ref, alg, opts ? opts->usage : 0,
		    out);
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_generate(rest, alg, &t, out);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p, dir, sizeof(dir));
		r = p11_key_generate(rest, alg, &p, out);
		break;
	default:
		r = KW_ERR_ARG;
	}
	kw_free_secret(auth);
	return r;
}

int
kw_keyref_delete(const char *ref, const struct kw_keyref_opts *opts)
{
	struct tpm_opts t;
	struct p11_opts p;
	const char *rest;
	char *auth = NULL, dir[4096];
	int r;

	if (kw_keyref_signer_g != NULL)
		return kw_ref_kind(ref, &rest) == KW_REF_BAD ? KW_ERR_ARG :
		    kw_signer_delete(kw_keyref_signer_g, ref);
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_delete(rest, &t);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p, dir, sizeof(dir));
		r = p11_key_delete(rest, &p);
		break;
	default:
		r = KW_ERR_ARG;
	}
	kw_free_secret(auth);
	return r;
}

/* ---- identity renewal and certificate storage (issue 5) ------------------
 * Name derivation for rekeying, and certificates stored next to PKCS#11
 * keys.  Kept apart from the dispatch above. */

static int
kw_next_tpm_name(const char *path, char *out, size_t len)
{
	size_t n = strlen(path), stem = n, d;
	unsigned long v = 1;
	const char *ext = "";
	int k;

	if (n > 4 && strcmp(path + n - 4, ".pem") == 0) {
		stem = n - 4;
		ext = ".pem";
	}
	/* an existing ".N" generation number */
	for (d = stem; d > 0 && path[d - 1] >= '0' && path[d - 1] <= '9'; d--)
		;
	if (d < stem && d > 1 && path[d - 1] == '.' && stem - d < 6) {
		v = strtoul(path + d, NULL, 10);
		stem = d - 1;
	}
	k = snprintf(out, len, "tpm:%.*s.%lu%s", (int)stem, path, v + 1, ext);
	return k < 0 || (size_t)k >= len ? KW_ERR_SPACE : KW_OK;
}

static int
kw_next_p11_name(const char *uri, char *out, size_t len)
{
	const char *q = strchr(uri, '?'), *p, *obj = NULL, *end;
	size_t used = 0, alen, plen = q ? (size_t)(q - uri) : strlen(uri);
	size_t d;
	unsigned long v = 1;
	int k, first = 1;

	/* walk the path attributes (RFC 7512: ';'-separated) */
	p = uri + 7;
	k = snprintf(out, len, "pkcs11:");
	used = (size_t)k;
	while (p < uri + plen) {
		end = memchr(p, ';', (size_t)(uri + plen - p));
		if (end == NULL)
			end = uri + plen;
		alen = (size_t)(end - p);
		if (alen >= 3 && strncmp(p, "id=", 3) == 0) {
			p = end + 1;
			continue;
		}
		if (alen > 7 && strncmp(p, "object=", 7) == 0) {
			obj = p + 7;
			for (d = alen; d > 7 && p[d - 1] >= '0' && p[d - 1] <= '9'; d--)
				;
			if (d < alen && d > 8 && p[d - 1] == '-' && alen - d < 6) {
				v = strtoul(p + d, NULL, 10);
				alen = d - 1;
			}
			k = snprintf(out + used, len - used, "%s%.*s-%lu",
			    first ? "" : ";", (int)alen, p, v + 1);
		} else
			k = snprintf(out + used, len - used, "%s%.*s",
			    first ? "" : ";", (int)alen, p);
		if (k < 0 || (size_t)k >= len - used)
			return KW_ERR_SPACE;
		used += (size_t)k;
		first = 0;
		p = end + 1;
	}
	if (obj == NULL) {
		kw_err("key reference %s has no object= label: keyward cannot "
		    "name a new key for rekeying (renew with the same key, or "
		    "add object=LABEL)", uri);
		return KW_ERR_UNSUPPORTED;
	}
	if (q != NULL) {
		k = snprintf(out + used, len - used, "%s", q);
		if (k < 0 || (size_t)k >= len - used)
			return KW_ERR_SPACE;
	}
	return KW_OK;
}

int
kw_keyref_next_name(const char *ref, char *out, size_t len)
{
	const char *rest;

	if (len > 0)
		out[0] = '\0';
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if (strncmp(rest, "0x", 2) == 0 || strncmp(rest, "0X", 2) == 0) {
			kw_err("key %s is a persistent TPM handle: keyward does "
			    "not pick new handles for rekeying (renew with the "
			    "same key, or use a key file)", ref);
			return KW_ERR_UNSUPPORTED;
		}
		return kw_next_tpm_name(rest, out, len);
	case KW_REF_PKCS11:
		return kw_next_p11_name(rest, out, len);
	default:
		return KW_ERR_ARG;
	}
}

int
kw_keyref_exists(const char *ref, const struct kw_keyref_opts *opts)
{
	struct kw_key *k = NULL;
	const char *rest;

	if (kw_ref_kind(ref, &rest) == KW_REF_TPM &&
	    strncmp(rest, "0x", 2) != 0 && strncmp(rest, "0X", 2) != 0)
		return access(rest, F_OK) == 0;
	if (kw_keyref_signer_g != NULL)
		return kw_signer_exists(kw_keyref_signer_g, ref) == 1;
	if (kw_keyref_open(ref, opts, &k) != KW_OK)
		return 0;
	kw_key_close(k);
	return 1;
}

int
kw_keyref_has_pin(const char *ref)
{
	const char *q, *p;

	if (ref == NULL || strncmp(ref, "pkcs11:", 7) != 0 ||
	    (q = strchr(ref, '?')) == NULL)
		return 0;
	for (p = q + 1; p != NULL && *p != '\0'; p = strchr(p, '&')) {
		if (*p == '&')
			p++;
		if (strncmp(p, "pin-value=", 10) == 0)
			return 1;
	}
	return 0;
}

int
kw_keyref_can_store_cert(const char *ref)
{
	return ref != NULL && strncmp(ref, "pkcs11:", 7) == 0;
}

int
kw_keyref_store_cert(const char *ref, const struct kw_keyref_opts *opts,
    const uint8_t *der, size_t der_len)
{
	struct p11_opts p;
	const char *rest;
	char dir[4096];

	if (kw_ref_kind(ref, &rest) != KW_REF_PKCS11) {
		kw_err("cannot store a certificate on the token of %s: only "
		    "PKCS#11 tokens hold certificates", ref);
		return KW_ERR_UNSUPPORTED;
	}
	if (kw_keyref_signer_g != NULL)
		return kw_signer_store_cert(kw_keyref_signer_g, ref, der, der_len);
	kw_p11_opts(opts, &p, dir, sizeof(dir));
	return p11_cert_store(rest, &p, der, der_len);
}

int
kw_keyref_cert_on_token(const char *cert, const char *key_ref)
{
	if (cert != NULL)
		return strncmp(cert, "pkcs11:", 7) == 0;
	return key_ref != NULL && strncmp(key_ref, "pkcs11:", 7) == 0;
}

int
kw_keyref_cert_load(const char *cert, const char *key_ref,
    const struct kw_keyref_opts *opts, uint8_t **der, size_t *der_len)
{
	struct p11_opts p;
	char dir[4096];
	int r;

	*der = NULL;
	*der_len = 0;
	kw_p11_opts(opts, &p, dir, sizeof(dir));
	if (kw_keyref_signer_g != NULL &&
	    kw_keyref_cert_on_token(cert, key_ref) && key_ref != NULL)
		r = kw_signer_cert_load(kw_keyref_signer_g, cert ? cert : key_ref,
		    der, der_len);
	else if (cert != NULL && strncmp(cert, "pkcs11:", 7) == 0)
		r = p11_cert_find(cert, &p, der, der_len);
	else if (cert == NULL && kw_keyref_cert_on_token(NULL, key_ref))
		r = p11_cert_read(key_ref, &p, der, der_len);
	else if (cert == NULL) {
		kw_err("no certificate for key %s: give one (a file, or a "
		    "pkcs11: URI of a certificate on a token)", key_ref ?
		    key_ref : "");
		r = KW_ERR_ARG;
	} else if ((r = kw_cert_read_file(cert, der, der_len)) != KW_OK)
		kw_err("cannot read certificate %s: %s", cert, kw_strerror(r));
	return r;
}

void
kw_keyref_shutdown(void)
{
	if (kw_keyref_signer_g != NULL)
		return;
	p11_shutdown();
}
