#include <stdlib.h>
#include <string.h>

#include "kw_error.h"
#include "kw_log.h"
#include "kw_mem.h"
#include "keyref.h"
#include "pin.h"
#include "tpm/tpm_key.h"
#include "pkcs11/p11_key.h"

enum kw_ref_kind { KW_REF_BAD, KW_REF_TPM, KW_REF_PKCS11 };

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
	if (opts != NULL && opts->auth_file != NULL) {
		if ((r = kw_secret_from_file(opts->auth_file, auth)) != KW_OK)
			return r;
		t->auth = *auth;
	}
	return KW_OK;
}

static void
kw_p11_opts(const struct kw_keyref_opts *opts, struct p11_opts *p)
{
	memset(p, 0, sizeof(*p));
	p->module = opts ? opts->module : NULL;
	p->allow_exportable = opts ? opts->allow_exportable : 0;
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
	char *auth = NULL;
	int r;

	*out = NULL;
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_open(rest, &t, out);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p);
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
	char *auth = NULL;
	int r;

	*out = NULL;
	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_generate(rest, alg, &t, out);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p);
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
	char *auth = NULL;
	int r;

	switch (kw_ref_kind(ref, &rest)) {
	case KW_REF_TPM:
		if ((r = kw_tpm_opts(opts, &t, &auth)) == KW_OK)
			r = tpm_key_delete(rest, &t);
		break;
	case KW_REF_PKCS11:
		kw_p11_opts(opts, &p);
		r = p11_key_delete(rest, &p);
		break;
	default:
		r = KW_ERR_ARG;
	}
	kw_free_secret(auth);
	return r;
}

void
kw_keyref_shutdown(void)
{
	p11_shutdown();
}
